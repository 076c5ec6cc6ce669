"""The planner: everything the chip decides about a GEMM that does not depend on its values.

One pure function, :func:`plan_gemm_op`, takes the hardware description and a ``GemmRequest``
(the GEMM's shape and roles and what the buffers and PEs hold around it) and returns a frozen
``GemmPlan``: the blocks the GEMM is cut into, the closed-form array counts, the DRAM traffic and
the stalls it leaves, the vector work around it, the whole ``EventCounts`` delta and what each
buffer holds afterwards. ``Planner`` memoizes it per chip, so an agent that repeats the same
handful of shapes pays the planning once; the ``Accelerator`` computes the values and applies the
plan, and both fidelities execute the same plan. The steps below run top to bottom.

**1. Layout.** Each operand role picks a format (its word size) and an SRAM buffer: weights in the
weight buffer, activations and gradients in the activation buffer; the accumulators pass through
the output buffer.

**2. Mapping** (capacity decides the tiling). The streamed operand of a dataflow (A for WS, B for
IS and OS) is read again by every fold along the other dimension. If it does not fit its buffer,
it is either fetched from DRAM again for each of those folds, or the GEMM is cut into blocks of it
that fit (WS: rows of A; IS, OS: columns of B, in whole column folds for OS). For WS and IS the
stationary operand may be cut too (WS: columns of B; IS: columns of Aᵀ, in whole column folds)
into blocks that fit its buffer. Stationary blocks run outer, streamed blocks inner, each block
with its own folds. The controller takes the mapping that moves fewer DRAM bytes (on a milliwatt
chip a DRAM byte costs as much energy as a hundred MACs), then the one that finishes first
(compute + stall cycles). Either way the partial sums of a column block (WS: rows of C; IS:
columns of C) must fit the output buffer, which bounds the block of the streamed dimension.

**3. Traffic.** Folds run column fold outer, row fold inner (WS/IS: partial sums finish column by
column), row fold outer for OS. A resident operand is never fetched; one that fits its buffer is
fetched once and kept; otherwise the parts a later fold needs again are fetched again.

**4. Stalls.** DRAM is one channel of ``bandwidth`` bytes per cycle; a transfer of ``b`` bytes
occupies it ``⌈b / bandwidth⌉`` cycles and completes ``latency`` cycles later. The fetch for fold
``f + 1`` is issued when fold ``f`` starts (double buffering), write-backs when their fold ends. A
fold starts when the previous fold has finished and its own data has arrived; the wait is a stall.

Runs of identical folds are not stepped one by one. Folds differ only at the first and last
index of each loop (the first fetches what later ones reuse, the last holds the ragged edge), so
a GEMM is a few runs of identical folds nested in a few runs of identical blocks, and its counts
are sums of products. The stall schedule is a max-plus recurrence whose state, measured from the
current fold's start, is a handful of integers; once a repeated run brings that state back to a
value it had at an earlier repetition, every later period repeats the same stalls, so a GEMM of
millions of folds is priced in microseconds. ``tests/accel/fold_reference.py`` keeps the
fold-by-fold schedule this is held to, count for count.

**5. Accounting.** Array reads and writes, the accumulators leaving through the vector unit
(rounded into the output format, scaled by a max-reduction under ``tensor_pow2``), the max-
reductions of integer operands that were not resident, DRAM deliveries written into the buffers,
an on-chip output written to its buffer, a transposition through SRAM when the array cannot read
``Wᵀ`` itself, and the weight load a transposable array skips when its PEs hold all of ``W``.
"""

import dataclasses
import functools
import itertools
import math
from dataclasses import dataclass
from functools import cached_property

from accel.compression import NONE, RATIO_STEPS, nominal_ratio
from accel.config import NOMINAL, AcceleratorConfig, Dataflow
from accel.counts import CountsDelta, mac_kind, vector_kind
from accel.numerics import get_format
from accel.numerics.formats import NumberFormat
from accel.timing import FoldPlan, ceil_div, gemm_shape, plan_gemm
from accel.vector import UPDATE_ROLE, VECTOR_OPS

ROLES = ("weight", "activation", "gradient")
ACCUMULATOR_ROLE = "accumulator"
"""A GEMM output role (and a vector role) besides ``ROLES``: C left in the accumulator's format, not
rounded into a narrower one (a wide readout, e.g. a Q-network's head), held beside the activations
at the accumulator's width."""
ROLE_BUFFER = {"weight": "weight", "activation": "activation", "gradient": "activation",
               ACCUMULATOR_ROLE: "activation"}
"""SRAM buffer of each operand role: gradients live beside the activations."""

Block = tuple[int, int, int, int]
"""Rows ``m0:m1`` and columns ``n0:n1`` of C."""


def bytes_per_word(fmt: NumberFormat) -> int:
    """Bytes one value of ``fmt`` takes in SRAM or DRAM."""
    return ceil_div(fmt.width_bits, 8)


