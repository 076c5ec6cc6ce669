"""Returns of fixed policies before and after each change of the drifting tasks (v0 and v1).

A policy that does not learn shows how much a change costs: each policy is run for one
episode per seed (12 seeds) under the dynamics of every phase of each schedule, with
the schedule replaced by that phase's parameters (``phases=[Phase(0, params)]``).

Policies: for CartPole, a PD controller with cart damping and a linear policy found by
random search on A (the first of 300 draws that scores 500 on the tuning seeds), and
one found the same way on B (B can be solved). For Pendulum, an energy-pumping
swing-up with a PD catch at the top, its gains grid-searched on A, and the same
controller grid-searched on B. Tuning uses seeds 100–103; evaluation, seeds 0–11::

    python examples/drift_policies.py            # ≈ 10 s on one core
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import envs
from envs.drifting import CARTPOLE_A, CARTPOLE_B, PENDULUM_A, PENDULUM_B

Policy = Callable[[np.ndarray], object]
TUNING_SEEDS = range(100, 104)


def episode_return(env_id: str, params: dict[str, float], policy: Policy, seed: int) -> float:
    """Return of one episode of ``env_id`` with its dynamics fixed at ``params``."""
    env = gym.make(env_id, phases=[envs.Phase(0, params)])
    obs, _ = env.reset(seed=seed)
    total = 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        if terminated or truncated:
            return total


def mean_return(env_id: str, params: dict[str, float], policy: Policy, seeds) -> float:
    return float(np.mean([episode_return(env_id, params, policy, seed) for seed in seeds]))


def pd_cart(obs: np.ndarray) -> int:
    """Push towards the falling side: 0.2 ẋ + 2 θ + 0.5 θ̇ (SI units)."""
    return int(0.2 * obs[1] + 2.0 * obs[2] + 0.5 * obs[3] > 0.0)


def linear_search(params: dict[str, float], seed: int) -> Policy:
    """The first of 300 random linear policies ``w·obs > 0`` that scores 500 on the tuning seeds."""
    rng = np.random.default_rng(seed)
    for weights in rng.normal(size=(300, 4)):
        policy = _linear(weights)
        if mean_return("drlsim/DriftingCartPole-v1", params, policy, TUNING_SEEDS) >= 500.0:
            return policy
    raise RuntimeError(f"no linear policy balances {params} in 300 draws")


def _linear(weights: np.ndarray) -> Policy:
    return lambda obs: int(np.dot(weights, obs) > 0.0)


def swing_up(gravity: float, pump: float, k_angle: float, k_rate: float, catch_rad: float) -> Policy:
    """Energy pumping towards the upright energy, PD on the angle within ``catch_rad`` of the top.

    Pendulum-v1's rod (length 1 m, mass 1 kg) has energy ``θ̇²/6 + g/2 (cos θ − 1)`` per
    kg·m² (0 upright at rest); the torque pushes along the swing while the energy is short.
    """

    def policy(obs: np.ndarray) -> np.ndarray:
        angle, rate = math.atan2(obs[1], obs[0]), float(obs[2])
        if abs(angle) < catch_rad:
            torque = -(k_angle * angle + k_rate * rate)
        else:
            energy = rate * rate / 6.0 + gravity / 2.0 * (math.cos(angle) - 1.0)
            torque = pump * energy * math.copysign(1.0, rate * math.cos(angle) + 1e-9)
        return np.array([min(max(torque, -2.0), 2.0)], dtype=np.float32)

    return policy


def tuned_swing_up(params: dict[str, float]) -> tuple[Policy, tuple[float, ...]]:
    """``swing_up`` with the gains of a small grid that score best on ``params`` (tuning seeds)."""
    gravity = params["g"]
    grid = itertools.product((1.0, 3.0, 10.0), (10.0, 20.0, 40.0), (2.0, 4.0), (0.3, 0.6, 0.9))
    scored = [
        (mean_return("drlsim/DriftingPendulum-v1", params, swing_up(gravity, *gains), TUNING_SEEDS), gains)
        for gains in grid
    ]
    _, gains = max(scored)
    return swing_up(gravity, *gains), gains


def table(env_id: str, columns: dict[str, dict[str, float]], policies: dict[str, Policy], seeds) -> None:
    """Print mean ± std of the return per policy under each column's parameters."""
    print(f"\n{env_id}, return per episode, mean ± std over {len(seeds)} seeds")
    print("| policy | " + " | ".join(columns) + " |")
    print("|---" + "|---:" * len(columns) + "|")
    for name, policy in policies.items():
        cells = []
        for params in columns.values():
            returns = [episode_return(env_id, params, policy, seed) for seed in seeds]
            cells.append(f"{np.mean(returns):.1f} ± {np.std(returns):.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12, help="evaluation seeds 0 … N-1")
    args = parser.parse_args()
    seeds = range(args.seeds)

    def phase_columns(env_id: str) -> dict[str, dict[str, float]]:
        """One column per distinct dynamics of the registered schedule: its name, start steps, parameters."""
        env = envs.find_wrapper(gym.make(env_id), envs.ParameterSchedule)
        starts: dict[tuple, list[int]] = {}
        for step in [0] + [phase.end_step for phase in env.phases]:
            starts.setdefault(tuple(sorted(env.params_at(step).items())), []).append(step)
        return {
            f"{env.phase_at(steps[0])} (from {', '.join(f'{s // 1000}k' for s in steps)})": dict(params)
            for params, steps in starts.items()
        }

    cartpole = {
        "PD with cart damping": pd_cart,
        "linear, searched on A": linear_search(CARTPOLE_A, seed=1),
        "linear, searched on (v1's) B": linear_search(CARTPOLE_B, seed=1),
    }
    for env_id in ("drlsim/DriftingCartPole-v1", "drlsim/DriftingCartPole-v0"):
        table(env_id, phase_columns(env_id), cartpole, seeds)

    on_a, gains_a = tuned_swing_up(PENDULUM_A)
    on_b, gains_b = tuned_swing_up(PENDULUM_B)
    pendulum = {
        f"swing-up tuned on A {gains_a}": on_a,
        f"swing-up tuned on (v1's) B {gains_b}": on_b,
    }
    for env_id in ("drlsim/DriftingPendulum-v1", "drlsim/DriftingPendulum-v0"):
        table(env_id, phase_columns(env_id), pendulum, seeds)


if __name__ == "__main__":
    main()
