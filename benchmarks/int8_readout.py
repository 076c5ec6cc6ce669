"""Why an int8 chip's greedy actions differ from fp32's: Q-values of one fp32-trained DQN read on chips.

A DQN is trained on torch fp32 (CartPole-v1, the agent's default settings), then the states its
greedy policy visits are fed at batch 1 (as the agent acts) to the same weights on each chip
variant: the error of the Q-values, how often the greedy action flips against fp32's, and the
return of the greedy policy on that chip. Variants separate the causes: the Q output rounded to
int8 (per-tensor power-of-two scale), read at int16 (the last layer's output on a chip whose
activations are int16) or out of the int32 accumulator (``q_readout = "accumulator"``), and
stochastic against nearest rounding. With ``--dueling`` the network trained (and read) is a
dueling one (``dueling = true``), which acts on its advantages alone. Run::

    python benchmarks/int8_readout.py [--steps 50000] [--seed 0] [--states 3000] [--episodes 10] [--dueling]
"""

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel import Accelerator, load_config
from accel.config import with_overrides
from agents import DQN, accelerate
from agents.dueling import DuelingQ
from agents.linear import forward
from agents.loop import Meter, evaluate, learn
from agents.settings import DQNSettings

VARIANTS = {  # chip (a preset or edge-int8's overrides), the last layer's chip overrides, q_readout
    "edge-int8 (stochastic rounding, int8 Q)": ({}, None, "activation"),
    "edge-int8, nearest rounding": ({"formats.rounding": "nearest"}, None, "activation"),
    "edge-int8, Q read at int16": ({}, {"formats.activation": "int16"}, "activation"),
    "edge-int8, nearest, Q read at int16": ({"formats.rounding": "nearest"},
                                            {"formats.activation": "int16", "formats.rounding": "nearest"},
                                            "activation"),
    "edge-int8, Q out of the int32 accumulator": ({}, None, "accumulator"),
    "edge-bf16": ("edge-bf16", None, "activation"),
    "edge-fixed16": ("edge-fixed16", None, "activation"),
}


def chip_agent(trained: DQN, env: gym.Env, variant, seed: int) -> DQN:
    """A copy of ``trained`` whose Q-network runs on the variant's chip."""
    base, wide, q_readout = variant
    config = load_config(base) if isinstance(base, str) else with_overrides(load_config("edge-int8"), base)
    acc = Accelerator(config, seed=seed)
    settings = dataclasses.replace(trained.settings, q_readout=q_readout)
    agent = DQN(env.observation_space, env.action_space, settings, acc, seed=seed)
    if settings.dueling:
        copy = DuelingQ([env.observation_space.shape[0], *settings.hidden], int(env.action_space.n))
        copy.load_state_dict(trained.q.state_dict())
        agent.q = copy.on_chip(acc, "q", q_readout)
        if wide is not None:  # both heads (and their outputs) on a chip with wider activations
            for head in (agent.q.value, agent.q.advantage):
                head[-1].accelerator = Accelerator(with_overrides(config, wide), seed=seed)
        return agent
    body = torch.nn.Sequential(*[m for m in trained.q])
    agent.q = accelerate(body, acc, "q", q_readout)
    if wide is not None:  # the last layer (and its output) on a chip with wider activations
        agent.q[-1].accelerator = Accelerator(with_overrides(config, wide), seed=seed)
    return agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--states", type=int, default=3000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--dueling", action="store_true", help="train and read a dueling Q-network")
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = gym.make("CartPole-v1")
    trained = DQN(env.observation_space, env.action_space, DQNSettings(dueling=args.dueling), seed=args.seed,
                  total_steps=args.steps)
    start = time.perf_counter()
    learn(trained, env, args.steps, args.seed, Meter(None))
    print(f"fp32 DQN trained {args.steps} steps in {time.perf_counter() - start:.0f} s")
    states = []
    eval_env = gym.make("CartPole-v1")
    while len(states) < args.states:
        obs, _ = eval_env.reset(seed=len(states))
        done = False
        while not done and len(states) < args.states:
            states.append(obs)
            obs, _, terminated, truncated, _ = eval_env.step(trained.predict(obs))
            done = terminated or truncated
    states = np.array(states, np.float32)
    with torch.no_grad():
        q32 = trained.q(torch.from_numpy(states)).numpy()
    gap = np.abs(q32[:, 0] - q32[:, 1])
    fp32_returns, _ = evaluate(trained, gym.make("CartPole-v1"), args.episodes, 10_000, Meter(None))
    print(f"{len(states)} states; fp32 |Q| median {np.median(np.abs(q32)):.2f}, action gap median {np.median(gap):.3f}"
          f" (10 % below {np.quantile(gap, 0.1):.3f}); fp32 greedy return {np.mean(fp32_returns):.1f}\n")
    print("| chip | mean abs Q error | greedy action flips | greedy return |\n|---|---|---|---|")
    for name, variant in VARIANTS.items():
        agent = chip_agent(trained, env, variant, args.seed)
        with torch.no_grad():
            q = np.concatenate([forward(agent.q, torch.from_numpy(s[None]), "obs").numpy() for s in states])
        flips = np.mean(np.array([agent.predict(s) for s in states]) != np.argmax(q32, axis=1))  # as it acts
        returns, _ = evaluate(agent, gym.make("CartPole-v1"), args.episodes, 10_000, Meter(agent.accelerator))
        print(f"| {name} | {np.mean(np.abs(q - q32)):.3f} | {flips:.1%} | {np.mean(returns):.1f} |", flush=True)


if __name__ == "__main__":
    main()
