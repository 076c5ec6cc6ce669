"""Accelerator: values against the numerics kernels, both fidelities equal, counts, memories, transposition."""

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import gemm_float_ref, quantize_ref

from accel import Accelerator, EventCounts, load_config
from accel.config import with_overrides
from accel.numerics import get_format
from accel.workload import GemmOp, VectorOp, Workload, dqn_step, mlp_forward, run_counts

PRESETS = ["edge-int8", "edge-bf16", "edge-fp8", "edge-fixed16", "omnidrl", "cnpu2019", "lnpu2019"]
DATA_DEPENDENT = {"zero_macs", "zero_macs_by_kind", "skipped_macs", "skipped_macs_by_kind", "saturations", "nonfinite",
                  "underflows"}
"""Counts the values decide (an element-skipping chip skips the zero-operand MACs the values hold)."""
DENSE = {"sparsity.weight_density": 1.0, "sparsity.activation_density": 1.0, "sparsity.gradient_density": 1.0}
"""A workload declaring dense operands, to be held to a run whose values decide the zeros."""
COMPRESSED = {"cycles", "stall_cycles", "dram_read_bytes", "dram_write_bytes"}
"""Counts the values decide where the chip compresses (``[compression]``): DRAM bytes at the measured
ratios (a workload counts the declared ones), and the stalls and cycles they leave."""
CODED_SRAM = {"sram_read_bytes", "sram_write_bytes"}
"""With ``[compression] sram`` also the bytes the coded buffers read and write (at the measured ratios)."""


def nearest(preset: str, **overrides):
    """A preset with round-to-nearest (reference computations need no random stream)."""
    return with_overrides(load_config(preset), {"formats.rounding": "nearest", **overrides})


def pow2_scale_ref(peak: float, fmt: str) -> int:
    """The smallest s with peak ≤ max_code · 2**s (tensor_pow2), by search on exact rationals."""
    f = get_format(fmt)
    s = -200
    while Fraction(peak) > f.max_code * Fraction(2) ** s:
        s += 1
    return s


def nearest_even_signed(v: Fraction) -> int:
    lower = v.numerator // v.denominator
    frac = v - lower
    return lower + 1 if frac > Fraction(1, 2) or (frac == Fraction(1, 2) and lower % 2) else lower


def pow2_quantize_ref(x: np.ndarray, fmt: str) -> np.ndarray:
    """Reference tensor_pow2 rounding: codes = round half to even of x / 2**s, clipped; the values."""
    f = get_format(fmt)
    s = pow2_scale_ref(float(np.abs(x).max()), fmt)
    codes = [min(max(nearest_even_signed(Fraction(float(v)) / Fraction(2) ** s), f.min_code), f.max_code)
             for v in x.reshape(-1)]
    return np.array([float(Fraction(c) * Fraction(2) ** s) for c in codes]).reshape(x.shape)


def test_bf16_chip_equals_the_rational_reference():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((12, 37)).astype(np.float32), rng.standard_normal((37, 7)).astype(np.float32)
    got = Accelerator(nearest("edge-bf16")).gemm(a, b)
    acc = gemm_float_ref(quantize_ref(a, "bf16"), quantize_ref(b, "bf16"), "fp32")
    assert got.dtype == np.float32 and np.array_equal(got, quantize_ref(acc.astype(np.float32), "bf16"))


def test_int8_chip_equals_the_rational_reference():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((10, 40)).astype(np.float32), rng.standard_normal((40, 9)).astype(np.float32)
    got = Accelerator(nearest("edge-int8")).gemm(a, b)
    qa, qb = pow2_quantize_ref(a, "int8"), pow2_quantize_ref(b, "int8")
    exact = np.array([[float(sum(Fraction(float(x)) * Fraction(float(y)) for x, y in zip(row, col, strict=True)))
                       for col in qb.T] for row in qa])  # exact: int32 cannot saturate at K = 40
    assert np.array_equal(got, pow2_quantize_ref(exact, "int8"))
    assert np.abs(got - a @ b).max() < 0.05 * np.abs(a @ b).max()


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_runs_a_gemm_with_consistent_counts(preset):
    acc = Accelerator(load_config(preset))
    rng = np.random.default_rng(2)
    c = acc.gemm(rng.standard_normal((33, 70)), rng.standard_normal((70, 45)))
    n = acc.counts
    assert c.shape == (33, 45) and np.isfinite(c).all()
    assert n.macs == 33 * 70 * 45 and n.gemms == 1
    assert n.cycles == n.compute_cycles + n.stall_cycles + n.vector_cycles
    assert n.dram_read_bytes > 0 and n.dram_write_bytes > 0  # unnamed operands come from DRAM, C goes back
    assert 0 < acc.utilization() <= 1
    assert sum(n.macs_by_kind.values()) == n.macs


