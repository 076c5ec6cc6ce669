"""Pruning on the chip: return and energy per episode as the sparsity grows.

Each point is one ``drlsim train`` run in its own process, one after another, with Zhu & Gupta's
gradual pruning (``agents.prune``) to a final sparsity, in groups of ``--group`` input rows that a
chip with ``[sparsity] skipping = "group"`` skips (``omnidrl``: groups of 4). A finished point's
directory under ``--out`` is reused, so an interrupted benchmark resumes. Slow: not part of the
default tests. The figures of benchmarks/README.md (Pruning)::

    python benchmarks/bench_pruning.py --steps 20000 --sparsities 0 0.5 0.8 --out runs/bench_pruning

The table (Markdown) goes to stdout and ``OUT/table.md``.
"""

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_point(args: argparse.Namespace, sparsity: float, out: Path) -> Path:
    """One pruned ``drlsim train`` run (reused when its directory already holds a finished run)."""
    run_dir = out / f"{args.agent}__{args.hw}__s{sparsity:g}__g{args.group}__{args.seed}"
    if not (run_dir / "summary.json").exists():
        sets = {"sparsity": sparsity, "prune_group": args.group, "prune_start": args.prune_start,
                "prune_steps": args.prune_steps, "prune_interval": args.prune_interval}
        cmd = [sys.executable, "-m", "drlsim.cli", "train", "--agent", args.agent, "--env", args.env, "--hw", args.hw,
               "--steps", str(args.steps), "--seed", str(args.seed), "--out", str(run_dir),
               *[x for key, value in sets.items() for x in ("--set", f"{key}={value}")]]
        with (out / f"{run_dir.name}.log").open("w") as log:
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
    return run_dir


def row(sparsity: float, run_dir: Path) -> dict:
    """The table's figures of one run: eval return, energy per episode (inference, training) over the
    episodes that trained (pruning acts on those), energy per training step, wall time."""
    summary = json.loads((run_dir / "summary.json").read_text())
    with (run_dir / "episodes.csv").open() as f:
        episodes = [e for e in csv.DictReader(f) if int(e["train_steps"]) > 0]
    per_episode = {key: sum(float(e[key]) for e in episodes) / len(episodes) if episodes else float("nan")
                   for key in ("energy_j", "energy_inference_j", "energy_training_j")}
    return {"sparsity": sparsity, "return": summary["eval_return_mean"], "return_std": summary["eval_return_std"],
            "episodes": len(episodes), **per_episode, "step_j": summary["energy_j_per_train_step_mean"],
            "wall_s": summary["wall_s"]}


def table(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [f"{args.agent} {args.env} on {args.hw}, {args.steps} steps, seed {args.seed}, groups of {args.group} "
             f"(pruned from gradient step {args.prune_start} over {args.prune_steps}, masks every "
             f"{args.prune_interval})", "",
             "| final sparsity | eval return | training episodes | mJ per episode | inference | training "
             "| µJ per training step | wall s |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['sparsity']:g} | {r['return']:.1f} ± {r['return_std']:.1f} | {r['episodes']} "
                     f"| {r['energy_j'] * 1e3:.3f} | {r['energy_inference_j'] * 1e3:.3f} "
                     f"| {r['energy_training_j'] * 1e3:.3f} | {r['step_j'] * 1e6:.1f} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="dqn", choices=["dqn", "td3", "ddpg"])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--hw", default="omnidrl")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.0, 0.5, 0.8])
    parser.add_argument("--group", type=int, default=4, help="prune_group: rows per group (0: single weights)")
    parser.add_argument("--prune-start", type=int, default=1000, help="gradient step of the first mask update")
    parser.add_argument("--prune-steps", type=int, default=5000, help="gradient steps of the schedule")
    parser.add_argument("--prune-interval", type=int, default=100, help="gradient steps between mask updates")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_pruning"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [row(s, run_point(args, s, args.out)) for s in args.sparsities]
    text = table(rows, args)
    (args.out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
