"""Operands rounded into the chip's formats: the fused paths against the generic ones and NumPy's counts."""

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accel.numerics import get_format, quantize, quantize_codes
from accel.numerics.philox import RandomStream
from accel.numerics.requantize import float_pairs, pow2_scale, round_pairs
from accel.operands import to_format, zero_macs

FIXED = ["int8", "int16", "fixed16_8", "fixed12_4", "int32"]
FLOATS = ["fp32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2"]


def reference(values: np.ndarray, fmt, scaling: str, rounding: str, rng, exp=None):
    """The rounding as the Accelerator wrote it before the fused paths: NumPy reductions, round_pairs."""
    signed = values if exp is None else np.ldexp(values.astype(np.float64), exp)
    finite = np.isfinite(signed)
    peak = float(np.abs(signed).max(initial=0.0, where=finite))
    stream = rng if rounding == "stochastic" else None
    if fmt.is_float:
        saturations = int((np.abs(signed) > fmt.max_value).sum())
        if exp is None:
            out = quantize(values, fmt.name, rounding, rng)
        else:
            out = round_pairs(values, exp, fmt, stream).reshape(values.shape)
        return out, None, int((~np.isfinite(out)).sum()), saturations
    if scaling == "none" or peak == 0.0:
        scale = -fmt.frac_bits
    else:
        sig, e = float_pairs(np.array([peak]))
        scale = pow2_scale(int(sig[0]), int(e[0]), fmt)
    with np.errstate(over="ignore"):  # a limit beyond float32 compares as ±inf, as it always did
        saturations = int(((signed > fmt.max_code * 2.0**scale) | (signed < fmt.min_code * 2.0**scale)).sum())
    if exp is None:
        codes, nan = quantize_codes(values, fmt, rounding, rng, scale_exp=scale)
        return codes, scale, int(nan.sum()), saturations
    return round_pairs(values, exp, fmt, stream, scale).reshape(values.shape), scale, 0, saturations


def check(values, fmt_name, scaling, rounding, seed, exp=None):
    fmt = get_format(fmt_name)
    rng = RandomStream.from_seed(seed)
    got, got_sat = to_format(values, fmt, scaling, rounding, rng, exp)
    want_rng = RandomStream.from_seed(seed)
    data, scale, nonfinite, saturations = reference(values, fmt, scaling, rounding, want_rng, exp)
    if fmt.is_float:
        assert np.array_equal(got.data, data, equal_nan=True) and got.data.dtype == data.dtype
    else:  # codes: int64, or float32 holding the same integers for formats of up to 25 bits
        float32_in = values.dtype == np.float32
        assert np.array_equal(got.data, data) and got.data.dtype == (
            np.float32 if float32_in and fmt.width_bits <= 25 else np.int64)
    assert (got.exp, got.nonfinite, got_sat) == (scale, nonfinite, saturations)
    assert rng.state() == want_rng.state()


floats32 = st.floats(width=32, allow_nan=True, allow_infinity=True)


@settings(max_examples=150, deadline=None)
@given(x=st.lists(floats32, min_size=1, max_size=40), fmt=st.sampled_from(FIXED + FLOATS),
       scaling=st.sampled_from(["tensor_pow2", "none"]), rounding=st.sampled_from(["nearest", "stochastic"]),
       seed=st.integers(0, 2**32 - 1))
@example(x=[3.3762393121177824e38, math.inf], fmt="int8", scaling="tensor_pow2", rounding="nearest", seed=0)
def test_property_float32_tensors_round_as_before(x, fmt, scaling, rounding, seed):
    check(np.array(x, np.float32), fmt, scaling, rounding, seed)


@settings(max_examples=150, deadline=None)
@given(codes=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=40), exp=st.integers(-60, 10),
       fmt=st.sampled_from(FIXED + FLOATS), scaling=st.sampled_from(["tensor_pow2", "none"]),
       rounding=st.sampled_from(["nearest", "stochastic"]), seed=st.integers(0, 2**32 - 1))
def test_property_accumulator_codes_round_as_round_pairs(codes, exp, fmt, scaling, rounding, seed):
    check(np.array(codes, np.int64).reshape(-1, 1), fmt, scaling, rounding, seed, exp)


@settings(max_examples=150, deadline=None)
@given(codes=st.lists(st.integers(-(2**24) + 1, 2**24 - 1), min_size=1, max_size=40), exp=st.integers(-60, 10),
       fmt=st.sampled_from(FIXED + FLOATS), scaling=st.sampled_from(["tensor_pow2", "none"]),
       rounding=st.sampled_from(["nearest", "stochastic"]), seed=st.integers(0, 2**32 - 1))
@example(codes=[2**24 - 1, -3, 0], exp=-40, fmt="int8", scaling="tensor_pow2", rounding="stochastic", seed=1)
def test_property_float32_accumulator_codes_round_as_int64_ones(codes, exp, fmt, scaling, rounding, seed):
    # the BLAS route leaves its accumulators as float32 integers below 2**24: the same codes and words
    check(np.array(codes, np.float32).reshape(-1, 1), fmt, scaling, rounding, seed, exp)


def test_stochastic_codes_far_below_the_largest_round_as_round_pairs():
    codes = np.array([1, -1, 3, 2**52 - 1, -(2**20) + 7], np.int64)  # beside 2**52 the small codes lose 45 bits
    for seed in range(20):
        check(codes, "int8", "tensor_pow2", "stochastic", seed, exp=-70)


@pytest.mark.parametrize("seed", range(4))
def test_zero_macs_counts_products_with_a_zero_operand(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(-1, 2, (7, 9)), rng.integers(-1, 2, (9, 5))
    want = sum(int(a[i, k] == 0 or b[k, j] == 0) for i in range(7) for j in range(5) for k in range(9))
    assert zero_macs(a, b) == want
    # transposed views (a GEMM reading a kept operand transposed), float codes with -0.0 and NaN
    assert zero_macs(np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T) == want
    af, bf = a.astype(np.float32), b.astype(np.float32)
    af[af == 0] = -0.0
    bf[0, 0] = np.nan  # not a zero
    want_f = sum(int(af[i, k] == 0 or bf[k, j] == 0) for i in range(7) for j in range(5) for k in range(9))
    assert zero_macs(af, np.ascontiguousarray(bf.T).T) == want_f
