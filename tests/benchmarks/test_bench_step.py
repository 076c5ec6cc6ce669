"""A tiny-budget smoke run of benchmarks/bench_step.py with the breakdown of a DQN step."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_step.py"


def test_bench_step_smoke_with_the_breakdown():
    out = subprocess.run([sys.executable, str(SCRIPT), "--repeats", "2", "--warmup", "1", "--presets", "edge-bf16",
                          "--breakdown"], capture_output=True, text=True, check=True).stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| edge-bf16 |")]
    assert len(rows) == 2  # the step table's row, then the breakdown's
    step, gemms, vector, copies, rest, kernels, floor = rows[1][1:]
    calls = [int(cell.split("(")[1].rstrip(") ")) for cell in (gemms, vector, copies)]
    assert calls == [11, 41, 3]  # a DQN step: 11 GEMMs, 41 vector operations, 3 working copies
    parts = [float(cell.split("(")[0]) for cell in (gemms, vector, copies)]
    assert all(p > 0 for p in parts) and 0 < float(rest) < float(step)  # the autograd and Python around them
    # the compiled kernels run inside the parts: at least one per GEMM, less time than the parts
    assert int(kernels.split("(")[1].rstrip(") ")) >= 11 and 0 < float(kernels.split("(")[0]) < sum(parts)
    assert float(floor.strip().rstrip("×")) > 0
