"""Env steps per second of every ``drlsim/`` id, against CartPole-v1 and Pendulum-v1 in the same run.

Each env is built with ``gymnasium.make`` (so the timings include the wrappers a
training loop gets), stepped with pre-sampled random actions and reset at episode
ends; the best of ``--repeats`` timings is reported. ``EnergyBudget`` charged every step,
around SensorNode-v1 (the learner draws from the node's store) and around CartPole-v1
(a separate battery), shows the wrapper's cost. Run::

    python benchmarks/bench_envs.py [--steps 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections.abc import Callable

import gymnasium as gym

import envs

PEERS = ("CartPole-v1", "Pendulum-v1")
TARGET_STEPS_PER_S = {"drlsim/SensorNode-v1": 20_000, "drlsim/SensorNodeContinuous-v1": 20_000}


def steps_per_second(make: Callable[[], gym.Env], steps: int, repeats: int, charge: bool = False) -> float:
    """Best-of-``repeats`` env steps per second over ``steps`` steps."""
    env = make()
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(1000)]
    best = 0.0
    for repeat in range(repeats):
        env.reset(seed=repeat)
        start = time.perf_counter()
        for i in range(steps):
            if charge:
                env.charge(1e-6)
            _, _, terminated, truncated, _ = env.step(actions[i % 1000])
            if terminated or truncated:
                env.reset()
        best = max(best, steps / (time.perf_counter() - start))
    env.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000, help="steps per timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per env; the best is kept")
    args = parser.parse_args()

    warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)  # the -v0 ids
    drlsim_ids = sorted(env_id for env_id in gym.registry if env_id.startswith("drlsim/"))
    makers: dict[str, Callable[[], gym.Env]] = {env_id: (lambda i=env_id: gym.make(i)) for env_id in PEERS}
    makers |= {env_id: (lambda i=env_id: gym.make(i)) for env_id in drlsim_ids}
    rates = {name: steps_per_second(make, args.steps, args.repeats) for name, make in makers.items()}
    budgets: dict[str, Callable[[], gym.Env]] = {
        "EnergyBudget(drlsim/SensorNode-v1), charged every step": lambda: envs.EnergyBudget(
            gym.make("drlsim/SensorNode-v1")
        ),
        "EnergyBudget(CartPole-v1, capacity_j=1e3), charged every step": lambda: envs.EnergyBudget(
            gym.make("CartPole-v1"), capacity_j=1e3
        ),
    }
    for name, make in budgets.items():
        rates[name] = steps_per_second(make, args.steps, args.repeats, charge=True)

    print(
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"gymnasium {gym.__version__}; {args.steps} steps, best of {args.repeats}"
    )
    print(f"| env | steps/s | vs {PEERS[0]} | vs {PEERS[1]} | target |")
    print("|---|---|---|---|---|")
    for name, rate in rates.items():
        target = TARGET_STEPS_PER_S.get(name)
        verdict = "" if target is None else f"≥ {target}: {'ok' if rate >= target else 'MISSED'}"
        print(
            f"| {name} | {rate:,.0f} | {rate / rates[PEERS[0]]:.2f} | {rate / rates[PEERS[1]]:.2f} "
            f"| {verdict} |"
        )


if __name__ == "__main__":
    main()
