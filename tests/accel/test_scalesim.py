"""Our fold schedule against SCALE-Sim v3 itself (runs only where the ``peers`` extra is installed).

Stall-free compute cycles must equal SCALE-Sim's exactly (it reports the index of the last cycle, we the
count) and SRAM operand reads must equal the entries of its ifmap (our A) and filter (our B) demand
matrices, for the closed form (``plan_gemm``) and the cycle-stepped array (``run_array``) alike.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scalesim")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from scalesim_adapter import run_scalesim

from accel.config import Dataflow
from accel.systolic import run_array
from accel.timing import plan_gemm

SHAPES = ((64, 4, 64), (4, 64, 64), (20, 13, 9), (7, 30, 17))  # (M, K, N): MLP-like, a weight gradient, ragged
ARRAYS = ((8, 8), (4, 6))  # square, and rows ≠ cols so that height/width cannot be swapped unnoticed


@pytest.mark.parametrize("rows,cols", ARRAYS)
@pytest.mark.parametrize("dataflow", list(Dataflow), ids=lambda d: d.value)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_counts_match_scalesim(m, k, n, rows, cols, dataflow, tmp_path):
    peer = run_scalesim(m, k, n, rows, cols, dataflow.value, workdir=tmp_path)
    plan = plan_gemm(m, k, n, rows, cols, dataflow)
    rng = np.random.default_rng(0)
    run = run_array(rng.standard_normal((m, k)), rng.standard_normal((k, n)), rows, cols, dataflow, "fp32")

    assert peer.stall_cycles == 0
    for ours in (plan, run):
        assert ours.compute_cycles == peer.last_cycle + 1
        assert ours.a_reads == peer.ifmap_reads
        assert ours.b_reads == peer.filter_reads
    if dataflow is Dataflow.OS:
        # SCALE-Sim 3.0.0's OS model also adds rows + cols per fold to its ofmap writes (it counts the
        # padded fold's shape as well as its entries); we count the M·N outputs written.
        assert plan.c_writes == m * n
        assert peer.ofmap_writes in (m * n, m * n + plan.folds * (rows + cols))
    else:
        assert plan.c_writes == peer.ofmap_writes
