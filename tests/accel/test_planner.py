"""The planner against the fold-by-fold reference, memoized against unmemoized, and closed forms at any size."""

import dataclasses
import time

import numpy as np
import pytest
from fold_reference import GemmPlacement, operand_fits, schedule_gemm
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import Accelerator, load_config
from accel.config import with_overrides
from accel.numerics import get_format
from accel.planner import GemmRequest, Planner, bytes_per_word, plan_gemm_op
from accel.timing import plan_gemm

PRESETS = ["edge-int8", "edge-bf16", "edge-fp8", "edge-fixed16", "omnidrl", "cnpu2019"]
ROLE_PAIRS = [(("activation", "weight"), "activation"), (("gradient", "weight"), "gradient"),
              (("activation", "gradient"), "gradient")]


@st.composite
def chips(draw):
    """A preset with a random array, buffers and DRAM (buffers from one tile up, so that GEMMs get cut)."""
    rows, cols = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    factor = st.sampled_from([1, 2, 3, 8, 64])
    return with_overrides(load_config(draw(st.sampled_from(PRESETS))), {
        "array.rows": rows, "array.cols": cols, "sparsity.group": 1,
        "array.dataflow": draw(st.sampled_from(["ws", "os", "is"])), "array.transposable": draw(st.booleans()),
        "array.double_buffered_weights": draw(st.booleans()),
        "sram.weight_bytes": rows * cols * 4 * draw(factor),
        "sram.activation_bytes": rows * 4 * 2 * draw(factor),
        "sram.output_bytes": cols * 8 * 2 * draw(factor),
        "dram.bandwidth_bytes_per_cycle": draw(st.sampled_from([1, 4, 16.0, 64, 0.5])),
        "dram.latency_cycles": draw(st.integers(0, 300))})


@st.composite
def requests(draw, max_size=160):
    roles, out_role = draw(st.sampled_from(ROLE_PAIRS))
    return GemmRequest(
        draw(st.integers(1, max_size)), draw(st.integers(1, max_size)), draw(st.integers(1, max_size)),
        roles, out_role, draw(st.booleans()), draw(st.booleans()), (draw(st.booleans()), draw(st.booleans())),
        draw(st.sampled_from([0, 0, 100, 4096])), draw(st.booleans()))


def reference(cfg, g: GemmRequest, reuse_tile: bool, store_out: bool):
    """The same GEMM through the fold-by-fold mapping and schedule of commit 18984e7."""
    words = tuple(bytes_per_word(load_format(cfg, role)) for role in (*g.roles, g.out_role))
    buffers = ["weight" if role == "weight" else "activation" for role in g.roles]
    capacity = {"weight": cfg.sram.weight_bytes, "activation": cfg.sram.activation_bytes}
    acc_word = bytes_per_word(load_format(cfg, "accumulator"))
    placement = GemmPlacement(
        m=g.m, k=g.k, n=g.n, word_bytes=words, capacity_bytes=(capacity[buffers[0]], capacity[buffers[1]]),
        psum_limit=cfg.sram.output_bytes // (cfg.array.cols * acc_word), shared_buffer=buffers[0] == buffers[1],
        resident=g.resident, store_out=store_out, prologue_store_bytes=g.prologue_store_bytes,
        reuse_tile=reuse_tile)
    return placement, schedule_gemm(cfg, placement)


def load_format(cfg, role):
    return get_format(getattr(cfg.formats, role))


@settings(max_examples=40, deadline=None)
@given(cfg=chips(), g=requests(max_size=100))
def test_property_plan_equals_the_fold_by_fold_schedule(cfg, g):
    plan = plan_gemm_op(cfg, g)
    placement, old = reference(cfg, g, plan.reuse_tile, plan.store_out)
    mp = plan.mapping
    assert mp.compute_cycles == old.compute_cycles
    assert mp.stall_cycles == old.stall_cycles
    assert mp.load_bytes == old.load_bytes and mp.store_bytes == old.store_bytes
    assert plan.blocks() == list(old.blocks)
    for field in ("folds", "a_reads", "c_reads", "c_writes"):
        assert mp.plan_total(field) == old.total(field), field
    assert plan.array.b_reads == old.total("b_reads") - (g.k * g.n if plan.reuse_tile else 0)
    fits = operand_fits(placement)
    assert plan.keep[:2] == (fits[0] and not g.resident[0], fits[1] and not g.resident[1])


