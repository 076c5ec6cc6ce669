"""``channel_pow2``: a power-of-two scale per output channel of a weight matrix, against an obvious
column-by-column rounding, and the chip's GEMMs on such weights against exact products."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import Accelerator, load_config
from accel.config import CHANNEL_SPAN, with_overrides
from accel.numerics import get_format, quantize_codes
from accel.numerics.philox import RandomStream
from accel.numerics.requantize import float_pairs, pow2_scale
from accel.operands import to_format


def column_scale(column: np.ndarray, fmt) -> int | None:
    """The ``tensor_pow2`` scale of one column (None when it holds no finite nonzero value)."""
    finite = np.abs(column[np.isfinite(column)])
    peak = float(finite.max(initial=0.0))
    if peak == 0.0:
        return None
    sig, e = float_pairs(np.array([peak]))
    return pow2_scale(int(sig[0]), int(e[0]), fmt)


def reference(w: np.ndarray, fmt, rounding: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes, scales) of ``w`` rounded column by column: each column at its own scale, floored at
    ``CHANNEL_SPAN`` below the largest, with the random words from ``column · rows`` on."""
    scales = [column_scale(w[:, j], fmt) for j in range(w.shape[1])]
    known = [s for s in scales if s is not None]
    if known:
        floor = max(known) - CHANNEL_SPAN
        scales = [floor if s is None else max(s, floor) for s in scales]
    else:
        scales = [-fmt.frac_bits] * w.shape[1]
    codes = np.empty(w.shape, np.float32)
    for j, scale in enumerate(scales):
        rng = RandomStream.from_seed(seed)
        if j:
            rng.take(j * w.shape[0])
        codes[:, j], _ = quantize_codes(np.ascontiguousarray(w[:, j]), fmt, rounding, rng, scale_exp=scale)
    return codes, np.array(scales)


def spread_matrix(rows: int, cols: int, seed: int, decades: float) -> np.ndarray:
    """Columns whose magnitudes differ by up to ``10**decades``, some of them zero."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)) * 10.0 ** rng.uniform(-decades, 0, cols)
    w[:, rng.random(cols) < 0.1] = 0.0
    return w.astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 12), seed=st.integers(0, 2**31), decades=st.floats(0, 5),
       fmt=st.sampled_from(["int8", "int16", "fixed12_4"]), rounding=st.sampled_from(["nearest", "stochastic"]))
def test_property_each_column_rounds_at_its_own_scale(rows, cols, seed, decades, fmt, rounding):
    w = spread_matrix(rows, cols, seed, decades)
    f = get_format(fmt)
    rng = RandomStream.from_seed(seed)
    op, saturations = to_format(w, f, "channel_pow2", rounding, rng, channel_axis=1)
    codes, scales = reference(w, f, rounding, seed)
    assert np.array_equal(op.data, codes) and np.array_equal(op.exp.ravel(), scales)
    assert saturations == 0 and op.nonfinite == 0
    assert rng.counter == RandomStream.from_seed(seed).counter + (w.size if rounding == "stochastic" else 0)
    assert np.array_equal(op.values(), np.ldexp(codes.astype(np.float64), scales))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), decades=st.floats(0, 4))
def test_property_a_matrix_and_its_transpose_round_alike(seed, decades):
    w = spread_matrix(24, 9, seed, decades)
    fmt = get_format("int8")
    op, _ = to_format(w, fmt, "channel_pow2", "stochastic", RandomStream.from_seed(seed), channel_axis=1)
    op_t, _ = to_format(np.ascontiguousarray(w.T), fmt, "channel_pow2", "stochastic", RandomStream.from_seed(seed),
                        channel_axis=0)
    assert np.array_equal(op.values(), op_t.values().T)


def test_channels_keep_the_small_columns_that_one_tensor_scale_rounds_to_zero():
    w = spread_matrix(64, 32, 0, 3.0)
    fmt = get_format("int8")
    by_tensor, _ = to_format(w, fmt, "tensor_pow2", "nearest", RandomStream.from_seed(0))
    by_channel, _ = to_format(w, fmt, "channel_pow2", "nearest", RandomStream.from_seed(0), channel_axis=1)
    zeros = lambda op: int(((op.data == 0) & (w != 0)).sum())  # noqa: E731
    assert zeros(by_channel) < zeros(by_tensor) // 4


def test_infinities_saturate_and_nan_is_counted():
    w = np.array([[1.0, np.inf], [np.nan, 0.5], [-2.0, 0.25]], np.float32)
    op, saturations = to_format(w, get_format("int8"), "channel_pow2", "nearest", RandomStream.from_seed(0),
                                channel_axis=1)
    assert saturations == 1 and op.nonfinite == 1
    assert op.data[0, 1] == 127 and op.data[1, 0] == 0


def channel_chip(fidelity: str = "fast", **overrides) -> Accelerator:
    cfg = with_overrides(load_config("edge-int8"), {"formats.scaling": "channel_pow2", **overrides})
    return Accelerator(cfg, fidelity=fidelity, seed=3)


@pytest.mark.parametrize("fidelity", ["fast", "cycle"])
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_gemms_on_channel_weights_are_the_exact_products_rounded_once(fidelity, rounding):
    """The forward GEMM and the transposed read of the input-gradient GEMM: the chip's output is the
    exact product of its rounded operands, rounded once into the output's format."""
    acc = channel_chip(fidelity, **{"formats.rounding": rounding})
    w = acc.vector.quantize(spread_matrix(48, 20, 1, 2.5))
    w.setflags(write=False)
    x = acc.vector.quantize(np.random.default_rng(2).standard_normal((5, 48)).astype(np.float32), role="activation")
    dy = acc.vector.quantize(np.random.default_rng(3).standard_normal((5, 20)).astype(np.float32), role="gradient")
    fmt = get_format("int8")
    for a, out_role, transpose, exact in ((x, "activation", False, x.astype(np.float64) @ w),
                                          (dy, "gradient", True, dy.astype(np.float64) @ w.T.astype(np.float64))):
        got = acc.gemm(a, w, roles=(out_role, "weight"), out_role=out_role, transpose_b=transpose)
        want_scale = column_scale(exact.ravel(), fmt)
        assert got.dtype == np.float32
        step = 2.0**want_scale
        assert np.all(np.abs(got - exact) < step)  # within one step of the exact product
        if rounding == "nearest":
            assert np.array_equal(got, np.clip(np.rint(exact / step), -128, 127) * step)
    assert acc.counts.saturations == 0


