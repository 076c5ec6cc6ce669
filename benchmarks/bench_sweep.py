"""Sweep throughput: a 16-point sweep of short CartPole DQN runs with 1 and 2 local workers and on a
local Ray cluster with 2 workers (wall time, parallel efficiency), and a 1,000-point workload-only
exploration (points per second).

Each configuration runs ``drlsim sweep`` as a user does (a fresh process: interpreter, imports,
worker start-up and, for Ray, the cluster's start all count) into a new directory.

Usage:
    python benchmarks/bench_sweep.py [--out runs/bench_sweep] [--no-ray]
"""

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

LEARNING = """[run]
agent = "dqn"
env = "CartPole-v1"
hw = "edge-int8"
steps = 600
seeds = [0, 1, 2, 3]
eval_episodes = 2

[run.settings]
hidden = "64,64"
learning_starts = 200
train_freq = 64
gradient_steps = 32

[grid]
"array.rows" = [8, 16]
"formats.rounding" = ["nearest", "stochastic"]
"""
"""16 points: 2 × 2 chips × 4 seeds, 600 environment steps and 192 gradient steps each."""

WORKLOAD = """[run]
workload = "dqn"
hw = "edge-bf16"

[grid]
"array.rows" = [4, 8, 16, 32, 64]
"array.cols" = [4, 8, 16, 32, 64]
"vector.lanes" = [4, 8, 16, 32]
"clock.voltage_v" = [0.6, 0.7, 0.8, 0.9, 1.0]
"formats.weight" = ["bf16", "int8"]
"""
"""1,000 points: one DQN training step (256×256 hidden, batch 64) priced on each chip."""


def sweep(file: Path, out: Path, *args: str) -> tuple[float, float]:
    """Wall seconds of ``drlsim sweep file --out out args`` in a fresh process, and the mean of its
    points' own wall times (which grows when the workers compete for cores)."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "drlsim.cli", "sweep", str(file), "--out", str(out), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    with (out / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} points failed in {out}: {failed[0]['error']}")
    return wall, sum(float(r["wall_s"]) for r in rows) / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench_sweep"))
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray configuration")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    learning, workload = args.out / "learning.toml", args.out / "workload.toml"
    learning.write_text(LEARNING)
    workload.write_text(WORKLOAD)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at start")

    print("\n16 learning points (CartPole DQN, 600 env steps, 192 gradient steps each)")
    print("| backend | workers | wall s | points/min | parallel efficiency | s per point (in its worker) |")
    print("|---|---:|---:|---:|---:|---:|")
    configs = [("local", 1, ()), ("local", 2, ())]
    if not args.no_ray:
        configs.append(("ray", 2, ("--backend", "ray")))
    base = None
    for backend, workers, extra in configs:
        wall, per_point = sweep(learning, args.out / f"learning-{backend}-{workers}", "--workers", str(workers),
                                *extra)
        base = base or wall
        print(f"| {backend} | {workers} | {wall:.1f} | {16 / wall * 60:.1f} | {base / (workers * wall):.0%} "
              f"| {per_point:.2f} |", flush=True)

    print("\n1,000 workload points (one DQN training step each, no learning)")
    print("| workers | wall s | points/s |")
    print("|---:|---:|---:|")
    for workers in (1, 2):
        wall, _ = sweep(workload, args.out / f"workload-{workers}", "--workers", str(workers))
        print(f"| {workers} | {wall:.1f} | {1000 / wall:.0f} |", flush=True)


if __name__ == "__main__":
    main()