shapes = st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(1, 24))


@settings(max_examples=40, deadline=None)
@given(mkn=shapes, preset=st.sampled_from(PRESETS), dataflow=st.sampled_from(["ws", "os", "is"]),
       rows=st.integers(1, 9), cols=st.integers(1, 9), double=st.booleans(), seed=st.integers(0, 1000),
       transpose=st.booleans())
def test_property_both_fidelities_give_the_same_values_and_counts(mkn, preset, dataflow, rows, cols, double,
                                                                   seed, transpose):
    m, k, n = mkn
    cfg = with_overrides(load_config(preset), {"array.dataflow": dataflow, "array.rows": rows, "array.cols": cols,
                                               "array.double_buffered_weights": double, "sparsity.group": 1,
                                               "sram.weight_bytes": 1 << 20, "sram.activation_bytes": 1 << 20,
                                               "sram.output_bytes": 1 << 20})
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.standard_normal((m, k)), 0).astype(np.float32)  # ReLU-sparse activations
    b = rng.standard_normal((n, k) if transpose else (k, n)).astype(np.float32)
    fast, cycle = Accelerator(cfg, "fast", seed=seed), Accelerator(cfg, "cycle", seed=seed)
    c_fast = fast.gemm(a, b, roles=("gradient", "weight"), out_role="gradient", transpose_b=transpose)
    c_cycle = cycle.gemm(a, b, roles=("gradient", "weight"), out_role="gradient", transpose_b=transpose)
    assert np.array_equal(c_fast.view(np.uint32), c_cycle.view(np.uint32))
    assert fast.counts == cycle.counts


@pytest.mark.parametrize("preset", PRESETS)
def test_counting_without_values_equals_counting_with_them(preset):
    cfg = load_config(preset)
    run, priced = Accelerator(cfg), Accelerator(with_overrides(cfg, DENSE))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((32, 8))
    w0, w1 = rng.standard_normal((8, 24)) * 0.3, rng.standard_normal((24, 3)) * 0.3
    h = run.gemm(x, w0, names=("x", "W0", "h"))
    h = run.vector.relu(h)
    y = run.gemm(h, w1, names=("h", "W1", "y"))
    run.vector.huber(y, np.zeros_like(y))
    run_counts(priced, Workload("t", (GemmOp(32, 8, 24, names=("x", "W0", "h")), VectorOp("relu", "activation", 768),
                                      GemmOp(32, 24, 3, names=("h", "W1", "y")), VectorOp("huber", "gradient", 96))))
    a, b = run.counts.to_dict(), priced.counts.to_dict()
    dependent = DATA_DEPENDENT | (COMPRESSED if cfg.compression.enabled else set()) | (
        CODED_SRAM if cfg.compression.sram else set())
    assert {key for key in a if a[key] != b[key]} <= dependent


def test_snapshots_measure_one_step_and_add_up():
    acc = Accelerator(load_config("edge-bf16"))
    wl = dqn_step(4, 2, (64, 64), 32)
    first = run_counts(acc, wl)
    second = run_counts(acc, wl)
    assert acc.counts == first + second
    assert second.macs == first.macs == wl.macs
    assert second.dram_read_bytes < first.dram_read_bytes  # the weights stayed on chip