def test_the_reuse_of_a_tile_is_decided_once_and_saves_its_load():
    cfg = load_config("edge-bf16")  # 16×16 WS, transposable
    g = GemmRequest(64, 16, 16, ("gradient", "weight"), "gradient", transpose_b=True, pes_hold_b=True)
    plan, without = plan_gemm_op(cfg, g), plan_gemm_op(cfg, GemmRequest(64, 16, 16, ("gradient", "weight"),
                                                                         "gradient", transpose_b=True))
    assert plan.reuse_tile and not without.reuse_tile
    assert without.array.compute_cycles - plan.array.compute_cycles == cfg.array.rows
    assert without.array.b_reads - plan.array.b_reads == 16 * 16


OPS = st.one_of(
    st.tuples(st.just("gemm"), st.integers(1, 90), st.integers(1, 90), st.integers(1, 90),
              st.sampled_from(ROLE_PAIRS), st.sampled_from(["x", "y", "W", "dy", None]),
              st.sampled_from(["W", "W2", None]), st.sampled_from(["y", "dy", "out", None]), st.booleans()),
    st.tuples(st.just("vector"), st.sampled_from(["relu", "add", "adam", "polyak", "sum_rows"]),
              st.sampled_from(["activation", "gradient", "master"]), st.integers(1, 5000)),
    st.tuples(st.just("replay"), st.integers(0, 3000), st.integers(0, 3000)))


def run_ops(acc: Accelerator, ops) -> None:
    for op in ops:
        if op[0] == "gemm":
            _, m, k, n, (roles, out_role), a, b, c, transpose_b = op
            acc.gemm_counts(m, k, n, roles, out_role, (a, b, c), transpose_b)
        elif op[0] == "vector":
            acc.vector_counts(op[1], op[2], op[3])
        else:
            acc.replay(op[1], op[2])


class Unmemoized(Planner):
    """Plans every GEMM afresh."""

    def gemm(self, *request):
        return plan_gemm_op(self.config, GemmRequest(*request))


class Forgetful(dict):
    """A memo that keeps nothing (the chip's own memo of unnamed GEMMs' plans, turned off)."""

    def __setitem__(self, key, value) -> None:
        pass


@settings(max_examples=40, deadline=None)
@given(cfg=chips(), ops=st.lists(OPS, min_size=1, max_size=25))
def test_property_memoized_and_unmemoized_chips_count_alike(cfg, ops):
    memo, fresh = Accelerator(cfg), Accelerator(cfg)
    fresh._planner = Unmemoized(cfg)
    fresh._unnamed_plans = Forgetful()
    run_ops(memo, ops)
    run_ops(memo, ops)  # again: now every plan comes from the memo
    run_ops(fresh, ops)
    run_ops(fresh, ops)
    assert memo.counts == fresh.counts
    assert memo.snapshot().buffers == fresh.snapshot().buffers


@pytest.mark.parametrize("fidelity", ["fast", "cycle"])
def test_memoized_gemms_with_values_count_as_the_first_time(fidelity):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((24, 40)).astype(np.float32), rng.standard_normal((40, 20)).astype(np.float32)
    acc = Accelerator(with_overrides(load_config("edge-int8"), {"formats.rounding": "nearest"}), fidelity=fidelity)
    deltas = []
    for _ in range(3):
        before = acc.counts
        acc.gemm(x, w, names=("x", "W", "y"))
        acc.gemm(x, w, names=("x2", "W", None))
        deltas.append(acc.counts - before)
    assert deltas[1] == deltas[2]  # the second and third rounds start from the same buffer state


