"""Hand-written policies on ``drlsim/SensorNode-v1``: the baselines a learning agent has to beat.

Five policies, each run for ``--days`` one-day episodes on each of ``--seeds`` seeds
(0 … N-1); the table gives the mean return per day (± the standard deviation over the
seeds' means), what happened to the readings, brown-outs, and where the node's energy
went. Then the best of them runs with a learner on the node that draws a fixed energy
per step from the node's own store (``EnergyBudget``), as a training loop would::

    python examples/sensor_node_policies.py            # ≈ 40 s on one core
    python examples/sensor_node_policies.py --plot examples/out/sensor_node.png

The tuned heuristic's three thresholds are grid-searched on seeds 100–105 (never the
evaluation seeds).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs
from envs.sensor_node import LORAWAN_HEADER_BYTES, lora_time_on_air_s

ENV_ID = "drlsim/SensorNode-v1"
TUNING_SEEDS = range(100, 106)
LEARNER_MJ_PER_STEP = (0.0, 0.1, 0.3, 1.0)

Policy = Callable[[np.ndarray], int]
# Observation indices (see envs.sensor_node.SensorNodeEnv).
STORE, LIGHT, BUFFER, SIN_T, COS_T, DAY_LENGTH, SINCE_DETECTION, RATE, RUNNING, AGE = range(10)


def action(arm: bool, send: bool) -> int:
    """Discrete action of SensorNode-v1: 2·armed + send."""
    return 2 * int(arm) + int(send)


def careless(obs: np.ndarray) -> int:
    """Sensor always armed; every reading sent at once in its own frame."""
    return action(True, True)


def threshold(obs: np.ndarray) -> int:
    """Arm on a store above a quarter; send once a quarter of the buffer is full, or on a nearly full store."""
    send = obs[BUFFER] >= 0.25 or (obs[BUFFER] > 0.0 and obs[STORE] > 0.8)
    return action(obs[STORE] > 0.25, send)


def sense_when_charged(obs: np.ndarray) -> int:
    """Arm whenever the store is above 5 %; the threshold policy's radio rule."""
    send = obs[BUFFER] >= 0.25 or (obs[BUFFER] > 0.0 and obs[STORE] > 0.8)
    return action(obs[STORE] > 0.05, send)


def tuned(age_limit: float, busy_rate: float, reserve: float) -> Policy:
    """A heuristic with memory: it uses the node's recent detections and the age of its readings.

    Energy is free when the store is nearly full in daylight: send whatever is buffered.
    Otherwise batch: send when the oldest reading reaches ``age_limit`` of the deadline or the
    buffer is full, but while detections come fast (busy regime, read from the
    exponentially averaged detection rate ``> busy_rate``) wait for a fuller frame unless
    the oldest is about to go stale. Never send below ``reserve`` of the store, which keeps
    the node alive; arm the sensor above half of that.
    """

    def policy(obs: np.ndarray) -> int:
        buffered = obs[BUFFER] > 0.0
        surplus = obs[STORE] > 0.95 and obs[LIGHT] > 0.05
        busy = obs[RATE] > busy_rate
        due = obs[AGE] >= (0.97 if busy else age_limit) or obs[BUFFER] >= 1.0
        send = buffered and obs[STORE] > reserve and (surplus or due)
        return action(obs[STORE] > reserve / 2.0, send)

    return policy


def random_policy(seed: int) -> Policy:
    space = gym.spaces.Discrete(4, seed=seed)
    return lambda obs: int(space.sample())


def run(policy: Policy, seed: int, days: int, learner_j: float = 0.0) -> dict[str, float]:
    """``days`` one-day episodes from ``seed``; totals per day. ``learner_j``: drawn per step via EnergyBudget."""
    env = gym.make(ENV_ID)
    if learner_j:
        env = envs.EnergyBudget(env)
    node = env.unwrapped
    totals = dict.fromkeys(("return", "events", "delivered", "lost", "brownouts", "radio_j", "node_j", "leak_j",
                            "learner_j", "harvest_j"), 0.0)
    obs, _ = env.reset(seed=seed)
    for day in range(days):
        if day:
            obs, _ = env.reset()
        truncated = False
        while not truncated:
            if learner_j:
                env.charge(learner_j)
            obs, reward, _, truncated, info = env.step(policy(obs))
            radio_j = 0.0 if info["brownout"] else node.frame_j(info["delivered"])
            totals["return"] += reward
            totals["events"] += info["event"]
            totals["delivered"] += info["delivered"]
            totals["lost"] += info["lost"]
            totals["brownouts"] += info["brownout"]
            totals["radio_j"] += radio_j
            totals["node_j"] += info["spent_j"] - radio_j
            totals["leak_j"] += info["leak_j"]
            totals["learner_j"] += info["learner_j"]
            totals["harvest_j"] += info["harvest_j"]
    return {name: value / days for name, value in totals.items()}