def test_resident_tensors_are_not_fetched_twice():
    acc = Accelerator(nearest("edge-bf16"))
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((16, 32)), rng.standard_normal((32, 16))
    acc.gemm(x, w, names=("x", "W", "y"))
    first = acc.counts
    acc.gemm(x, w, names=("x", "W", "y2"))
    second = acc.counts - first
    assert first.dram_read_bytes == (16 * 32 + 32 * 16) * 2 and second.dram_read_bytes == 0
    assert first.dram_write_bytes == second.dram_write_bytes == 0  # named outputs stay on chip
    acc.gemm(x, w)  # unnamed: fetched and written back
    third = acc.counts - first - second
    assert third.dram_read_bytes == (16 * 32 + 32 * 16) * 2 and third.dram_write_bytes == 16 * 16 * 2


def test_evicted_outputs_are_written_back_once():
    cfg = nearest("edge-bf16", **{"sram.activation_bytes": 4096})
    acc = Accelerator(cfg)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((8, 16)), rng.standard_normal((16, 64))
    acc.gemm(x, w, names=("x", "W", "y0"))  # y0: 8·64·2 = 1 KiB, dirty
    written = acc.counts.dram_write_bytes
    for i in range(1, 5):  # four more outputs: y0 is evicted (written back) once
        acc.gemm(x, w, names=("x", "W", f"y{i}"))
    assert written == 0 and acc.counts.dram_write_bytes == 8 * 64 * 2


def test_an_operand_larger_than_its_buffer_is_cut_rather_than_fetched_again():
    # A: 64×64 bf16 = 8 KiB in a 2 KiB buffer. Cut into blocks of 16 rows of A, A and B cross DRAM
    # once (more folds); uncut, A would be fetched again for each of the 4 column folds.
    cfg = nearest("edge-bf16", **{"sram.activation_bytes": 2048, "dram.bandwidth_bytes_per_cycle": 1 << 20})
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((64, 64)), rng.standard_normal((64, 64))
    acc = Accelerator(cfg)
    c = acc.gemm(a, b)
    assert acc.counts.dram_read_bytes == 2 * 64 * 64 * 2
    assert acc.counts.folds == 4 * 16 and acc.counts.compute_cycles == 4 * 16 * (2 * 16 + 16 + 16 - 2)
    cycle = Accelerator(cfg, fidelity="cycle")
    assert np.array_equal(cycle.gemm(a, b), c) and cycle.counts == acc.counts


def test_a_cut_that_would_move_more_dram_traffic_is_not_taken():
    # A (64×256 bf16, 32 KiB) overflows an 8 KiB buffer, but N = 16 is a single column fold, so
    # uncut A crosses DRAM once anyway; cutting it would fetch B (8 KiB > 4 KiB buffer) per block
    cfg = nearest("edge-bf16", **{"sram.activation_bytes": 8192, "sram.weight_bytes": 4096})
    acc = Accelerator(cfg)
    rng = np.random.default_rng(12)
    acc.gemm(rng.standard_normal((64, 256)), rng.standard_normal((256, 16)))
    assert acc.counts.folds == 16 and acc.counts.dram_read_bytes == (64 * 256 + 256 * 16) * 2


def test_stalls_shrink_with_bandwidth_and_vanish_without_latency():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((64, 128)), rng.standard_normal((128, 64))
    stalls = []
    for bw in (1, 4, 16, 1 << 20):
        acc = Accelerator(nearest("edge-bf16", **{"dram.bandwidth_bytes_per_cycle": bw, "dram.latency_cycles": 0}))
        acc.gemm(a, b)
        stalls.append(acc.counts.stall_cycles)
    assert stalls == sorted(stalls, reverse=True) and stalls[0] > stalls[-1]
    assert stalls[-1] <= 2  # one cycle for the first fetch, one for the last write-back
    dram_cycles = (64 * 128 + 128 * 64 + 64 * 64) * 2  # at one byte per cycle, every byte once
    assert stalls[0] <= dram_cycles  # never charged twice


def test_transposable_array_saves_the_transpose_on_a_training_step():
    wl = dqn_step(4, 2, (64, 64), 64)
    counts = {}
    for transposable in (True, False):
        acc = Accelerator(with_overrides(load_config("edge-int8"), {"array.transposable": transposable}))
        counts[transposable] = run_counts(acc, wl)
    t, f = counts[True], counts[False]
    weights_transposed = 64 * 64 + 64 * 2  # input gradients of the two upper layers
    assert f.sram_reads["weight"] - t.sram_reads["weight"] == weights_transposed
    assert f.sram_writes["weight"] - t.sram_writes["weight"] == weights_transposed
    assert f.cycles > t.cycles and f.macs == t.macs


