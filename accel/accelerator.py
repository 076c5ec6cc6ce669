"""``Accelerator``: the simulated training chip. It executes GEMMs and vector operations, returns
the values the chip produces and keeps immutable ``EventCounts`` of everything it did.

A GEMM on the chip:

1. quantizes each operand into the format of its role (integer formats as codes with a
   power-of-two scale under ``tensor_pow2``; the max-reduction runs on the vector unit);
2. multiplies exactly and accumulates k = 0 … K−1 in the accumulator format, on the fast path
   (exact GEMM kernel + closed-form timing) or cycle by cycle (``accel.systolic``): same bits,
   same counts;
3. rounds the accumulators once into the format of the output's role (vector unit);
4. moves data between DRAM and the SRAM buffers as the planner decides (``accel.planner``: the
   buffers' capacity decides how the GEMM is cut into blocks), the stalls that prefetch cannot
   hide added to the cycles.

Everything in 2–4 that does not depend on the values is one memoized plan per GEMM and chip
state; the chip computes the values and applies the plan (both fidelities execute the same plan).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from accel.by_tensor import ByTensor, ValueCounts
from accel.compression import NONE, RATIO_STEPS, ratio_steps, steps_of, stored_bits, tensor_words, value_words
from accel.config import DENSITY_ROLES, AcceleratorConfig
from accel.counts import CountsDelta, EventCounts, Tally, vector_kind
from accel.memory import SramBuffer
from accel.numerics import GemmResult, gemm_fixed, gemm_float, get_format
from accel.numerics.formats import NumberFormat
from accel.numerics.gemm import float_code_peak
from accel.numerics.philox import RandomStream
from accel.operands import Operand, same_values, to_format, underflows, zeros_by_row
from accel.operands import zero_macs as count_zero_macs
from accel.planner import (
    ACCUMULATOR_ROLE,
    CODEC_FORMAT,
    ROLES,
    ArrayCounts,
    GemmPlan,
    Planner,
    bytes_per_word,
    compressed_delta,
    declared_ratio,
    declared_steps,
    role_rounding,
    vector_buffer,
    vector_format,
    vector_rounding,
)
from accel.sparsity import declared_sparsity, kept_rows
from accel.systolic import run_array
from accel.timing import ceil_div
from accel.vector import UPDATE_ROLE, VectorUnit

FIDELITIES = ("fast", "cycle")
_UNNAMED = (None, None, None)


@dataclass(frozen=True, slots=True)
class ChipState:
    """Everything an ``Accelerator`` remembers between operations (``snapshot`` / ``restore``)."""

    counts: EventCounts
    buffers: tuple[tuple[str, tuple[tuple[str, tuple[int, bool]], ...]], ...]
    pending_writeback_bytes: int
    pe_tensor: str | None
    rng_state: tuple[int, int]
    counts_by_tensor: Mapping[str, ValueCounts] = field(default_factory=lambda: MappingProxyType({}))


_OPERAND_MEMO = 16
"""Read-only B operands an ``Accelerator`` keeps rounded (``Accelerator._operand``): a network's
working copies of the weights, target networks included."""


def _rounds_to_itself(x: np.ndarray, op: Operand) -> bool:
    """Whether ``op`` (rounded from the contiguous ``x``) holds exactly the values of ``x``."""
    if op.exp is None:
        return np.array_equal(op.data, x)
    if isinstance(op.exp, np.ndarray) or op.data.dtype != np.float32 or not -1000 < op.exp < 900:
        return np.array_equal(op.values(), x)
    return same_values(x, op.data, op.exp)


class _KeptOperand:
    """A kept B operand as a GEMM reads it (``op``: stored or transposed), with what every GEMM
    would otherwise work out of it again, worked out once: its codes on one exponent, their largest
    magnitude, its zeros per row."""

    __slots__ = ("_aligned", "_peak", "_zeros", "op")

    def __init__(self, op: Operand) -> None:
        self.op = op
        self._aligned = self._peak = self._zeros = None

    def aligned(self) -> tuple[np.ndarray, int]:
        if self._aligned is None:
            self._aligned = self.op.aligned()
        return self._aligned

    def peak(self) -> int | None:
        """The largest magnitude among the aligned codes when they are float32 (None for int64 codes)."""
        if self._peak is None:
            codes = self.aligned()[0]
            self._peak = float_code_peak(codes) if codes.dtype == np.float32 else None
        return self._peak

    def zeros(self) -> np.ndarray:
        if self._zeros is None:
            self._zeros = zeros_by_row(self.op.data)
        return self._zeros


def _contiguous(op: Operand) -> Operand:
    """``op`` with its codes (and exponents, one per value) in C order."""
    exp = np.ascontiguousarray(op.exp) if isinstance(op.exp, np.ndarray) else op.exp
    return Operand(np.ascontiguousarray(op.data), exp, op.fmt, op.nonfinite)


def _unwritable(x: np.ndarray) -> bool:
    """Whether ``x`` and every array it is a view of are read-only (nothing can write its values)."""
    while isinstance(x, np.ndarray):
        if x.flags.writeable:
            return False
        x = x.base
    return x is None


class Accelerator:
    """A simulated DRL training chip.

    Args:
        config: The hardware description (``load_config``).
        fidelity: ``"fast"`` (exact GEMM kernel + closed-form timing, the default) or ``"cycle"``
            (the cycle-stepped array); both give identical values and counts.
        seed: Seed of the chip's random source (stochastic rounding): the key of its Philox stream
            (``RandomStream.from_seed``).
    """

    def __init__(self, config: AcceleratorConfig, fidelity: str = "fast", seed: int = 0) -> None:
        if fidelity not in FIDELITIES:
            raise ValueError(f"fidelity must be one of {', '.join(FIDELITIES)}, got {fidelity!r}")
        if not isinstance(config, AcceleratorConfig):
            raise TypeError(f"config must be an AcceleratorConfig (see load_config), got {type(config).__name__}")
        self.config = config
        self.fidelity = fidelity
        self._rng = RandomStream.from_seed(seed)
        self._tally = Tally()
        self._by_tensor = ByTensor()
        self._planner = Planner.of(config)
        self._buffers = {
            "weight": SramBuffer("weight", config.sram.weight_bytes),
            "activation": SramBuffer("activation", config.sram.activation_bytes),
        }
        self._pending_writeback_bytes = 0
        compression = config.compression
        self._compressing = any(compression.scheme(role) != NONE for role in ROLES)
        self._declares_dense = all(config.sparsity.density(role) == 1.0 for role in DENSITY_ROLES)
        self._declared_steps = {role: declared_steps(config, (role, role), role)[0]
                                for role in (*ROLES, ACCUMULATOR_ROLE)}
        self._vector_steps = {role: steps for role, steps in self._declared_steps.items()
                              if compression.scheme(role) != NONE}  # "master" tensors are not compressed
        self._rounding = {role: role_rounding(config, role) for role in (*ROLES, ACCUMULATOR_ROLE)}
        self._plain = self._declares_dense and not self._compressing  # a GEMM's counts are its plan's
        self._blocks = config.formats.scaling == "block_pow2"  # blocks run along a tensor as stored
        self._unnamed_plans: dict[tuple, GemmPlan] = {}  # see gemm_counts
        self._pe_tensor: str | None = None  # tensor whose single tile the PEs hold (WS), for transposed reuse
        # (id(b), stored transposed, weight) -> (b, format, its kept operand by the orientation read): see _operand
        self._operands: dict[tuple[int, bool, bool], tuple[np.ndarray, NumberFormat, dict[bool, _KeptOperand]]] = {}
        self.vector = VectorUnit(self)
        """The vector unit: activations, losses, optimizer updates (``accel.vector``)."""

    def snapshot(self) -> "ChipState":
        """The chip's whole state (counts, buffer contents, random source), to ``restore`` later:
        a run checkpointed and resumed continues bit for bit as if it had not stopped."""
        return ChipState(
            counts=self.counts,
            buffers=tuple((name, buf.contents()) for name, buf in self._buffers.items()),
            pending_writeback_bytes=self._pending_writeback_bytes, pe_tensor=self._pe_tensor,
            rng_state=self._rng.state(), counts_by_tensor=self.counts_by_tensor)

    def restore(self, state: "ChipState") -> None:
        """Puts the chip back into a ``snapshot``'s state (of a chip with the same config)."""
        if not isinstance(state, ChipState):
            raise TypeError(f"restore takes a ChipState from Accelerator.snapshot, got {type(state).__name__}")
        self._tally = Tally(state.counts)
        self._by_tensor = ByTensor(state.counts_by_tensor)
        for name, tensors in state.buffers:
            self._buffers[name].restore(tensors)
        self._pending_writeback_bytes = state.pending_writeback_bytes
        self._pe_tensor = state.pe_tensor
        self._rng = RandomStream(*state.rng_state)

    @property
    def rng(self) -> RandomStream:
        """The chip's random source: a Philox4x32-10 stream (key, counter) that stochastic rounding
        reads one word per rounded value from (``accel.numerics.philox``)."""
        return self._rng

    @property
    def counts(self) -> EventCounts:
        """Everything the chip did since construction (immutable; subtract snapshots to measure a span)."""
        return self._tally.freeze()

    @property
    def counts_by_tensor(self) -> Mapping[str, ValueCounts]:
        """The value-dependent counts of ``counts`` (saturations, NaN/inf, values rounded to 0) per
        tensor, most saturations and NaN/inf first (``accel.by_tensor``): where a run clips."""
        return self._by_tensor.freeze()

    def utilization(self, counts: EventCounts | None = None) -> float:
        """MACs the array executed (not skipped) over PE-cycles of compute (1.0: every PE busy every
        compute cycle)."""
        c = self.counts if counts is None else counts
        pes = self.config.array.rows * self.config.array.cols
        return (c.macs - c.skipped_macs) / (c.compute_cycles * pes) if c.compute_cycles else 0.0

    # --- formats ---------------------------------------------------------------------------------

    def format_of(self, role: str) -> NumberFormat:
        """The number format of an operand role (``weight``, ``activation``, ``gradient``)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        return get_format(getattr(self.config.formats, role))

    def update_format(self) -> NumberFormat:
        """Format of optimizer updates and target networks: the master weights', else the weights'."""
        return vector_format(self.config, UPDATE_ROLE)

    def vector_format(self, role: str) -> NumberFormat:
        """Format a vector operation computes in: the role's, or the update format for ``"master"``."""
        return vector_format(self.config, role)

    def vector_rounding(self, role: str) -> str:
        """Rounding a vector operation in ``role`` uses (``master_rounding`` for ``"master"``)."""
        return vector_rounding(self.config, role)

    def round_into(self, values: np.ndarray, fmt: NumberFormat, rounding: str | None = None) -> np.ndarray:
        """Rounds exact float64 ``values`` into ``fmt`` (counting saturations and, in fixed point, values
        rounded to zero, as the vector unit's programs whose steps this defines count them) with
        ``rounding`` (default the chip's ``[formats] rounding``); returns float64 values."""
        values = np.asarray(values, np.float64)
        op, saturations = self._to_format(values, fmt, rounding=rounding)
        rounded_to_zero = 0 if fmt.is_float else underflows(values, op)
        self._tally.add(saturations=saturations, underflows=rounded_to_zero)
        self._by_tensor.add(f"round_into ({fmt.name})", saturations, 0, rounded_to_zero)
        return op.values()

    def vector_counts(self, op: str, role: str, elements: int, out_elements: int | None = None,
                      names: tuple[tuple[str, ...], tuple[str, ...]] | None = None, saturations: int = 0,
                      nonfinite: int = 0, values: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
                      underflows: int = 0) -> None:
        """Counts one vector operation over ``elements`` per tensor, as ``acc.vector`` performs it
        (``accel.planner.plan_vector_op`` says what it costs). ``out_elements`` is the size of each
        output when it differs from the inputs' (a reduction: ``sum_rows``); ``saturations``,
        ``nonfinite`` and ``underflows`` are what the operation's values gave (0 when counted without values).

        ``names``: (input names, output names), one per tensor the operation reads and writes. Named
        tensors go through the memory model as GEMM operands do: an input the buffer does not hold
        comes from DRAM, an output that does not fit goes to DRAM. Unnamed operations work on
        tensors the chip is taken to hold already; so does an input named None in a named one (a
        value streaming in from the operation before it, a broadcast bias, a gradient where the
        backward pass left it).

        ``values``: (inputs, outputs) as the operation read and wrote them. On a chip that
        compresses the role's class (``[compression]``) the inputs it fetches and the outputs it
        writes back cross DRAM at the ratio measured from them; without values, at the declared one.
        """
        if names is None:
            plan = self._planner.vector(op, role, elements, out_elements)
            delta = plan.delta
            if role in self._vector_steps and self.config.compression.sram:  # its buffer holds the tensors coded
                request = (op, role, elements, out_elements, None, 0)
                delta = self._planner.compressed_vector(request, self._vector_op_steps(role, (), plan, values))
        else:
            inputs, outputs = names
            buffer = self._buffers[vector_buffer(role)]
            in_bytes = elements * bytes_per_word(self.vector_format(role))
            resident = tuple(name is None or buffer.holds(name, in_bytes) for name in inputs)
            request = (op, role, elements, out_elements, resident, self._pending_writeback_bytes)
            plan = self._planner.vector(*request)
            delta = plan.delta
            if role in self._vector_steps:  # a compressed class: measured from the values, else declared
                delta = self._planner.compressed_vector(request, self._vector_op_steps(role, resident, plan, values))
            if len(outputs) != len(plan.keep) - len(inputs):
                raise ValueError(f"vector {op}: {len(plan.keep) - len(inputs)} output names expected, got "
                                 f"{len(outputs)}")
            self._pending_writeback_bytes = 0
            for name, keep, nbytes, dirty in zip((*inputs, *outputs), plan.keep,
                                                 (plan.in_bytes,) * len(inputs) + (plan.out_bytes,) * len(outputs),
                                                 (False,) * len(inputs) + (True,) * len(outputs), strict=True):
                if keep:
                    self._pending_writeback_bytes += buffer.insert(name, nbytes, dirty=dirty)
        self._tally.apply(delta)
        if saturations or nonfinite or underflows:
            self._tally.add(saturations=saturations, nonfinite=nonfinite, underflows=underflows)
            written = ", ".join(name for name in names[1] if name) if names is not None else ""
            self._by_tensor.add(written or f"{op} ({role})", saturations, nonfinite, underflows)

    def replay(self, read_bytes: int = 0, write_bytes: int = 0, stored: tuple[int, int] | None = None) -> None:
        """Counts replay-memory traffic: transitions sampled (read) and stored (written), in raw bytes.

        With ``[compression] replay`` set the memory holds its transitions compressed: ``stored``
        gives the bytes actually read and written (measured from the values by the agent's replay
        memory); without it (a workload) they are the raw bytes at the declared ratio
        (``accel.planner.declared_ratio``). The codec decodes every raw byte read and encodes every
        raw byte written (``decode:int8``, ``encode:int8`` vector ops, beside the transfer).

        With ``[sram] replay_bytes = 0`` the replay memory lives in DRAM and each transfer stalls
        for its latency plus its occupancy of the channel; otherwise it is an SRAM buffer read and
        written ``lanes`` fp32 words per cycle. The array waits either way (stall cycles).
        """
        if read_bytes < 0 or write_bytes < 0:
            raise ValueError(f"replay traffic must be non-negative, got {read_bytes} read, {write_bytes} written")
        cfg = self.config
        codec = {}
        if cfg.compression.replay != NONE:
            if stored is None:
                ratio = declared_ratio(cfg, "replay")
                stored = (math.ceil(read_bytes * ratio), math.ceil(write_bytes * ratio))
            codec = {vector_kind(op, CODEC_FORMAT): n for op, n in (("decode", read_bytes), ("encode", write_bytes))
                     if n}
            read_bytes, write_bytes = stored
        if cfg.sram.replay_bytes == 0:
            stall = sum(cfg.dram.latency_cycles + math.ceil(b / cfg.dram.bandwidth_bytes_per_cycle)
                        for b in (read_bytes, write_bytes) if b)
            delta = {"dram_read_bytes": read_bytes, "dram_write_bytes": write_bytes}
        else:
            words_r, words_w = ceil_div(read_bytes, 4), ceil_div(write_bytes, 4)
            stall = ceil_div(words_r, cfg.vector.lanes) + ceil_div(words_w, cfg.vector.lanes)
            delta = {"sram_reads": {"replay": words_r}, "sram_writes": {"replay": words_w},
                     "sram_read_bytes": {"replay": read_bytes}, "sram_write_bytes": {"replay": write_bytes}}
        self._tally.add(**delta, cycles=stall, stall_cycles=stall, vector_ops=codec)

    def _to_format(self, values: np.ndarray, fmt: NumberFormat, exp: int | None = None,
                   rounding: str | None = None, channel_axis: int | None = None) -> tuple[Operand, int]:
        """``accel.operands.to_format`` with the chip's scaling, rounding (unless ``rounding``) and random source."""
        formats = self.config.formats
        return to_format(values, fmt, formats.scaling, rounding or formats.rounding, self._rng, exp, channel_axis,
                         formats.block, formats.block_span)

    # --- GEMM ------------------------------------------------------------------------------------

    def gemm(self, a, b, roles: tuple[str, str] = ("activation", "weight"), out_role: str = "activation",
             names: tuple[str | None, str | None, str | None] = (None, None, None),
             transpose_b: bool = False, transpose_a: bool = False) -> np.ndarray:
        """``C = A · B`` on the chip: the values it produces, rounded into the output role's format.

        Args:
            a: (M, K) float array, or (K, M) stored with ``transpose_a``.
            b: (K, N) float array, or (N, K) stored with ``transpose_b``.
            roles: Roles of A and B; they pick the formats and SRAM buffers.
            out_role: Role of C (``activation`` for a forward pass, ``gradient`` for a backward one).
            names: Names of A, B and C. A named tensor that a buffer still holds is not fetched
                from DRAM again; a named C stays on chip if it fits, an unnamed one goes to DRAM.
            transpose_b: B is stored transposed (``dX = dY · Wᵀ`` with W as stored). A
                transposable array reads it as it is; otherwise the chip transposes it through SRAM.
            transpose_a: A is stored transposed (``dW = Xᵀ · dY`` with X as the forward pass
                stored it). The buffer's address generator streams it in either order, so the
                counts are those of the untransposed GEMM.

        Returns:
            (M, N) float32 array (float64 for fixed-point outputs wider than 24 bits).
        """
        a = self._check_matrix("a", a)
        b = self._check_matrix("b", b)
        stored_a = a
        a = np.ascontiguousarray(a.T) if transpose_a else a
        b_math = b.T if transpose_b else b
        if a.shape[1] != b_math.shape[0]:
            stored = f" (B stored transposed as {b.shape})" if transpose_b else ""
            raise ValueError(f"gemm: A is {a.shape} and B is {b_math.shape}{stored}; A's columns must equal B's rows")
        m, k = a.shape
        n = b_math.shape[1]
        layout = self._planner.layout(m, k, n, tuple(roles), out_role)
        fa, fb, fout = layout.formats
        acc = layout.accumulator
        if self._blocks and transpose_a:  # blocks run along A as stored: round it so, then read it transposed
            op_a, sat_a = self._to_format(np.ascontiguousarray(stored_a), fa, rounding=self._rounding[roles[0]])
            op_a = _contiguous(op_a.transposed())
        else:
            op_a, sat_a = self._to_format(a, fa, rounding=self._rounding[roles[0]])
        op_b, sat_b, under_b, kept_b = self._operand(b, transpose_b, fb, roles[1])
        sparsity = self.config.sparsity
        kept = kept_rows(op_b.data, sparsity.group) if sparsity.skipping == "group" else None
        if kept is not None and kept.size == k:
            kept = None  # nothing to skip: the dense plan
        kept_b = kept_b if kept is None else None  # what is known of all of B, not of its kept rows
        plan = self._plan(m, k, n, roles, out_role, names, transpose_b, None if kept is None else kept.size)

        array = self.config.array
        if acc.is_float:
            a_in, b_in, shift, exp = op_a.values(), op_b.values(), 0, None
        else:
            shift = 0 if self.config.formats.scaling != "none" else acc.frac_bits - fa.frac_bits - fb.frac_bits
            b_in, b_exp = op_b.aligned() if kept_b is None else kept_b.aligned()
            a_in, a_exp = op_a.aligned()
            exp = a_exp + b_exp - shift
        skipped = 0
        if kept is not None:  # the array runs B's kept k-groups and the columns of A they meet
            a_in, b_in = a_in[:, kept], b_in[kept]
            skipped = m * (k - kept.size) * n
        if self.fidelity == "fast":
            res = (gemm_float(a_in, b_in, fa.name, fb.name, acc.name) if acc.is_float
                   else gemm_fixed(a_in, b_in, acc.name, shift, float32_codes=True,
                                   max_b=None if kept_b is None else kept_b.peak()))
            delta, measured = plan.delta, plan.array
            zero_macs = count_zero_macs(op_a.data, op_b.data, None if kept_b is None else kept_b.zeros())
        else:
            cycle_dtype = np.float64 if acc.is_float else np.int64
            values = np.empty((m, n), cycle_dtype)
            totals, zero_macs, saturations = np.zeros(5, np.int64), skipped, 0  # skipped MACs meet a zero
            for block, (m0, m1, n0, n1) in enumerate(plan.blocks()):
                run = run_array(a_in[m0:m1].astype(cycle_dtype), b_in[:, n0:n1].astype(cycle_dtype), array.rows,
                                array.cols, array.dataflow, acc.name, shift=shift,
                                double_buffered_weights=array.double_buffered_weights,
                                weights_preloaded=plan.reuse_tile and block == 0)
                values[m0:m1, n0:n1] = run.values
                totals += (run.compute_cycles, run.a_reads, run.b_reads, run.c_reads, run.c_writes)
                zero_macs += run.zero_macs
                saturations += run.saturations
            res = GemmResult(values, saturations, 0, "cycle")
            measured = ArrayCounts(*(int(x) for x in totals))
            delta = self._planner.delta(plan, measured)
        # float accumulators (fp32, bf16, fp16) hold float32 values exactly; integer ones are codes · 2**exp
        # (int64, or float32 integers as the BLAS route leaves them)
        accumulators = res.values.astype(np.float32) if exp is None else res.values
        out, sat_out = self._to_format(accumulators, fout, exp, rounding=self._rounding[out_role])
        under_a, under_out = underflows(a, op_a), underflows(accumulators, out)
        self._tally.add(underflows=under_a + under_b + under_out)

        if self._compressing:  # the operands crossing the DRAM interface, at their measured ratios
            steps = self._measured_steps(plan, (op_a, op_b, out))
            delta = (self._planner.compressed(plan, steps) if delta is plan.delta
                     else compressed_delta(self.config, plan, delta, steps, measured))
        self._apply(plan, names, delta)
        self._tally.add_value_counts(plan.mac_kind, zero_macs, sat_a + sat_b + res.saturations + sat_out,
                                     op_a.nonfinite + op_b.nonfinite + out.nonfinite, self._skipped(zero_macs))
        by_tensor = self._by_tensor
        by_tensor.add(names[0] or f"gemm A ({roles[0]})", sat_a, op_a.nonfinite, under_a)
        by_tensor.add(names[1] or f"gemm B ({roles[1]})", sat_b, op_b.nonfinite, under_b)
        by_tensor.add(names[2] or f"gemm C ({out_role})", res.saturations + sat_out, out.nonfinite, under_out)
        return out.values(fout.value_dtype)  # the rounded output, fresh from this GEMM

    def _operand(self, b: np.ndarray, transpose: bool, fmt: NumberFormat,
                 role: str) -> tuple[Operand, int, int, "_KeptOperand | None"]:
        """The B operand of a GEMM (``b``, transposed when stored so) rounded into ``fmt`` with the
        rounding of its ``role``: (operand, saturations, values rounded to 0, the kept operand it
        came from or None). A weight has its output channels along the columns of ``b`` as stored
        (``channel_pow2`` scales each apart).

        A read-only array (and read-only down to its data) already in the format (the agents' working copies
        of the weights, which nothing writes) rounds to itself whatever the random words, so its
        operand is kept (the last ``_OPERAND_MEMO`` such arrays used): the GEMMs that read it again
        take it, read transposed they take its transpose, and the random source advances as the
        rounding would have advanced it. ``VectorUnit.quantize`` keeps the operand of the weights
        it rounds (``keep_operand``).
        """
        rounding, weight = self._rounding[role], role == "weight"
        memo = self._kept_operand(b, transpose, fmt, weight)
        if memo is not None:
            if rounding == "stochastic":
                self._rng.take(b.size)
            return memo.op, 0, 0, memo
        x = np.ascontiguousarray(b.T if transpose and not self._blocks else b)  # blocks run along B as stored
        op, saturations = self._to_format(x, fmt, rounding=rounding,
                                          channel_axis=(0 if transpose else 1) if weight else None)
        rounded_to_zero = underflows(x, op)
        keep = _unwritable(b) and saturations == rounded_to_zero == op.nonfinite == 0 and _rounds_to_itself(x, op)
        if self._blocks and transpose:
            op = op.transposed()
        if keep:
            self._keep(b, transpose, fmt, weight, op)
        return op, saturations, rounded_to_zero, None

    def _kept_operand(self, b: np.ndarray, transpose: bool, fmt: NumberFormat, weight: bool) -> "_KeptOperand | None":
        """The kept operand of ``b`` read this way (or the transpose of the one read the other way), else None."""
        for flip in (False, True):
            key = (id(b), transpose != flip, weight)
            memo = self._operands.pop(key, None)
            if memo is not None:
                self._operands[key] = memo  # most recently used last
                if memo[0] is b and memo[1] == fmt:
                    views = memo[2]
                    view = views.get(transpose)
                    if view is None:
                        view = views[transpose] = _KeptOperand(views[not transpose].op.transposed())
                    return view
        return None

    def _keep(self, b: np.ndarray, transpose: bool, fmt: NumberFormat, weight: bool, op: Operand) -> None:
        if len(self._operands) >= _OPERAND_MEMO:
            del self._operands[next(iter(self._operands))]  # the least recently used
        self._operands[id(b), transpose, weight] = (b, fmt, {transpose: _KeptOperand(op)})

    def keep_operand(self, b: np.ndarray, op: Operand) -> None:
        """Keeps ``op``, the operand that rounding the read-only weight matrix ``b`` into the weight
        format gives (``b`` holds exactly its values: the vector unit just rounded it so), for the
        GEMMs that read ``b`` as their B operand; ignored unless rounding ``b`` again would give
        ``op`` bit for bit (``_canonical``: the values are ``op``'s, and so would the scale be)."""
        if _unwritable(b) and op.nonfinite == 0 and self._canonical(op):
            self._keep(b, False, op.fmt, True, op)

    def _canonical(self, op: Operand) -> bool:
        """Whether rounding ``op``'s values into its format gives ``op`` again, codes and scale: float
        values, fixed point at its binary point (``scaling = "none"``), or one power-of-two scale that
        the largest code fills beyond half (one lower would hold it too: not the scale ``tensor_pow2``
        picks) or, all codes 0, the binary point. Channel scales are not kept this way."""
        if op.exp is None or self.config.formats.scaling == "none":
            return True
        if isinstance(op.exp, np.ndarray) or op.data.dtype != np.float32:
            return False
        peak = float_code_peak(op.data)
        return 2 * peak > op.fmt.max_code if peak else op.exp == -op.fmt.frac_bits

    @staticmethod
    def _check_matrix(name: str, x) -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim != 2:
            raise ValueError(f"gemm: {name} must be a 2-D matrix, got shape {arr.shape}")
        if arr.dtype.kind != "f":
            raise TypeError(f"gemm: {name} must be a float array, got dtype {arr.dtype} with shape {arr.shape}")
        if arr.size == 0:
            raise ValueError(f"gemm: {name} has an empty dimension, shape {arr.shape}")
        return arr.astype(np.float32, copy=False)

    # --- accounting ------------------------------------------------------------------------------

    def gemm_counts(self, m: int, k: int, n: int, roles: tuple[str, str] = ("activation", "weight"),
                    out_role: str = "activation", names: tuple[str | None, str | None, str | None] = _UNNAMED,
                    transpose_b: bool = False) -> None:
        """Counts a GEMM of ``m × k × n`` as ``gemm`` would, without computing values.

        Every count is the one ``gemm`` produces except those that depend on the values:
        ``saturations`` and ``nonfinite`` stay 0, and the zeros are those the hardware file's
        ``[sparsity]`` densities declare (``accel.sparsity.declared_sparsity``: none at the default
        densities of 1). A GEMM of any size is planned in closed form (runs of identical folds), and
        a repeated one costs microseconds.
        """
        repeat = (names == _UNNAMED and self._plain and type(m) is int and type(k) is int and type(n) is int
                  and type(roles) is tuple)
        if repeat:  # an unnamed GEMM's plan depends on nothing else: an agent's workload repeats it
            key = (m, k, n, roles, out_role, transpose_b, self._pending_writeback_bytes)
            plan = self._unnamed_plans.get(key)
            if plan is not None:
                self._apply(plan, names, plan.delta)
                return
        for name, value in (("m", m), ("k", k), ("n", n)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"gemm_counts: {name} must be a positive integer, got {value!r}")
        m, k, n, roles = int(m), int(k), int(n), tuple(roles)
        if self._declares_dense:
            kept_k, zero_macs = None, 0
        else:
            self._planner.layout(m, k, n, roles, out_role)  # checks the roles before their densities are read
            kept_k, zero_macs = declared_sparsity(self.config.sparsity, m, k, n, roles, transpose_b)
        plan = self._plan(m, k, n, roles, out_role, names, transpose_b, kept_k)
        if repeat:
            self._unnamed_plans[key] = plan
        delta = plan.delta
        if self._compressing:  # at the declared ratios
            g = plan.request
            delta = self._planner.compressed(plan, tuple(self._declared_steps[role] for role in (*g.roles, g.out_role)))
        self._apply(plan, names, delta)
        if zero_macs:
            self._tally.add_value_counts(plan.mac_kind, zero_macs, 0, 0, self._skipped(zero_macs))

    def _skipped(self, zero_macs: int) -> int:
        """Of a GEMM's zero-operand MACs, those the array skips by themselves (``skipping = "element"``)."""
        return zero_macs if self.config.sparsity.skipping == "element" else 0

    def _plan(self, m: int, k: int, n: int, roles, out_role, names, transpose_b, kept_k: int | None) -> GemmPlan:
        """The plan of a GEMM in the chip's present state (asking the buffers marks what they hold as used)."""
        layout = self._planner.layout(m, k, n, tuple(roles), out_role)
        a_bytes, b_bytes, _ = layout.operand_bytes
        buf_a, buf_b, _ = layout.buffers
        resident = (self._buffers[buf_a].holds(names[0], a_bytes), self._buffers[buf_b].holds(names[1], b_bytes))
        return self._planner.gemm(m, k, n, tuple(roles), out_role, bool(transpose_b), names[2] is not None, resident,
                                  self._pending_writeback_bytes, names[1] is not None and self._pe_tensor == names[1],
                                  kept_k)

    def _vector_op_steps(self, role: str, resident: tuple[bool, ...], plan, values) -> tuple[int, int, int, int]:
        """The stored sizes (``accel.compression.ratio_steps``) of the inputs a vector operation of a
        compressed class fetches, the outputs it writes back, and (coded SRAM only, else uncompressed)
        all its inputs and all its outputs: measured from ``values`` (inputs, outputs; each tensor its
        own code), or the declared ratio when there are none. ``resident`` is empty for an unnamed
        operation (it fetches nothing)."""
        in_sram = self.config.compression.sram
        if values is None:
            declared = self._vector_steps[role]
            return (declared, declared, *(declared if in_sram else RATIO_STEPS,) * 2)
        scheme, fmt = self.config.compression.scheme(role), self.vector_format(role)
        inputs, outputs = values
        fetched = tuple(not held for held in resident) if resident else (False,) * len(inputs)
        written = bool(resident) and bool(outputs) and not plan.keep[-1]

        def sizes(xs, measured) -> list[tuple[int, int]]:  # (stored, raw) bits of each tensor measured
            return [(stored_bits(scheme, value_words(x, fmt), fmt), x.size * fmt.width_bits) if m else (0, 0)
                    for x, m in zip(xs, measured, strict=True)]

        def steps(parts: list[tuple[int, int]]) -> int:
            return steps_of(sum(p[0] for p in parts), sum(p[1] for p in parts))

        ins = sizes(inputs, [in_sram or f for f in fetched])
        outs = sizes(outputs, [in_sram or written] * len(outputs))
        dram = (steps([p for p, f in zip(ins, fetched, strict=True) if f]), steps(outs if written else []))
        return (*dram, steps(ins), steps(outs)) if in_sram else (*dram, RATIO_STEPS, RATIO_STEPS)

    def _measured_steps(self, plan: GemmPlan, operands: tuple[Operand, Operand, Operand]) -> tuple[int, int, int]:
        """The stored sizes of A, B and C (``accel.compression.ratio_steps``) measured from the words
        the chip holds, for those of a compressed class that cross the DRAM interface (with coded SRAM,
        ``compression.sram``, for all of them: the buffers hold them coded)."""
        g, mapping = plan.request, plan.mapping
        in_sram = self.config.compression.sram
        steps = []
        for role, op, moved in zip((*g.roles, g.out_role), operands, (*mapping.load_bytes, mapping.store_bytes),
                                   strict=True):
            scheme = self.config.compression.scheme(role)
            steps.append(RATIO_STEPS if scheme == NONE or not (moved or in_sram)
                         else ratio_steps(scheme, tensor_words(op.data, op.fmt), op.fmt))
        return tuple(steps)

    def _apply(self, plan: GemmPlan, names, delta: CountsDelta) -> None:
        """Counts a planned GEMM and leaves the buffers and PEs holding what the plan says."""
        self._pending_writeback_bytes = 0
        if names != _UNNAMED:  # no buffer keeps an unnamed tensor
            for name, buf, nbytes, keep, dirty in zip(names, plan.layout.buffers, plan.layout.operand_bytes,
                                                      plan.keep, (False, False, True), strict=True):
                if keep and name is not None:
                    self._pending_writeback_bytes += self._buffers[buf].insert(name, nbytes, dirty=dirty)
        if plan.pes_hold_b_after is not None:
            self._pe_tensor = names[1] if plan.pes_hold_b_after else None
        self._tally.apply(delta)
