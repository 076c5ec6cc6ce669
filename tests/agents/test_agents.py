"""The agents: the same code on torch fp32 and on an all-fp32 chip takes the same steps; the
learning loop charges each step's energy to an ``EnergyBudget``; settings are checked once."""

import dataclasses
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from chips import fp32_chip

from accel import Accelerator, load_config
from accel.workload import run_counts
from agents import DQN, TD3
from agents.linear import AccelLinear
from agents.loop import Meter, learn
from agents.settings import DQNSettings, TD3Settings, agent_settings, ddpg_settings
from envs import EnergyBudget

TINY = {"hidden": (8, 8), "batch_size": 4, "learning_starts": 4, "buffer_size": 32}


def weights(net) -> list[np.ndarray]:
    """Weights as the chip stores them (fan_in, fan_out), from either kind of network."""
    return [(m.weight.T if isinstance(m, torch.nn.Linear) else m.weight).detach().numpy().copy()
            for m in net if isinstance(m, torch.nn.Linear | AccelLinear)]


def trained(agent_cls, settings, env_id: str, accelerator, steps: int = 12):
    env = gym.make(env_id)
    agent = agent_cls(env.observation_space, env.action_space, settings, accelerator, seed=0)
    learn(agent, env, steps, 0, Meter(accelerator))
    return agent


@pytest.mark.parametrize("agent_cls, settings, env_id", [
    (DQN, DQNSettings(**TINY, train_freq=2, gradient_steps=2, double_q=True), "CartPole-v1"),
    (TD3, TD3Settings(**TINY), "Pendulum-v1"),
])
def test_the_fp32_chip_learns_as_torch_does(agent_cls, settings, env_id):
    reference, chip = trained(agent_cls, settings, env_id, None), trained(agent_cls, settings, env_id, fp32_chip())
    assert chip.train_steps == reference.train_steps > 0
    net = "q" if agent_cls is DQN else "pi"
    for a, b in zip(weights(getattr(chip, net)), weights(getattr(reference, net)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_each_step_is_charged_to_the_energy_budget():
    env = EnergyBudget(gym.make("CartPole-v1"), capacity_j=1.0)
    acc = Accelerator(load_config("edge-int8"))
    agent = DQN(env.observation_space, env.action_space, DQNSettings(**TINY, train_freq=4, gradient_steps=1), acc)
    totals = learn(agent, env, 25, 0, Meter(acc))
    spent = Meter(acc).price(totals.inference + totals.training).energy_j
    owed = Meter(acc).price(run_counts(Accelerator(load_config("edge-int8")), agent.workloads["store"])).energy_j
    assert 1.0 - env.battery_j == pytest.approx(spent - owed, rel=1e-9)  # the last step's learning is still owed


def test_ddpg_is_td3_with_one_critic_no_delay_no_target_noise():
    s = ddpg_settings()
    assert (s.n_critics, s.policy_delay, s.target_policy_noise) == (1, 1, 0.0)
    assert dataclasses.replace(s, n_critics=2, policy_delay=2, target_policy_noise=0.2,
                               target_noise_clip=0.5) == TD3Settings()


def test_settings_are_validated_once_with_a_message_naming_the_field():
    with pytest.raises(ValueError, match="dqn setting exploration_final_eps must be in"):
        DQNSettings(exploration_final_eps=1.5)
    with pytest.raises(ValueError, match="td3 setting hidden must be one or more positive widths"):
        TD3Settings(hidden=())
    with pytest.raises(ValueError, match="unknown agent 'sac'; agents: dqn, td3, ddpg"):
        agent_settings("sac")
    assert agent_settings("dqn", {"hidden": "32,16", "double_q": "true"}).hidden == (32, 16)
    with pytest.raises(dataclasses.FrozenInstanceError):
        DQNSettings().gamma = 0.5


def test_importing_settings_does_not_import_torch():
    code = "import sys, agents.settings, agents.workloads; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.parametrize("agent_cls, settings, env_id", [
    (DQN, DQNSettings(**TINY, train_freq=2, gradient_steps=2, max_grad_norm=0.05), "CartPole-v1"),  # clipping
    (DQN, DQNSettings(**TINY, train_freq=2, gradient_steps=2, max_grad_norm=0.0), "CartPole-v1"),
    (TD3, TD3Settings(**TINY, policy_delay=1), "Pendulum-v1"),
])
def test_a_loss_scale_is_divided_out_exactly(agent_cls, settings, env_id):
    """On an all-fp32 chip, multiplying the loss gradient by a power of two and dividing the weight
    gradients by it changes no bit (nothing overflows or underflows here): the unscaling is right."""
    plain = trained(agent_cls, settings, env_id, fp32_chip())
    scaled = trained(agent_cls, dataclasses.replace(settings, loss_scale=1024.0), env_id, fp32_chip())
    assert scaled.train_steps == plain.train_steps > 0
    nets = ("q",) if agent_cls is DQN else ("pi", "critics")
    for net in nets:
        for a_net, b_net in zip(*(getattr(agent, net) if net == "critics" else [getattr(agent, net)]
                                  for agent in (scaled, plain)), strict=True):
            for a, b in zip(weights(a_net), weights(b_net), strict=True):
                assert np.array_equal(a, b)


def test_the_loss_scale_is_a_power_of_two_at_least_one():
    for bad in (0.5, 3.0, 0.0, -2.0):
        with pytest.raises(ValueError, match="loss_scale must be a power of two >= 1"):
            agent_settings("dqn", {"loss_scale": str(bad)})
    assert agent_settings("td3", {"loss_scale": "4096"}).loss_scale == 4096.0
