"""A tiny-budget smoke run of benchmarks/bench_ops.py: every timed call gets a row with a figure."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ops.py"


def test_bench_ops_smoke():
    out = subprocess.run([sys.executable, str(SCRIPT), "--repeats", "2", "--presets", "edge-bf16"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| edge-bf16 |")]
    calls = [cells[1].strip() for cells in rows]
    assert calls == ["relu", "add", "mul", "relu_grad", "sum_rows", "adam", "gemm 1×4×256", "gemm 64×4×256",
                     "gemm 64×256×2", "gemm_counts 64×256×256", "acc.counts", "EnergyModel.estimate"]
    assert all(float(cells[2]) > 0 for cells in rows)
    assert all(float(cells[3]) > 0 for cells in rows[:9])  # every vector op, Adam and GEMM has its torch peer