def test_a_huge_gemm_is_priced_in_closed_form():
    acc = Accelerator(load_config("edge-int8"))
    start = time.process_time()
    acc.gemm_counts(100_000, 100_000, 100_000)
    assert time.process_time() - start < 5  # a fold-by-fold schedule would step 39 million folds
    c = acc.counts
    # the output buffer holds the partial sums of 512 rows (32 KiB of int32, 16 columns): 196 row blocks
    rows_per_block = acc.config.sram.output_bytes // (16 * 4)
    full, last = divmod(100_000, rows_per_block)
    block = plan_gemm(rows_per_block, 100_000, 100_000, 16, 16, acc.config.array.dataflow)
    edge = plan_gemm(last, 100_000, 100_000, 16, 16, acc.config.array.dataflow)
    assert c.macs == 10**15 and c.folds == full * block.folds + edge.folds
    assert c.compute_cycles == full * block.compute_cycles + edge.compute_cycles


@settings(max_examples=15, deadline=None)
@given(cfg=chips(), g=requests(max_size=32), repeat=st.integers(2, 6))
def test_property_repeated_blocks_cost_what_their_copies_cost(cfg, g, repeat):
    """A GEMM repeated along its streamed dimension, priced at a size the reference can still step."""
    big = GemmRequest(g.m * repeat, g.k, g.n * repeat, g.roles, g.out_role, g.transpose_b, g.named_out,
                      g.resident, g.prologue_store_bytes, g.pes_hold_b)
    plan = plan_gemm_op(cfg, big)
    _, old = reference(cfg, big, plan.reuse_tile, plan.store_out)
    assert (plan.mapping.compute_cycles, plan.mapping.stall_cycles) == (old.compute_cycles, old.stall_cycles)


@settings(max_examples=25, deadline=None)
@given(cfg=chips(), fidelity=st.sampled_from(["fast", "cycle"]), seed=st.integers(0, 2**32 - 1),
       ops=st.lists(st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(1, 24), st.sampled_from(ROLE_PAIRS),
                              st.sampled_from(["x", "dy", None]), st.sampled_from(["W", None]),
                              st.sampled_from(["y", None]), st.booleans()), min_size=1, max_size=8))
def test_property_memoized_and_unmemoized_chips_compute_and_count_alike(cfg, fidelity, seed, ops):
    """GEMMs with values at either fidelity: the memo changes nothing, neither values nor counts."""
    chips_ = [Accelerator(cfg, fidelity=fidelity, seed=seed) for _ in range(2)]
    chips_[1]._planner = Unmemoized(cfg)
    for acc in chips_:
        rng = np.random.default_rng(seed)
        acc.results = []
        for _ in range(2):
            for m, k, n, (roles, out_role), a_name, b_name, c_name, transpose_b in ops:
                a = rng.standard_normal((m, k)).astype(np.float32)
                b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(np.float32)
                acc.results.append(acc.gemm(a, b, roles, out_role, (a_name, b_name, c_name), transpose_b=transpose_b))
    memo, fresh = chips_
    assert memo.counts == fresh.counts
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(memo.results, fresh.results, strict=True))


def test_adam_state_larger_than_the_weight_buffer_streams_through_dram():
    """Adam over one 256×256 tensor with fp32 master weights on edge-int8 (64 KiB weight buffer): each
    of w, g, m, v is 256 KiB, so every input comes from DRAM and every output goes back to it."""
    acc = Accelerator(load_config("edge-int8"))
    names = (("W", "dW", "W.m", "W.v"), ("W", "W.m", "W.v"))
    acc.vector_counts("adam", "master", 65536, names=names)
    c = acc.counts
    tensor = 65536 * 4
    assert (c.dram_read_bytes, c.dram_write_bytes) == (4 * tensor, 3 * tensor)
    assert c.sram_reads["weight"] == 4 * 65536 and c.sram_writes["weight"] == (3 + 4) * 65536  # fills included
    compute = 65536 // 16 * 8  # lanes 16, adam's latency 8
    transfer = 100 + (7 * tensor) // 16  # one latency, then the channel at 16 bytes per cycle
    assert (c.vector_cycles, c.stall_cycles, c.cycles) == (compute, transfer - compute, transfer)


