"""``block_pow2``: a power-of-two scale per block of consecutive stored values, against an obvious
block-by-block rounding, and the chip's GEMMs on block-scaled operands against exact products."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_channel_scaling import assert_priced_as_tensor_plus_shifts, column_scale, spread_matrix

from accel import Accelerator, load_config
from accel.config import BLOCK_SPAN, with_overrides
from accel.numerics import get_format, quantize_codes
from accel.numerics.philox import RandomStream
from accel.operands import to_format


def reference(x: np.ndarray, fmt, rounding: str, seed: int, block: int,
              span: int = BLOCK_SPAN) -> tuple[np.ndarray, np.ndarray]:
    """(codes, one exponent per value) of ``x`` rounded block by block in row-major order: each block
    at its own scale, floored at ``span`` below the largest, with the random words from the block's
    first value on."""
    flat = x.reshape(-1)
    starts = range(0, flat.size, block)
    scales = [column_scale(flat[s:s + block], fmt) for s in starts]
    known = [s for s in scales if s is not None]
    if known:
        floor = max(known) - span
        scales = [floor if s is None else max(s, floor) for s in scales]
    else:
        scales = [-fmt.frac_bits] * len(scales)
    codes = np.empty(flat.size, np.float64)
    exps = np.empty(flat.size, np.int64)
    for start, scale in zip(starts, scales, strict=True):
        rng = RandomStream.from_seed(seed)
        rng.take(start)
        codes[start:start + block], _ = quantize_codes(flat[start:start + block], fmt, rounding, rng, scale_exp=scale)
        exps[start:start + block] = scale
    return codes.reshape(x.shape), exps.reshape(x.shape)


def block_chip(fidelity: str = "fast", **overrides) -> Accelerator:
    cfg = with_overrides(load_config("edge-int8"), {"formats.scaling": "block_pow2", "formats.accumulator": "fixed48_0",
                                                    "formats.block": 8, **overrides})
    return Accelerator(cfg, fidelity=fidelity, seed=3)


@settings(max_examples=80, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 40), seed=st.integers(0, 2**31), decades=st.floats(0, 6),
       fmt=st.sampled_from(["int8", "int16", "fixed12_4"]), rounding=st.sampled_from(["nearest", "stochastic"]),
       block=st.sampled_from([1, 3, 8, 32]), span=st.sampled_from([0, 4, BLOCK_SPAN, 24]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_property_each_block_rounds_at_its_own_scale(rows, cols, seed, decades, fmt, rounding, block, span, dtype):
    x = spread_matrix(rows, cols, seed, decades).astype(dtype)
    f = get_format(fmt)
    rng = RandomStream.from_seed(seed)
    op, saturations = to_format(x, f, "block_pow2", rounding, rng, block=block, block_span=span)
    codes, exps = reference(x, f, rounding, seed, block, span)
    assert np.array_equal(op.data, codes) and np.array_equal(op.exp, exps)
    assert saturations == 0 and op.nonfinite == 0
    assert rng.counter == RandomStream.from_seed(seed).counter + (x.size if rounding == "stochastic" else 0)
    assert np.array_equal(op.values(), np.ldexp(codes, exps))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), exp=st.integers(-40, 10), block=st.sampled_from([1, 4, 32]),
       rounding=st.sampled_from(["nearest", "stochastic"]))
def test_property_accumulator_codes_round_as_their_values(seed, exp, block, rounding):
    """Integer accumulator codes ``c · 2**exp`` round exactly as the float64 values they stand for."""
    rng = np.random.default_rng(seed)
    codes = (rng.integers(-2**40, 2**40, (6, 20)) >> rng.integers(0, 40, (6, 20))).astype(np.int64)
    fmt = get_format("int8")
    from_codes, _ = to_format(codes, fmt, "block_pow2", rounding, RandomStream.from_seed(seed), exp=exp, block=block)
    from_values, _ = to_format(np.ldexp(codes.astype(np.float64), exp), fmt, "block_pow2", rounding,
                               RandomStream.from_seed(seed), block=block)
    assert np.array_equal(from_codes.values(), from_values.values())


def test_blocks_keep_the_small_values_that_one_tensor_scale_rounds_to_zero():
    x = spread_matrix(64, 32, 0, 3.0).T.copy()  # rows of very different magnitudes
    fmt = get_format("int8")
    by_tensor, _ = to_format(x, fmt, "tensor_pow2", "nearest", RandomStream.from_seed(0))
    by_block, _ = to_format(x, fmt, "block_pow2", "nearest", RandomStream.from_seed(0), block=32)
    zeros = lambda op: int(((op.data == 0) & (x != 0)).sum())  # noqa: E731
    assert zeros(by_block) < zeros(by_tensor) // 4


def test_infinities_saturate_and_nan_is_counted():
    x = np.array([1.0, np.inf, np.nan, 0.5, -2.0, -np.inf], np.float32)
    for values in (x, x.astype(np.float64)):
        op, saturations = to_format(values, get_format("int8"), "block_pow2", "nearest", RandomStream.from_seed(0),
                                    block=2)
        assert saturations == 2 and op.nonfinite == 1
        assert list(op.data[[1, 2, 5]]) == [127, 0, -128]


def _operands(acc: Accelerator):
    rng = np.random.default_rng(5)
    w = acc.vector.quantize(spread_matrix(48, 20, 1, 2.5))
    x = acc.vector.quantize((rng.standard_normal((6, 48)) * 10.0 ** rng.uniform(-3, 0, 48)).astype(np.float32),
                            role="activation")
    dy = acc.vector.quantize(rng.standard_normal((6, 20)).astype(np.float32), role="gradient")
    return w, x, dy


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("span", [BLOCK_SPAN, 20])
def test_gemms_on_block_operands_are_the_exact_products_rounded_once(rounding, span):
    """Forward, input-gradient (W read transposed) and weight-gradient (X read transposed) GEMMs: the
    chip's output is the exact product of its operands as stored, rounded once in blocks; the
    cycle-stepped array gives the same bits and counts. A span of 20 shifts int8 codes beyond
    float32's exact integers (the int64 route)."""
    overrides = {"formats.rounding": rounding, "formats.block_span": span}
    if span > BLOCK_SPAN:
        overrides["formats.accumulator"] = "fixed64_0"
    chips = [block_chip(fidelity, **overrides) for fidelity in ("fast", "cycle")]
    results = []
    for acc in chips:
        w, x, dy = _operands(acc)
        out = []
        for a, b, roles, out_role, ta, tb, exact in (
                (x, w, ("activation", "weight"), "activation", False, False, x.astype(np.float64) @ w),
                (dy, w, ("gradient", "weight"), "gradient", False, True, dy.astype(np.float64) @ w.T),
                (x, dy, ("activation", "gradient"), "gradient", True, False, x.T.astype(np.float64) @ dy)):
            got = acc.gemm(a, b, roles=roles, out_role=out_role, transpose_a=ta, transpose_b=tb)
            _, exps = reference(exact, get_format("int8"), "nearest", 0, 8, span)
            assert np.all(np.abs(got - exact) < np.ldexp(1.0, exps))  # within a step of its block
            if rounding == "nearest":
                codes, _ = reference(exact, get_format("int8"), "nearest", 0, 8, span)
                assert np.array_equal(got, np.ldexp(codes, exps))
            out.append(got)
        results.append(out)
        assert acc.counts.saturations == 0
    assert all(np.array_equal(f, c) for f, c in zip(*results, strict=True))
    assert chips[0].counts == chips[1].counts and chips[0].rng.state() == chips[1].rng.state()


