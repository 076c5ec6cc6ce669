"""Exact GEMM kernels against the slow rational reference, bit for bit, on every route."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import gemm_fixed_ref, gemm_float_ref, round_exact
from test_quantize import same_bits

from accel.jit import njit
from accel.numerics import gemm_fixed, gemm_float, get_format, quantize
from accel.numerics.gemm import _fma32, _gemm_float_sequential
from accel.numerics.mac import _round_unless_tie, mac_fixed, mac_float

OPERAND_PAIRS = [("bf16", "bf16"), ("fp8_e4m3", "fp8_e5m2"), ("fp16", "fp16"), ("fp32", "fp32"),
                 ("bf16", "fp32"), ("int8", "fixed16_8")]


def operands(rng, shape, fmt, scale=1.0):
    return quantize((rng.standard_normal(shape) * scale).astype(np.float32), fmt).astype(np.float64)


@pytest.mark.parametrize("a_fmt, b_fmt", OPERAND_PAIRS)
@pytest.mark.parametrize("acc", ["fp32", "fp16", "bf16"])
def test_float_accumulation_matches_reference(a_fmt, b_fmt, acc):
    if get_format(a_fmt).significand_bits + get_format(b_fmt).significand_bits > 53:
        pytest.skip("products not exact in float64")
    rng = np.random.default_rng([OPERAND_PAIRS.index((a_fmt, b_fmt)), len(acc), ord(acc[-1])])
    a, b = operands(rng, (6, 33), a_fmt, 3.0), operands(rng, (33, 5), b_fmt, 0.5)
    got = gemm_float(a, b, a_fmt, b_fmt, acc)
    assert same_bits(got.values, gemm_float_ref(a, b, acc))


def test_fma32_route_equals_sequential_route_on_a_large_gemm():
    rng = np.random.default_rng(0)
    a, b = operands(rng, (64, 256), "bf16"), operands(rng, (256, 64), "fp8_e4m3")
    fast = gemm_float(a, b, "bf16", "fp8_e4m3", "fp32")
    slow = np.empty_like(fast.values)
    assert _gemm_float_sequential(a, b, slow, FP32.mantissa_bits, FP32.min_exponent, FP32.max_value, True) == 0
    assert fast.route == "fma32" and same_bits(fast.values, slow)
    assert not np.array_equal(fast.values, a @ b)  # rounding after every add is not float64 matmul


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 20), n=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_property_blocked_fma32_route(m, k, n, seed):
    # four rows at a time, then the M mod 4 left over: both must sum k = 0 … K−1 per output
    rng = np.random.default_rng(seed)
    a, b = operands(rng, (m, k), "fp32", 10.0), operands(rng, (k, n), "fp8_e4m3")
    got = gemm_float(a, b, "fp32", "fp8_e4m3", "fp32")
    assert got.route == "fma32" and same_bits(got.values, gemm_float_ref(a, b, "fp32"))


def test_fma32_route_takes_strided_and_float32_operands():
    rng = np.random.default_rng(5)
    a, b = operands(rng, (9, 14), "bf16"), operands(rng, (7, 14), "bf16").T  # b is a transposed view
    got = gemm_float(a.astype(np.float32), b, "bf16", "bf16", "fp32")
    assert got.route == "fma32" and same_bits(got.values, gemm_float_ref(a, b, "fp32"))


def test_tiny_products_round_once_on_the_fma32_route():
    # products below fp32's smallest subnormal: the fused multiply-add still rounds the exact sum once
    a = np.full((2, 3), 2.0**-70)
    b = np.full((3, 2), 2.0**-70)
    b[1, 1] = -(2.0**-80)
    got = gemm_float(a, b, "bf16", "bf16", "fp32")
    assert got.route == "fma32" and same_bits(got.values, gemm_float_ref(a, b, "fp32"))


def test_overflow_and_nan_are_counted():
    big = get_format("fp16").max_value
    a = np.array([[big, big, -big], [1.0, np.nan, 1.0], [np.inf, 1.0, 1.0]])
    b = np.array([[1.0], [1.0], [1.0]])
    got = gemm_float(a, b, "fp16", "fp16", "fp16")
    assert got.values[0, 0] == math.inf and math.isnan(got.values[1, 0]) and got.values[2, 0] == math.inf
    assert got.saturations == 1 and got.nonfinite == 3
    a[0] = quantize(np.array([2e38, 2e38, -2e38], np.float32), "bf16")
    fast = gemm_float(a, b, "bf16", "bf16", "fp32")  # the fma32 route, then an exact recount
    assert fast.route == "fma32" and fast.saturations == 1 and fast.nonfinite == 3


def test_cancellation_after_overflow_is_not_undone():
    # an fp32 chip that overflows keeps inf: acc + p rounded after every add, not at the end
    a = np.array([[3e38, 3e38, -3e38]])
    b = np.ones((3, 1))
    assert gemm_float(a, b, "fp32", "fp32", "fp32").values[0, 0] == math.inf


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 5), k=st.integers(1, 12), n=st.integers(1, 5),
       pair=st.sampled_from([*OPERAND_PAIRS[:3], ("int8", "fixed16_8")]),
       acc=st.sampled_from(["fp32", "fp16", "bf16"]), scale=st.sampled_from([1e-30, 1e-3, 1.0, 1e3, 1e30]),
       seed=st.integers(0, 2**32 - 1))
def test_property_float_gemm(m, k, n, pair, acc, scale, seed):
    rng = np.random.default_rng(seed)
    a, b = operands(rng, (m, k), pair[0], scale), operands(rng, (k, n), pair[1])
    got = gemm_float(a, b, *pair, acc)
    assert same_bits(got.values, gemm_float_ref(a, b, acc))
    assert got.nonfinite == int((~np.isfinite(got.values)).sum())


@pytest.mark.parametrize("acc, k, lim, route", [("int32", 300, 128, "blas"), ("int32", 2000, 128, "blas"),
                                                ("fixed16_0", 50, 128, "sequential"),
                                                ("int16", 700, 16, "sequential"),
                                                ("fixed64_0", 40, 2**28, "blas"),
                                                ("fixed64_0", 40, 2**31, "sequential")])
def test_fixed_accumulation_matches_reference(acc, k, lim, route):
    rng = np.random.default_rng(k)
    a = rng.integers(-lim, lim, (4, k))
    b = rng.integers(-lim, lim, (k, 3))
    got = gemm_fixed(a, b, acc)
    want, saturations = gemm_fixed_ref(a, b, acc)
    assert got.route == route and np.array_equal(got.values, want) and got.saturations == saturations


def test_int8_codes_take_the_exact_float32_blas_route():
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (64, 1024))
    b = rng.integers(-128, 128, (1024, 64))
    a[0], b[:, 0] = -128, -128  # the largest partial sum, 2**24, is still exact in float32
    got = gemm_fixed(a, b, "int32")
    assert got.route == "blas" and np.array_equal(got.values, a @ b) and got.values[0, 0] == 2**24


@pytest.mark.parametrize("use_torch", [True, False])
def test_the_float32_blas_route_gives_the_same_codes_through_either_blas(monkeypatch, use_torch):
    # _sgemm takes torch's mm or numpy's sgemm, whichever ran the shape faster: exact either way,
    # for codes as int64, as float32 (left as float32 accumulators) and a transposed view of them
    import accel.numerics.gemm as gemm_module
    monkeypatch.setattr(gemm_module, "_SGEMM_CHOICE", type("Always", (dict,), {"get": lambda *_: use_torch})())
    rng = np.random.default_rng(5)
    a, b = rng.integers(-128, 128, (64, 1000)), rng.integers(-128, 128, (1000, 48))
    a[0], b[:, 0] = -128, -128  # a partial sum just below 2**24 (the bound of the float32 route)
    want = a @ b
    assert np.array_equal(gemm_fixed(a, b, "int32").values, want)
    got = gemm_fixed(a.astype(np.float32), np.ascontiguousarray(b.T.astype(np.float32)).T, "int32",
                     float32_codes=True)
    assert got.route == "blas" and got.values.dtype == np.float32 and np.array_equal(got.values, want)


@settings(max_examples=80, deadline=None)
@given(m=st.integers(1, 4), k=st.integers(1, 40), n=st.integers(1, 4), width=st.integers(8, 40),
       shift=st.integers(0, 3), lim=st.sampled_from([2, 16, 128, 1000]), seed=st.integers(0, 2**32 - 1))
def test_property_fixed_gemm(m, k, n, width, shift, lim, seed):
    acc = f"fixed{width}_0"
    rng = np.random.default_rng(seed)
    a, b = rng.integers(-lim, lim + 1, (m, k)), rng.integers(-lim, lim + 1, (k, n))
    if (int(np.abs(a).max()) * int(np.abs(b).max())) << shift > get_format(acc).max_code + 1:
        with pytest.raises(ValueError, match="does not fit the accumulator"):
            gemm_fixed(a, b, acc, shift)
        return
    got = gemm_fixed(a, b, acc, shift)
    want, saturations = gemm_fixed_ref(a, b, acc, shift)
    assert np.array_equal(got.values, want) and got.saturations == saturations


FP32 = get_format("fp32")
TIE_CASES = [  # (acc, a, b, accumulator): sums whose float64 value is, or is near, a rounding boundary
    (1.0, 2.0**-24 * (1 + 2.0**-52), 1.0, "fp32"),  # fl64 drops 2**-76: a tie in float64, above it exactly
    (-1.0, -(2.0**-24) * (1 + 2.0**-52), 1.0, "fp32"),
    (1.0, -(2.0**-24) * (1 + 2.0**-52), -1.0, "fp32"),
    (1.0, 2.0**-24, 1.0, "fp32"),  # an exact tie: to even, down
    (1.0 + 2.0**-23, 2.0**-24, 1.0, "fp32"),  # an exact tie: to even, up
    (1.0, -(2.0**-25) * (1 + 2.0**-52), 1.0, "fp32"),  # below 1.0 the step halves: a tie there
    (256.0, 1.0 + 2.0**-52, 1.0, "bf16"),
    (2048.0, 1.0, 1.0 - 2.0**-53, "fp16"),
]
RANGE_CASES = [  # outside [smallest normal, max_value): subnormal steps, zero, overflow, saturation
    (0.0, 2.0**-140, 1.3, "fp32"),
    (2.0**-126, -(2.0**-126), 1.0 - 2.0**-30, "fp32"),
    (2.0**-14, -(2.0**-15), 1.0 + 2.0**-30, "fp16"),
    (1.0, -1.0, 1.0, "fp32"),
    (FP32.max_value, FP32.max_value, 2.0**-24, "fp32"),
    (FP32.max_value, FP32.max_value, 2.0**-25, "fp32"),
    (448.0, 16.0, 1.0, "fp8_e4m3"),
    (65504.0, 8.0, 1.0, "fp16"),
]
ORDINARY_CASES = [(1.0, 1.0 / 3, 3.0 + 2.0**-40, "fp32"), (-3.5, 0.1, 7.0, "bf16"), (100.0, 2.0**-20, -1.0, "fp16")]


@pytest.mark.parametrize("acc, a, b, fmt", TIE_CASES + RANGE_CASES + ORDINARY_CASES)
def test_mac_float_matches_exact_rounding_on_both_paths(acc, a, b, fmt):
    f = get_format(fmt)
    exact = Fraction(acc) + Fraction(a) * Fraction(b)
    got, overflowed = mac_float(acc, a, b, f.mantissa_bits, f.min_exponent, f.max_value, f.has_inf)
    want = round_exact(exact, fmt)
    assert same_bits(np.array([got]), np.array([want]))
    assert overflowed == (math.isinf(want) or (not f.has_inf and abs(exact) > f.max_value))
    fast = _round_unless_tie(acc + a * b, f.mantissa_bits, f.min_exponent, f.max_value)
    is_ordinary = (acc, a, b, fmt) in ORDINARY_CASES
    assert math.isnan(fast) != is_ordinary  # the fast path answers exactly the ordinary cases
    if is_ordinary:
        assert fast == want


def test_mac_steps_are_overflow_safe_at_64_bits():
    top, bottom = 2**63 - 1, -(2**63)
    assert mac_fixed(top - 1, 5, bottom, top) == (top, True)
    assert mac_fixed(bottom + 1, -5, bottom, top) == (bottom, True)
    assert mac_fixed(10, -3, bottom, top) == (7, False)
    assert mac_float(0.0, 2.0, 3.0, 10, -14, 65504.0, True) == (6.0, False)


def test_bad_operands_are_refused_with_their_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 2\)"):
        gemm_float(np.zeros((2, 3)), np.zeros((4, 2)), "bf16", "bf16", "fp32")
    with pytest.raises(TypeError, match="int64 or float32 codes"):
        gemm_fixed(np.zeros((2, 3)), np.zeros((3, 2)), "int32")
    with pytest.raises(ValueError, match="float accumulator"):
        gemm_float(np.zeros((2, 3)), np.zeros((3, 2)), "bf16", "bf16", "int32")


@pytest.mark.parametrize("m, k, n", [(4, 8, 16), (5, 7, 9), (8, 13, 3), (1, 4, 1), (11, 1, 6)])
def test_fma32_route_blocks_and_remainders_in_m_and_k(m, k, n):
    # four rows and four steps of k at a time, then M mod 4 rows and K mod 4 steps: all in k order
    rng = np.random.default_rng(m * 100 + k)
    a, b = operands(rng, (m, k), "bf16", 30.0), operands(rng, (k, n), "bf16", 0.01)
    want = gemm_float_ref(a, b, "fp32")
    for a_in, b_in in [(a, b), (a.astype(np.float32), b.astype(np.float32))]:  # float32: used without copies
        got = gemm_float(a_in, b_in, "bf16", "bf16", "fp32")
        assert got.route == "fma32" and got.values.dtype == np.float64 and same_bits(got.values, want)


def test_fma32_route_counts_nonfinite_outputs_from_its_own_pass():
    a = quantize(np.array([[1.0, np.nan, 2.0, 1.0, 3.0], [1.0, 1.0, 1.0, 1.0, 1.0]], np.float32), "bf16")
    b = quantize(np.array([[1.0, np.inf], [2.0, 1.0], [1.0, 1.0], [0.5, 1.0], [1.0, 1.0]], np.float32), "bf16")
    got = gemm_float(a, b, "bf16", "bf16", "fp32")
    want = gemm_float_ref(a.astype(np.float64), b.astype(np.float64), "fp32")
    assert got.route == "fma32" and same_bits(got.values, want) and got.nonfinite == 3 and got.saturations == 0


def test_blas_route_codes_past_float32s_integers_take_float64():
    rng = np.random.default_rng(3)
    a, b = rng.integers(-2**25, 2**25, (3, 5)), rng.integers(-4, 5, (5, 2))
    a[0, 0] = 2**31 + 3  # would wrap in the int32 conversion the float32 route uses
    got = gemm_fixed(a, b, "fixed64_0")
    assert got.route == "blas" and np.array_equal(got.values, a @ b)


@njit
def _fma32_each(a, b, acc, out):
    for i in range(a.size):
        out[i] = _fma32(a[i], b[i], acc[i])


def _fp32_mac_both_ways(a, b, acc):
    """``_fma32`` and ``mac_float`` with fp32 accumulator parameters on float32 triples."""
    fused = np.empty(a.size, np.float32)
    _fma32_each(a, b, acc, fused)
    macs = [mac_float(float(c), float(x), float(y), FP32.mantissa_bits, FP32.min_exponent, FP32.max_value, True)
            for x, y, c in zip(a.tolist(), b.tolist(), acc.tolist(), strict=True)]
    return fused.astype(np.float64), np.array([v for v, _ in macs]), [o for _, o in macs]


_F32 = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)


@settings(max_examples=300, deadline=None)
@given(a=_F32, b=_F32, acc=_F32)
def test_property_fma32_is_mac_float_with_an_fp32_accumulator(a, b, acc):
    a, b, acc = (np.array([v], np.float32) for v in (a, b, acc))
    fused, mac, _ = _fp32_mac_both_ways(a, b, acc)
    assert same_bits(fused, mac)


def test_fma32_is_mac_float_on_subnormal_overflowing_and_cancelling_cases():
    tiny, top = 2.0**-149, FP32.max_value
    rng = np.random.default_rng(7)
    cases = [  # (a, b, acc)
        (tiny, 0.5, 0.0), (tiny, 1.5, 0.0), (tiny, 0.75, tiny), (-tiny, 0.5, 0.0),  # subnormal ties and signs
        (2.0**-75, 2.0**-75, 0.0), (2.0**-75, -(2.0**-75), 2.0**-149), (2.0**-63, 2.0**-63, -(2.0**-126)),
        (1.0 + 2.0**-23, 1.0 - 2.0**-23, -1.0),  # cancellation exposes the bits of the exact product
        (3.0, 1.0 / 3, -1.0), (-2.0, 0.0, 0.0), (-2.0, 0.0, -0.0), (2.0, -0.0, -0.0), (1.0, -1.0, 1.0),
        (top, 2.0, 0.0), (top, 1.0, top), (top, -1.0, -top), (top, 1.0 + 2.0**-23, -top), (2.0**64, 2.0**64, 0.0),
        (2.0**127, 2.0, -top), (np.inf, 0.0, 1.0), (np.inf, 1.0, -np.inf), (np.nan, 1.0, 1.0), (1.0, 1.0, np.inf),
    ]
    a, b, acc = (np.array(col, np.float32) for col in zip(*cases, strict=True))
    bits = rng.integers(0, 2**32, (3, 2000), dtype=np.uint64).astype(np.uint32).view(np.float32)  # any pattern
    a, b, acc = np.concatenate([a, bits[0]]), np.concatenate([b, bits[1]]), np.concatenate([acc, bits[2]])
    fused, mac, overflowed = _fp32_mac_both_ways(a, b, acc)
    assert same_bits(fused, mac)
    finite = np.isfinite(a) & np.isfinite(b) & np.isfinite(acc)
    for i in np.flatnonzero(finite):  # and both are the exact sum rounded once
        exact = Fraction(float(acc[i])) + Fraction(float(a[i])) * Fraction(float(b[i]))
        want = round_exact(exact, "fp32")  # (the sign of an exact zero sum is IEEE's, checked above)
        assert fused[i] == want and (exact == 0 or same_bits(fused[i:i + 1], np.array([want])))
        assert overflowed[i] == math.isinf(want)


def test_fma32_route_counts_overflows_as_the_sequential_kernel_does():
    top = float(FP32.max_value)
    a = np.array([[top, top, -top, 1.0], [1.0, np.nan, top, top], [np.inf, top, 1.0, 1.0], [top, -top, top, top]])
    b = np.array([[1.0, 2.0], [1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    got = gemm_float(a, b, "fp32", "fp32", "fp32")
    want = np.empty_like(got.values)
    overflows = _gemm_float_sequential(a, b, want, FP32.mantissa_bits, FP32.min_exponent, FP32.max_value, True)
    assert got.route == "fma32" and same_bits(got.values, want) and got.saturations == overflows > 0
    assert got.nonfinite == int((~np.isfinite(want)).sum())


NARROW = [("fp8_e4m3", "fp8_e5m2", "bf16"), ("fp8_e4m3", "fp8_e4m3", "bf16"), ("fp8_e5m2", "fp8_e4m3", "fp16"),
          ("fp8_e5m2", "fp8_e5m2", "fp16"), ("fp8_e4m3", "fp8_e4m3", "fp16")]


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 5), k=st.integers(1, 16), n=st.integers(1, 19), case=st.sampled_from(NARROW),
       scale=st.sampled_from([2.0**-12, 1e-2, 1.0, 16.0, 300.0]), seed=st.integers(0, 2**32 - 1))
def test_property_columns_route_equals_the_reference(m, k, n, case, scale, seed):
    # small and large scales reach the format's subnormals and its overflow, which take mac_float
    rng = np.random.default_rng(seed)
    a, b = operands(rng, (m, k), case[0], scale), operands(rng, (k, n), case[1], scale)
    got = gemm_float(a.astype(np.float32), b.astype(np.float32), *case)
    acc = get_format(case[2])
    want = np.empty_like(got.values)
    overflows = _gemm_float_sequential(a, b, want, acc.mantissa_bits, acc.min_exponent, acc.max_value, acc.has_inf)
    assert got.route == "columns" and same_bits(got.values, want) and got.saturations == overflows
    assert same_bits(got.values, gemm_float_ref(a, b, case[2]))


@pytest.mark.parametrize("acc", ["bf16", "fp16"])
def test_columns_route_breaks_exact_ties_to_even_and_keeps_zero_signs(acc):
    step = 2.0 ** -get_format(acc).mantissa_bits  # the format's step at 1.0
    a = np.array([[1.0, 0.0, 0.125], [1.0, 0.125, 0.125], [-1.0, -0.0, 0.0], [0.0, -0.0, 0.0]], np.float32)
    b = np.array([[1.0], [step * 8], [step * 4]], np.float32)  # 0.125 · 4 steps is half a step: a tie
    every = np.concatenate([a.ravel(), b.ravel()])
    assert same_bits(quantize(every, "fp8_e4m3"), every)  # fp8 values, as the route's proof asks
    got = gemm_float(a, b, "fp8_e4m3", "fp8_e4m3", acc)
    assert got.route == "columns"
    assert got.values[:, 0].tolist() == [1.0, 1.0 + 2 * step, -1.0, 0.0]  # 1 + ½ to even (down), 1 + 1½ up
    assert not np.signbit(got.values[3, 0])  # +0 + (−0 · x) is +0 (IEEE), as mac_float says


def test_sixteen_bit_codes_take_the_exact_dgemm_route():
    rng = np.random.default_rng(4)
    a, b = rng.integers(-2**15, 2**15, (9, 300)), rng.integers(-2**15, 2**15, (300, 7))
    a[0], b[:, 0] = -2**15, -2**15  # the largest partial sum, 300 · 2**30, is past float32's integers
    got = gemm_fixed(a, b, "fixed48_0")
    assert got.route == "blas" and np.array_equal(got.values, a @ b) and got.values[0, 0] == 300 * 2**30
    again = gemm_fixed(a[:3, :5], b[:5, :2], "fixed48_0")  # reusing the work arrays leaves the first result
    assert np.array_equal(again.values, a[:3, :5] @ b[:5, :2]) and np.array_equal(got.values, a @ b)


@pytest.mark.parametrize("acc, lim, shift, route", [("int32", 128, 0, "blas"), ("fixed48_0", 2**15, 0, "blas"),
                                                    ("fixed16_0", 128, 0, "sequential"),
                                                    ("fixed64_0", 2**15, 20, "blas"),
                                                    ("fixed40_0", 2**15, 3, "sequential")])
def test_float32_codes_give_the_int64_codes_results(acc, lim, shift, route):
    rng = np.random.default_rng(lim + shift)
    a, b = rng.integers(-lim, lim, (5, 300)), rng.integers(-lim, lim, (300, 4))
    want = gemm_fixed(a, b, acc, shift)
    got = gemm_fixed(a.astype(np.float32), b.astype(np.float32).T.copy().T, acc, shift)  # b not C-contiguous
    assert got.route == want.route == route and got.values.dtype == np.int64
    assert np.array_equal(got.values, want.values) and got.saturations == want.saturations
