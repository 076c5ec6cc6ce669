"""Is int8 TD3 held back by one power-of-two scale over inputs of different ranges?

Pendulum's observation is (cos θ, sin θ, θ̇) with |θ̇| ≤ 8: one per-tensor scale, set by θ̇,
leaves cos θ and sin θ about four bits on an int8 chip. This trains TD3 (64-64 networks,
``learning_starts`` 1000) on ``edge-int8`` with the observation as it is, or with θ̇ divided by 8
(``--divide-velocity``: the agents' ``obs_scale = "bounds"``, every field in [−1, 1], what per-field
scales on the chip would give; the same bits as an environment that divides it), and
prints the eval return (20 deterministic episodes on the chip). Run::

    python benchmarks/td3_input_scale.py [--divide-velocity] [--seed 0] [--steps 11000] [--hw edge-int8]
"""

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel import Accelerator, load_config
from agents import TD3
from agents.loop import Meter, evaluate, learn
from agents.settings import TD3Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--divide-velocity", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=11_000)
    parser.add_argument("--hw", default="edge-int8")
    args = parser.parse_args()

    acc = Accelerator(load_config(args.hw), seed=args.seed)
    env = gym.make("Pendulum-v1")
    settings = TD3Settings(hidden=(64, 64), learning_starts=1000,
                           obs_scale="bounds" if args.divide_velocity else "none")
    agent = TD3(env.observation_space, env.action_space, settings, acc, seed=args.seed)
    learn(agent, env, args.steps, args.seed, Meter(acc))
    returns, _ = evaluate(agent, gym.make("Pendulum-v1"), 20, args.seed + 10_000, Meter(acc))
    print(f"{args.hw}, seed {args.seed}, velocity {'divided by 8' if args.divide_velocity else 'as is'}: "
          f"eval return {np.mean(returns):.1f} ± {np.std(returns):.1f}")


if __name__ == "__main__":
    main()
