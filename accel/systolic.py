"""The cycle-stepped reference of the MAC array: operands and partial sums move through PE registers.

One machine serves every dataflow. Each PE holds three registers: ``h``, the operand that moves one PE
to the right per cycle (entering at the left edge); ``v``, the value that moves one PE down per cycle
(entering at the top edge); and ``s``, the stationary register. A fold maps a tile of a *row* dimension
onto the array's rows and a tile of a *column* dimension onto its columns, and streams ``T`` steps:

====  ===================  ===================  =================  ===========
      left (rows × T)      top (T × cols)       stationary         accumulates
====  ===================  ===================  =================  ===========
OS    A (M × K)            B (K × N)            C (M × N) outputs  in ``s``
WS    Aᵀ (K × M)           C (M × N) psums      B (K × N) weights  in ``v``
IS    B (K × N)            Cᵀ (N × M) psums     Aᵀ (K × M)         in ``v``
====  ===================  ===================  =================  ===========

IS is WS computing ``Cᵀ = Bᵀ · Aᵀ``. Element ``τ`` of the left operand's row ``r`` enters the array at
cycle ``τ + r`` and the top operand's column ``c`` element ``τ`` at ``τ + c`` (the skew), so the two
meet in PE ``(r, c)`` at cycle ``τ + r + c``; the last meeting, in PE ``(R−1, C−1)``, ends a fold's
``T + R + C − 2`` compute cycles. WS/IS folds first shift their weights down the columns for ``R``
cycles (``2R + C + T − 2`` in all); with double-buffered weights a shadow register chain takes the
next fold's weights during the current fold's first ``R`` cycles, so only the first fold pays the
load. OS accumulators leave the array when their fold ends; WS/IS partial sums leave from the bottom
row, and a K-fold after the first starts each partial sum from the value the previous one wrote, so
every output is accumulated k = 0 … K−1 in order, as :mod:`accel.numerics.gemm` does. Folds run one
after another, column tiles outer and row tiles inner (SCALE-Sim v3's schedule).

Every SRAM access is counted where it happens: an operand entering the array from a buffer is a read,
a partial sum or output leaving it a write, a partial sum fetched back into the top edge a read.
Padding (rows or columns of a fold beyond the matrix) moves bubbles and is not counted.

Each cycle steps only the PEs that hold something: the wavefront, the band ``t − T < r + c ≤ t`` at a
fold's cycle ``t``, less the PEs in both a padded row and a padded column. Every other PE would hold
only bubbles and do nothing (the proof is at :func:`_stream_os`), so the work per cycle follows the
data in flight rather than the array's size. For the same reason no tag travels with a register: the
stream step it holds is ``t − r − c``.
"""

from dataclasses import dataclass

import numba
import numpy as np
from numba import types
from numba.extending import overload

from accel.config import Dataflow
from accel.jit import JIT_OPTIONS, njit
from accel.numerics.formats import get_format
from accel.numerics.mac import mac_fixed, mac_float

# Indices into the counter vector the kernel returns.
_LEFT_READS, _TOP_READS, _STATIONARY_READS, _PSUM_READS, _OUT_WRITES = 0, 1, 2, 3, 4
_MACS, _ZERO_MACS, _SATURATIONS, _CYCLES, _FOLDS = 5, 6, 7, 8, 9
_N_COUNTERS = 10


@dataclass(frozen=True, slots=True)
class ArrayRun:
    """What one GEMM on the cycle-stepped array produced and did.

    Attributes:
        values: (M, N) accumulator contents: float64 values of a float accumulator format, or int64
            codes of a fixed-point one.
        compute_cycles: Cycles from the first weight load or operand entry to the last MAC.
        folds: Tiles of the problem mapped onto the array, one after another.
        macs: Useful multiply-accumulates (M·K·N).
        zero_macs: Useful MACs with a zero operand (those a zero-gating PE could skip).
        saturations: Adds whose result left the accumulator's range (fixed point: clipped; floats:
            overflowed).
        a_reads: Words of A read from SRAM.
        b_reads: Words of B read from SRAM.
        c_reads: Words of partial sums read back from SRAM (WS/IS K-folds after the first).
        c_writes: Words of partial sums and outputs written to SRAM.
    """

    values: np.ndarray
    compute_cycles: int
    folds: int
    macs: int
    zero_macs: int
    saturations: int
    a_reads: int
    b_reads: int
    c_reads: int
    c_writes: int


