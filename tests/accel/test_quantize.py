"""quantize: bit-exact against the rational reference and torch's casts; stochastic rounding statistics."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import further_words, neighbours, quantize_ref

from accel.numerics import FORMAT_NAMES, get_format, quantize, quantize_codes
from accel.numerics.rounding import UNDECIDED, resolve, stochastic_up

FLOATS = ["fp32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2"]
FIXED = ["int8", "int16", "int32", "fixed16_8", "fixed8_7", "fixed12_12", "fixed2_0", "fixed32_16",
         "fixed53_30", "fixed64_60", "fixed64_0"]
TORCH = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp8_e4m3": torch.float8_e4m3fn,
         "fp8_e5m2": torch.float8_e5m2}


def same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal values, equal signs of zero, NaN where NaN."""
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    nan = np.isnan(want)
    return bool(np.array_equal(np.isnan(got), nan) and np.array_equal(got[~nan], want[~nan])
                and np.array_equal(np.signbit(got[~nan]), np.signbit(want[~nan])))


def edge_values(fmt: str) -> np.ndarray:
    """±0, the smallest steps and their halves, ties, the largest values and just beyond, inf, NaN."""
    f = get_format(fmt)
    step, top = f.smallest_step, f.max_value
    vals = [0.0, step, step / 2, step * 0.75, step * 1.5, step * 2.5, 1.0, 1.5, 2.5, 3.5,
            1 + 2.0**-f.mantissa_bits / 2 if f.is_float else 0.5 + step / 2, top]
    if f.is_float:
        ulp = 2.0 ** (math.floor(math.log2(top)) - f.mantissa_bits)
        vals += [top + ulp / 2, top + ulp / 4, top + ulp, 2.0 ** f.min_exponent, 2.0 ** f.min_exponent * 0.99]
    else:
        vals += [top + step / 2, top + step, -f.min_value, -f.min_value + step / 2, f.max_value * 0.999]
    vals += [2.0**-149, 2.0**-140, 2.0**-126, float(np.finfo(np.float32).max), 1e-30, 1e30, math.inf, math.nan]
    x = np.array(vals + [-v for v in vals], dtype=np.float64)
    with np.errstate(over="ignore"):
        return x.astype(np.float32)


@pytest.mark.parametrize("fmt", FLOATS + FIXED)
def test_edge_cases_match_reference(fmt):
    x = edge_values(fmt)
    assert same_bits(quantize(x, fmt), quantize_ref(x, fmt))


@pytest.mark.parametrize("fmt", list(TORCH))
def test_matches_torch_on_edges_and_random_bit_patterns(fmt):
    rng = np.random.default_rng(1)
    f = get_format(fmt)
    scaled = (rng.standard_normal(200_000) * np.exp2(rng.uniform(f.min_exponent - f.mantissa_bits - 2,
                                                                  math.log2(f.max_value) + 2, 200_000)))
    with np.errstate(over="ignore"):
        x = np.concatenate([edge_values(fmt), rng.integers(0, 2**32, 200_000, dtype=np.uint64)
                            .astype(np.uint32).view(np.float32), scaled.astype(np.float32)])
    want = torch.from_numpy(x).to(TORCH[fmt]).to(torch.float32).numpy()
    assert same_bits(quantize(x, fmt), want)


@pytest.mark.parametrize("fmt", list(TORCH))
def test_every_pattern_near_the_boundaries_matches_torch(fmt):
    # the vectorised kernel switches between a fixed step and float32's shifted step at the smallest
    # normal, and between rounding and overflow at the largest value: every pattern around both, both signs
    f = get_format(fmt)
    centres = np.array([2.0**f.min_exponent, f.smallest_step, f.max_value], np.float32).view(np.uint32)
    window = np.arange(-(1 << 16), 1 << 16, dtype=np.int64)
    bits = np.unique(np.clip(centres.astype(np.int64)[:, None] + window, 0, 0x7F800001)).astype(np.uint32)
    x = np.concatenate([bits, bits | np.uint32(0x80000000)]).view(np.float32)
    want = torch.from_numpy(x).to(TORCH[fmt]).to(torch.float32).numpy()
    assert same_bits(quantize(x, fmt), want)


def test_fp8_e4m3_saturates_where_torch_does():
    x = np.array([447, 449, 463.9, 464, 480, 1e6, np.inf, -np.inf], np.float32)
    assert quantize(x, "fp8_e4m3").tolist() == [448, 448, 448, 448, 448, 448, 448, -448]


