"""The mapping and prefetch schedule as they were before the planner: fold by fold, in Python.

The slow, obvious reference that ``accel.planner`` (which counts runs of identical folds and
repeated schedules in closed form) is held to, count for count. Kept verbatim from
``accel/mapping.py`` and ``accel/memory.py`` of commit 18984e7.
"""

import math
from dataclasses import dataclass

from accel.config import AcceleratorConfig, Dataflow
from accel.timing import FoldPlan, gemm_shape, plan_gemm


@dataclass(frozen=True, slots=True)
class FoldTraffic:
    """DRAM bytes around one fold: fetched before it may start, written back after it ends."""

    load_bytes: int
    store_bytes: int


def schedule_stalls(fold_cycles: list[int], traffic: list[FoldTraffic], bandwidth_bytes_per_cycle: float,
                    latency_cycles: int, prologue_store_bytes: int = 0) -> int:
    """Stall cycles of a sequence of folds whose DRAM transfers overlap compute where they can.

    Args:
        fold_cycles: Compute cycles of each fold.
        traffic: DRAM bytes of each fold.
        bandwidth_bytes_per_cycle: DRAM bandwidth.
        latency_cycles: Cycles from issuing a transfer to its completion, beyond its occupancy.
        prologue_store_bytes: Bytes written back before the first fold (evicted dirty tensors).

    Returns:
        Cycles the array waits: before the first fold, between folds, and for the last write-back.
    """
    channel_free = 0  # cycle at which the DRAM channel can start the next transfer

    def transfer(issue: int, nbytes: int) -> int:
        nonlocal channel_free
        if nbytes == 0:
            return issue
        begin = max(issue, channel_free)
        channel_free = begin + math.ceil(nbytes / bandwidth_bytes_per_cycle)
        return channel_free + latency_cycles

    last_done = transfer(0, prologue_store_bytes)
    ready = transfer(0, traffic[0].load_bytes) if traffic else 0
    now = stalls = 0
    for f, cycles in enumerate(fold_cycles):
        start = max(now, ready)
        stalls += start - now
        if f + 1 < len(fold_cycles):
            ready = transfer(start, traffic[f + 1].load_bytes)
        now = start + cycles
        last_done = max(last_done, transfer(now, traffic[f].store_bytes))
    return stalls + max(0, last_done - now)


@dataclass(frozen=True, slots=True)
class GemmTraffic:
    """DRAM traffic of one GEMM, fold by fold, and its totals per operand."""

    folds: list[FoldTraffic]
    loads_a: int
    loads_b: int
    store_bytes: int


def fold_traffic(plan: FoldPlan, rows: int, cols: int, dataflow: Dataflow, mkn, word_bytes, resident, fits,
                 store_out: bool) -> GemmTraffic:
    """DRAM bytes each fold fetches and writes back (see ``accel.memory``).

    Folds run column fold outer, row fold inner (WS/IS: partial sums finish column by column),
    row fold outer for OS. A resident operand is never fetched; a fitting one is fetched once.
    """
    m, k, n = mkn
    wa, wb, wout = word_bytes
    shape = gemm_shape(m, k, n, dataflow)
    folds: list[FoldTraffic] = []
    loads = [0, 0]
    store_total = 0
    outer, inner = (plan.row_folds, plan.col_folds) if dataflow is Dataflow.OS else (plan.col_folds, plan.row_folds)
    for o in range(outer):
        for i in range(inner):
            r_fold, c_fold = (o, i) if dataflow is Dataflow.OS else (i, o)
            tile_r = min(rows, shape.stationary_rows - r_fold * rows)
            tile_c = min(cols, shape.stationary_cols - c_fold * cols)
            if dataflow is Dataflow.OS:  # A block (tile_r × K) per row fold, B block (K × tile_c) per fold
                need_a = 0 if resident[0] or i > 0 else tile_r * k * wa
                need_b = 0 if resident[1] or (o > 0 and fits[1]) else k * tile_c * wb
                store = tile_r * tile_c * wout
            elif dataflow is Dataflow.WS:  # B tile stationary, A slice (M × tile_r) streamed
                need_b = 0 if resident[1] else tile_r * tile_c * wb
                need_a = 0 if resident[0] or (o > 0 and fits[0]) else m * tile_r * wa
                store = m * tile_c * wout if i == inner - 1 else 0
            else:  # IS: Aᵀ tile stationary, B slice (tile_r × N) streamed
                need_a = 0 if resident[0] else tile_r * tile_c * wa
                need_b = 0 if resident[1] or (o > 0 and fits[1]) else tile_r * n * wb
                store = tile_c * n * wout if i == inner - 1 else 0
            store = store if store_out else 0
            loads[0] += need_a
            loads[1] += need_b
            store_total += store
            folds.append(FoldTraffic(need_a + need_b, store))
    return GemmTraffic(folds, loads[0], loads[1], store_total)