# mac.py's own MACs, compiled into the kernel rather than called (LLVM leaves ``mac_float`` out of line, and
# the call costs about a third of its time); inlined, its format constants are hoisted out of the PE loop.
# Same source, same JIT options (no fastmath), so the same bits. No ``py_func`` with NUMBA_DISABLE_JIT=1.
_mac_float_inlined = numba.njit(inline="always", **JIT_OPTIONS)(getattr(mac_float, "py_func", mac_float))
_mac_fixed_inlined = numba.njit(inline="always", **JIT_OPTIONS)(getattr(mac_fixed, "py_func", mac_fixed))


def _pe_step(acc, a, b, fmt):
    """One PE step ``(acc, a, b, fmt) -> (acc, flag)``: ``mac_float`` or ``mac_fixed`` by the accumulator's type.

    Float: ``fmt = (mantissa_bits, min_exponent, max_value, has_inf)``; fixed point (integer codes):
    ``fmt = (2**shift, min_code, max_code)`` (the product times a power of two is ``(a·b) << shift``;
    Numba's ``<<`` by a variable count is several times slower). This body runs with
    ``NUMBA_DISABLE_JIT=1``; jitted kernels get the overload below, which makes the same choice once,
    at compile time.
    """
    if isinstance(acc, float):
        return mac_float(acc, a, b, fmt[0], fmt[1], fmt[2], fmt[3])
    return mac_fixed(acc, a * b * fmt[0], fmt[1], fmt[2])


@overload(_pe_step, inline="always", jit_options={key: value for key, value in JIT_OPTIONS.items() if key != "cache"})
def _pe_step_for(acc, a, b, fmt):
    """Picks the MAC by the accumulator's type at compile time, so one kernel body serves both kinds."""
    if isinstance(acc, types.Float):
        return lambda acc, a, b, fmt: _mac_float_inlined(acc, a, b, fmt[0], fmt[1], fmt[2], fmt[3])
    return lambda acc, a, b, fmt: _mac_fixed_inlined(acc, a * b * fmt[0], fmt[1], fmt[2])


@njit
def _load_weights(chain, stationary, row0, col0, load_cycle):
    """One cycle of the weight load: every column's chain shifts down, row ``R−1−load_cycle`` enters.

    Only the chain's first ``load_cycle`` rows hold weights of this load yet, so only they shift: the rows
    below hold what the chain held before, which the shift would only push toward the bottom edge to fall
    off, each row overwritten by this load before the fold that uses the chain begins. Columns (and, for
    a short last K-fold, rows) beyond the matrix take no weight; their PEs do no MAC.

    Returns:
        Words read from the weight buffer this cycle.
    """
    rows, cols = chain.shape
    for r in range(load_cycle, 0, -1):  # against the flow, so each row takes its upper neighbour's old word
        for c in range(cols):
            chain[r, c] = chain[r - 1, c]
    src = row0 + rows - 1 - load_cycle
    reads = 0
    if src < stationary.shape[0]:
        for c in range(min(cols, stationary.shape[1] - col0)):
            chain[0, c] = stationary[src, col0 + c]
            reads += 1
    return reads


@njit
def _enter_left(h, left, row0, valid_rows, t):
    """Fills the left edge registers ``h[:, 0]`` for cycle ``t``: row ``r`` takes its step ``t − r`` (the skew).

    Returns:
        Words read from the left operand's buffer.
    """
    reads = 0
    for r in range(max(t - left.shape[1] + 1, 0), min(t, valid_rows - 1) + 1):
        h[r, 0] = left[row0 + r, t - r]
        reads += 1
    return reads


