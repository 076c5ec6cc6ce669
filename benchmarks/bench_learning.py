"""Learning on the chip: eval return, energy and wall time of real training runs, with
Stable-Baselines3 (the ``peers`` extra) on the same hyperparameters for the wall-time ratio.

Each point is one ``drlsim train`` run in its own process (``--jobs`` at a time), its directory
under ``--out`` (a finished point is reused, so an interrupted benchmark resumes). SB3 runs with
the agent's settings from ``agents.settings`` (the RL Zoo's) on one torch thread. Slow: not part of
the default tests. The issue's full grid::

    python benchmarks/bench_learning.py --agent dqn --env CartPole-v1 --steps 50000 \\
        --hw fp32 edge-int8 edge-bf16 edge-fp8 edge-fixed16 --seeds 0 1 2 --sb3
    python benchmarks/bench_learning.py --agent td3 --env Pendulum-v1 --steps 20000 \\
        --hw fp32 edge-int8 edge-bf16 edge-fp8 edge-fixed16 --seeds 0 1 2 --sb3

``--set KEY=VALUE`` changes an agent setting for every point (and for SB3 where it has the same
setting). Besides the final eval, the table gives each run's "late" return: the mean return of its
training episodes in the last fifth of its steps (exploring as it trains), which separates chips
that a nearly all-or-nothing eval of 20 episodes does not. The table (Markdown) goes to stdout and
``OUT/table.md``.
"""

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learning_curves import late_return  # noqa: E402

from agents.settings import agent_settings  # noqa: E402

LATE_FRACTION = 0.2
"""The last fraction of a run's environment steps whose training episodes give its late return."""


def run_point(agent: str, env: str, hw: str, seed: int, steps: int, eval_episodes: int, sets: list[str],
              out: Path, extra: tuple[str, ...] = (), hw_sets: list[str] = ()) -> dict:
    """One ``drlsim train`` run (reused when its directory already holds a finished run); ``extra``:
    more ``drlsim train`` options (the same for every point under ``out``); ``hw_sets``: fields of a
    chip's hardware file (``--hw-set``; not for ``fp32``)."""
    hw_sets = [] if hw == "fp32" else list(hw_sets)
    label = Path(hw).stem if hw.endswith(".toml") else hw  # a hardware file by its name, not its path
    label += "".join(f"+{key.rpartition('.')[2]}={value}" for key, _, value in (s.partition("=") for s in hw_sets))
    run_dir = out / f"{agent}__{env.replace('/', '-')}__{label}__{seed}"
    if not (run_dir / "summary.json").exists():
        args = [sys.executable, "-m", "drlsim.cli", "train", "--agent", agent, "--env", env, "--hw", hw,
                "--steps", str(steps), "--seed", str(seed), "--out", str(run_dir),
                "--eval-episodes", str(eval_episodes), *[x for s in sets for x in ("--set", s)],
                *[x for s in hw_sets for x in ("--hw-set", s)], *extra]
        log_path = out / f"{run_dir.name}.log"
        with log_path.open("w") as log:
            done = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
        if not (run_dir / "summary.json").exists():
            last = log_path.read_text().strip().splitlines()[-1:] or ["(no output)"]
            sys.exit(f"bench_learning: drlsim train exited {done.returncode} for {run_dir.name}: {last[0]} "
                     f"(log: {log_path})")
    summary = json.loads((run_dir / "summary.json").read_text())
    return summary | {"late_return": late_return(run_dir, round(steps * (1 - LATE_FRACTION)))}