def test_a_single_tile_stays_in_the_pes_for_the_transposed_gemm():
    acc = Accelerator(nearest("edge-bf16", **{"array.transposable": True}))
    rng = np.random.default_rng(8)
    w = rng.standard_normal((8, 8))
    acc.gemm(rng.standard_normal((4, 8)), w, names=("x", "W", "y"))
    before = acc.counts
    acc.gemm(rng.standard_normal((4, 8)), w, roles=("gradient", "weight"), out_role="gradient",
             names=("dy", "W", "dx"), transpose_b=True)
    step = acc.counts - before
    rows = acc.config.array.rows
    assert step.sram_reads["weight"] == 0 and step.compute_cycles == 2 * rows + acc.config.array.cols + 4 - 2 - rows


def test_same_seed_same_results_with_stochastic_rounding():
    cfg = load_config("edge-int8")
    assert cfg.formats.rounding == "stochastic"
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((10, 30)), rng.standard_normal((30, 5))
    c1, c2 = Accelerator(cfg, seed=4).gemm(a, b), Accelerator(cfg, seed=4).gemm(a, b)
    assert np.array_equal(c1, c2) and not np.array_equal(c1, Accelerator(cfg, seed=5).gemm(a, b))


@pytest.mark.parametrize("preset", ["edge-int8", "edge-fp8", "edge-bf16", "edge-fixed16"])
def test_a_read_only_operand_in_the_format_is_rounded_once_with_the_same_results(preset):
    # the chip keeps the operand of a read-only weight array already in the format; a chip given writable
    # copies rounds it every time: same values, counts and random source, forward and transposed
    cfg = load_config(preset)
    rng = np.random.default_rng(2)
    w = Accelerator(cfg).vector.quantize(rng.standard_normal((24, 20)).astype(np.float32), "weight").copy()
    w.flags.writeable = False
    xs = [rng.standard_normal((5, 24)).astype(np.float32) for _ in range(3)]
    dys = [rng.standard_normal((5, 20)).astype(np.float32) for _ in range(3)]
    kept, fresh = Accelerator(cfg, seed=1), Accelerator(cfg, seed=1)
    outputs = {id(kept): [], id(fresh): []}
    for x, dy in zip(xs, dys, strict=True):
        for chip, weights in ((kept, w), (fresh, w.copy())):
            outputs[id(chip)] += [chip.gemm(x, weights), chip.gemm(dy, weights, roles=("gradient", "weight"),
                                                                    out_role="gradient", transpose_b=True)]
    assert all(np.array_equal(a, b) for a, b in zip(outputs[id(kept)], outputs[id(fresh)], strict=True))
    assert kept.counts == fresh.counts and kept.rng.state() == fresh.rng.state()
    assert len(kept._operands) == 1 and not fresh._operands  # rounded once: the transposed reads take its transpose
    view = w.copy()[:]  # read-only, but its base can still be written: rounded every time
    view.flags.writeable = False
    fresh.gemm(xs[0], view)
    assert not fresh._operands


@pytest.mark.parametrize("preset", ["edge-int8", "edge-fp8", "edge-bf16", "edge-fixed16"])
@pytest.mark.parametrize("seed", range(4))
def test_the_operand_quantize_keeps_is_the_one_rounding_its_result_gives(preset, seed):
    # VectorUnit.quantize keeps the operand of the weights it rounds; the GEMMs reading them must give what a
    # chip rounding a writable copy gives, even where stochastic rounding leaves the peak code at half the
    # range (63 of int8's 127: rounding the result again picks a scale one lower, so it is not kept)
    cfg = load_config(preset)
    rng = np.random.default_rng(seed)
    master = (rng.standard_normal((24, 20)) * 0.1).astype(np.float32)
    master[3, 4] = 63.75 * 2.0**-7  # the peak, between codes 63 and 64 at the scale 2**-7
    xs = [rng.standard_normal((5, 24)).astype(np.float32) for _ in range(2)]
    dy = rng.standard_normal((5, 20)).astype(np.float32)
    kept, fresh = Accelerator(cfg, seed=seed), Accelerator(cfg, seed=seed)
    results = []
    for chip in (kept, fresh):
        w = chip.vector.quantize(master, "weight")
        assert not w.flags.writeable
        weights = w if chip is kept else w.copy()
        results.append([chip.gemm(x, weights) for x in xs]
                       + [chip.gemm(dy, weights, roles=("gradient", "weight"), out_role="gradient", transpose_b=True)])
    assert all(np.array_equal(a, b) for a, b in zip(*results, strict=True))
    assert kept.counts == fresh.counts and kept.rng.state() == fresh.rng.state()


