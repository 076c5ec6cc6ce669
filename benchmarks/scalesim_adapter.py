"""Runs one GEMM through SCALE-Sim v3 (the ``scalesim`` package, the ``peers`` extra) and reads back its counts.

Our GEMM is ``C[M,N] = A[M,K] · B[K,N]`` with A the activations and B the weights. SCALE-Sim's GEMM
topology row ``name, M, N, K`` becomes the conv layer ``ifmap M × K``, ``filter 1 × K``, one channel,
``N`` filters (``topology_utils.load_arrays_gemm``): its ifmap operand matrix is M × K (our A, one
output pixel per row of A, the window spanning K), its filter matrix K × N (our B, N filters), its
ofmap M × N (our C). So SCALE-Sim's M, N, K are ours, its ifmap is A and its filter is B; its array
height is our ``rows`` and its width our ``cols``.

SCALE-Sim runs in its ``CALC`` bandwidth mode (no DRAM stalls) with buffers large enough for any
operand we give it, writes its reports into a temporary directory (no traces) and prints nothing
here. Its "Total Cycles" is the index of the last compute cycle; :attr:`ScaleSimRun.compute_cycles`
is that plus one, the count ``accel.timing.plan_gemm`` reports.

SCALE-Sim 3.0.0 predates NumPy 2: it calls ``int(max(x))`` where ``max`` returns a 1-element array
(``double_buffered_scratchpad_mem.service_memory_requests`` and ``read_buffer``'s prefetch), which
NumPy 2 refuses. :func:`_install_numpy2_shim` gives those two modules a ``max`` that returns a
NumPy scalar for a single iterable argument, at run time; no installed file is edited.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_CONFIG = """\
[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = {sram_kb}
FilterSramSzkB = {sram_kb}
OfmapSramSzkB = {sram_kb}
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Bandwidth = 10
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False
"""

_LAYOUT_HEADER = "Layer name, IFMAP Height Intraline Factor,\n"  # no rows: custom layouts are off


@dataclass(frozen=True, slots=True)
class ScaleSimRun:
    """What SCALE-Sim v3 reports for one GEMM layer.

    Attributes:
        last_cycle: SCALE-Sim's "Total Cycles": index of the last compute cycle (stall-free in CALC mode).
        stall_cycles: Its stall cycles (0 in CALC mode).
        ifmap_reads: Words of the ifmap (our A) read from SRAM: the entries of its ifmap demand matrix.
        filter_reads: Words of the filter (our B) read from SRAM.
        ofmap_writes: Its count of ofmap (our C) SRAM writes.
    """

    last_cycle: int
    stall_cycles: int
    ifmap_reads: int
    filter_reads: int
    ofmap_writes: int

    @property
    def compute_cycles(self) -> int:
        """Stall-free compute cycles as a count (``last_cycle + 1``), comparable with ``plan_gemm``."""
        return self.last_cycle + 1


def _compat_max(*args, **kwargs):
    """``max`` for SCALE-Sim under NumPy 2: a single iterable of arrays gives a NumPy scalar."""
    if len(args) == 1 and not kwargs:
        return np.max(np.asarray(args[0]))
    return builtins.max(*args, **kwargs)


def _install_numpy2_shim() -> None:
    """Shadows ``max`` in the two SCALE-Sim modules that call ``int(max(array_like))``."""
    from scalesim.memory import double_buffered_scratchpad_mem, read_buffer

    for module in (double_buffered_scratchpad_mem, read_buffer):
        module.max = _compat_max


def run_scalesim(m: int, k: int, n: int, rows: int, cols: int, dataflow: str,
                 workdir: str | Path | None = None) -> ScaleSimRun:
    """Runs ``C[m,n] = A[m,k] · B[k,n]`` through SCALE-Sim v3 on a ``rows × cols`` array.

    Args:
        m: Rows of A and C (SCALE-Sim's M: ifmap rows, output pixels).
        k: Columns of A, rows of B (its K: the convolution window).
        n: Columns of B and C (its N: the number of filters).
        rows: Array rows (its ``ArrayHeight``).
        cols: Array columns (its ``ArrayWidth``).
        dataflow: ``"ws"``, ``"os"`` or ``"is"``.
        workdir: Where SCALE-Sim writes its inputs and reports; a fresh temporary directory if None.

    Returns:
        SCALE-Sim's counts for the GEMM.
    """
    (run,) = run_scalesim_gemms([(m, k, n)], rows, cols, dataflow, workdir)
    return run


def run_scalesim_gemms(shapes: Sequence[tuple[int, int, int]], rows: int, cols: int, dataflow: str,
                       workdir: str | Path | None = None) -> list[ScaleSimRun]:
    """Runs several GEMMs ``(m, k, n)`` through SCALE-Sim v3 as the layers of one topology, in one run.

    Args:
        shapes: ``(m, k, n)`` of each GEMM, as in :func:`run_scalesim`.
        rows: Array rows (its ``ArrayHeight``).
        cols: Array columns (its ``ArrayWidth``).
        dataflow: ``"ws"``, ``"os"`` or ``"is"``.
        workdir: Where SCALE-Sim writes its inputs and reports; a fresh temporary directory if None.

    Returns:
        SCALE-Sim's counts per GEMM, in order.

    Raises:
        ValueError: An unknown dataflow, no GEMM, or a non-positive dimension.
    """
    if dataflow not in ("ws", "os", "is"):
        raise ValueError(f"dataflow must be one of ws, os, is, got {dataflow!r}")
    if not shapes:
        raise ValueError("shapes must name at least one GEMM")
    for name, value in (("rows", rows), ("cols", cols), *((f"shapes[{i}]", min(s)) for i, s in enumerate(shapes))):
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value!r}")
    from scalesim.scale_sim import scalesim

    _install_numpy2_shim()
    with contextlib.ExitStack() as stack:
        root = Path(workdir) if workdir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        words = max(max(m * k, k * n, m * n) for m, k, n in shapes)
        sram_kb = -(-words // 1024) * 2 + 1  # every operand fits whole: no DRAM refills
        config = root / "gemm.cfg"
        config.write_text(_CONFIG.format(run_name="gemm", rows=rows, cols=cols, sram_kb=sram_kb,
                                         dataflow=dataflow))
        topology = root / "gemm_topology.csv"
        # SCALE-Sim's GEMM topology columns are name, M, N, K (topology_utils.load_arrays_gemm)
        topology.write_text("Layer, M, N, K,\n" + "".join(f"gemm{i}, {m}, {n}, {k},\n"
                                                          for i, (m, k, n) in enumerate(shapes)))
        layout = root / "gemm_layout.csv"
        layout.write_text(_LAYOUT_HEADER)
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=str(config), topology=str(topology),
                           layout=str(layout), input_type_gemm=True)
            sim.run_scale(top_path=str(root))
        runs = []
        for layer in sim.runner.single_layer_sim_object_list:
            _, last_cycle, stall_cycles, *_ = layer.get_compute_report_items()
            detail = layer.get_detail_report_items()
            runs.append(ScaleSimRun(last_cycle=int(last_cycle), stall_cycles=int(stall_cycles),
                                    ifmap_reads=int(detail[2]), filter_reads=int(detail[5]),
                                    ofmap_writes=int(detail[8])))
        return runs
