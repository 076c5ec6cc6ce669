"""Continual learning on the chip: DQN on a drifting CartPole, and on a sensor node that pays for its learning.

Each point is one ``drlsim train`` run in its own process (``bench_learning.run_point``: a finished
run under ``--out`` is reused); the metrics come from the runs' own files. Slow: not part of the
default tests.

``--scenario drift``: DQN on ``drlsim/DriftingCartPole-v1`` (A → B → A → B), ``--period-steps``
env steps per phase (the env's ``period_steps``; its default is 100 000). For each change: the
return before it, the dip after it, the env steps to recover to 90 % of the return before it, and,
when A comes back, what was forgotten of it (``continual_metrics.changes``, from ``episodes.csv``).

``--scenario sensor``: DQN on ``drlsim/SensorNode-v1`` for ``--days`` simulated days, learning paid
from the node's own store (``--energy-budget store``), each day's deliveries, losses, brown-outs,
learner energy and store (``trace.csv``), beside the hand-written policies of
``examples/sensor_node_policies.py`` on the same seed (the same sky and events)::

    python benchmarks/bench_continual.py --scenario drift --hw fp32 edge-bf16 edge-int8 --seeds 0
    python benchmarks/bench_continual.py --scenario sensor --hw fp32 edge-int8 cnpu2019 --seeds 0 1 2

Each set of points has its directory under ``--out`` (``drift-p25000``, ``sensor``, ``sensor-unpaid``, with
``-KEY=VALUE`` for each ``--set``); its table (Markdown) goes to stdout and ``NAME.md`` beside it, its plot
to ``NAME.png``.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]

from bench_learning import run_point  # noqa: E402
from continual_metrics import Change, Day, changes, days, read_episodes, read_trace  # noqa: E402

import envs  # noqa: E402, F401  (registers the drlsim/ ids)
from drlsim.cli import env_kwargs  # noqa: E402

DRIFT_ENV = "drlsim/DriftingCartPole-v1"
SENSOR_ENV = "drlsim/SensorNode-v1"
TRACED = ("stored_j", "delivered", "lost", "brownout", "learner_j", "harvest_j")
"""The node's ``info`` keys the sensor runs trace (``drlsim train --trace``) and the baselines record."""


