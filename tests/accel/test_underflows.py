"""``EventCounts.underflows``: nonzero values the chip's rounding turns into 0, counted against a
NumPy count of the same rounding (int8, a per-tensor power-of-two scale, round half to even; fp8
e4m3 below its smallest subnormal)."""

import numpy as np
import pytest

from accel import Accelerator, load_config
from accel.config import with_overrides


def nearest_int8_chip() -> Accelerator:
    return Accelerator(with_overrides(load_config("edge-int8"), {"formats.rounding": "nearest"}), seed=0)


def rounded_to_zero(x: np.ndarray) -> int:
    """Nonzero values of ``x`` whose int8 code at the tensor's power-of-two scale is 0."""
    x = np.asarray(x, np.float64)
    step = 2.0 ** np.ceil(np.log2(np.abs(x).max() / 127))
    return int(np.count_nonzero((x != 0) & (np.round(x / step) == 0)))


def test_quantize_counts_the_values_rounded_to_zero():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((64, 32)) * 10.0 ** rng.uniform(-4, 0, (64, 32))).astype(np.float32)
    w[0, 0], w[1, 1] = 3.0, 0.0  # a peak, and a zero that is no underflow
    acc = nearest_int8_chip()
    out = acc.vector.quantize(w, "weight")
    expected = rounded_to_zero(w)
    assert acc.counts.underflows == expected == np.count_nonzero((out == 0) & (w != 0)) > 0


@pytest.mark.parametrize("seed", range(3))
def test_a_gemm_counts_its_operands_and_output_rounded_to_zero(seed):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((16, 40)) * 10.0 ** rng.uniform(-3, 0, (16, 40))).astype(np.float32)
    b = rng.integers(-127, 128, (40, 8)).astype(np.float32)  # int8 codes at scale 1: rounding keeps them
    acc = nearest_int8_chip()
    out = acc.gemm(a, b)
    step_a = 2.0 ** np.ceil(np.log2(np.abs(a).max() / 127))
    exact = (np.round(a / step_a) * step_a) @ b.astype(np.float64)  # the int32 accumulators, exactly
    assert acc.counts.underflows == rounded_to_zero(a) + rounded_to_zero(exact)
    assert np.count_nonzero((out == 0) & (exact != 0)) == rounded_to_zero(exact)


def test_counts_without_values_have_none():
    acc = nearest_int8_chip()
    acc.gemm_counts(16, 40, 8)
    acc.vector_counts("quantize", "weight", 100)
    assert acc.counts.underflows == 0


def test_a_vector_operation_counts_its_results_rounded_to_zero():
    rng = np.random.default_rng(1)
    x = rng.integers(-127, 128, 500).astype(np.float32)  # int8 codes at scale 1: loading keeps them
    y = rng.integers(-127, 128, 500).astype(np.float32)
    x[0], y[0] = 127.0, 127.0  # the sum's peak 254 takes scale 2: odd sums of ±1 round to 0 (half to even)
    acc = nearest_int8_chip()
    out = acc.vector.add(x, y)
    exact = x.astype(np.float64) + y
    assert acc.counts.underflows == rounded_to_zero(exact) == np.count_nonzero((out == 0) & (exact != 0)) > 0


def e4m3_nearest(x: np.ndarray) -> np.ndarray:
    """fp8 e4m3 to nearest, half to even, by its steps: 2**(e − 3) from the smallest normal 2**-6
    up, 2**-9 below it (no value here comes near its largest, 448)."""
    x = np.asarray(x, np.float64)
    exponent = np.floor(np.log2(np.maximum(np.abs(x), 2.0**-6)))
    step = 2.0 ** (exponent - 3)
    return np.round(x / step) * step


def test_a_float_format_counts_what_falls_below_its_smallest_subnormal():
    """fp8 e4m3 to nearest: its smallest subnormal is 2**-9, so 0 < |x| ≤ 2**-10 rounds to 0 (2**-10
    itself a tie, to the even 0)."""
    rng = np.random.default_rng(3)
    a = (rng.choice([-1.0, 1.0], (24, 8)) * 2.0 ** rng.uniform(-14, 2, (24, 8))).astype(np.float32)
    a[0, 0], a[0, 1], a[0, 2] = 2.0**-10, 0.0, 2.0**-9  # a tie, a zero, the smallest subnormal
    acc = Accelerator(with_overrides(load_config("edge-fp8"), {"formats.rounding": "nearest"}), seed=0)
    unit = np.eye(8, dtype=np.float32) * np.float32(2.0**-6)  # exact in e4m3 and in the fp32 accumulator
    out = acc.gemm(a, unit, names=("a", "unit", "out"))
    a_rounded = e4m3_nearest(a)
    exact = a_rounded * 2.0**-6  # the accumulators
    assert np.array_equal(out, e4m3_nearest(exact))
    by_tensor = acc.counts_by_tensor
    assert by_tensor["a"].underflows == np.count_nonzero((a != 0) & (a_rounded == 0)) > 0
    assert by_tensor["out"].underflows == np.count_nonzero((exact != 0) & (out == 0)) > 0
    assert "unit" not in by_tensor
    assert acc.counts.underflows == by_tensor["a"].underflows + by_tensor["out"].underflows
