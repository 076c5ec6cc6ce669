"""Hand-written policies on drlsim's environments: the baselines a learning agent has to beat.

1. ``drlsim/SensorNode-v0`` under a random policy and a threshold duty-cycling rule, as is
   and inside ``EnergyBudget``: the learning chip's own 5 J battery, harvesting 2 mJ per
   step and billed a fixed energy per step for inference and learning (1 mJ: a cheap
   learner; 5 mJ: an expensive one, which runs the battery flat and stops the run).
2. ``drlsim/DriftingCartPole-v0`` under two hand-written balancing controllers, across
   the switch at 20k total steps (the pole doubles in length and triples in mass) and
   the gravity drift from 40k to 60k steps.

Writes PNG plots under ``--out`` and prints the results tables. Runs in a few seconds::

    python examples/sensor_node_policies.py --out examples/out
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import envs
from envs.drifting import DRIFTING_CARTPOLE_PHASES
from envs.sensor_node import LOW_DUTY

STEPS_PER_DAY = 1440  # 60 s steps
DEVICE_CAPACITY_J = 5.0
DEVICE_HARVEST_J = 2e-3
LEARNER_CHARGE_J = {"plain": None, "cheap learner": 1e-3, "expensive learner": 5e-3}

Policy = Callable[[np.ndarray], int]


def threshold_policy(obs: np.ndarray) -> int:
    """Sample continuously on a well-charged store, at the low rate on a half-full one, else sleep;
    transmit once a quarter of the buffer is full (or anything when the store is nearly full)."""
    store, buffer = obs[0], obs[2]
    rate = 2 if store > 0.6 else 1 if store > 0.25 else 0  # index into (sleep, low, continuous)
    transmit = buffer >= 0.25 or (buffer > 0.0 and store > 0.8)
    return 2 * rate + int(transmit)


def random_policy(seed: int) -> Policy:
    space = gym.spaces.Discrete(6, seed=seed)
    return lambda obs: int(space.sample())


def run_sensor_node(policy: Policy, days: int, seed: int, charge_j: float | None) -> dict:
    """Run ``days`` one-day episodes; inside EnergyBudget when ``charge_j`` is given."""
    env = gym.make("drlsim/SensorNode-v0")
    if charge_j is not None:
        env = envs.EnergyBudget(env, capacity_j=DEVICE_CAPACITY_J, harvest_j_per_step=DEVICE_HARVEST_J)
    obs, _ = env.reset(seed=seed)
    stored, device, rewards = [], [], []
    brownouts = delivered = missed = 0
    for _ in range(days * STEPS_PER_DAY):
        if charge_j is not None:
            env.charge(charge_j)  # what the chip spent choosing this action and learning from the last
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        rewards.append(reward)
        stored.append(info["stored_j"])
        device.append(info.get("battery_j", np.nan))
        brownouts += info["brownout"]
        delivered += info["delivered"]
        missed += info["missed"]
        if info.get("truncation_reason") == "battery_empty":
            break  # the learning device is flat: the run is over
        if terminated or truncated:
            obs, _ = env.reset()
    return {
        "steps": len(rewards),
        "return": sum(rewards),
        "delivered": delivered,
        "missed": missed,
        "brownout_steps": brownouts,
        "device_end_j": device[-1],
        "stored_j": np.array(stored),
        "device_j": np.array(device),
    }


def pd_angle(obs: np.ndarray) -> int:
    """Push towards the side the pole falls to: angle plus angular velocity (rad, rad/s)."""
    return int(obs[2] + obs[3] > 0.0)


def pd_cart(obs: np.ndarray) -> int:
    """Angle and angular velocity with cart-velocity damping."""
    return int(0.2 * obs[1] + 2.0 * obs[2] + 0.5 * obs[3] > 0.0)


def run_drifting_cartpole(controller: Policy, total_steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Episodes of the drifting task until ``total_steps``: (start step of each episode, its return)."""
    env = gym.make("drlsim/DriftingCartPole-v0")
    obs, _ = env.reset(seed=seed)
    starts, returns = [0], [0.0]
    for step in range(1, total_steps + 1):
        obs, reward, terminated, truncated, _ = env.step(controller(obs))
        returns[-1] += reward
        if terminated or truncated:
            obs, _ = env.reset()
            starts.append(step)
            returns.append(0.0)
    return np.array(starts[:-1]), np.array(returns[:-1])  # drop the unfinished episode