def _cell(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None else format(x, spec)


def drift_table(runs: dict[tuple[str, int], tuple[dict, list[Change]]], window: int) -> str:
    lines = ["| chip | seed | change | at env step | return before (best in phase) | right after (dip) | lowest "
             "| steps to 90 % of before | return when last there | forgotten |", "|" + "---|" * 10]
    for (hw, seed), (_, found) in runs.items():
        for c in found:
            recover = f"{c.recover_steps:,}" if c.recover_steps is not None else f"> {c.phase_steps:,} (not reached)"
            lines.append(f"| {hw} | {seed} | {c.old} → {c.new} | {c.step:,} | {c.before:.1f} ({c.best_before:.1f}) "
                         f"| {c.after:.1f} | {c.lowest:.1f} | {recover} | {_cell(c.earlier)} | {_cell(c.forgotten)} |")
    lines += ["", "| chip | seed | eval return on A after the run | episodes | energy/episode mJ | energy total J "
                  "| wall s |", "|---|---|---|---|---|---|---|"]
    for (hw, seed), (s, _) in runs.items():
        per_episode = s["energy_j_per_episode_mean"]
        total = s["energy_j_total"]
        lines.append(f"| {hw} | {seed} | {s['eval_return_mean']:.1f} ± {s['eval_return_std']:.1f} | {s['episodes']} "
                     f"| {_cell(per_episode and per_episode * 1e3, '.3g')} | {_cell(total, '.3g')} "
                     f"| {s['wall_s']:.0f} |")
    lines.append(f"\nReturns are means of {window} episodes; a change is counted from the end of the episode "
                 "during which it came (episodes.csv's phase 'A>B'), whose return belongs to neither phase.")
    return "\n".join(lines)


def drift_plot(runs: dict[tuple[str, int], tuple[dict, list[Change]]], out: Path, path: Path, window: int) -> None:
    """Return per episode (dots) and its mean over ``window`` episodes (line) per run; B phases shaded."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for i, ((hw, seed), (_, found)) in enumerate(runs.items()):
        episodes = read_episodes(out / _run_name(DRIFT_ENV, hw, seed) / "episodes.csv")
        steps = np.array([e.env_steps for e in episodes])
        returns = np.array([e.episode_return for e in episodes])
        color = f"C{i}"
        ax.plot(steps, returns, ".", color=color, alpha=0.15, markersize=2)
        if len(returns) >= window:
            ax.plot(steps[window - 1:], np.convolve(returns, np.ones(window) / window, "valid"), color=color,
                    label=f"{hw}, seed {seed}")
        if i == 0:  # the phases as the first run recorded them
            ends = [c.step for c in found] + [int(steps[-1])]
            for c, end in zip(found, ends[1:], strict=True):
                if c.new == "B":
                    ax.axvspan(c.step, end, color="0.85", zorder=0)
    ax.set(xlabel="env steps (grey: dynamics B)", ylabel="episode return", title=f"DQN on {DRIFT_ENV}")
    ax.legend(loc="upper left")
    fig.savefig(path, dpi=100)


def _run_name(env: str, hw: str, seed: int) -> str:
    return f"dqn__{env.replace('/', '-')}__{hw}__{seed}"  # as bench_learning.run_point names it


def _points_dir(args: argparse.Namespace, name: str) -> Path:
    """Where a set of points lives: its name says what differs between sets (the run directories inside
    are named by chip and seed only, and a finished one is reused)."""
    return args.out / (name + "".join(f"-{s}" for s in args.set))


def run_drift(args: argparse.Namespace) -> Path:
    out = _points_dir(args, f"drift-p{args.period_steps}")
    out.mkdir(parents=True, exist_ok=True)
    extra = ("--env-kwarg", f"period_steps={args.period_steps}", *_env_kwargs(args))
    steps = args.phases * args.period_steps
    runs = {}
    for hw in args.hw:
        for seed in args.seeds:
            summary = run_point("dqn", DRIFT_ENV, hw, seed, steps, args.eval_episodes, args.set, out, extra)
            found = changes(read_episodes(out / _run_name(DRIFT_ENV, hw, seed) / "episodes.csv"), args.window)
            runs[hw, seed] = (summary, found)
    text = (f"DQN on {DRIFT_ENV} with period_steps={args.period_steps} ({args.phases} phases, {steps:,} env steps; "
            f"the env's default period is 100 000), settings {args.set or 'the defaults'}\n\n"
            + drift_table(runs, args.window))
    drift_plot(runs, out, out.with_suffix(".png"), args.window)
    out.with_suffix(".md").write_text(text + "\n")
    return out


def _env_kwargs(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(x for kv in args.env_kwarg for x in ("--env-kwarg", kv))


BASELINES = ("random", "careless", "threshold", "sense-when-charged", "tuned")


def baselines(wanted: list[str], days_: int) -> dict[str, Callable[[int], Callable]]:
    """examples/sensor_node_policies.py's policies named in ``wanted``, each a function of the seed; the
    tuned one grid-searched there, on its tuning seeds and the default node, over ``days_`` days."""
    import sensor_node_policies as p

    fixed = {"random": p.random_policy, "careless": lambda _s: p.careless, "threshold": lambda _s: p.threshold,
             "sense-when-charged": lambda _s: p.sense_when_charged}
    chosen = {name: make for name, make in fixed.items() if name in wanted}
    if "tuned" in wanted:
        gains, best = p.tune(days_)
        chosen[f"tuned {gains}"] = lambda _s: best
    return chosen


def baseline_trace(policy: Callable, seed: int, days_: int, env_kwargs: dict) -> dict[str, np.ndarray]:
    """The trace a policy leaves on the node over ``days_`` one-day episodes from ``seed``, reset as
    ``drlsim train`` resets (``seed`` once, then unseeded), with nothing drawn by a learner."""
    env = gym.make(SENSOR_ENV, **env_kwargs)
    rows: list[dict] = []
    obs, _ = env.reset(seed=seed)
    for day in range(1, days_ + 1):
        if day > 1:
            obs, _ = env.reset()
        truncated = False
        while not truncated:
            obs, reward, _, truncated, info = env.step(policy(obs))
            rows.append({"episode": day, "reward": reward, **{k: float(info[k]) for k in TRACED}})
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def sensor_table(rows: dict[tuple[str, int], tuple[list[Day], dict | None]], days_: int) -> str:
    head = " | ".join(f"return d{d}" for d in range(1, days_ + 1))
    lines = [f"| policy | seed | {head} | delivered | lost | brown-outs | learner J | learner J/train step (µJ) "
             f"| store min J | eval return |", "|" + "---|" * (10 + days_ - 1)]
    for (name, seed), (ds, s) in rows.items():
        per_step = s and s["energy_j_per_train_step_mean"]
        eval_return = f"{s['eval_return_mean']:.1f} ± {s['eval_return_std']:.1f}" if s else "–"
        lines.append(f"| {name} | {seed} | " + " | ".join(f"{d.day_return:.1f}" for d in ds)
                     + f" | {sum(d.delivered for d in ds)} | {sum(d.lost for d in ds)} | "
                     f"{sum(d.brownouts for d in ds)} | {sum(d.learner_j for d in ds):.3f} | "
                     f"{_cell(per_step and per_step * 1e6, '.0f')} | {min(d.stored_min_j for d in ds):.2f} "
                     f"| {eval_return} |")
    return "\n".join(lines)


def sensor_plot(traces: dict[str, dict[str, np.ndarray]], step_s: float, path: Path, paid: bool) -> None:
    """Store, deliveries and the learner's energy over the days, one line per policy; days marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 8), layout="constrained")
    FigureCanvasAgg(fig)
    store, delivered, learner = fig.subplots(3, 1, sharex=True)
    for i, (name, t) in enumerate(traces.items()):
        hours = np.arange(1, len(t["stored_j"]) + 1) * step_s / 3600.0
        style = {"color": f"C{i}", "linestyle": "-" if name.startswith("DQN") else ":"}
        store.plot(hours, t["stored_j"], label=name, **style)
        delivered.plot(hours, np.cumsum(t["delivered"]), **style)
        learner.plot(hours, np.cumsum(t["learner_j"]), **style)
    first = next(iter(traces.values()))
    for end in np.flatnonzero(np.diff(first["episode"])) + 1:  # steps done when a day ended
        for ax in (store, delivered, learner):
            ax.axvline(end * step_s / 3600.0, color="0.6", linewidth=0.8)
    title = "paying for its learning from the store" if paid else "learning without paying"
    store.set(ylabel="usable store (J)", title=f"{SENSOR_ENV}: DQN {title}")
    delivered.set(ylabel="readings delivered (cumulative)")
    learner.set(xlabel="time (h; grey: the episodes' ends)", ylabel="drawn by the learner (J, cumulative)")
    store.legend(loc="lower left", fontsize=8, ncols=2)
    fig.savefig(path, dpi=100)


def run_sensor(args: argparse.Namespace) -> Path:
    out = _points_dir(args, "sensor-unpaid" if args.unpaid else "sensor")
    out.mkdir(parents=True, exist_ok=True)
    kwargs = env_kwargs(args.env_kwarg)
    node = gym.make(SENSOR_ENV, **kwargs).unwrapped.settings
    steps = args.days * round(node.episode_s / node.step_s)
    pay = () if args.unpaid else ("--energy-budget", "store")
    extra = (*pay, "--trace", ",".join(TRACED), *_env_kwargs(args))
    rows: dict[tuple[str, int], tuple[list[Day], dict | None]] = {}
    traces: dict[str, dict[str, np.ndarray]] = {}
    for hw in args.hw:
        for seed in args.seeds:
            summary = run_point("dqn", SENSOR_ENV, hw, seed, steps, args.eval_episodes, args.set, out, extra)
            trace = read_trace(out / _run_name(SENSOR_ENV, hw, seed) / "trace.csv")
            rows[f"DQN on {hw}", seed] = (days(trace), summary)
            if seed == args.seeds[0]:
                traces[f"DQN on {hw}"] = trace
    for name, make in baselines(args.baselines, args.days).items():
        for seed in args.seeds:
            trace = baseline_trace(make(seed), seed, args.days, kwargs)
            rows[name, seed] = (days(trace), None)
            if seed == args.seeds[0]:
                traces[name] = trace
    sensor_plot(traces, node.step_s, out.with_suffix(".png"), not args.unpaid)
    paid = "not paid (the chip's energy is counted, the store is not billed)" if args.unpaid else (
        "paid from the node's store")
    text = (f"DQN on {SENSOR_ENV}, {args.days} episodes of {node.episode_s / 3600:g} h ({steps:,} env steps of "
            f"{node.step_s:g} s), learning {paid}; settings {args.set or 'the defaults'}. Eval "
            f"return: the greedy policy after the run, {args.eval_episodes} episodes, not paying.\n\n"
            + sensor_table(rows, args.days))
    out.with_suffix(".md").write_text(text + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["drift", "sensor"], required=True)
    parser.add_argument("--hw", nargs="+", default=["fp32", "edge-int8"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--period-steps", type=int, default=25_000, help="drift: env steps per phase")
    parser.add_argument("--phases", type=int, default=4, help="drift: phases run (A, B, A, B)")
    parser.add_argument("--window", type=int, default=10, help="drift: episodes averaged per return")
    parser.add_argument("--days", type=int, default=3, help="sensor: one-day episodes")
    parser.add_argument("--unpaid", action="store_true",
                        help="sensor: learning not billed to the store (the reference for what paying costs)")
    parser.add_argument("--baselines", nargs="*", choices=BASELINES, default=list(BASELINES),
                        help="sensor: the hand-written policies to run beside DQN (default all)")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an agent setting")
    parser.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                        help="an env keyword argument for every run and baseline, e.g. episode_s=3600")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "continual")
    args = parser.parse_args()
    for name in ("period_steps", "phases", "window", "days", "eval_episodes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    out = (run_drift if args.scenario == "drift" else run_sensor)(args)
    print(out.with_suffix(".md").read_text(), end="")
    print(f"\ntable: {out.with_suffix('.md')}, plot: {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