def run_sb3(agent: str, env_id: str, seed: int, steps: int, eval_episodes: int, sets: dict[str, str]) -> dict:
    """The same agent and hyperparameters in Stable-Baselines3, on one torch thread."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import DDPG, DQN, TD3
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.noise import NormalActionNoise

    torch.set_num_threads(1)
    s = agent_settings(agent, sets)
    env = gym.make(env_id)
    common = {"learning_rate": s.learning_rate, "batch_size": s.batch_size, "buffer_size": s.buffer_size,
              "learning_starts": s.learning_starts, "gamma": s.gamma, "train_freq": s.train_freq,
              "gradient_steps": s.gradient_steps, "seed": seed, "device": "cpu",
              "policy_kwargs": {"net_arch": list(s.hidden)}}
    if agent == "dqn":
        model = DQN("MlpPolicy", env, target_update_interval=s.target_update_interval, tau=s.tau,
                    exploration_fraction=s.exploration_fraction, exploration_initial_eps=s.exploration_initial_eps,
                    exploration_final_eps=s.exploration_final_eps, max_grad_norm=s.max_grad_norm, **common)
    else:
        shape = env.action_space.shape
        noise = NormalActionNoise(np.zeros(shape), s.action_noise_std * np.ones(shape))
        kwargs = {"tau": s.tau, "action_noise": noise, **common}
        if agent == "td3":
            kwargs |= {"policy_delay": s.policy_delay, "target_policy_noise": s.target_policy_noise,
                       "target_noise_clip": s.target_noise_clip}
        model = (TD3 if agent == "td3" else DDPG)("MlpPolicy", env, **kwargs)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - start
    eval_env = gym.make(env_id)
    eval_env.reset(seed=seed + 10_000)
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=eval_episodes, deterministic=True,
                                 return_episode_rewards=True)
    return {"eval_return_mean": float(np.mean(returns)), "eval_return_std": float(np.std(returns)),
            "wall_s": wall, "eval_returns": [float(r) for r in returns]}


def fmt(x, scale: float | None = None, spec: str = ".3g") -> str:
    return "–" if x is None else format(x if scale is None else x * scale, spec)


def table(rows: list[tuple[str, int, dict]], sb3: dict[int, dict]) -> str:
    lines = ["| chip | seed | eval return | late | energy/episode mJ (inference + training) | energy/train step µJ "
             "| power mW | saturations | NaN/inf | wall s | wall / SB3 |", "|" + "---|" * 11]
    for hw, seed, s in rows:
        inference = s["energy_j_inference"] / max(s["episodes"], 1) if s["energy_j_inference"] is not None else None
        training = s["energy_j_training"] / max(s["episodes"], 1) if s["energy_j_training"] is not None else None
        ratio = s["wall_s"] / sb3[seed]["wall_s"] if seed in sb3 else None
        ret = "diverged" if s["diverged"] else f"{s['eval_return_mean']:.1f} ± {s['eval_return_std']:.1f}"
        lines.append(f"| {hw} | {seed} | {ret} | {fmt(s['late_return'], spec='.1f')} "
                     f"| {fmt(s['energy_j_per_episode_mean'], 1e3)} ({fmt(inference, 1e3)} + "
                     f"{fmt(training, 1e3)}) | {fmt(s['energy_j_per_train_step_mean'], 1e6)} | "
                     f"{fmt(s['power_w'], 1e3)} | {fmt(s['saturations'], spec='d')} | {fmt(s['nonfinite'], spec='d')} "
                     f"| {s['wall_s']:.0f} | {fmt(ratio, spec='.2f')} |")
    for seed, s in sorted(sb3.items()):
        lines.append(f"| SB3 fp32 | {seed} | {s['eval_return_mean']:.1f} ± {s['eval_return_std']:.1f} | – | – | – | – "
                     f"| – | – | {s['wall_s']:.0f} | 1 |")
    by_hw: dict[str, list[tuple[float, float]]] = {}
    for hw, _, s in rows:
        late = s["late_return"] if s["late_return"] is not None else float("nan")
        by_hw.setdefault(hw, []).append((s["eval_return_mean"] if not s["diverged"] else float("nan"), late))
    lines.append("")
    lines += [f"- {hw}: mean over seeds of the eval return {np.mean([e for e, _ in v]):.1f}, of the late return "
              f"{np.mean([late for _, late in v]):.1f}" for hw, v in by_hw.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="dqn", choices=["dqn", "td3", "ddpg"])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--hw", nargs="+", default=["fp32", "edge-int8"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--hw-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a field of every chip's hardware file, e.g. formats.scaling=channel_pow2")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (one process each)")
    parser.add_argument("--sb3", action="store_true", help="also run Stable-Baselines3 (pip install stable-baselines3)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "learning")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    points = [(hw, seed) for hw in args.hw for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        summaries = list(pool.map(lambda p: run_point(args.agent, args.env, p[0], p[1], args.steps,
                                                      args.eval_episodes, args.set, args.out,
                                                      hw_sets=args.hw_set), points))
    sets = dict(s.split("=", 1) for s in args.set)
    sb3 = {seed: run_sb3(args.agent, args.env, seed, args.steps, args.eval_episodes, sets) for seed in args.seeds
           } if args.sb3 else {}
    text = (f"{args.agent} on {args.env}, {args.steps} steps, eval {args.eval_episodes} deterministic episodes"
            + (f", settings {' '.join(args.set)}" if args.set else "")
            + (f", chips with {' '.join(args.hw_set)}" if args.hw_set else "") + "\n\n"
            + table([(hw, seed, s) for (hw, seed), s in zip(points, summaries, strict=True)], sb3))
    (args.out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