@settings(max_examples=300, deadline=None)
@given(bits=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=40),
       fmt=st.sampled_from(FLOATS + FIXED))
def test_property_random_bit_patterns(bits, fmt):
    x = np.array(bits, np.uint64).astype(np.uint32).view(np.float32)
    assert same_bits(quantize(x, fmt), quantize_ref(x, fmt))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(-300, 300, width=32), min_size=1, max_size=30),
       width=st.integers(2, 64), data=st.data())
def test_property_fixed_formats(values, width, data):
    fmt = f"fixed{width}_{data.draw(st.integers(0, width))}"
    x = np.array(values, np.float32)
    assert same_bits(quantize(x, fmt), quantize_ref(x, fmt))


def test_shape_dtype_and_zero_sign():
    x = np.array([[-0.0, 1.25], [3.0, -2.0]], np.float32)
    assert quantize(x, "bf16").shape == (2, 2) and quantize(x, "bf16").dtype == np.float32
    assert np.signbit(quantize(x, "bf16")[0, 0]) and not np.signbit(quantize(x, "int8")[0, 0])
    assert quantize(x, "fixed32_8").dtype == np.float64 and quantize(x, "fixed24_8").dtype == np.float32


def test_codes_are_the_values_times_two_to_the_f():
    x = np.array([0.3, -1.7, 100.0, -1e9, np.nan], np.float32)
    codes, nan = quantize_codes(x, "fixed16_8")
    assert codes.tolist() == [77, -435, 25600, -32768, 0] and nan.tolist() == [False] * 4 + [True]


@pytest.mark.parametrize("bad", ["fp64", "int4x", "float8", "fixed8", ""])
def test_unknown_format_lists_valid_names(bad):
    with pytest.raises(ValueError, match="valid formats: fp32, bf16"):
        quantize(np.zeros(2, np.float32), bad)


@pytest.mark.parametrize("bad, part", [("fixed1_0", "W=1"), ("fixed65_0", "W=65"), ("fixed8_9", "F=9")])
def test_malformed_fixed_names_say_which_part(bad, part):
    with pytest.raises(ValueError, match=part):
        get_format(bad)


def test_bad_input_types_and_modes():
    with pytest.raises(TypeError, match="floating-point"):
        quantize(np.arange(4), "bf16")
    with pytest.raises(ValueError, match="rounding"):
        quantize(np.zeros(2, np.float32), "bf16", rounding="up")
    with pytest.raises(TypeError, match="Generator"):
        quantize(np.zeros(2, np.float32), "bf16", rounding="stochastic", rng=np.random.RandomState(0))


def test_float64_input_is_converted_to_float32_first():
    x = np.array([1 + 2.0**-8 + 2.0**-30])  # float32 rounds it to the bf16 tie 1 + 2**-8, which goes to even
    assert quantize(x, "bf16")[0] == 1.0


def test_format_registry_describes_ranges():
    assert get_format("fp8_e4m3").max_value == 448 and get_format("fp8_e5m2").max_value == 57344
    assert get_format("fp16").smallest_step == 2.0**-24 and get_format("bf16").smallest_step == 2.0**-133
    assert get_format("int8").min_value == -128 and get_format("fixed16_8").smallest_step == 2.0**-8
    assert "fixed<W>_<F>" in FORMAT_NAMES


# --- stochastic rounding -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, v", [("bf16", 1 + 2.0**-9), ("bf16", -3.0 / 7), ("fp8_e4m3", 0.3),
                                    ("fp8_e5m2", 2.0**-17 * 0.7), ("int8", -2.3), ("fixed16_8", 0.123),
                                    ("fp16", 2.0**-25), ("int8", 2.0**-20), ("fixed16_4", 1000.06)])
def test_stochastic_rounding_is_unbiased_between_the_two_neighbours(fmt, v):
    n = 200_000
    x = np.full(n, v, np.float32)
    lower, upper = neighbours(float(x[0]), fmt)
    got = quantize(x, fmt, "stochastic", np.random.default_rng(7))
    assert set(np.unique(got).tolist()) <= {lower, upper}
    p = (float(x[0]) - lower) / (upper - lower)
    ups = int((got == upper).sum())
    z = (ups - n * p) / math.sqrt(n * p * (1 - p))
    assert abs(z) < 4.5, (ups, n * p)


