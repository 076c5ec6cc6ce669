"""Closed-form fold schedule of a GEMM on the systolic array (SCALE-Sim v3's, folds back to back).

A GEMM ``C[M,N] = A[M,K] · B[K,N]`` is cut into folds, tiles of the problem mapped onto the
``rows × cols`` array one after another. The dataflow decides which matrix stays in the PEs:

* ``OS``: C (M×N) stays; A and B stream K steps. ⌈M/R⌉·⌈N/C⌉ folds of K + R + C − 2 cycles.
* ``WS``: B (K×N) stays, A streams its M rows. ⌈K/R⌉·⌈N/C⌉ folds of 2R + C + M − 2 cycles
  (R cycles of weight load, R − 1 fill skew, M streaming, C − 1 drain).
* ``IS``: Aᵀ (K×M) stays, B streams its N columns. ⌈K/R⌉·⌈M/C⌉ folds of 2R + C + N − 2 cycles.

WS and IS are one machine with the roles of A and B swapped (``Stationary`` says which). With
double-buffered PE weights, every fold after the first loads its weights while the previous
fold computes and saves R cycles. Cycle figures are counts (SCALE-Sim prints the index of the
last cycle, one less). SRAM accesses are in words and match SCALE-Sim's demand matrices; unlike
SCALE-Sim we also count the read-back of partial sums between K-folds.
"""

from dataclasses import dataclass

from accel.config import Dataflow


def ceil_div(a: int, b: int) -> int:
    """⌈a / b⌉ for non-negative integers."""
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class GemmShape:
    """The mapping of one GEMM onto the array.

    Attributes:
        stationary_rows: Extent of the stationary dimension mapped onto the array's rows
            (K for WS/IS, M for OS).
        stationary_cols: Extent mapped onto the array's columns (N for WS/OS, M for IS).
        stream: Steps each fold streams (M for WS, N for IS, K for OS).
    """

    stationary_rows: int
    stationary_cols: int
    stream: int


def gemm_shape(m: int, k: int, n: int, dataflow: Dataflow) -> GemmShape:
    """How a GEMM of ``m × k × n`` maps onto the array under ``dataflow``."""
    if dataflow is Dataflow.OS:
        return GemmShape(m, n, k)
    if dataflow is Dataflow.WS:
        return GemmShape(k, n, m)
    return GemmShape(k, m, n)


@dataclass(frozen=True, slots=True)
class FoldPlan:
    """Closed-form counts of one GEMM on the array, before any DRAM stall.

    Attributes:
        row_folds: Folds along the array's rows.
        col_folds: Folds along its columns.
        first_fold_cycles: Cycles of the first fold.
        fold_cycles: Cycles of every later fold.
        a_reads: Words of A read from SRAM.
        b_reads: Words of B read from SRAM.
        c_reads: Words of partial sums read back from SRAM (WS/IS K-folds after the first).
        c_writes: Words of outputs and partial sums written to SRAM.
        macs: Useful multiply-accumulates, M·K·N.
    """

    row_folds: int
    col_folds: int
    first_fold_cycles: int
    fold_cycles: int
    a_reads: int
    b_reads: int
    c_reads: int
    c_writes: int
    macs: int

    @property
    def folds(self) -> int:
        """Folds in all."""
        return self.row_folds * self.col_folds

    @property
    def compute_cycles(self) -> int:
        """Stall-free cycles of the GEMM: SCALE-Sim v3's count."""
        return self.first_fold_cycles + (self.folds - 1) * self.fold_cycles


def plan_gemm(m: int, k: int, n: int, rows: int, cols: int, dataflow: Dataflow,
              double_buffered_weights: bool = False) -> FoldPlan:
    """The fold schedule and SRAM traffic of ``C[m,n] = A[m,k] · B[k,n]`` on a ``rows × cols`` array."""
    shape = gemm_shape(m, k, n, dataflow)
    row_folds = ceil_div(shape.stationary_rows, rows)
    col_folds = ceil_div(shape.stationary_cols, cols)
    skew = rows + cols - 2
    if dataflow is Dataflow.OS:
        first = later = shape.stream + skew
        a_reads, b_reads = col_folds * m * k, row_folds * k * n
        c_writes, c_reads = m * n, 0
    else:
        later = shape.stream + skew + (0 if double_buffered_weights else rows)
        first = shape.stream + skew + rows
        stationary_words = k * (n if dataflow is Dataflow.WS else m)
        streamed_words = col_folds * m * k if dataflow is Dataflow.WS else col_folds * k * n
        a_reads, b_reads = (streamed_words, stationary_words) if dataflow is Dataflow.WS else (
            stationary_words, streamed_words)
        c_writes, c_reads = row_folds * m * n, (row_folds - 1) * m * n
    return FoldPlan(row_folds, col_folds, first, later, a_reads, b_reads, c_reads, c_writes, m * k * n)
