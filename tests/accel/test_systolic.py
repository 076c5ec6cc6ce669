"""The cycle-stepped array against the GEMM kernels, bit for bit, and its counts against SCALE-Sim's closed forms."""

import itertools
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.config import Dataflow
from accel.numerics import gemm_fixed, gemm_float, get_format, quantize
from accel.systolic import ArrayRun, run_array

FLOAT_CASES = [  # (a format, b format, accumulator)
    ("bf16", "bf16", "fp32"),
    ("fp8_e4m3", "fp8_e4m3", "fp16"),
    ("fp8_e4m3", "fp8_e5m2", "bf16"),
    ("fp16", "fp16", "fp32"),
    ("bf16", "bf16", "bf16"),
]
FIXED_CASES = [("int8", "int32", 0), ("int8", "fixed16_0", 0), ("int8", "fixed24_4", 3)]  # operand, acc, shift
SHAPES = [(1, 1, 1), (3, 5, 2), (7, 11, 5), (16, 9, 20), (33, 17, 4), (5, 40, 13), (4, 4, 4)]
ARRAYS = [(4, 4), (3, 5), (8, 2), (1, 1)]


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def closed_form(m: int, k: int, n: int, rows: int, cols: int, dataflow: Dataflow, double_buffered: bool) -> dict:
    """SCALE-Sim v3's fold schedule and demand-matrix accesses, plus the partial-sum read-back."""
    if dataflow is Dataflow.OS:
        folds = ceil_div(m, rows) * ceil_div(n, cols)
        cycles = folds * (k + rows + cols - 2)
        return dict(folds=folds, compute_cycles=cycles, a_reads=ceil_div(n, cols) * m * k,
                    b_reads=ceil_div(m, rows) * k * n, c_writes=m * n, c_reads=0, macs=m * k * n)
    stream, stationary_cols = (m, n) if dataflow is Dataflow.WS else (n, m)
    k_folds = ceil_div(k, rows)
    folds = k_folds * ceil_div(stationary_cols, cols)
    first = 2 * rows + cols + stream - 2
    later = first - rows if double_buffered else first
    if dataflow is Dataflow.WS:
        a_reads, b_reads = ceil_div(n, cols) * m * k, k * n
    else:
        a_reads, b_reads = m * k, ceil_div(m, cols) * k * n
    return dict(folds=folds, compute_cycles=first + (folds - 1) * later, a_reads=a_reads, b_reads=b_reads,
                c_writes=k_folds * m * n, c_reads=(k_folds - 1) * m * n, macs=m * k * n)