@njit
def _enter_top(v, top, col0, valid_cols, t, fetch):
    """Fills the top edge registers ``v[0, :]`` for cycle ``t``: column ``c`` takes its step ``t − c``.

    ``fetch``: read the word from ``top`` (OS's B; a WS/IS partial sum that a previous K-fold wrote); else
    a partial sum starts from zero.

    Returns:
        Words read from ``top``.
    """
    reads = 0
    for c in range(max(t - top.shape[0] + 1, 0), min(t, valid_cols - 1) + 1):
        if fetch:
            v[0, c] = top[t - c, col0 + c]
            reads += 1
        else:
            v[0, c] = 0
    return reads


@njit
def _active_columns(t, r, stream, cols):
    """The columns of PE row ``r`` inside the wavefront at cycle ``t``: ``(first, last)``, empty if ``first > last``.

    Stream step ``τ`` of row ``r``'s left operand enters at cycle ``τ + r`` and moves one PE right per cycle;
    step ``τ`` of column ``c``'s top operand enters at ``τ + c`` and moves one PE down. So at cycle ``t``
    both registers of PE ``(r, c)`` hold step ``τ = t − r − c``, a bubble unless ``0 ≤ τ < T``: the
    wavefront is the band ``t − T < r + c ≤ t``.
    """
    return max(t - r - stream + 1, 0), min(t - r, cols - 1)


@njit
def _active_rows(t, stream, rows, cols):
    """The PE rows that meet the wavefront at cycle ``t``, bottom first (the sweep runs against the flow)."""
    return range(min(t, rows - 1), max(t - stream + 1 - (cols - 1), 0) - 1, -1)


@njit
def _stream_os(left, top, s, h, v, row0, col0, fmt):
    """The compute cycles of one OS fold: A enters on the left, B on top, each PE accumulates in ``s``.

    Register layout: PE ``(r, c)`` moves its left operand into ``h[r, c + 1]`` and its top one into
    ``v[r + 1, c]``; ``h[:, 0]`` and ``v[0, :]`` are the edge registers the buffers fill. A PE reads
    ``h[r, c]`` and ``v[r, c]``, its neighbours' (or the edges') registers, so sweeping against the flow
    (rows and columns descending) gives it their values of the previous cycle.

    Only the PEs holding something are stepped (proof below), so the work per cycle is the wavefront's,
    not the array's. Inside the band of :func:`_active_columns`, a PE of a valid row and column does the
    MAC; one in a padded column (beyond the matrix) passes A on to the right, one in a padded row passes
    B down (in WS/IS: the partial sum), and one in both holds two bubbles and is skipped.

    Why a skipped PE may be skipped: its registers would hold only bubbles (τ outside ``[0, T)``, or a
    padded row's ``h`` and a padded column's ``v``, bubbles from the edge that no PE turns into data),
    it would do no MAC and touch no buffer, and no stepped PE reads it. A stepped PE ``(r, c)`` at cycle
    ``t`` reads the registers that ``(r, c − 1)`` and ``(r − 1, c)`` wrote at ``t − 1``; those hold the same
    ``τ = t − r − c``, so they were inside the band then, and they were stepped: ``h`` is read only in a
    valid row, whose every band PE is stepped, and ``v`` only in a valid column, likewise. At ``t = 0`` the
    band is PE ``(0, 0)``, which reads only the edges, so registers left over from an earlier fold are
    never read and need no reset. Which step a register holds is therefore known from its place
    (``τ = t − r − c``), and no tag travels with it.

    Returns:
        ``(left_reads, top_reads, macs, zero_macs, saturations)``.
    """
    rows, cols = s.shape
    n_rows, stream = left.shape
    valid_rows = min(rows, n_rows - row0)
    valid_cols = min(cols, top.shape[1] - col0)
    left_reads = top_reads = macs = zero_macs = saturations = 0
    for t in range(stream + rows + cols - 2):
        left_reads += _enter_left(h, left, row0, valid_rows, t)
        top_reads += _enter_top(v, top, col0, valid_cols, t, True)
        for r in _active_rows(t, stream, rows, cols):
            first, last = _active_columns(t, r, stream, cols)
            if r < valid_rows:
                for c in range(last, max(first, valid_cols) - 1, -1):  # padded columns: A passes through
                    h[r, c + 1] = h[r, c]
                for c in range(min(last, valid_cols - 1), first - 1, -1):
                    a, b = h[r, c], v[r, c]
                    h[r, c + 1] = a
                    v[r + 1, c] = b
                    s[r, c], flag = _pe_step(s[r, c], a, b, fmt)
                    saturations += flag
                    macs += 1
                    zero_macs += (a == 0) | (b == 0)
            else:
                for c in range(min(last, valid_cols - 1), first - 1, -1):  # a padded row: B passes down
                    v[r + 1, c] = v[r, c]
    return left_reads, top_reads, macs, zero_macs, saturations