def test_overflow_and_nan_are_counted_not_absorbed():
    acc = Accelerator(nearest("edge-bf16"))
    a = np.array([[3e38, 3e38], [np.nan, 1.0]], np.float32)
    c = acc.gemm(a, np.ones((2, 1), np.float32))
    assert np.isinf(c[0, 0]) and np.isnan(c[1, 0])
    assert acc.counts.saturations >= 1 and acc.counts.nonfinite >= 3


def test_vector_adam_in_fp32_is_float32_arithmetic():
    acc = Accelerator(load_config("edge-bf16"))
    rng = np.random.default_rng(10)
    w, g = rng.standard_normal(50).astype(np.float32), rng.standard_normal(50).astype(np.float32)
    m, v = np.zeros(50, np.float32), np.zeros(50, np.float32)
    got = acc.vector.adam(w, g, m, v, step=1, lr=1e-3)
    f = np.float32
    m1 = f(0.9) * m + f(0.1) * g
    v1 = f(0.999) * v + f(1 - 0.999) * (g * g)
    denom = np.sqrt(v1 / f(1 - 0.999)) + f(1e-8)
    w1 = w - (f(1e-3) * (m1 / f(1 - 0.9))) / denom
    assert all(np.array_equal(x, y) for x, y in zip(got, (w1, m1, v1), strict=True))
    assert acc.counts.vector_ops["adam:fp32"] == 50


def test_vector_relu_and_tanh_in_int8():
    acc = Accelerator(nearest("edge-int8"))
    x = np.array([-1.0, -0.01, 0.0, 0.3, 1.7])
    assert acc.vector.relu(x).tolist() == [0.0, 0.0, 0.0, 0.296875, 1.703125]
    held = pow2_quantize_ref(x, "int8")  # the input as the chip holds it: steps of 2**-6
    t = acc.vector.tanh(x)
    assert np.abs(t - np.tanh(held)).max() <= 2.0**-8  # half an output step


def test_bad_input_names_the_problem():
    acc = Accelerator(load_config("edge-bf16"))
    with pytest.raises(ValueError, match=r"\(3, 4\) and B is \(5, 2\)"):
        acc.gemm(np.zeros((3, 4)), np.zeros((5, 2)))
    with pytest.raises(TypeError, match="int64"):
        acc.gemm(np.zeros((3, 4), np.int64), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="role must be one of"):
        acc.gemm(np.zeros((3, 4)), np.zeros((4, 2)), roles=("bias", "weight"))
    with pytest.raises(ValueError, match="fidelity"):
        Accelerator(load_config("edge-bf16"), fidelity="exact")
    with pytest.raises(ValueError, match="unknown vector operation"):
        acc.vector_counts("softmax", "activation", 10)


def test_event_counts_are_immutable():
    counts = Accelerator(load_config("edge-bf16")).counts
    with pytest.raises(dataclasses.FrozenInstanceError):
        counts.cycles = 3
    with pytest.raises(TypeError):
        counts.sram_reads["weight"] = 3
    assert EventCounts(cycles=2) - EventCounts(cycles=2) == EventCounts()


def test_forward_workload_names_chain_through_the_layers():
    ops = mlp_forward("q", [4, 8, 2], 16, "s")
    gemms = [op for op in ops if isinstance(op, GemmOp)]
    assert [op.names for op in gemms] == [("s", "q.W0", "q.y0"), ("q.y0", "q.W1", "q.y1")]