Block = tuple[int, int, int, int]
"""Rows ``m0:m1`` and columns ``n0:n1`` of C."""


@dataclass(frozen=True, slots=True)
class GemmPlacement:
    """What the mapping needs to know about one GEMM and the buffers around it.

    Attributes:
        m, k, n: The GEMM's sizes.
        word_bytes: Bytes per word of A, B and C (the output format).
        capacity_bytes: Capacities of A's and B's buffers.
        psum_limit: Most rows (WS) or columns (IS) of C whose partial sums of one column fold the
            output buffer holds.
        shared_buffer: A and B live in the same buffer.
        resident: Whether A and B are already held in their buffers.
        store_out: Whether C goes to DRAM (an unnamed or too large output).
        prologue_store_bytes: Write-backs of evicted tensors pending before this GEMM.
        reuse_tile: The PEs already hold the whole stationary operand (a transposable array).
    """

    m: int
    k: int
    n: int
    word_bytes: tuple[int, int, int]
    capacity_bytes: tuple[int, int]
    psum_limit: int
    shared_buffer: bool
    resident: tuple[bool, bool]
    store_out: bool
    prologue_store_bytes: int
    reuse_tile: bool


@dataclass(frozen=True, slots=True)
class GemmSchedule:
    """A mapped GEMM: its blocks, their fold plans, and the DRAM traffic and stalls of the whole."""

    blocks: tuple[Block, ...]
    plans: tuple[FoldPlan, ...]
    compute_cycles: int
    stall_cycles: int
    load_bytes: tuple[int, int]
    store_bytes: int

    @property
    def folds(self) -> int:
        """Folds of all blocks."""
        return sum(p.folds for p in self.plans)

    def total(self, field: str) -> int:
        """A ``FoldPlan`` count summed over the blocks (``a_reads``, ``c_writes``, ...)."""
        return sum(getattr(p, field) for p in self.plans)


def operand_fits(g: GemmPlacement) -> tuple[bool, bool]:
    wa, wb, _ = g.word_bytes
    a_bytes, b_bytes = g.m * g.k * wa, g.k * g.n * wb
    shared_a, shared_b = (b_bytes, a_bytes) if g.shared_buffer else (0, 0)
    return a_bytes + shared_a <= g.capacity_bytes[0], b_bytes + shared_b <= g.capacity_bytes[1]


def _stream_budget(cfg: AcceleratorConfig, g: GemmPlacement) -> tuple[int, int, int, int]:
    """The streamed operand's extent, bytes per unit of it, the buffer bytes it may use, block alignment.

    When both operands share a buffer, the other keeps what it needs: all of it if that takes at most
    half the buffer, else the double-buffered part one fold works on (a stationary tile for WS/IS, a
    row block of A for OS), since it is fetched piece by piece anyway.
    """
    wa, wb, _ = g.word_bytes
    rows, cols = cfg.array.rows, cfg.array.cols
    if cfg.array.dataflow is Dataflow.WS:
        extent, unit, capacity, align = g.m, g.k * wa, g.capacity_bytes[0], 1
        other, piece = g.k * g.n * wb, rows * cols * wb
    else:
        extent, unit, capacity = g.n, g.k * wb, g.capacity_bytes[1]
        other = g.m * g.k * wa
        piece = rows * g.k * wa if cfg.array.dataflow is Dataflow.OS else rows * cols * wa
        align = cols if cfg.array.dataflow is Dataflow.OS else 1
    if not g.shared_buffer:
        return extent, unit, capacity, align
    return extent, unit, capacity - (other if other <= capacity // 2 else min(other, 2 * piece)), align


def _spans(extent: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, extent)) for lo in range(0, extent, size)]