def test_stochastic_rounding_keeps_representable_values_and_specials():
    x = np.array([1.0, 0.5, -2.0, 0.0, -0.0, np.inf, np.nan], np.float32)
    assert same_bits(quantize(x, "bf16", "stochastic"), quantize_ref(x, "bf16"))


def test_stochastic_rounding_is_reproducible_and_fresh():
    x = np.full(1000, 0.1, np.float32)
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    first = quantize(x, "fp8_e4m3", "stochastic", r1)
    assert np.array_equal(first, quantize(x, "fp8_e4m3", "stochastic", r2))
    assert not np.array_equal(first, quantize(x, "fp8_e4m3", "stochastic", r1))


def test_stochastic_decision_beyond_the_first_word_is_exact():
    # threshold 2**-100 · (2**35 + 5): its leading 32 bits are 0, so a first word of 0 ties
    rem, shift = 2**35 + 5, 100
    assert stochastic_up(rem, shift, np.uint64(1)) == 0 and stochastic_up(rem, shift, np.uint64(0)) == UNDECIDED
    for key, w in [(11, 0), (3, 2**40 + 1), (2**64 - 1, 7)]:
        word = further_words(key, w, 1)[0]  # the next 64 bits of U, against bits 33 … 96 of the threshold
        assert resolve(rem, shift, np.uint64(key), np.uint64(w)) == (word < rem >> 4)


def test_stochastic_rounding_of_tiny_values_has_tiny_probability():
    x = np.full(100_000, 2.0**-60, np.float32)  # P(round up to 1) = 2**-60
    assert not quantize(x, "int8", "stochastic", np.random.default_rng(0)).any()


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=20), scale=st.integers(-30, 30),
       fmt=st.sampled_from(["int8", "int16", "fixed12_3"]))
def test_property_codes_with_an_explicit_scale(values, scale, fmt):
    # codes of x · 2**-scale: the same as rounding x · 2**-scale (exact in float64) half to even
    x = np.array(values, np.float32)
    f = get_format(fmt)
    codes, _ = quantize_codes(x, fmt, scale_exp=scale)
    scaled = np.ldexp(x.astype(np.float64), -scale)
    want = np.clip(np.rint(scaled), f.min_code, f.max_code).astype(np.int64)
    assert np.array_equal(codes, want)


@pytest.mark.parametrize("fmt, scale", [("int8", None), ("fixed16_8", None), ("fixed53_30", None), ("int8", -3),
                                        ("int16", 40), ("fixed64_0", None), ("fixed12_3", -900)])
def test_fixed_nearest_routes_match_reference(fmt, scale):
    # W ≤ 53 and |F| < 800 take the vectorised float64 kernel, the rest the integer one: same codes
    f = get_format(fmt)
    frac = f.frac_bits if scale is None else -scale
    rng = np.random.default_rng(4)
    x = np.concatenate([edge_values(fmt), (rng.standard_normal(5000) * 2.0 ** rng.integers(-30, 30, 5000))
                        .astype(np.float32), np.array([0.5, 1.5, 2.5, -0.5, -2.5, 127.5, -128.5], np.float32)
                        * np.float32(2.0 ** max(-frac, -100))])
    codes, nan = quantize_codes(x, fmt, scale_exp=scale)
    exact = [0 if math.isnan(v) else min(max(round(Fraction(v) * Fraction(2) ** frac) if math.isfinite(v)
                                             else (1 if v > 0 else -1) << 70, f.min_code), f.max_code)
             for v in x.tolist()]
    assert codes.tolist() == exact and nan.tolist() == np.isnan(x).tolist()


@pytest.mark.parametrize("fmt", ["int8", "int16", "fixed16_8", "fixed25_3"])
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_float32_codes_are_the_int64_codes(fmt, rounding):
    x = np.concatenate([edge_values(fmt), np.random.default_rng(2).standard_normal(500) * 100]).astype(np.float32)
    for scale in (None, -3, 4):
        want, want_nan = quantize_codes(x, fmt, rounding, np.random.default_rng(9), scale_exp=scale)
        got, got_nan = quantize_codes(x, fmt, rounding, np.random.default_rng(9), scale_exp=scale, dtype=np.float32)
        assert got.dtype == np.float32 and np.array_equal(got, want) and np.array_equal(got_nan, want_nan)
    with pytest.raises(ValueError, match="at most 25 bits"):
        quantize_codes(x, "int32", dtype=np.float32)