# --- 1. layout -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    """The formats, words and buffers of one GEMM's operands (A, B and C).

    Attributes:
        formats: Formats of A, B and C.
        accumulator: The accumulator format.
        word_bytes: Bytes per word of A, B and C.
        buffers: SRAM buffers of A, B and C.
        operand_bytes: Bytes of A, B and C.
        capacity_bytes: Capacities of the buffers of A, B and C.
    """

    formats: tuple[NumberFormat, NumberFormat, NumberFormat]
    accumulator: NumberFormat
    word_bytes: tuple[int, int, int]
    buffers: tuple[str, str, str]
    operand_bytes: tuple[int, int, int]
    capacity_bytes: tuple[int, int, int]

    @property
    def shared(self) -> bool:
        """A and B live in the same buffer."""
        return self.buffers[0] == self.buffers[1]


def buffer_bytes(cfg: AcceleratorConfig, buffer: str) -> int:
    """Capacity of an operand buffer (``weight`` or ``activation``)."""
    return cfg.sram.weight_bytes if buffer == "weight" else cfg.sram.activation_bytes


def layout_gemm(cfg: AcceleratorConfig, m: int, k: int, n: int, roles: tuple[str, str], out_role: str) -> Layout:
    """Formats, word sizes and buffers of ``C[m,n] = A[m,k] · B[k,n]`` with the given roles."""
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if out_role not in ROLES and out_role != ACCUMULATOR_ROLE:
        raise ValueError(f"out_role must be one of {', '.join((*ROLES, ACCUMULATOR_ROLE))}, got {out_role!r}")
    formats = tuple(get_format(getattr(cfg.formats, role)) for role in (*roles, out_role))
    words = tuple(bytes_per_word(f) for f in formats)
    buffers = tuple(ROLE_BUFFER[role] for role in (*roles, out_role))
    return Layout(formats, get_format(cfg.formats.accumulator), words, buffers,
                  (m * k * words[0], k * n * words[1], m * n * words[2]),
                  tuple(buffer_bytes(cfg, buffer) for buffer in buffers))


# --- the request ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GemmRequest:
    """A GEMM and the state of the chip around it: everything its plan depends on.

    Attributes:
        m, k, n: The GEMM's sizes.
        roles: Roles of A and B.
        out_role: Role of C.
        transpose_b: B is stored transposed (a backward pass's ``Wᵀ``).
        named_out: C has a name, so it may stay on chip.
        resident: Whether A's and B's buffers already hold them.
        prologue_store_bytes: Write-backs of evicted dirty tensors pending before this GEMM.
        pes_hold_b: The PEs still hold B's tensor (the last weight-stationary GEMM's single tile).
        kept_k: The k a skipping array keeps (``[sparsity] skipping = "group"``: B's all-zero
            k-groups compacted away, ``accel.sparsity``), None for all of k.
    """

    m: int
    k: int
    n: int
    roles: tuple[str, str] = ("activation", "weight")
    out_role: str = "activation"
    transpose_b: bool = False
    named_out: bool = False
    resident: tuple[bool, bool] = (False, False)
    prologue_store_bytes: int = 0
    pes_hold_b: bool = False
    kept_k: int | None = None


# --- 2.–4. mapping, traffic, stalls --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold: its compute cycles and the DRAM bytes around it."""

    cycles: int
    load_a: int
    load_b: int
    store: int


@dataclass(frozen=True)  # no slots: ``totals`` is cached in the instance's __dict__
class Runs:
    """A sequence of runs: each item (a ``Fold`` or nested ``Runs``) repeated ``count`` times."""

    items: tuple[tuple["Fold | Runs", int], ...]

    @cached_property
    def totals(self) -> tuple[int, int, int, int, int]:
        """(compute cycles, A loads, B loads, stores, folds) of the whole sequence."""
        out = [0, 0, 0, 0, 0]
        for item, count in self.items:
            t = (item.cycles, item.load_a, item.load_b, item.store, 1) if isinstance(item, Fold) else item.totals
            for i in range(5):
                out[i] += count * t[i]
        return tuple(out)


def _runs(count: int) -> list[tuple[int, int]]:
    """Indices ``0 … count − 1`` as (representative, length) runs of indices that behave alike:
    the first, those between, and the last."""
    bounds = sorted({0, min(1, count), max(count - 1, 0), count})
    return [(lo, hi - lo) for lo, hi in itertools.pairwise(bounds) if hi > lo]


class _Channel:
    """The DRAM channel and the prefetch schedule, measured from the start of the current fold.

    State between folds: the previous fold's cycles and write-back bytes (issued when it ends),
    when the channel is free and when the last write-back completes, both relative to the previous
    fold's start and clipped at 0 (every later transfer is issued at or after that start).
    """

    def __init__(self, bandwidth: float, latency: int) -> None:
        self.bandwidth, self.latency = bandwidth, latency

    def occupy(self, issue: int, free: int, nbytes: int) -> tuple[int, int]:
        """(channel free, completion) of a transfer issued at ``issue``."""
        if nbytes == 0:
            return free, issue
        free = max(issue, free) + math.ceil(nbytes / self.bandwidth)
        return free, free + self.latency

    def start(self, prologue_store_bytes: int) -> tuple[int, int, int, int]:
        """The state before the first fold: a fold of no cycles whose write-back is the prologue's."""
        free, done = self.occupy(0, 0, prologue_store_bytes)
        return 0, 0, free, done

    def fold(self, state: tuple[int, int, int, int], fold: Fold) -> tuple[tuple[int, int, int, int], int]:
        """Runs ``fold`` after ``state``; returns the new state and the stall before it."""
        prev_cycles, prev_store, free, last_done = state
        free, ready = self.occupy(0, free, fold.load_a + fold.load_b)  # issued when the previous fold started
        free, done = self.occupy(prev_cycles, free, prev_store)  # the previous fold's write-back
        last_done = max(last_done, done)
        start = max(prev_cycles, ready)
        return (fold.cycles, fold.store, max(0, free - start), max(0, last_done - start)), start - prev_cycles

    def run(self, state: tuple[int, int, int, int], runs: Runs) -> tuple[tuple[int, int, int, int], int]:
        """Runs a sequence; a repeated item whose state comes back repeats its stalls periodically."""
        stalls = 0
        for item, count in runs.items:
            step = self.fold if isinstance(item, Fold) else self.run
            seen: dict[tuple[int, int, int, int], tuple[int, int]] = {}
            rep = 0
            while rep < count:
                if state in seen:
                    first_rep, first_stalls = seen.pop(state)
                    period, per_period = rep - first_rep, stalls - first_stalls
                    skipped = (count - rep) // period
                    stalls += skipped * per_period
                    rep += skipped * period
                    seen.clear()
                    if rep == count:
                        break
                seen[state] = (rep, stalls)
                state, s = step(state, item)
                stalls += s
                rep += 1
        return state, stalls

    def finish(self, state: tuple[int, int, int, int]) -> int:
        """The wait for the last write-back after the last fold."""
        prev_cycles, prev_store, free, last_done = state
        _, done = self.occupy(prev_cycles, free, prev_store)
        return max(0, max(last_done, done) - prev_cycles)


def stall_cycles(cfg: AcceleratorConfig, runs: Runs, prologue_store_bytes: int = 0) -> int:
    """Stall cycles of a sequence of folds whose DRAM transfers overlap compute where they can.

    Returns:
        Cycles the array waits: before the first fold, between folds, and for the last write-back.
    """
    channel = _Channel(cfg.dram.bandwidth_bytes_per_cycle, cfg.dram.latency_cycles)
    state, stalls = channel.run(channel.start(prologue_store_bytes), runs)
    return stalls + channel.finish(state)