def test_named_vector_operations_keep_what_fits_and_write_back_what_is_evicted():
    acc = Accelerator(load_config("edge-int8"))
    names = (("b", "db", "b.m", "b.v"), ("b", "b.m", "b.v"))
    acc.vector_counts("adam", "master", 1024, names=names)  # 4 KiB per tensor: all of it stays
    first = acc.counts
    assert (first.dram_read_bytes, first.dram_write_bytes) == (4 * 4096, 0)
    acc.vector_counts("adam", "master", 1024, names=names)  # held now: nothing from DRAM
    second = acc.counts - first
    assert (second.dram_read_bytes, second.dram_write_bytes, second.stall_cycles) == (0, 0, 0)
    acc.vector_counts("polyak", "master", 15 * 1024, names=(("t", "o"), ("t",)))  # 60 KiB each: evicts b's state
    third = acc.counts - first - second
    assert third.dram_read_bytes == 2 * 15 * 4096
    acc.vector_counts("scale", "master", 1, names=(("x",), ("y",)))  # the next operation writes the dirty ones back
    fourth = acc.counts - first - second - third
    assert fourth.dram_write_bytes == 3 * 4096  # b, b.m, b.v (dirty); db was only read (clean)


def test_unnamed_vector_operations_stay_on_chip_as_before():
    acc = Accelerator(load_config("edge-int8"))
    acc.vector_counts("adam", "master", 65536)
    assert (acc.counts.dram_read_bytes, acc.counts.dram_write_bytes, acc.counts.stall_cycles) == (0, 0, 0)
    with pytest.raises(ValueError, match="4 input names expected, got 2"):
        acc.vector_counts("adam", "master", 4, names=(("w", "g"), ("w",)))


def test_the_vector_unit_counts_named_operations_as_vector_counts_does():
    rng = np.random.default_rng(0)
    w, g, m, v = (rng.standard_normal((64, 256)).astype(np.float32) for _ in range(4))
    names = (("W", "dW", "W.m", "W.v"), ("W", "W.m", "W.v"))
    with_values, counted = Accelerator(load_config("edge-bf16")), Accelerator(load_config("edge-bf16"))
    for _ in range(2):
        with_values.vector.adam(w, g, m, v, 1, 1e-3, names=names)
        counted.vector_counts("adam", "master", w.size, names=names)
    a, b = with_values.counts, counted.counts
    assert a.dram_read_bytes > 0 and a.stall_cycles > 0  # 64 KiB per tensor in bf16's fp32 master weights
    assert dataclasses.replace(a, saturations=0, nonfinite=0) == b  # all but what the values decide


@pytest.mark.parametrize("preset", ["edge-bf16", "edge-int8"])
def test_output_stationary_partial_sums_stay_in_the_pes(preset):
    # K = 256 over a 16-row array: a weight-stationary GEMM runs 16 row folds and sends every fold's
    # partial sums to the output buffer and back (16 writes and 15 reads of each of the m·n
    # accumulators, plus the read that sends them to the vector unit); an output-stationary one
    # accumulates all of K in the PEs and writes each accumulator once, read once on its way out.
    m, k, n = 64, 256, 256
    counts = {}
    for dataflow in ("ws", "os"):
        acc = Accelerator(with_overrides(load_config(preset), {"array.dataflow": dataflow}))
        acc.gemm_counts(m, k, n)
        counts[dataflow] = acc.counts
    assert counts["os"].sram_writes["output"] == m * n and counts["os"].sram_reads["output"] == m * n
    assert counts["ws"].sram_writes["output"] == 16 * m * n and counts["ws"].sram_reads["output"] == 16 * m * n