def test_a_transposed_read_takes_the_blocks_as_stored():
    """W read transposed (the input gradient) meets W's blocks as the vector unit rounded them: no
    second rounding, so the GEMM equals the same product with W's values passed already transposed
    into a tensor chip of wider formats."""
    acc = block_chip(**{"formats.rounding": "nearest"})
    w, _, dy = _operands(acc)
    got = acc.gemm(dy, w, roles=("gradient", "weight"), out_role="gradient", transpose_b=True)
    codes, exps = reference(dy.astype(np.float64) @ w.T.astype(np.float64), get_format("int8"), "nearest", 0, 8)
    assert np.array_equal(got, np.ldexp(codes, exps))


@pytest.mark.parametrize("transpose", [False, True])
def test_block_scales_are_priced_as_one_shift_per_operand_value(transpose):
    """A block chip does what a tensor chip does, plus one ``scale`` in the accumulator's format per
    operand value it aligns as it enters the array."""
    shifts = 4 * (16 if transpose else 32) + 32 * 16  # A's values and B's
    assert_priced_as_tensor_plus_shifts({"formats.scaling": "block_pow2", "formats.accumulator": "fixed48_0"},
                                        transpose, {"scale:fixed48_0": shifts})


def test_block_scaling_needs_a_wide_accumulator_and_a_positive_block():
    base = load_config("edge-int8")
    with pytest.raises(ValueError, match=r"formats\.accumulator.*fixed48_0"):
        with_overrides(base, {"formats.scaling": "block_pow2"})  # int8 products shifted by 2 × 12 bits
    with_overrides(base, {"formats.scaling": "block_pow2", "formats.accumulator": "fixed48_0"})
    with pytest.raises(ValueError, match=r"formats\.block must be a positive integer"):
        with_overrides(base, {"formats.scaling": "block_pow2", "formats.accumulator": "fixed48_0",
                              "formats.block": 0})
    with pytest.raises(ValueError, match=r"formats\.accumulator.*fixed64_0"):  # 16 + 2 × 20 bits
        with_overrides(base, {"formats.scaling": "block_pow2", "formats.accumulator": "fixed48_0",
                              "formats.block_span": 20})
    with_overrides(base, {"formats.scaling": "block_pow2", "formats.accumulator": "fixed48_0",
                          "formats.block_span": 16})
