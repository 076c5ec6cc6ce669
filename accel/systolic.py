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
"""

from dataclasses import dataclass

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


@overload(_pe_step, jit_options={key: value for key, value in JIT_OPTIONS.items() if key != "cache"})
def _pe_step_for(acc, a, b, fmt):
    """Picks the MAC by the accumulator's type at compile time, so one kernel body serves both kinds."""
    if isinstance(acc, types.Float):
        return lambda acc, a, b, fmt: mac_float(acc, a, b, fmt[0], fmt[1], fmt[2], fmt[3])
    return lambda acc, a, b, fmt: mac_fixed(acc, a * b * fmt[0], fmt[1], fmt[2])


@njit
def _load_weights(chain, chain_tag, stationary, row0, col0, load_cycle):
    """One cycle of the weight load: every column's chain shifts down, row ``R−1−load_cycle`` enters.

    Returns:
        Words read from the weight buffer this cycle.
    """
    rows, cols = chain.shape
    reads = 0
    src = row0 + rows - 1 - load_cycle
    for c in range(cols):
        for r in range(rows - 1, 0, -1):
            chain[r, c] = chain[r - 1, c]
            chain_tag[r, c] = chain_tag[r - 1, c]
        if src < stationary.shape[0] and col0 + c < stationary.shape[1]:
            chain[0, c] = stationary[src, col0 + c]
            chain_tag[0, c] = 1
            reads += 1
        else:
            chain_tag[0, c] = 0
    return reads


@njit
def _run(left, top, stationary, outputs_stationary, rows, cols, double_buffered, fmt):
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
        fmt: The accumulator parameters :func:`_pe_step` takes (their types pick float or fixed).

    Returns:
        int64 counters indexed by the ``_*`` constants.
    """
    n_rows, stream = left.shape
    n_cols = stationary.shape[1]
    counts = np.zeros(_N_COUNTERS, np.int64)
    left_reads = top_reads = psum_reads = out_writes = macs = zero_macs = saturations = 0  # scalars: fast
    zero = np.zeros(1, left.dtype)[0]
    h = np.zeros((rows, cols), left.dtype)  # moves right
    v = np.zeros((rows, cols), left.dtype)  # moves down
    s = np.zeros((rows, cols), left.dtype)  # stays
    h_tag = np.full((rows, cols), -1, np.int64)  # stream step τ of the value in h, −1 for a bubble
    v_tag = np.full((rows, cols), -1, np.int64)
    s_tag = np.zeros((rows, cols), np.int64)  # whether s holds a weight (WS/IS)
    shadow = np.zeros((rows, cols), left.dtype)  # the second weight register (double buffering)
    shadow_tag = np.zeros((rows, cols), np.int64)
    chain, chain_tag = (shadow, shadow_tag) if double_buffered else (s, s_tag)
    row_folds = (n_rows + rows - 1) // rows
    col_folds = (n_cols + cols - 1) // cols
    n_folds = row_folds * col_folds
    window = stream + rows + cols - 2
    for fold in range(n_folds):
        row0 = (fold % row_folds) * rows
        col0 = (fold // row_folds) * cols
        if outputs_stationary:
            s[:, :] = zero
        elif not double_buffered or fold == 0:
            for u in range(rows):
                counts[_STATIONARY_READS] += _load_weights(chain, chain_tag, stationary, row0, col0, u)
            counts[_CYCLES] += rows
        if double_buffered and not outputs_stationary:
            s[:, :] = shadow  # the swap into the working weight registers
            s_tag[:, :] = shadow_tag
        h_tag[:, :] = -1
        v_tag[:, :] = -1
        for t in range(window):
            if double_buffered and not outputs_stationary and t < rows and fold + 1 < n_folds:
                nxt = fold + 1
                counts[_STATIONARY_READS] += _load_weights(
                    shadow, shadow_tag, stationary, (nxt % row_folds) * rows, (nxt // row_folds) * cols, t)
            # Sweep against the flow so each PE reads its neighbours' registers of the previous cycle.
            for r in range(rows - 1, -1, -1):
                for c in range(cols - 1, -1, -1):
                    if c > 0:
                        a_val, a_tag = h[r, c - 1], h_tag[r, c - 1]
                    else:  # the left edge, skewed by r
                        a_tag = t - r
                        if 0 <= a_tag < stream and row0 + r < n_rows:
                            a_val = left[row0 + r, a_tag]
                            left_reads += 1
                        else:
                            a_val, a_tag = zero, -1
                    if r > 0:
                        b_val, b_tag = v[r - 1, c], v_tag[r - 1, c]
                    else:  # the top edge, skewed by c
                        b_tag = t - c
                        if 0 <= b_tag < stream and col0 + c < n_cols:
                            if outputs_stationary:
                                b_val = top[b_tag, col0 + c]
                                top_reads += 1
                            elif row0 > 0:  # a later K-fold continues the partial sum written before
                                b_val = top[b_tag, col0 + c]
                                psum_reads += 1
                            else:
                                b_val = zero
                        else:
                            b_val, b_tag = zero, -1
                    h[r, c], h_tag[r, c] = a_val, a_tag
                    if outputs_stationary:
                        v[r, c], v_tag[r, c] = b_val, b_tag
                        if a_tag >= 0 and b_tag >= 0:
                            s[r, c], flag = _pe_step(s[r, c], a_val, b_val, fmt)
                            saturations += flag
                            macs += 1
                            zero_macs += a_val == 0 or b_val == 0
                    else:
                        if a_tag >= 0 and b_tag >= 0 and s_tag[r, c]:
                            b_val, flag = _pe_step(b_val, a_val, s[r, c], fmt)
                            saturations += flag
                            macs += 1
                            zero_macs += a_val == 0 or s[r, c] == 0
                        v[r, c], v_tag[r, c] = b_val, b_tag
            if not outputs_stationary:  # finished partial sums leave the bottom row
                for c in range(cols):
                    if v_tag[rows - 1, c] >= 0:
                        top[v_tag[rows - 1, c], col0 + c] = v[rows - 1, c]
                        out_writes += 1
        if outputs_stationary:  # the accumulators leave the array
            for r in range(min(rows, n_rows - row0)):
                for c in range(min(cols, n_cols - col0)):
                    stationary[row0 + r, col0 + c] = s[r, c]
                    out_writes += 1
        counts[_CYCLES] += window
        counts[_FOLDS] += 1
    counts[_LEFT_READS], counts[_TOP_READS], counts[_PSUM_READS] = left_reads, top_reads, psum_reads
    counts[_OUT_WRITES], counts[_MACS], counts[_ZERO_MACS] = out_writes, macs, zero_macs
    counts[_SATURATIONS] = saturations
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
              shift: int = 0, double_buffered_weights: bool = False) -> ArrayRun:
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
                  dataflow is Dataflow.OS, int(rows), int(cols), bool(double_buffered_weights), fmt)
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