def _schedule(cfg: AcceleratorConfig, g: GemmPlacement, stream_size: int, stationary_size: int) -> GemmSchedule:
    """The GEMM cut into blocks of ``stream_size`` along the streamed dimension (WS: M; IS, OS: N)
    and ``stationary_size`` along the stationary operand's other one (WS: N; IS: M; OS: M, uncut),
    stationary blocks outer, streamed blocks inner, and its DRAM traffic and stalls."""
    array = cfg.array
    ws = array.dataflow is Dataflow.WS
    wa, wb, _ = g.word_bytes
    fits_a, fits_b = operand_fits(g)
    _, unit, available, _ = _stream_budget(cfg, g)
    if ws:
        outer, inner = _spans(g.n, stationary_size), _spans(g.m, stream_size)
        stationary_unit, capacity, streamed_bytes = g.k * wb, g.capacity_bytes[1], g.m * g.k * wa
    else:
        outer, inner = _spans(g.m, stationary_size), _spans(g.n, stream_size)
        stationary_unit, capacity, streamed_bytes = g.k * wa, g.capacity_bytes[0], g.k * g.n * wb
    blocks, plans, fold_cycles, traffic = [], [], [], []
    loads_a = loads_b = stores = 0
    for o, (o0, o1) in enumerate(outer):
        # a stationary block stays for the streamed blocks after the first if it fits (beside all of
        # the other operand when they share a buffer)
        kept = (o1 - o0) * stationary_unit + (streamed_bytes if g.shared_buffer else 0) <= capacity
        for i, (i0, i1) in enumerate(inner):
            (m0, m1), (n0, n1) = ((i0, i1), (o0, o1)) if ws else ((o0, o1), (i0, i1))
            plan = plan_gemm(m1 - m0, g.k, n1 - n0, array.rows, array.cols, array.dataflow,
                             array.double_buffered_weights)
            streamed_fits = (i1 - i0) * unit <= available
            if ws:  # A's rows again in every column block unless all of A fits; B's block kept across rows
                held = (g.resident[0] or (o > 0 and fits_a), g.resident[1] or (i > 0 and kept))
                fits = (streamed_fits, fits_b)
            else:  # A's block (IS: stationary; OS: row blocks) kept across columns; B again unless it fits
                held = (g.resident[0] or (i > 0 and kept), g.resident[1] or (o > 0 and fits_b))
                fits = (fits_a, streamed_fits)
            block = fold_traffic(plan, array.rows, array.cols, array.dataflow, (m1 - m0, g.k, n1 - n0),
                                 g.word_bytes, held, fits, store_out=g.store_out)
            blocks.append((m0, m1, n0, n1))
            plans.append(plan)
            traffic += block.folds
            fold_cycles += [plan.first_fold_cycles] + [plan.fold_cycles] * (plan.folds - 1)
            loads_a, loads_b, stores = loads_a + block.loads_a, loads_b + block.loads_b, stores + block.store_bytes
    if g.reuse_tile:
        fold_cycles[0] -= array.rows
    stalls = schedule_stalls(fold_cycles, traffic, cfg.dram.bandwidth_bytes_per_cycle, cfg.dram.latency_cycles,
                             g.prologue_store_bytes)
    return GemmSchedule(tuple(blocks), tuple(plans), sum(fold_cycles), stalls, (loads_a, loads_b), stores)


def schedule_gemm(cfg: AcceleratorConfig, g: GemmPlacement) -> GemmSchedule:
    """Maps a GEMM: the streamed dimension in as few blocks as the output buffer allows or in
    blocks that also fit its buffer, the stationary operand whole or in column-fold blocks that fit
    its buffer, whichever moves fewer DRAM bytes (then whichever finishes first)."""
    extent, unit, available, align = _stream_budget(cfg, g)
    limit = extent if cfg.array.dataflow is Dataflow.OS else max(1, g.psum_limit)
    stream_sizes = {min(extent, limit)}
    wa, wb, _ = g.word_bytes
    cols = cfg.array.cols
    if cfg.array.dataflow is Dataflow.WS:
        other, stationary_unit, capacity = g.n, g.k * wb, g.capacity_bytes[1]
    else:
        other, stationary_unit, capacity = g.m, g.k * wa, g.capacity_bytes[0]
    stationary_sizes = {other}
    if not g.reuse_tile:
        stream_sizes.add(min(extent, limit, max(align, available // unit // align * align)))
        if cfg.array.dataflow is not Dataflow.OS:
            budget = capacity // 2 if g.shared_buffer else capacity
            stationary_sizes.add(min(other, max(cols, budget // stationary_unit // cols * cols)))
    candidates = [_schedule(cfg, g, s, t) for s in sorted(stream_sizes, reverse=True)
                  for t in sorted(stationary_sizes, reverse=True)]
    return min(candidates, key=lambda s: (sum(s.load_bytes) + s.store_bytes, s.compute_cycles + s.stall_cycles))