def _block_folds(cfg: AcceleratorConfig, plan: FoldPlan, mkn: tuple[int, int, int], word_bytes, held, fits,
                 store_out: bool, preloaded: bool) -> Runs:
    """The folds of one block as runs (see step 3 of the module docstring); ``preloaded``: the PEs
    hold the first fold's weights already, so it skips their load."""
    m, k, n = mkn
    wa, wb, wout = word_bytes
    rows, cols, dataflow = cfg.array.rows, cfg.array.cols, cfg.array.dataflow
    shape = gemm_shape(m, k, n, dataflow)
    os_ = dataflow is Dataflow.OS
    outer, inner = (plan.row_folds, plan.col_folds) if os_ else (plan.col_folds, plan.row_folds)
    outer_runs = []
    for o, o_count in _runs(outer):
        inner_runs = []
        for i, i_count in _runs(inner):
            r_fold, c_fold = (o, i) if os_ else (i, o)
            tile_r = min(rows, shape.stationary_rows - r_fold * rows)
            tile_c = min(cols, shape.stationary_cols - c_fold * cols)
            if os_:  # A block (tile_r × K) per row fold, B block (K × tile_c) per fold
                need_a = 0 if held[0] or i > 0 else tile_r * k * wa
                need_b = 0 if held[1] or (o > 0 and fits[1]) else k * tile_c * wb
                store = tile_r * tile_c * wout
            elif dataflow is Dataflow.WS:  # B tile stationary, A slice (M × tile_r) streamed
                need_b = 0 if held[1] else tile_r * tile_c * wb
                need_a = 0 if held[0] or (o > 0 and fits[0]) else m * tile_r * wa
                store = m * tile_c * wout if i == inner - 1 else 0
            else:  # IS: Aᵀ tile stationary, B slice (tile_r × N) streamed
                need_a = 0 if held[0] else tile_r * tile_c * wa
                need_b = 0 if held[1] or (o > 0 and fits[1]) else tile_r * n * wb
                store = tile_c * n * wout if i == inner - 1 else 0
            later = Fold(plan.fold_cycles, need_a, need_b, store if store_out else 0)
            if o == 0 and i == 0:  # the block's first fold loads its weights even when double-buffered
                first_cycles = plan.first_fold_cycles - (rows if preloaded else 0)
                inner_runs.append((Fold(first_cycles, need_a, need_b, later.store), 1))
                if i_count > 1:
                    inner_runs.append((later, i_count - 1))
            else:
                inner_runs.append((later, i_count))
        outer_runs.append((Runs(tuple(inner_runs)), o_count))
    return Runs(tuple(outer_runs))


@dataclass(frozen=True, slots=True)
class Mapping:
    """A GEMM cut into blocks, with its folds as runs.

    Attributes:
        ws: Weight stationary: blocks of C are column blocks outer, row blocks inner (else the reverse).
        stream_size: Block extent along the streamed dimension (WS: M; IS, OS: N).
        stationary_size: Block extent along the stationary operand's other one (WS: N; IS, OS: M).
        block_runs: The blocks' fold plans as runs (stationary blocks outer, streamed inner).
        folds: Every fold of every block, as runs.
        stall_cycles: Cycles the array waits for DRAM.
    """

    ws: bool
    stream_size: int
    stationary_size: int
    block_runs: tuple[tuple[tuple[tuple[FoldPlan, int], ...], int], ...]
    folds: Runs
    stall_cycles: int

    @property
    def compute_cycles(self) -> int:
        return self.folds.totals[0]

    @property
    def load_bytes(self) -> tuple[int, int]:
        return self.folds.totals[1], self.folds.totals[2]

    @property
    def store_bytes(self) -> int:
        return self.folds.totals[3]

    def plan_total(self, field: str) -> int:
        """A ``FoldPlan`` count summed over the blocks (``folds``, ``a_reads``, ``c_writes``, ...)."""
        return sum(o_count * i_count * getattr(plan, field)
                   for inner, o_count in self.block_runs for plan, i_count in inner)


def _operand_fits(layout: Layout) -> tuple[bool, bool]:
    """Whether A and B each fit their buffer (beside the other when they share one)."""
    a_bytes, b_bytes, _ = layout.operand_bytes
    capacity, shared = layout.capacity_bytes, layout.shared
    return a_bytes + (b_bytes if shared else 0) <= capacity[0], b_bytes + (a_bytes if shared else 0) <= capacity[1]