@njit
def _stream_ws(left, psums, s, h, v, row0, col0, fmt, shadow, stationary, next_row0, next_col0, load_next):
    """The compute cycles of one WS/IS fold: partial sums flow down ``v`` through the weights in ``s``.

    The layout, the PEs stepped and why the others may be skipped are :func:`_stream_os`'s. A partial sum
    enters at the top (from zero in the first K-fold, read back from ``psums`` in a later one) and leaves
    the bottom row into ``psums``. With ``load_next`` the shadow chain takes the weights of the fold at
    ``(next_row0, next_col0)`` during the first ``R`` cycles.

    Returns:
        ``(left_reads, psum_reads, out_writes, macs, zero_macs, saturations, weight_reads)``.
    """
    rows, cols = s.shape
    n_rows, stream = left.shape
    valid_rows = min(rows, n_rows - row0)
    valid_cols = min(cols, psums.shape[1] - col0)
    left_reads = psum_reads = out_writes = macs = zero_macs = saturations = weight_reads = 0
    for t in range(stream + rows + cols - 2):
        if load_next and t < rows:
            weight_reads += _load_weights(shadow, stationary, next_row0, next_col0, t)
        left_reads += _enter_left(h, left, row0, valid_rows, t)
        psum_reads += _enter_top(v, psums, col0, valid_cols, t, row0 > 0)
        for r in _active_rows(t, stream, rows, cols):
            first, last = _active_columns(t, r, stream, cols)
            if r < valid_rows:
                for c in range(last, max(first, valid_cols) - 1, -1):  # padded columns: A passes through
                    h[r, c + 1] = h[r, c]
                for c in range(min(last, valid_cols - 1), first - 1, -1):
                    a, w = h[r, c], s[r, c]
                    h[r, c + 1] = a
                    v[r + 1, c], flag = _pe_step(v[r, c], a, w, fmt)
                    saturations += flag
                    macs += 1
                    zero_macs += (a == 0) | (w == 0)
            else:
                for c in range(min(last, valid_cols - 1), first - 1, -1):  # a padded row: the sum passes down
                    v[r + 1, c] = v[r, c]
        # Finished partial sums leave the bottom row: PE (R−1, c) holds step t − (R−1) − c.
        first, last = _active_columns(t, rows - 1, stream, cols)
        for c in range(first, min(last, valid_cols - 1) + 1):
            psums[t - (rows - 1) - c, col0 + c] = v[rows, c]
            out_writes += 1
    return left_reads, psum_reads, out_writes, macs, zero_macs, saturations, weight_reads


