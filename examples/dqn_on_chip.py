"""DQN learning CartPole on the int8 chip from Python, and a user's own torch MLP on the chip.

    python examples/dqn_on_chip.py [--steps 1500] [--hw edge-int8]

The first part is what ``drlsim train`` does, without the run directory: the agent acts and
learns on one ``Accelerator``, and ``agents.loop.learn`` reports each episode's energy split into
inference and training. The second part runs an ``nn.Sequential`` through ``accelerate``: forward
and backward on the chip, the gradients in the chip's formats.
"""

import argparse

import gymnasium as gym
import torch
from torch import nn

from accel import Accelerator, load_config
from agents import DQN, accelerate
from agents.loop import Meter, evaluate, learn
from agents.settings import DQNSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--hw", default="edge-int8")
    args = parser.parse_args()

    acc = Accelerator(load_config(args.hw), seed=0)
    env = gym.make("CartPole-v1")
    agent = DQN(env.observation_space, env.action_space, DQNSettings(), acc, seed=0, total_steps=args.steps)
    meter = Meter(acc)

    def report(e) -> None:
        print(f"episode {e.episode:3d}: return {e.episode_return:5.0f}, inference "
              f"{e.inference_report.energy_j * 1e6:8.2f} µJ, training {e.training_report.energy_j * 1e6:9.2f} µJ")

    learn(agent, env, args.steps, seed=0, meter=meter, on_episode=report)
    returns, energy = evaluate(agent, gym.make("CartPole-v1"), 3, seed=100, meter=meter)
    print(f"greedy policy on the chip: returns {returns}, {energy.energy_j * 1e6:.1f} µJ of inference")

    net = accelerate(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1), nn.Tanh()), acc, "mine")
    before = acc.counts
    net(torch.randn(16, 8)).pow(2).mean().backward()
    spent = acc.counts - before
    print(f"your MLP, forward and backward at batch 16: {spent.macs} MACs, {spent.cycles} cycles, "
          f"{meter.price(spent).energy_j * 1e6:.2f} µJ")


if __name__ == "__main__":
    main()