def _stream_budget(cfg: AcceleratorConfig, g: GemmRequest, layout: Layout) -> tuple[int, int, int, int]:
    """The streamed operand's extent, bytes per unit of it, the buffer bytes it may use, block alignment.

    When both operands share a buffer, the other keeps what it needs: all of it if that takes at most
    half the buffer, else the double-buffered part one fold works on (a stationary tile for WS/IS, a
    row block of A for OS), since it is fetched piece by piece anyway.
    """
    wa, wb, _ = layout.word_bytes
    rows, cols = cfg.array.rows, cfg.array.cols
    capacity = layout.capacity_bytes
    if cfg.array.dataflow is Dataflow.WS:
        extent, unit, available, align = g.m, g.k * wa, capacity[0], 1
        other, piece = g.k * g.n * wb, rows * cols * wb
    else:
        extent, unit, available = g.n, g.k * wb, capacity[1]
        other = g.m * g.k * wa
        piece = rows * g.k * wa if cfg.array.dataflow is Dataflow.OS else rows * cols * wa
        align = cols if cfg.array.dataflow is Dataflow.OS else 1
    if not layout.shared:
        return extent, unit, available, align
    return extent, unit, available - (other if other <= available // 2 else min(other, 2 * piece)), align


def _map(cfg: AcceleratorConfig, g: GemmRequest, layout: Layout, store_out: bool, reuse_tile: bool,
         stream_size: int, stationary_size: int) -> Mapping:
    """The GEMM cut into blocks of ``stream_size`` along the streamed dimension and
    ``stationary_size`` along the stationary operand's other one, with its traffic and stalls."""
    array = cfg.array
    ws = array.dataflow is Dataflow.WS
    wa, wb, _ = layout.word_bytes
    capacity = layout.capacity_bytes
    fits_a, fits_b = _operand_fits(layout)
    shared = layout.shared
    _, unit, available, _ = _stream_budget(cfg, g, layout)
    if ws:
        outer_extent, inner_extent = g.n, g.m
        stationary_unit, stationary_capacity, streamed_bytes = g.k * wb, capacity[1], g.m * g.k * wa
    else:
        outer_extent, inner_extent = g.m, g.n
        stationary_unit, stationary_capacity, streamed_bytes = g.k * wa, capacity[0], g.k * g.n * wb
    outer_blocks, inner_blocks = ceil_div(outer_extent, stationary_size), ceil_div(inner_extent, stream_size)
    block_runs, fold_runs = [], []
    for o, o_count in _runs(outer_blocks):
        size_o = min(stationary_size, outer_extent - o * stationary_size)
        # a stationary block stays for the streamed blocks after the first if it fits (beside all of
        # the other operand when they share a buffer)
        kept = size_o * stationary_unit + (streamed_bytes if shared else 0) <= stationary_capacity
        plans, folds = [], []
        for i, i_count in _runs(inner_blocks):
            size_i = min(stream_size, inner_extent - i * stream_size)
            mb, nb = (size_i, size_o) if ws else (size_o, size_i)
            plan = plan_gemm(mb, g.k, nb, array.rows, array.cols, array.dataflow, array.double_buffered_weights)
            streamed_fits = size_i * unit <= available
            if ws:  # A's rows again in every column block unless all of A fits; B's block kept across rows
                held = (g.resident[0] or (o > 0 and fits_a), g.resident[1] or (i > 0 and kept))
                fits = (streamed_fits, fits_b)
            else:  # A's block (IS: stationary; OS: row blocks) kept across columns; B again unless it fits
                held = (g.resident[0] or (i > 0 and kept), g.resident[1] or (o > 0 and fits_b))
                fits = (fits_a, streamed_fits)
            plans.append((plan, i_count))
            block = _block_folds(cfg, plan, (mb, g.k, nb), layout.word_bytes, held, fits, store_out,
                                 preloaded=reuse_tile and o == 0 and i == 0)
            folds.append((block, i_count))
        block_runs.append((tuple(plans), o_count))
        fold_runs.append((Runs(tuple(folds)), o_count))
    runs = Runs(tuple(fold_runs))
    return Mapping(ws, stream_size, stationary_size, tuple(block_runs), runs,
                   stall_cycles(cfg, runs, g.prologue_store_bytes))


def map_gemm(cfg: AcceleratorConfig, g: GemmRequest, layout: Layout, store_out: bool, reuse_tile: bool) -> Mapping:
    """Maps a GEMM: the streamed dimension in as few blocks as the output buffer allows or in
    blocks that also fit its buffer, the stationary operand whole or in column-fold blocks that fit
    its buffer, whichever moves fewer DRAM bytes (then whichever finishes first)."""
    extent, unit, available, align = _stream_budget(cfg, g, layout)
    psum_limit = cfg.sram.output_bytes // (cfg.array.cols * bytes_per_word(layout.accumulator))
    limit = extent if cfg.array.dataflow is Dataflow.OS else max(1, psum_limit)
    stream_sizes = {min(extent, limit)}
    wa, wb, _ = layout.word_bytes
    cols = cfg.array.cols
    capacity = layout.capacity_bytes
    if cfg.array.dataflow is Dataflow.WS:
        other, stationary_unit, stationary_capacity = g.n, g.k * wb, capacity[1]
    else:
        other, stationary_unit, stationary_capacity = g.m, g.k * wa, capacity[0]
    stationary_sizes = {other}
    if not reuse_tile:
        stream_sizes.add(min(extent, limit, max(align, available // unit // align * align)))
        if cfg.array.dataflow is not Dataflow.OS:
            budget = stationary_capacity // 2 if layout.shared else stationary_capacity
            stationary_sizes.add(min(other, max(cols, budget // stationary_unit // cols * cols)))
    candidates = [_map(cfg, g, layout, store_out, reuse_tile, s, t) for s in sorted(stream_sizes, reverse=True)
                  for t in sorted(stationary_sizes, reverse=True)]
    return min(candidates, key=lambda c: (sum(c.load_bytes) + c.store_bytes, c.compute_cycles + c.stall_cycles))


# --- 5. the plan and its counts ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArrayCounts:
    """What the MAC array itself does in a GEMM: compute cycles and SRAM words it reads and writes."""

    compute_cycles: int
    a_reads: int
    b_reads: int
    c_reads: int
    c_writes: int


@dataclass(frozen=True, slots=True)
class GemmPlan:
    """Everything the chip decides about one GEMM before it sees a value.

    Attributes:
        request: What was planned.
        layout: Formats, words and buffers of A, B and C.
        mapping: The blocks and the folds, with their traffic and stalls.
        reuse_tile: A transposable array's PEs hold all of B already (no weight load).
        store_out: C goes to DRAM (unnamed or too large for its buffer).
        keep: Whether A, B and C are held in their buffers afterwards.
        pes_hold_b_after: WS: the PEs hold all of B afterwards (a single fold), else they hold a
            part or nothing that a later GEMM could reuse. None: not a WS array (unchanged).
        array: The array's closed-form counts.
        delta: The ``EventCounts`` fields this GEMM adds, except those its values decide
            (zero-operand MACs, saturations, NaN/inf).
        dense_cycles: The cycles of the same GEMM without skipping, None when nothing was skipped.
    """

    request: GemmRequest
    layout: Layout
    mapping: Mapping
    reuse_tile: bool
    store_out: bool
    keep: tuple[bool, bool, bool]
    pes_hold_b_after: bool | None
    array: ArrayCounts
    delta: CountsDelta
    dense_cycles: int | None = None

    @property
    def mac_kind(self) -> str:
        """Key of this GEMM's MACs in ``EventCounts.macs_by_kind``."""
        fa, fb, _ = self.layout.formats
        return mac_kind(fa.name, fb.name, self.layout.accumulator.name)

    def blocks(self) -> list[Block]:
        """The blocks of C in the order the array computes them (stationary blocks outer)."""
        g, mp = self.request, self.mapping
        outer, inner = (g.n, g.m) if mp.ws else (g.m, g.n)
        spans_o = [(lo, min(lo + mp.stationary_size, outer)) for lo in range(0, outer, mp.stationary_size)]
        spans_i = [(lo, min(lo + mp.stream_size, inner)) for lo in range(0, inner, mp.stream_size)]
        return [(i0, i1, o0, o1) if mp.ws else (o0, o1, i0, i1) for o0, o1 in spans_o for i0, i1 in spans_i]


def _delta(cfg: AcceleratorConfig, g: GemmRequest, layout: Layout, mapping: Mapping, array: ArrayCounts,
           store_out: bool, dense_cycles: int | None = None) -> CountsDelta:
    """The counts a GEMM adds, given what the array did (closed form, or measured cycle by cycle);
    ``dense_cycles``: the cycles without skipping, when the array skipped part of k."""
    m, k, n = g.m, g.k, g.n
    fa, fb, fout = layout.formats
    acc = layout.accumulator
    buf_a, buf_b, buf_out = layout.buffers
    wa, wb, wout = layout.word_bytes
    wacc = bytes_per_word(acc)
    pow2 = cfg.formats.scaling != "none"
    words_r: dict[str, int] = {}
    words_w: dict[str, int] = {}
    bytes_r: dict[str, int] = {}
    bytes_w: dict[str, int] = {}
    vector_ops: dict[str, int] = {}
    vector_cycles = 0

    def access(words: dict, nbytes: dict, buf: str, count: int, width: int) -> None:
        words[buf] = words.get(buf, 0) + count
        nbytes[buf] = nbytes.get(buf, 0) + count * width

    def vector(op: str, fmt: NumberFormat, elements: int) -> None:
        nonlocal vector_cycles
        key = vector_kind(op, fmt.name)
        vector_ops[key] = vector_ops.get(key, 0) + elements
        vector_cycles += ceil_div(elements, cfg.vector.lanes) * VECTOR_OPS[op].latency_cycles

    if g.transpose_b and not cfg.array.transposable:  # Wᵀ copied through the vector unit first
        access(words_r, bytes_r, buf_b, k * n, wb)
        access(words_w, bytes_w, buf_b, k * n, wb)
        vector("transpose", fb, k * n)
    access(words_r, bytes_r, buf_a, array.a_reads, wa)
    access(words_r, bytes_r, buf_b, array.b_reads, wb)
    access(words_r, bytes_r, "output", array.c_reads, wacc)
    access(words_w, bytes_w, "output", array.c_writes, wacc)
    access(words_r, bytes_r, "output", m * n, wacc)  # the accumulators leave through the vector unit
    vector("quantize", fout, m * n)
    if not fout.is_float and pow2:
        vector("max_abs", acc, m * n)
    for resident, fmt, size in ((g.resident[0], fa, m * k), (g.resident[1], fb, k * n)):
        if not fmt.is_float and pow2 and not resident:
            vector("max_abs", fmt, size)
    if cfg.formats.scaling == "channel_pow2" and g.roles[1] == "weight" and not fb.is_float:
        # one scale per output channel of W: the forward GEMM's accumulators shift onto one exponent
        # as they leave the array; the transposed read shifts A's columns (W's channels) as they enter it
        vector("scale", acc, m * k if g.transpose_b else m * n)
    if cfg.formats.scaling == "block_pow2":  # each block's codes shift onto their tensor's smallest exponent
        for fmt, size in ((fa, m * k), (fb, k * n)):  # as they enter the array
            if not fmt.is_float:
                vector("scale", acc, size)
    loads_a, loads_b = mapping.load_bytes
    access(words_w, bytes_w, buf_a, loads_a // wa, wa)  # what DRAM delivers is written into the buffers
    access(words_w, bytes_w, buf_b, loads_b // wb, wb)
    if not store_out:
        access(words_w, bytes_w, buf_out, m * n, wout)
    kind = mac_kind(fa.name, fb.name, acc.name)
    cycles = array.compute_cycles + mapping.stall_cycles + vector_cycles
    skipped = m * (k - (k if g.kept_k is None else g.kept_k)) * n
    sparse: dict = {}
    if cfg.sparsity.skipping == "group":  # a zero comparator per word of B, an OR per group
        sparse["zero_checks"] = {fb.name: k * n}
    elif cfg.sparsity.skipping == "element":  # a zero flag per word of A and of B as it leaves its buffer
        sparse["zero_checks"] = {fa.name: m * k} | {fb.name: k * n + (m * k if fb is fa else 0)}
    if skipped:
        sparse.update(skipped_macs=skipped, skipped_macs_by_kind={kind: skipped}, saved_cycles=dense_cycles - cycles)
    return CountsDelta.of({
        "cycles": cycles, "compute_cycles": array.compute_cycles, "stall_cycles": mapping.stall_cycles,
        "vector_cycles": vector_cycles, "macs": m * k * n, "macs_by_kind": {kind: m * k * n},
        "sram_reads": words_r, "sram_writes": words_w, "sram_read_bytes": bytes_r, "sram_write_bytes": bytes_w,
        "dram_read_bytes": loads_a + loads_b, "dram_write_bytes": mapping.store_bytes + g.prologue_store_bytes,
        "vector_ops": vector_ops, "gemms": 1, "folds": mapping.plan_total("folds"), **sparse})


def plan_gemm_op(cfg: AcceleratorConfig, g: GemmRequest) -> GemmPlan:
    """Plans one GEMM (steps 1–5 of the module docstring): a pure function of the chip and the request.

    A skipping array (``g.kept_k`` below ``g.k``) runs the compacted GEMM ``m × kept_k × n``: its
    folds, cycles, operand reads and DRAM traffic are that GEMM's (only the kept k-groups of A and
    B move). The tensors keep their whole size in the buffers, the vector work is the whole GEMM's,
    and ``macs`` stays ``m·k·n`` (the dense-equivalent work) with the compacted part in ``skipped_macs``.
    """
    array_cfg = cfg.array
    layout = layout_gemm(cfg, g.m, g.k, g.n, g.roles, g.out_role)
    k = g.k if g.kept_k is None else g.kept_k
    if not 1 <= k <= g.k:
        raise ValueError(f"kept_k must be between 1 and k = {g.k}, got {g.kept_k!r}")
    run = g if k == g.k else dataclasses.replace(g, k=k, kept_k=None)  # the GEMM the array runs
    run_layout = layout if run is g else layout_gemm(cfg, g.m, k, g.n, g.roles, g.out_role)
    ws = array_cfg.dataflow is Dataflow.WS
    single_fold = plan_gemm(g.m, k, g.n, array_cfg.rows, array_cfg.cols, array_cfg.dataflow).folds == 1
    # a transposable array whose PEs hold all of this W (the last single-fold GEMM's) reads Wᵀ from them
    reuse_tile = g.transpose_b and array_cfg.transposable and ws and g.pes_hold_b and single_fold
    store_out = not (g.named_out and layout.operand_bytes[2] <= layout.capacity_bytes[2])
    mapping = map_gemm(cfg, run, run_layout, store_out, reuse_tile)
    array = ArrayCounts(mapping.compute_cycles, mapping.plan_total("a_reads"),
                        mapping.plan_total("b_reads") - (k * g.n if reuse_tile else 0),
                        mapping.plan_total("c_reads"), mapping.plan_total("c_writes"))
    fits = _operand_fits(layout)
    keep = (fits[0] and not g.resident[0], fits[1] and not g.resident[1], not store_out)
    dense_cycles = None
    if run is not g:
        dense_cycles = dict(plan_gemm_op(cfg, dataclasses.replace(g, kept_k=None)).delta.scalars)["cycles"]
    # PEs that hold a compacted tile do not hold all of B for a later transposed GEMM
    pes_hold_b_after = (mapping.plan_total("folds") == 1 and run is g) if ws else None
    return GemmPlan(g, layout, mapping, reuse_tile, store_out, keep, pes_hold_b_after, array,
                    _delta(cfg, g, layout, mapping, array, store_out, dense_cycles), dense_cycles)


# --- vector operations ---------------------------------------------------------------------------


def vector_format(cfg: AcceleratorConfig, role: str) -> NumberFormat:
    """Format a vector operation computes in: the role's (``"accumulator"``: the accumulator's), or for
    ``"master"`` (optimizer updates and target networks) the master weights' (the weights' when there
    are none)."""
    if role == UPDATE_ROLE:
        master = cfg.formats.master_weight
        return get_format(master if master != "none" else cfg.formats.weight)
    if role not in ROLES and role != ACCUMULATOR_ROLE:
        raise ValueError(f"role must be one of {', '.join((*ROLES, ACCUMULATOR_ROLE, UPDATE_ROLE))}, got {role!r}")
    return get_format(getattr(cfg.formats, role))


def vector_rounding(cfg: AcceleratorConfig, role: str) -> str:
    """Rounding a vector operation's arithmetic uses: ``master_rounding`` for ``"master"`` when there
    are master weights (their format's ALU), the role's rounding (``role_rounding``) otherwise."""
    formats = cfg.formats
    if role == UPDATE_ROLE and formats.master_weight != "none":
        return formats.master_rounding
    return role_rounding(cfg, role)


def role_rounding(cfg: AcceleratorConfig, role: str) -> str:
    """Rounding into the format of ``role``: its ``[formats] <role>_rounding`` where set, else
    ``rounding`` (the accumulator role and updates without master weights follow ``rounding``)."""
    formats = cfg.formats
    return (getattr(formats, f"{role}_rounding") if role in ROLES else "") or formats.rounding


@dataclass(frozen=True, slots=True)
class VectorPlan:
    """Everything the chip decides about one vector operation before it sees a value.

    Attributes:
        in_bytes: Bytes of each input tensor.
        out_bytes: Bytes of each output tensor.
        keep: For named operations, whether each input (then each output) is held in the buffer
            afterwards: fetched inputs and produced outputs that fit it (outputs dirty). Empty for
            unnamed operations, whose tensors the chip is taken to hold already.
        delta: The counts it adds, except the NaN/inf its values decide.
    """

    in_bytes: int
    out_bytes: int
    keep: tuple[bool, ...]
    delta: CountsDelta


def vector_buffer(role: str) -> str:
    """The SRAM buffer a vector operation's tensors live in: the weight buffer for ``"master"`` updates."""
    return "weight" if role == UPDATE_ROLE else ROLE_BUFFER[role]


def plan_vector_op(cfg: AcceleratorConfig, op: str, role: str, elements: int, out_elements: int | None,
                   resident: tuple[bool, ...] | None = None, prologue_store_bytes: int = 0) -> VectorPlan:
    """The plan of one vector operation over ``elements`` per tensor.

    Cycles ``⌈elements / lanes⌉ × latency``; SRAM words for each input read and each output
    written in the role's buffer (the weight buffer for ``"master"`` updates); for fixed-point
    formats with a power-of-two scaling, the max-reduction that scales each output.

    Named operations (``resident`` says, per input, whether the buffer holds it) go through the
    memory model with the GEMMs' residency rules: an input the buffer does not hold is read from
    DRAM (and written into the buffer on its way); an output that does not fit the buffer is
    written to DRAM as it streams out; what fits stays (outputs dirty, written back when evicted).
    The transfers stream beside the computation, so the array waits only for what they take beyond
    the operation's own cycles, one DRAM latency included (stall cycles).
    """
    if op not in VECTOR_OPS:
        raise ValueError(f"unknown vector operation {op!r}; known: {', '.join(VECTOR_OPS)}")
    if isinstance(elements, bool) or not isinstance(elements, int) or elements < 0:
        raise ValueError(f"vector {op}: elements must be an integer ≥ 0, got {elements!r}")
    spec = VECTOR_OPS[op]
    fmt = vector_format(cfg, role)
    buf = vector_buffer(role)
    lanes = cfg.vector.lanes
    cycles = ceil_div(elements, lanes) * spec.latency_cycles
    out_elements = elements if out_elements is None else out_elements
    if not 0 <= out_elements <= elements:
        raise ValueError(f"vector {op}: out_elements must be between 0 and {elements}, got {out_elements}")
    ops = {vector_kind(op, fmt.name): elements}
    if not fmt.is_float and cfg.formats.scaling != "none" and spec.outputs:
        ops[vector_kind("max_abs", fmt.name)] = spec.outputs * out_elements
        cycles += spec.outputs * ceil_div(out_elements, lanes) * VECTOR_OPS["max_abs"].latency_cycles
    width = bytes_per_word(fmt)
    in_bytes, out_bytes = elements * width, out_elements * width
    reads, writes = spec.inputs * elements, spec.outputs * out_elements
    counts = {"sram_reads": {buf: reads}, "sram_writes": {buf: writes}}
    keep: tuple[bool, ...] = ()
    stall = dram_read = dram_write = 0
    if resident is not None:
        if len(resident) != spec.inputs:
            raise ValueError(f"vector {op}: {spec.inputs} input names expected, got {len(resident)}")
        capacity = buffer_bytes(cfg, buf)
        fetched = sum(not held for held in resident)
        dram_read = fetched * in_bytes
        fits_out = out_bytes <= capacity
        dram_write = (0 if fits_out else spec.outputs * out_bytes) + prologue_store_bytes
        counts["sram_writes"] = {buf: writes + fetched * elements}  # what DRAM delivers lands in the buffer
        keep = (*(not held and in_bytes <= capacity for held in resident), *(fits_out,) * spec.outputs)
        if dram_read or dram_write:
            bandwidth = cfg.dram.bandwidth_bytes_per_cycle
            transfer = cfg.dram.latency_cycles + math.ceil((dram_read + dram_write) / bandwidth)
            stall = max(0, transfer - cycles)
    counts = {**counts, "sram_read_bytes": {buf: reads * width},
              "sram_write_bytes": {buf: counts["sram_writes"][buf] * width}}
    return VectorPlan(in_bytes, out_bytes, keep, CountsDelta.of({
        "cycles": cycles + stall, "vector_cycles": cycles, "stall_cycles": stall, "vector_ops": ops,
        "dram_read_bytes": dram_read, "dram_write_bytes": dram_write, **counts}))


# --- compressed storage --------------------------------------------------------------------------


CODEC_FORMAT = "int8"
"""The codec works on the byte stream: its operations are counted per raw byte, priced as int8
operations (``vector_ops`` ``encode:int8`` and ``decode:int8``; see docs/energy.md, Compression)."""

UNCOMPRESSED = (RATIO_STEPS, RATIO_STEPS, RATIO_STEPS)


def _scaled(runs: Runs, steps: tuple[int, int, int]) -> Runs:
    """``runs`` with each fold's transfers of A, B and C at ``steps``/``RATIO_STEPS`` of their bytes, rounded up."""
    sa, sb, sc = steps
    items = []
    for item, count in runs.items:
        if isinstance(item, Fold):
            item = Fold(item.cycles, -(-item.load_a * sa // RATIO_STEPS), -(-item.load_b * sb // RATIO_STEPS),
                        -(-item.store * sc // RATIO_STEPS))
        else:
            item = _scaled(item, steps)
        items.append((item, count))
    return Runs(tuple(items))


def _at(nbytes: int, steps: int) -> int:
    """``nbytes`` raw bytes stored at ``steps``/``RATIO_STEPS`` of their size, rounded up."""
    return -(-nbytes * steps // RATIO_STEPS)


def _codec(decode: int, encode: int) -> tuple[tuple[str, str, int], ...]:
    """The codec's ``vector_ops`` entries for ``decode`` and ``encode`` raw bytes."""
    return tuple(("vector_ops", vector_kind(op, CODEC_FORMAT), n) for op, n in (("decode", decode), ("encode", encode))
                 if n)


def _sram_entries(accesses) -> tuple[tuple[str, str, int], ...]:
    """The changes of ``sram_read_bytes``/``sram_write_bytes`` when each (field, buffer, raw bytes,
    stored bytes) access moves its stored bytes instead of its raw ones."""
    return tuple((field, buf, stored - raw) for field, buf, raw, stored in accesses if stored != raw)


def compressed_delta(cfg: AcceleratorConfig, plan: GemmPlan, delta: CountsDelta, steps: tuple[int, int, int],
                     array: ArrayCounts | None = None) -> CountsDelta:
    """``delta`` (the counts of ``plan``, with ``array`` its array's counts: the plan's by default)
    with A, B and C stored compressed at ``steps``/``RATIO_STEPS`` of their raw size (measured or
    declared; ``RATIO_STEPS`` for an uncompressed class).

    The mapping stays the one planned on raw words (so plans repeat while values change; a tighter
    code does not re-cut the GEMM). Each of its fold transfers moves its stored bytes (rounded up
    per transfer), and the stalls are those of the compressed transfers. Evicted tensors written
    back before the GEMM (``prologue_store_bytes``) keep their raw size.

    With plain SRAM (``compression.sram`` false) the codec decodes every raw byte loaded of a
    compressed class and encodes every raw byte stored (``CODEC_FORMAT`` operations, in the DMA
    path beside the transfer: no cycles of their own). With coded SRAM (``compression.sram``) A's,
    B's and C's bytes in their buffers are stored bytes too: what DRAM delivers is written as it
    came, the array's reads of A and B (and a transposition's copy of B, which moves coded words)
    are each rounded up once, C is written at its ratio; the partial sums in the output buffer stay
    raw. The codec then decodes every raw byte the array reads of a compressed operand and encodes
    C's raw bytes once, whether they go to the buffer or to DRAM.
    """
    mapping, g, layout = plan.mapping, plan.request, plan.layout
    array = plan.array if array is None else array
    scheme = cfg.compression.scheme
    compressed = [scheme(role) != NONE for role in (*g.roles, g.out_role)]
    raw_a, raw_b = mapping.load_bytes
    change: dict[str, int] = {}
    folds = mapping.folds
    if steps != UNCOMPRESSED:
        folds = _scaled(mapping.folds, steps)
        stall = stall_cycles(cfg, folds, g.prologue_store_bytes) - mapping.stall_cycles
        change = {"dram_read_bytes": folds.totals[1] + folds.totals[2] - raw_a - raw_b,
                  "dram_write_bytes": folds.totals[3] - mapping.store_bytes, "stall_cycles": stall, "cycles": stall}
    scalars = tuple((name, value + change.get(name, 0)) for name, value in delta.scalars)
    if not cfg.compression.sram:
        decode = (raw_a if compressed[0] else 0) + (raw_b if compressed[1] else 0)
        return CountsDelta(scalars, delta.entries + _codec(decode, mapping.store_bytes if compressed[2] else 0))
    sa, sb, sc = steps
    wa, wb, wout = layout.word_bytes
    buf_a, buf_b, buf_out = layout.buffers
    reads_a, reads_b = array.a_reads * wa, array.b_reads * wb
    accesses = [("sram_read_bytes", buf_a, reads_a, _at(reads_a, sa)),
                ("sram_read_bytes", buf_b, reads_b, _at(reads_b, sb)),
                ("sram_write_bytes", buf_a, raw_a, folds.totals[1]),  # what DRAM delivers, as it came
                ("sram_write_bytes", buf_b, raw_b, folds.totals[2])]
    if g.transpose_b and not cfg.array.transposable:
        copy = g.k * g.n * wb
        accesses += [("sram_read_bytes", buf_b, copy, _at(copy, sb)), ("sram_write_bytes", buf_b, copy, _at(copy, sb))]
    out_bytes = g.m * g.n * wout
    if not plan.store_out:
        accesses.append(("sram_write_bytes", buf_out, out_bytes, _at(out_bytes, sc)))
    decode = (reads_a if compressed[0] else 0) + (reads_b if compressed[1] else 0)
    return CountsDelta(scalars, delta.entries + _sram_entries(accesses)
                       + _codec(decode, out_bytes if compressed[2] else 0))


def compressed_vector_delta(cfg: AcceleratorConfig, request: tuple, steps: tuple[int, int, int, int]) -> CountsDelta:
    """The counts of the vector operation ``request`` (``plan_vector_op``'s arguments, all six) with
    its tensors stored compressed: ``steps`` (fetched inputs, outputs written back, all inputs, all
    outputs) / ``RATIO_STEPS`` of their raw bytes, rounded up.

    The inputs it fetches and the outputs it writes back cross DRAM at their stored size (the evicted
    tensors written back before it keep their raw size), with the stall they leave. With plain SRAM
    the codec decodes the raw bytes fetched and encodes those written back (as ``compressed_delta``);
    with coded SRAM (``compression.sram``) the buffer's reads of the inputs and writes of the outputs
    move stored bytes (all inputs at one ratio, all outputs at another), what DRAM delivers is
    written as it came, and the codec decodes every raw byte read and encodes every raw byte written."""
    op, role, elements, out_elements, _, prologue = request
    delta = plan_vector_op(cfg, *request).delta
    scalars = dict(delta.scalars)
    raw_read, raw_write = scalars["dram_read_bytes"], scalars["dram_write_bytes"] - prologue
    read, write = _at(raw_read, steps[0]), _at(raw_write, steps[1])
    stall = 0
    if read or write or prologue:
        transfer = cfg.dram.latency_cycles + math.ceil((read + write + prologue) / cfg.dram.bandwidth_bytes_per_cycle)
        stall = max(0, transfer - scalars["vector_cycles"])
    scalars.update(dram_read_bytes=read, dram_write_bytes=write + prologue, stall_cycles=stall,
                   cycles=scalars["vector_cycles"] + stall)
    if not cfg.compression.sram:
        return CountsDelta(tuple(scalars.items()), delta.entries + _codec(raw_read, raw_write))
    spec, buf = VECTOR_OPS[op], vector_buffer(role)
    width = bytes_per_word(vector_format(cfg, role))
    reads = spec.inputs * elements * width
    writes = spec.outputs * (elements if out_elements is None else out_elements) * width
    accesses = (("sram_read_bytes", buf, reads, _at(reads, steps[2])),
                ("sram_write_bytes", buf, writes, _at(writes, steps[3])),
                ("sram_write_bytes", buf, raw_read, read))
    return CountsDelta(tuple(scalars.items()), delta.entries + _sram_entries(accesses) + _codec(reads, writes))


def declared_steps(cfg: AcceleratorConfig, roles: tuple[str, str], out_role: str) -> tuple[int, int, int]:
    """The stored sizes of A, B and C a workload assumes (``[compression]`` ratios, rounded up to ``RATIO_STEPS``)."""
    return tuple(math.ceil(declared_ratio(cfg, role) * RATIO_STEPS) for role in (*roles, out_role))


def declared_ratio(cfg: AcceleratorConfig, tensor_class: str) -> float:
    """Stored over raw size a workload assumes for a tensor class: 1 uncompressed, else the declared
    ``compression.<class>_ratio`` or the scheme's nominal ratio in the class's format (fp32 for replay)."""
    scheme = cfg.compression.scheme(tensor_class)
    if scheme == NONE:
        return 1.0
    declared = getattr(cfg.compression, f"{tensor_class}_ratio")
    if declared != NOMINAL:
        return declared
    fmt = "fp32" if tensor_class == "replay" else getattr(cfg.formats, tensor_class)
    return nominal_ratio(scheme, get_format(fmt))


class Planner:
    """``plan_gemm_op`` memoized for one chip: a repeated GEMM in the same chip state is planned once.
    ``Planner.of(config)`` shares one planner among all the chips of a config (a sweep's points,
    a benchmark's fresh chips).

    Args:
        config: The chip.
    """

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def of(config: AcceleratorConfig) -> "Planner":
        """The planner shared by every chip of ``config`` (the most recently used 256 configs)."""
        return Planner(config)

    def __init__(self, config: AcceleratorConfig) -> None:
        self.config = config
        self._layouts: dict[tuple, Layout] = {}
        self._plans: dict[tuple, GemmPlan] = {}
        self._vector_plans: dict[tuple, VectorPlan] = {}
        self._compressed: dict[tuple, CountsDelta] = {}

    def layout(self, m: int, k: int, n: int, roles: tuple[str, str], out_role: str) -> Layout:
        """``layout_gemm``, memoized."""
        key = (m, k, n, roles, out_role)
        found = self._layouts.get(key)
        if found is None:
            found = self._layouts[key] = layout_gemm(self.config, m, k, n, roles, out_role)
        return found

    def gemm(self, *request) -> GemmPlan:
        """``plan_gemm_op`` of ``GemmRequest(*request)``, memoized (on the plain tuple: building the
        request only to look it up would cost more than the lookup)."""
        found = self._plans.get(request)
        if found is None:
            found = self._plans[request] = plan_gemm_op(self.config, GemmRequest(*request))
        return found

    def vector(self, *request) -> VectorPlan:
        """``plan_vector_op(config, *request)``, memoized."""
        found = self._vector_plans.get(request)
        if found is None:
            found = self._vector_plans[request] = plan_vector_op(self.config, *request)
        return found

    def compressed_vector(self, request: tuple, steps: tuple[int, int, int, int]) -> CountsDelta:
        """``compressed_vector_delta``, memoized."""
        key = (*request, *steps)
        found = self._compressed.get(key)
        if found is None:
            found = self._compressed[key] = compressed_vector_delta(self.config, request, steps)
        return found

    def compressed(self, plan: GemmPlan, steps: tuple[int, int, int]) -> CountsDelta:
        """``compressed_delta`` of the plan's own counts, memoized."""
        key = (plan.request, steps)
        found = self._compressed.get(key)
        if found is None:
            found = self._compressed[key] = compressed_delta(self.config, plan, plan.delta, steps)
        return found

    def delta(self, plan: GemmPlan, array: ArrayCounts) -> CountsDelta:
        """The counts of ``plan`` with what the array measured (the cycle-stepped fidelity)."""
        return _delta(self.config, plan.request, plan.layout, plan.mapping, array, plan.store_out,
                      plan.dense_cycles)