@njit
def _run(left, top, stationary, outputs_stationary, rows, cols, double_buffered, preloaded, fmt):
    """Steps the array through every fold of one GEMM (see the module docstring for the roles).

    Args:
        left: (row extent, T) operand entering at the left edge.
        top: (T, column extent): the operand entering at the top edge (``outputs_stationary``), or the
            output buffer of partial sums (read back and written here).
        stationary: (row extent, column extent): the output buffer (``outputs_stationary``) or the
            weights shifted into the PEs before each fold.
        outputs_stationary: True for OS (each PE accumulates its own output in ``s``); False for
            WS/IS (partial sums flow down in ``v``).
        rows: PE rows R.
        cols: PE columns C.
        double_buffered: WS/IS: a shadow weight chain loads the next fold during the current one.
        preloaded: WS/IS: the PEs hold the first fold's weights already (a transposable array reading
            ``Wᵀ`` from the tile a forward pass left there): they are put in place without cycles or reads.
        fmt: The accumulator parameters :func:`_pe_step` takes (their types pick float or fixed).

    Returns:
        int64 counters indexed by the ``_*`` constants.
    """
    n_rows, stream = left.shape
    n_cols = stationary.shape[1]
    counts = np.zeros(_N_COUNTERS, np.int64)
    h = np.zeros((rows, cols + 1), left.dtype)  # moves right; column 0 is the left edge
    v = np.zeros((rows + 1, cols), left.dtype)  # moves down; row 0 is the top edge, row R the bottom one
    s = np.zeros((rows, cols), left.dtype)  # stays
    shadow = np.zeros((rows, cols), left.dtype)  # the second weight register (double buffering)
    chain = shadow if double_buffered else s
    row_folds = (n_rows + rows - 1) // rows
    col_folds = (n_cols + cols - 1) // cols
    n_folds = row_folds * col_folds
    for fold in range(n_folds):
        row0 = (fold % row_folds) * rows
        col0 = (fold // row_folds) * cols
        if outputs_stationary:
            s[:, :] = 0
            left_reads, top_reads, macs, zero_macs, saturations = _stream_os(left, top, s, h, v, row0, col0, fmt)
            counts[_TOP_READS] += top_reads
            for r in range(min(rows, n_rows - row0)):  # the accumulators leave the array
                for c in range(min(cols, n_cols - col0)):
                    stationary[row0 + r, col0 + c] = s[r, c]
                    counts[_OUT_WRITES] += 1
        else:
            if not double_buffered or fold == 0:
                charged = not (preloaded and fold == 0)  # preloaded: the PEs hold these weights already
                for u in range(rows):
                    reads = _load_weights(chain, stationary, row0, col0, u)
                    counts[_STATIONARY_READS] += reads if charged else 0
                counts[_CYCLES] += rows if charged else 0
            if double_buffered:
                s[:, :] = shadow  # the swap into the working weight registers
            nxt = fold + 1
            left_reads, psum_reads, out_writes, macs, zero_macs, saturations, weight_reads = _stream_ws(
                left, top, s, h, v, row0, col0, fmt, shadow, stationary, (nxt % row_folds) * rows,
                (nxt // row_folds) * cols, double_buffered and nxt < n_folds)
            counts[_PSUM_READS] += psum_reads
            counts[_OUT_WRITES] += out_writes
            counts[_STATIONARY_READS] += weight_reads
        counts[_LEFT_READS] += left_reads
        counts[_MACS] += macs
        counts[_ZERO_MACS] += zero_macs
        counts[_SATURATIONS] += saturations
        counts[_CYCLES] += stream + rows + cols - 2
        counts[_FOLDS] += 1
    return counts


def _check_inputs(a: np.ndarray, b: np.ndarray, rows: int, cols: int, dataflow: Dataflow, is_float: bool,
                  acc_fmt: str, shift: int) -> None:
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        raise TypeError(f"run_array takes numpy arrays, got {type(a).__name__} and {type(b).__name__}")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or 0 in a.shape or 0 in b.shape:
        raise ValueError(f"run_array operands must be non-empty (M, K) and (K, N) matrices, "
                         f"got {a.shape} and {b.shape}")
    for name, size in (("rows", rows), ("cols", cols)):
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"array {name} must be an integer ≥ 1, got {size!r}")
    if not isinstance(dataflow, Dataflow):
        raise TypeError(f"dataflow must be a Dataflow ({', '.join(d.name for d in Dataflow)}), got {dataflow!r}")
    want = np.float64 if is_float else np.int64
    kind = "a float" if is_float else "a fixed-point"
    if a.dtype != want or b.dtype != want:
        raise TypeError(f"{kind} accumulator ({acc_fmt}) takes {np.dtype(want)} operands, got a {a.shape} "
                        f"{a.dtype} and b {b.shape} {b.dtype}")
    if isinstance(shift, bool) or not isinstance(shift, int | np.integer) or shift < 0:
        raise ValueError(f"shift must be an integer ≥ 0, got {shift!r}")
    if is_float and shift:
        raise ValueError(f"shift applies to fixed-point accumulators only, got shift={shift} with {acc_fmt}")


def run_array(a: np.ndarray, b: np.ndarray, rows: int, cols: int, dataflow: Dataflow, acc_fmt: str, *,
              shift: int = 0, double_buffered_weights: bool = False, weights_preloaded: bool = False) -> ArrayRun:
    """Simulates ``C = A · B`` on a ``rows × cols`` array cycle by cycle.

    Args:
        a: (M, K) float64 values already quantized to their format (float accumulator), or int64
            codes (fixed-point accumulator). Float operands' significands together must fit in 53
            bits so that each product is exact in float64 (as :func:`accel.numerics.gemm_float` asks).
        b: (K, N), like ``a``.
        rows: PE rows R (≥ 1).
        cols: PE columns C (≥ 1).
        dataflow: Which operand stays in the PEs.
        acc_fmt: Accumulator format (:func:`accel.numerics.get_format` name).
        shift: Fixed point: left shift aligning a product's binary point with the accumulator's.
        double_buffered_weights: WS/IS: each PE has a second weight register, so every fold after
            the first loads its weights while the previous one computes. OS loads no weights, so it
            has no effect there.
        weights_preloaded: WS/IS: the PEs hold the first fold's weights already, as the planner decides
            for a transposable array whose PEs kept all of ``W`` (no load cycles, no weight reads).

    Returns:
        The values (bit-identical to :func:`accel.numerics.gemm_float` / ``gemm_fixed``) and counts.

    Raises:
        ValueError: Bad shapes, array size or shift; a fixed-point product that does not fit the accumulator.
        TypeError: Operands of the wrong dtype for the accumulator kind.
    """
    acc = get_format(acc_fmt)
    _check_inputs(a, b, rows, cols, dataflow, acc.is_float, acc_fmt, shift)
    if acc.is_float:
        fmt = (acc.mantissa_bits, acc.min_exponent, acc.max_value, acc.has_inf)
    else:
        max_product = (int(np.abs(a).max()) * int(np.abs(b).max())) << shift
        if max_product > acc.max_code + 1:
            raise ValueError(f"a product of codes of a {a.shape} and b {b.shape} (shifted by {shift}) "
                             f"reaches {max_product}, which does not fit the accumulator {acc_fmt}")
        fmt = (1 << int(shift), acc.min_code, acc.max_code)
    m, n = a.shape[0], b.shape[1]
    out = np.zeros((m, n) if dataflow is not Dataflow.IS else (n, m), a.dtype)
    if dataflow is Dataflow.OS:
        left, top, stationary = a, b, out
    elif dataflow is Dataflow.WS:
        left, top, stationary = a.T, out, b
    else:  # IS: the WS machine computing Cᵀ = Bᵀ · Aᵀ
        left, top, stationary = b, out, a.T
    counts = _run(np.ascontiguousarray(left), np.ascontiguousarray(top), np.ascontiguousarray(stationary),
                  dataflow is Dataflow.OS, int(rows), int(cols), bool(double_buffered_weights),
                  bool(weights_preloaded), fmt)
    left_reads = int(counts[_LEFT_READS])
    stationary_reads = int(counts[_STATIONARY_READS])
    if dataflow is Dataflow.OS:
        a_reads, b_reads = left_reads, int(counts[_TOP_READS])
    elif dataflow is Dataflow.WS:
        a_reads, b_reads = left_reads, stationary_reads
    else:
        a_reads, b_reads = stationary_reads, left_reads
    return ArrayRun(
        values=out.T.copy() if dataflow is Dataflow.IS else out,
        compute_cycles=int(counts[_CYCLES]),
        folds=int(counts[_FOLDS]),
        macs=int(counts[_MACS]),
        zero_macs=int(counts[_ZERO_MACS]),
        saturations=int(counts[_SATURATIONS]),
        a_reads=a_reads,
        b_reads=b_reads,
        c_reads=int(counts[_PSUM_READS]),
        c_writes=int(counts[_OUT_WRITES]),
    )