def assert_priced_as_tensor_plus_shifts(overrides: dict, transpose: bool, shifts: dict[str, int]) -> None:
    """edge-int8 with ``overrides`` (a scaling among them) counts for one GEMM on a 32×16 weight (read
    transposed or not) what the same chip with one scale per tensor counts, plus the vector operations
    ``shifts`` (kind: elements), one cycle per 16 of them (16 lanes)."""
    counts = []
    for scaling in ("tensor_pow2", overrides["formats.scaling"]):
        acc = Accelerator(with_overrides(load_config("edge-int8"), {**overrides, "formats.scaling": scaling}), seed=1)
        w = acc.vector.quantize(spread_matrix(32, 16, 4, 2.0))
        a = np.ones((4, 16 if transpose else 32), np.float32)
        acc.gemm(a, w, roles=("gradient" if transpose else "activation", "weight"), transpose_b=transpose,
                 names=("x", "W", "y"))
        counts.append(acc.counts)
    tensor, scaled = counts
    extra = {k: scaled.vector_ops.get(k, 0) - tensor.vector_ops.get(k, 0) for k in scaled.vector_ops}
    assert {k: v for k, v in extra.items() if v} == shifts
    assert scaled.vector_cycles - tensor.vector_cycles == sum(shifts.values()) // 16
    same = {k for k in tensor.to_dict() if k not in {"zero_macs", "zero_macs_by_kind", "underflows", "vector_ops",
                                                     "vector_cycles", "cycles"}}
    assert all(tensor.to_dict()[k] == scaled.to_dict()[k] for k in same)


@pytest.mark.parametrize("transpose", [False, True])
def test_channel_scales_are_priced_as_one_shift_per_aligned_value(transpose):
    """A channel chip does what a tensor chip does, plus one ``scale`` in the accumulator's format per
    value it aligns: each output of the forward GEMM, each input of the transposed read."""
    shifts = 4 * 16  # A's 4 × 16 values (transposed), or C's 4 × 16
    assert_priced_as_tensor_plus_shifts({"formats.scaling": "channel_pow2"}, transpose, {"scale:int32": shifts})


def test_channel_scaling_needs_master_weights_and_accumulator_room():
    base = load_config("edge-int8")
    with pytest.raises(ValueError, match=r"channel_pow2.*master weights"):
        with_overrides(base, {"formats.scaling": "channel_pow2", "formats.master_weight": "none"})
    wide = {"formats.weight": "int16", "formats.gradient": "int16"}
    with_overrides(base, wide)  # int16 × int16 products fit int32 under one tensor scale
    with pytest.raises(ValueError, match=r"formats\.accumulator"):
        with_overrides(base, {**wide, "formats.scaling": "channel_pow2"})
