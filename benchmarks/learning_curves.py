"""Learning curves of ``drlsim train`` runs: episode return against environment steps, one colour per chip.

Each run directory's ``episodes.csv`` gives the training episodes (exploration included); the
curve is the mean return of the last ``--window`` episodes, thin per seed and thick for the mean
over the chip's seeds (on a common grid of environment steps). Runs are grouped by the ``hw`` of
their ``summary.json`` (``fp32``, a preset, a preset with ``--hw-set`` changes). Run::

    python benchmarks/learning_curves.py RUN_DIR... --out FILE.png [--window 20] [--title TEXT]
"""

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def episodes(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(env steps at each training episode's end, its return) from the run's ``episodes.csv``."""
    with (run_dir / "episodes.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([int(r["env_steps"]) for r in rows]), np.array([float(r["return"]) for r in rows])


def late_return(run_dir: Path, after: int) -> float | None:
    """Mean return of the training episodes that end after env step ``after`` (None: there are none):
    how well the agent does late in its run, exploring as it trains, a steadier view than one final eval."""
    steps, returns = episodes(run_dir)
    late = returns[steps > after]
    return float(late.mean()) if late.size else None


def curve(run_dir: Path, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(env steps at each episode's end, mean return of the last ``window`` episodes)."""
    steps, returns = episodes(run_dir)
    sums = np.cumsum(np.concatenate([[0.0], returns]))
    counts = np.minimum(np.arange(1, returns.size + 1), window)
    return steps, (sums[1:] - sums[np.arange(1, returns.size + 1) - counts]) / counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--title", default="Return of the training episodes")
    args = parser.parse_args()
    groups: dict[str, list[Path]] = {}
    for run in args.runs:
        groups.setdefault(json.loads((run / "summary.json").read_text())["hw"], []).append(run)

    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.subplots()
    for n, (hw, runs) in enumerate(groups.items()):
        curves = [curve(run, args.window) for run in runs]
        end = min(int(steps[-1]) for steps, _ in curves)
        grid = np.linspace(0, end, 200)
        for steps, mean in curves:
            ax.plot(steps, mean, color=f"C{n}", lw=0.6, alpha=0.35)
        mean = np.mean([np.interp(grid, steps, values) for steps, values in curves], axis=0)
        ax.plot(grid, mean, color=f"C{n}", lw=2.2, label=f"{hw} (mean of {len(runs)} seeds)")
    ax.set(title=f"{args.title} (mean of the last {args.window} episodes)", xlabel="environment steps",
           ylabel="episode return")
    ax.legend(fontsize="small", loc="upper left")
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
