"""Energy per training step and power of every preset, and what pricing a step costs next to simulating it.

Two training-step workloads (``accel.workload``): CartPole DQN (4-256-256-2, batch 64) and Pendulum TD3
(obs 3, action 1, actor and twin critics 400-300, batch 256, with the actor update). For each preset
and workload the second step is priced (weights already on chip, as ``drlsim workload`` does): cycles,
time on the chip, energy per step and its breakdown, power, and (T)FLOPS/W. Then three timings per
step, best of ``--repeats`` after a warm-up: ``EnergyModel.estimate`` on the step's counts, counting
the step (``run_counts``, no values) and executing the step's GEMMs with random values on the fast
path (``Accelerator.gemm``, JIT excluded by the warm-up; vector operations not executed, so this
understates a real step). Run::

    python benchmarks/bench_energy.py [--repeats 5] [--hw omnidrl cnpu2019] [--no-values]
"""

from __future__ import annotations

import os

# One thread for every library, set before numpy loads its thread pool.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from best_of import best_seconds  # noqa: E402

from accel import Accelerator, list_presets, load_config  # noqa: E402
from accel.workload import GemmOp, Workload, dqn_step, run_counts, td3_step  # noqa: E402
from energy import EnergyModel  # noqa: E402

WORKLOADS = {
    "CartPole DQN": dqn_step(4, 2, (256, 256), 64),
    "Pendulum TD3": td3_step(3, 1, (400, 300), 256),
}


def step_operands(workload: Workload, seed: int = 0) -> list[tuple[GemmOp, np.ndarray, np.ndarray]]:
    """Random float32 operands for each GEMM of ``workload`` (B stored transposed where the op says so)."""
    rng = np.random.default_rng(seed)
    operands = []
    for op in workload.ops:
        if isinstance(op, GemmOp):
            a = rng.standard_normal((op.m, op.k)).astype(np.float32)
            b_shape = (op.n, op.k) if op.transpose_b else (op.k, op.n)
            b = (rng.standard_normal(b_shape) / np.sqrt(op.k)).astype(np.float32)
            operands.append((op, a, b))
    return operands


def execute_gemms(config, operands) -> None:
    """Runs the step's GEMMs with values on a fresh fast-path chip."""
    acc = Accelerator(config, fidelity="fast")
    for op, a, b in operands:
        acc.gemm(a, b, op.roles, op.out_role, op.names, op.transpose_b)


def measure(hw: str, workload: Workload, repeats: int, values: bool, operands) -> dict:
    """One row of the table: the step's energy and the three timings."""
    config = load_config(hw)
    model = EnergyModel(config)
    acc = Accelerator(config)
    run_counts(acc, workload)
    counts = run_counts(acc, workload)
    report = model.estimate(counts)

    def count_step() -> None:
        run_counts(Accelerator(config), workload)

    row = {
        "hw": config.name, "cycles": counts.cycles, "report": report,
        "estimate_s": best_seconds(lambda: model.estimate(counts), max(repeats, 20)),
        "counts_s": best_seconds(count_step, repeats),
        "values_s": best_seconds(lambda: execute_gemms(config, operands), repeats) if values else float("nan"),
    }
    return row


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}: one training step (the second: weights on chip)")
    print(f"{'chip':13} {'cycles':>11} {'time ms':>8} {'energy µJ':>10} {'power mW':>9} {'eff':>6} {'unit':8} "
          f"{'mac/sram/dram/vector/leak %':>28} | {'estimate µs':>11} {'run_counts ms':>13} "
          f"{'GEMMs w/ values ms':>18} {'est/counts':>10} {'est/values':>10}")
    for r in rows:
        rep = r["report"]
        shares = "/".join(f"{100 * v / rep.energy_j:.0f}" for v in rep.breakdown_j.values())
        print(f"{r['hw']:13} {r['cycles']:>11,} {rep.time_s * 1e3:>8.2f} {rep.energy_j * 1e6:>10.2f} "
              f"{rep.power_w * 1e3:>9.1f} {rep.tops_per_w:>6.3f} {rep.ops_unit:8} {shares:>28} | "
              f"{r['estimate_s'] * 1e6:>11.1f} {r['counts_s'] * 1e3:>13.2f} {r['values_s'] * 1e3:>18.1f} "
              f"{r['estimate_s'] / r['counts_s']:>10.1e} {r['estimate_s'] / r['values_s']:>10.1e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", nargs="+", default=None, help="presets or hardware files (default: all presets)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-values", action="store_true", help="skip executing the GEMMs with values")
    args = parser.parse_args(argv)
    hws = args.hw or list_presets()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, one thread; best of {args.repeats}")
    for title, workload in WORKLOADS.items():
        operands = step_operands(workload)
        rows = [measure(hw, workload, args.repeats, not args.no_values, operands)
                for hw in tqdm(hws, desc=title, file=sys.stderr, leave=False)]
        print_table(f"{title} ({workload.name}, {workload.macs:,} MACs)", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