def identical(got: np.ndarray, want: np.ndarray) -> bool:
    """Same dtype, shape and bits (signed zeros and NaN positions included)."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    return bool(np.array_equal(got.view(np.int64), want.view(np.int64)))


def zero_operand_macs(a: np.ndarray, b: np.ndarray) -> int:
    """MACs of C = A·B with a zero operand, counted over every (m, k, n)."""
    return int(((a == 0)[:, :, None] | (b == 0)[None, :, :]).sum())


def float_operands(rng, shape, fmt, scale=1.0, zeros=0.0):
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    x[rng.random(shape) < zeros] = 0.0
    return quantize(x, fmt).astype(np.float64)


def assert_counts(run: ArrayRun, a: np.ndarray, b: np.ndarray, rows: int, cols: int, dataflow: Dataflow,
                  double_buffered: bool = False) -> None:
    (m, k), n = a.shape, b.shape[1]
    want = closed_form(m, k, n, rows, cols, dataflow, double_buffered)
    got = {key: getattr(run, key) for key in want}
    assert got == want
    assert run.zero_macs == zero_operand_macs(a, b)


@pytest.mark.parametrize("dataflow", list(Dataflow))
@pytest.mark.parametrize("a_fmt, b_fmt, acc", FLOAT_CASES)
def test_float_values_match_gemm_float(dataflow, a_fmt, b_fmt, acc):
    rng = np.random.default_rng(zlib.crc32(repr((dataflow.value, a_fmt, b_fmt, acc)).encode()))
    for (m, k, n), (rows, cols) in zip(SHAPES, ARRAYS * 2, strict=False):
        a = float_operands(rng, (m, k), a_fmt, 2.0, zeros=0.2)
        b = float_operands(rng, (k, n), b_fmt, 0.5, zeros=0.2)
        run = run_array(a, b, rows, cols, dataflow, acc)
        want = gemm_float(a, b, a_fmt, b_fmt, acc)
        assert identical(run.values, want.values), (m, k, n, rows, cols)
        assert run.saturations == want.saturations
        assert_counts(run, a, b, rows, cols, dataflow)


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_special_values_signed_zeros_and_overflow(dataflow):
    big = get_format("fp16").max_value
    a = np.array([[big, big, -big, 1.0], [1.0, np.nan, 1.0, 0.0], [np.inf, 1.0, 1.0, -np.inf],
                  [-0.0, -0.0, 0.0, -0.0], [-1.0, 2.0, -0.0, 3.0]])
    b = np.array([[1.0, -0.0, 0.5], [1.0, 0.0, -2.0], [1.0, -0.0, 0.25], [0.0, 1.0, -0.0]])
    want = gemm_float(a, b, "fp16", "fp16", "fp16")
    for rows, cols in [(1, 1), (2, 3), (4, 4), (8, 8)]:
        run = run_array(a, b, rows, cols, dataflow, "fp16")
        assert identical(run.values, want.values)
        assert run.saturations == want.saturations > 0
        assert np.isnan(run.values).any() and np.signbit(run.values[np.isfinite(run.values)]).any()
        assert run.zero_macs == zero_operand_macs(a, b)


@pytest.mark.parametrize("dataflow", list(Dataflow))
@pytest.mark.parametrize("operand, acc, shift", FIXED_CASES)
def test_fixed_values_and_saturations_match_gemm_fixed(dataflow, operand, acc, shift):
    rng = np.random.default_rng(zlib.crc32(repr((dataflow.value, operand, acc)).encode()))
    f = get_format(operand)
    saturated = 0
    for (m, k, n), (rows, cols) in zip(SHAPES, ARRAYS * 2, strict=False):
        a = rng.integers(f.min_code, f.max_code + 1, (m, k))
        b = rng.integers(f.min_code, f.max_code + 1, (k, n))
        a[rng.random(a.shape) < 0.3] = 0
        run = run_array(a, b, rows, cols, dataflow, acc, shift=shift)
        want = gemm_fixed(a, b, acc, shift)
        assert identical(run.values, want.values), (m, k, n, rows, cols)
        assert run.saturations == want.saturations
        assert_counts(run, a, b, rows, cols, dataflow)
        saturated += run.saturations
    if acc == "fixed16_0":
        assert saturated > 0  # the narrow accumulator really clips


def test_one_fold_cycles_by_hand():
    a, b = np.ones((16, 16)), np.ones((16, 16))
    assert run_array(a, b, 16, 16, Dataflow.OS, "fp32").compute_cycles == 16 + 16 + 16 - 2
    assert run_array(a, b, 16, 16, Dataflow.WS, "fp32").compute_cycles == 2 * 16 + 16 + 16 - 2
    # A fold using 3 of 16 rows and 2 of 16 columns still pays the full skew and drain.
    partial = run_array(np.ones((5, 3)), np.ones((3, 2)), 16, 16, Dataflow.WS, "fp32")
    assert partial.compute_cycles == 2 * 16 + 16 + 5 - 2


@pytest.mark.parametrize("dataflow", [Dataflow.WS, Dataflow.IS])
def test_double_buffered_weights_save_a_load_per_later_fold(dataflow):
    rng = np.random.default_rng(1)
    a, b = float_operands(rng, (9, 23), "bf16"), float_operands(rng, (23, 11), "bf16")
    single = run_array(a, b, 4, 3, dataflow, "fp32")
    double = run_array(a, b, 4, 3, dataflow, "fp32", double_buffered_weights=True)
    assert single.folds > 1 and single.compute_cycles - double.compute_cycles == 4 * (single.folds - 1)
    assert identical(single.values, double.values)
    assert (single.a_reads, single.b_reads, single.c_reads, single.c_writes) == (
        double.a_reads, double.b_reads, double.c_reads, double.c_writes)


def test_double_buffering_changes_nothing_in_os():
    a, b = np.ones((9, 5)), np.ones((5, 7))
    single = run_array(a, b, 4, 3, Dataflow.OS, "fp32")
    double = run_array(a, b, 4, 3, Dataflow.OS, "fp32", double_buffered_weights=True)
    assert single.compute_cycles == double.compute_cycles and identical(single.values, double.values)


def test_relu_sparse_activations_count_zero_macs():
    rng = np.random.default_rng(2)
    activations = np.maximum(float_operands(rng, (32, 24), "bf16"), 0.0)  # about half zeros
    weights = float_operands(rng, (24, 10), "bf16", zeros=0.1)
    for dataflow in Dataflow:
        run = run_array(activations, weights, 8, 8, dataflow, "fp32")
        assert run.zero_macs == zero_operand_macs(activations, weights)
        assert 0.4 * run.macs < run.zero_macs < run.macs



@pytest.mark.parametrize("double_buffered", [False, True])
@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_bubble_only_pes_do_nothing(dataflow, double_buffered):
    """A GEMM far smaller than the array leaves most PEs holding only bubbles: they add no MAC, read or write.

    Its mapped column dimension is 33 on 32 columns, so a fold with one valid column follows a full one.
    The full fold's operands are NaN: a PE of the second fold reading a register left over from the first
    (rather than one stepped this fold) would turn its finite output into NaN.
    """
    rng = np.random.default_rng(4)
    small, wide = 3, 33  # the streamed and the stationary dimension
    if dataflow is Dataflow.IS:  # columns map M, the stream is N
        a, b = float_operands(rng, (wide, 5), "bf16"), float_operands(rng, (5, small), "bf16")
        a[:32] = np.nan
        finite = (slice(32, None), slice(None))
    else:  # columns map N; the stream is M (WS) or K (OS)
        a, b = float_operands(rng, (small, 5), "bf16"), float_operands(rng, (5, wide), "bf16")
        b[:, :32] = np.nan
        finite = (slice(None), slice(32, None))
    run = run_array(a, b, 32, 32, dataflow, "fp32", double_buffered_weights=double_buffered)
    clean_a, clean_b = (a[finite[0]], b) if dataflow is Dataflow.IS else (a, b[:, finite[1]])
    assert identical(run.values[finite], gemm_float(clean_a, clean_b, "bf16", "bf16", "fp32").values)
    poisoned = np.ones(run.values.shape, bool)
    poisoned[finite] = False
    assert np.isnan(run.values[poisoned]).all()
    assert_counts(run, a, b, 32, 32, dataflow, double_buffered)
    # Four times the PEs (and one fold fewer): the same MACs and output traffic.
    bigger = run_array(a, b, 64, 64, dataflow, "fp32", double_buffered_weights=double_buffered)
    assert_counts(bigger, a, b, 64, 64, dataflow, double_buffered)
    work = ("macs", "zero_macs", "saturations", "c_reads", "c_writes")
    assert [getattr(bigger, key) for key in work] == [getattr(run, key) for key in work]
    assert identical(bigger.values[finite], run.values[finite])

FORMATS = st.sampled_from([*FLOAT_CASES, *FIXED_CASES])


@settings(max_examples=300, deadline=None)
@given(m=st.integers(1, 40), k=st.integers(1, 40), n=st.integers(1, 40), rows=st.integers(1, 9),
       cols=st.integers(1, 9), dataflow=st.sampled_from(list(Dataflow)), double_buffered=st.booleans(),
       case=FORMATS, seed=st.integers(0, 2**32 - 1))
def test_random_shapes_values_and_counts(m, k, n, rows, cols, dataflow, double_buffered, case, seed):
    rng = np.random.default_rng(seed)
    if isinstance(case[2], str):  # (a format, b format, float accumulator)
        a_fmt, b_fmt, acc = case
        a = float_operands(rng, (m, k), a_fmt, 4.0, zeros=0.25)
        b = float_operands(rng, (k, n), b_fmt, 4.0, zeros=0.25)
        want = gemm_float(a, b, a_fmt, b_fmt, acc)
        run = run_array(a, b, rows, cols, dataflow, acc, double_buffered_weights=double_buffered)
    else:
        operand, acc, shift = case
        f = get_format(operand)
        a = rng.integers(f.min_code, f.max_code + 1, (m, k))
        b = rng.integers(f.min_code, f.max_code + 1, (k, n))
        a[rng.random(a.shape) < 0.25] = 0
        want = gemm_fixed(a, b, acc, shift)
        run = run_array(a, b, rows, cols, dataflow, acc, shift=shift, double_buffered_weights=double_buffered)
    assert identical(run.values, want.values)
    assert run.saturations == want.saturations
    assert_counts(run, a, b, rows, cols, dataflow, double_buffered)


def test_bad_inputs_are_named():
    a, b = np.ones((3, 4)), np.ones((5, 2))
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 2\)"):
        run_array(a, b, 4, 4, Dataflow.WS, "fp32")
    with pytest.raises(ValueError, match="rows"):
        run_array(a, a.T, 0, 4, Dataflow.WS, "fp32")
    with pytest.raises(ValueError, match="cols"):
        run_array(a, a.T, 4, 2.5, Dataflow.WS, "fp32")
    with pytest.raises(TypeError, match="int64"):
        run_array(a, a.T, 4, 4, Dataflow.WS, "int32")
    with pytest.raises(TypeError, match="float64"):
        run_array(a.astype(np.int64), a.T.astype(np.int64), 4, 4, Dataflow.OS, "fp32")
    with pytest.raises(TypeError, match="float64"):
        run_array(a.astype(np.float32), a.T, 4, 4, Dataflow.OS, "fp32")
    with pytest.raises(ValueError, match="shift"):
        run_array(a, a.T, 4, 4, Dataflow.OS, "fp32", shift=1)
    with pytest.raises(ValueError, match="does not fit"):
        run_array(np.full((2, 2), 2**15, np.int64), np.full((2, 2), 2**15, np.int64), 2, 2, Dataflow.OS,
                  "fixed16_0")
    with pytest.raises(TypeError, match="Dataflow"):
        run_array(a, a.T, 4, 4, "ws", "fp32")
    with pytest.raises(ValueError, match="fp33"):
        run_array(a, a.T, 4, 4, Dataflow.WS, "fp33")


def mlp_training_gemms(rng, batch=64, sizes=(4, 64, 64, 2)):
    """The nine GEMMs of one training step of an MLP: forwards, input gradients, weight gradients."""
    shapes = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        shapes += [(batch, fan_in, fan_out), (batch, fan_out, fan_in), (fan_in, batch, fan_out)]
    return [(float_operands(rng, (m, k), "bf16"), float_operands(rng, (k, n), "bf16")) for m, k, n in shapes]


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_mlp_training_step_gemms_equal_the_kernels(dataflow):
    """The nine GEMMs of a training step (their wall time is measured in benchmarks/bench_array.py)."""
    for a, b in mlp_training_gemms(np.random.default_rng(3)):
        run = run_array(a, b, 16, 16, dataflow, "fp32")
        assert identical(run.values, gemm_float(a, b, "bf16", "bf16", "fp32").values)
        assert_counts(run, a, b, 16, 16, dataflow)