def save_sensor_node_plots(results: dict[tuple[str, str], dict], out: Path) -> None:
    fig = Figure(figsize=(10, 7), layout="constrained")
    FigureCanvasAgg(fig)
    node_ax, device_ax, return_ax = fig.subplots(3, 1)
    for policy in ("random", "threshold"):
        trace = results[(policy, "plain")]["stored_j"]
        node_ax.plot(np.arange(trace.size) / 60.0, trace, label=policy)
    node_ax.set(xlabel="time (h)", ylabel="node store (J)", title="SensorNode-v0: the node's supercapacitor")
    for condition in ("cheap learner", "expensive learner"):
        trace = results[("threshold", condition)]["device_j"]
        device_ax.plot(np.arange(trace.size) / 60.0, trace, label=f"threshold, {condition}")
    device_ax.set(xlabel="time (h)", ylabel="device battery (J)", title="EnergyBudget: the learning chip")
    labels = [f"{p}\n{c}" for p, c in results]
    return_ax.bar(labels, [r["return"] for r in results.values()])
    return_ax.set(ylabel="return over the run")
    for ax in (node_ax, device_ax):
        ax.legend()
    fig.savefig(out / "sensor_node.png", dpi=100)


def save_drifting_plot(runs: dict[str, tuple[np.ndarray, np.ndarray]], out: Path) -> None:
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name, (starts, returns) in runs.items():
        ax.plot(starts, returns, ".", label=name)
    switch, drift = DRIFTING_CARTPOLE_PHASES
    ax.axvline(switch.start_step, color="k", linestyle="--", label="pole 2× longer, 3× heavier")
    ax.axvspan(drift.start_step, drift.end_step, color="grey", alpha=0.2, label="gravity 9.8 → 12 m/s²")
    ax.set(xlabel="total env steps", ylabel="episode return", title="DriftingCartPole-v0")
    ax.legend()
    fig.savefig(out / "drifting_cartpole.png", dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples/out"), help="directory for the PNG plots")
    parser.add_argument("--days", type=int, default=3, help="simulated days per SensorNode run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    # A fresh policy per run, so that every condition sees the same actions and the same node.
    policies: dict[str, Callable[[], Policy]] = {
        "random": lambda: random_policy(args.seed),
        "threshold": lambda: threshold_policy,
    }
    results = {
        (name, condition): run_sensor_node(make_policy(), args.days, args.seed, charge_j)
        for name, make_policy in policies.items()
        for condition, charge_j in LEARNER_CHARGE_J.items()
    }
    print(
        f"SensorNode-v0, {args.days} days, seed {args.seed} (low duty = {LOW_DUTY}); device battery: "
        f"{DEVICE_CAPACITY_J} J, +{DEVICE_HARVEST_J * 1e3:g} mJ/step harvest"
    )
    print(
        "| policy | learning chip | steps run | return | delivered | missed | node brown-out steps "
        "| device battery at end (J) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (name, condition), r in results.items():
        charge = LEARNER_CHARGE_J[condition]
        chip = "no EnergyBudget" if charge is None else f"{condition}, {charge * 1e3:g} mJ/step"
        device = "–" if charge is None else f"{r['device_end_j']:.2f}"
        print(
            f"| {name} | {chip} | {r['steps']} | {r['return']:.1f} | {r['delivered']} | "
            f"{r['missed']} | {r['brownout_steps']} | {device} |"
        )
    save_sensor_node_plots(results, args.out)

    switch, drift = DRIFTING_CARTPOLE_PHASES
    total_steps = drift.end_step + 10_000
    runs = {
        name: run_drifting_cartpole(c, total_steps, args.seed)
        for name, c in {"pd_angle": pd_angle, "pd_cart": pd_cart}.items()
    }
    bins = {
        f"before switch (< {switch.start_step})": (0, switch.start_step),
        f"after switch ({switch.start_step}–{drift.start_step})": (switch.start_step, drift.start_step),
        f"gravity drifting ({drift.start_step}–{drift.end_step})": (drift.start_step, drift.end_step),
        f"after drift (≥ {drift.end_step})": (drift.end_step, total_steps),
    }
    print(f"\nDriftingCartPole-v0, mean episode return (episodes binned by start step), seed {args.seed}")
    print("| controller | " + " | ".join(bins) + " |")
    print("|---" * (len(bins) + 1) + "|")
    for name, (starts, returns) in runs.items():
        means = [returns[(starts >= lo) & (starts < hi)].mean() for lo, hi in bins.values()]
        print(f"| {name} | " + " | ".join(f"{m:.1f}" for m in means) + " |")
    save_drifting_plot(runs, args.out)
    print(f"\nplots: {args.out / 'sensor_node.png'}, {args.out / 'drifting_cartpole.png'}")


if __name__ == "__main__":
    main()