def evaluate(make_policy: Callable[[int], Policy], seeds, days: int, learner_j: float = 0.0) -> dict[str, float]:
    """Means over seeds of the per-day figures, and the std over seeds of the return."""
    runs = [run(make_policy(seed), seed, days, learner_j) for seed in seeds]
    out = {name: float(np.mean([r[name] for r in runs])) for name in runs[0]}
    out["return_std"] = float(np.std([r["return"] for r in runs]))
    return out


def tune(days: int) -> tuple[tuple[float, float, float], Policy]:
    """Grid-search the tuned heuristic's thresholds on the tuning seeds."""
    grid = list(itertools.product((0.6, 0.8, 0.9), (0.05, 0.15, 0.3), (0.1, 0.2, 0.35)))
    scores = [(evaluate(lambda _s, g=g: tuned(*g), TUNING_SEEDS, days)["return"], g) for g in grid]
    _, best = max(scores)
    return best, tuned(*best)


def plot(policies: dict[str, Callable[[int], Policy]], path: Path, days: int) -> None:
    """Store level over ``days`` days of seed 0 under each policy."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name, make_policy in policies.items():
        env = gym.make(ENV_ID)
        policy = make_policy(0)
        obs, _ = env.reset(seed=0)
        stored = []
        for day in range(days):
            if day:
                obs, _ = env.reset()
            truncated = False
            while not truncated:
                obs, _, _, truncated, info = env.step(policy(obs))
                stored.append(info["stored_j"])
        ax.plot(np.arange(len(stored)) / 60.0, stored, label=name)
    ax.set(xlabel="time (h, one-day episodes back to back)", ylabel="usable store (J)", title=ENV_ID)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12, help="evaluation seeds 0 … N-1")
    parser.add_argument("--days", type=int, default=3, help="one-day episodes per seed")
    parser.add_argument("--plot", type=Path, help="write a PNG of the store under each policy")
    args = parser.parse_args()
    seeds = range(args.seeds)

    print(f"{ENV_ID}: energy of one uplink frame (mJ) by spreading factor, the other settings at their defaults")
    print("| SF | airtime, 1 reading (ms) | frame, 1 reading | frame, 16 readings | per reading, batched by 16 |")
    print("|---|---:|---:|---:|---:|")
    for sf in range(7, 13):
        node = gym.make(ENV_ID, spreading_factor=sf).unwrapped
        airtime_ms = lora_time_on_air_s(LORAWAN_HEADER_BYTES + node.settings.reading_bytes, sf) * 1e3
        one, full = node.frame_j(1) * 1e3, node.frame_j(16) * 1e3
        print(f"| {sf} | {airtime_ms:.1f} | {one:.1f} | {full:.1f} | {full / 16:.1f} |")

    gains, best = tune(args.days)
    policies: dict[str, Callable[[int], Policy]] = {
        "random": random_policy,
        "careless (always armed, send every reading)": lambda _s: careless,
        "threshold (v0's rule)": lambda _s: threshold,
        "sense when charged (> 5 %)": lambda _s: sense_when_charged,
        f"tuned, with memory {gains}": lambda _s: best,
    }
    print(f"\n{ENV_ID}: per one-day episode, {args.days} days × {args.seeds} seeds; return ± std over seeds")
    print("| policy | return | delivered | lost | events | brown-outs | radio J | sleep+sensing J | leak J "
          "| harvest J |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, make_policy in policies.items():
        r = evaluate(make_policy, seeds, args.days)
        print(
            f"| {name} | {r['return']:.1f} ± {r['return_std']:.1f} | {r['delivered']:.1f} | {r['lost']:.1f} "
            f"| {r['events']:.1f} | {r['brownouts']:.2f} | {r['radio_j']:.2f} | {r['node_j']:.2f} "
            f"| {r['leak_j']:.2f} | {r['harvest_j']:.0f} |"
        )

    print(f"\nThe tuned heuristic with a learner on the node drawing from its store (EnergyBudget), {args.seeds} seeds")
    print("| learner draw (mJ/step) | learner J/day | return | delivered | lost | brown-outs |")
    print("|---:|---:|---:|---:|---:|---:|")
    for learner_mj in LEARNER_MJ_PER_STEP:
        r = evaluate(lambda _s: best, seeds, args.days, learner_mj * 1e-3)
        print(
            f"| {learner_mj:g} | {r['learner_j']:.2f} | {r['return']:.1f} ± {r['return_std']:.1f} "
            f"| {r['delivered']:.1f} | {r['lost']:.1f} | {r['brownouts']:.2f} |"
        )
    if args.plot:
        plot(policies, args.plot, args.days)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
