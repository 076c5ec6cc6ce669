"""Real learning (slow: ``python -m pytest -m slow``): short DQN runs on CartPole that must learn."""

import gymnasium as gym
import pytest

from accel import Accelerator, load_config
from agents import DQN
from agents.loop import Meter, evaluate, learn


@pytest.mark.slow
@pytest.mark.parametrize("hw, floor", [("fp32", 100.0), ("edge-int8", 80.0)])
def test_dqn_learns_cartpole_in_3000_steps(hw, floor):
    acc = None if hw == "fp32" else Accelerator(load_config(hw), seed=0)
    env = gym.make("CartPole-v1")
    agent = DQN(env.observation_space, env.action_space, accelerator=acc, seed=0, total_steps=3000)
    learn(agent, env, 3000, 0, Meter(acc))
    returns, _ = evaluate(agent, gym.make("CartPole-v1"), 5, 10_000, Meter(acc))
    assert sum(returns) / len(returns) >= floor  # a random policy scores about 20