def test_tally_freezes_what_was_added_and_refuses_unknown_counts():
    from accel.counts import Tally

    tally = Tally()
    tally.add(cycles=3, sram_reads={"weight": 2}, vector_ops={"relu:int8": 5})
    tally.add(cycles=1, vector_ops={"relu:int8": 1, "add:int8": 0})
    frozen = tally.freeze()
    assert frozen == EventCounts(cycles=4, sram_reads={"weight": 2}, vector_ops={"relu:int8": 6})
    assert tally.freeze() is frozen  # cached until the next add
    with pytest.raises(ValueError, match="unknown count 'cycle'"):
        tally.add(cycle=1)


@given(steps=st.lists(st.tuples(st.sampled_from(["add", "apply", "value", "freeze"]), st.integers(0, 3),
                                st.integers(0, 50)), max_size=25))
@settings(max_examples=80, deadline=None)
def test_tally_freezes_anew_only_what_changed_and_equals_the_plain_sum(steps):
    from accel.counts import CountsDelta, Tally

    deltas = [CountsDelta.of({"cycles": 3, "sram_reads": {"weight": 2}, "macs_by_kind": {"int8*int8+int32": 4},
                              "macs": 4}),
              CountsDelta.of({"vector_ops": {"relu:int8": 5}, "vector_cycles": 1}),
              CountsDelta.of({"zero_checks": {"bf16": 7}}),
              CountsDelta.of({"dram_read_bytes": 9})]
    tally, want, snapshots = Tally(), EventCounts(), []
    for what, which, n in steps:
        if what == "add":
            tally.add(cycles=n, sram_writes={"output": n}, vector_ops={f"add:int{8 * (which + 1)}": n})
            want += EventCounts(cycles=n, sram_writes={"output": n}, vector_ops={f"add:int{8 * (which + 1)}": n})
        elif what == "apply":
            tally.apply(deltas[which])
            want += EventCounts(**{name: value for name, value in deltas[which].scalars},
                                **{name: {key: value for field, key, value in deltas[which].entries if field == name}
                                   for name in {field for field, _, _ in deltas[which].entries}})
        elif what == "value":
            tally.add_value_counts("int8*int8+int32", 0, n, 0)
            want += EventCounts(saturations=n)
        else:
            snapshots.append(tally.freeze())
        assert tally.freeze() == want
    for before in snapshots:
        assert before + (tally.freeze() - before) == tally.freeze()
    assert tally.freeze() - tally.freeze() == EventCounts()


def test_partial_sums_that_overflow_the_output_buffer_cut_the_gemm():
    # 16 columns of fp32 partial sums per row: a 1 KiB output buffer holds 16 rows of C at a time
    cfg = nearest("edge-bf16", **{"sram.output_bytes": 1024})
    acc = Accelerator(cfg)
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((64, 16)), rng.standard_normal((16, 16))
    c = acc.gemm(a, b)
    assert acc.counts.folds == 4  # four blocks of 16 rows, one fold each
    assert acc.counts.compute_cycles == 4 * (2 * 16 + 16 + 16 - 2)
    cycle = Accelerator(cfg, fidelity="cycle")
    assert np.array_equal(cycle.gemm(a, b), c) and cycle.counts == acc.counts


def test_both_operands_overflowing_cut_the_gemm_both_ways():
    # A 64×64 bf16 (8 KiB) in a 4 KiB buffer, B 64×256 (32 KiB) in an 8 KiB one. Cutting only A's
    # rows fetches B once per row block (2 × 32 + 8 KiB); cutting B into 64-column blocks that fit
    # as well fetches A once per column block and B once (4 × 8 + 32 KiB): the cheaper map.
    cfg = nearest("edge-bf16", **{"sram.activation_bytes": 4096, "sram.weight_bytes": 8192})
    acc = Accelerator(cfg)
    rng = np.random.default_rng(13)
    a, b = rng.standard_normal((64, 64)), rng.standard_normal((64, 256))
    c = acc.gemm(a, b)
    assert acc.counts.dram_read_bytes == (4 * 8 + 32) * 1024
    cycle = Accelerator(cfg, fidelity="cycle")
    assert np.array_equal(cycle.gemm(a, b), c) and cycle.counts == acc.counts
