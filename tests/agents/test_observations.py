"""``obs_scale = "bounds"``: each bounded observation field multiplied by the power of two that brings it
within [−1, 1], before acting and storing, exactly as if the environment had produced it so."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from test_agents import TINY, weights

from accel import Accelerator, load_config
from agents import DQN, TD3
from agents.loop import Meter, learn
from agents.observations import field_scales, scaled
from agents.settings import DQNSettings, TD3Settings, agent_settings


def test_each_bounded_field_gets_the_power_of_two_that_fits_it_into_one():
    assert field_scales(gym.make("Pendulum-v1").observation_space, "bounds").tolist() == [1.0, 1.0, 0.125]
    assert field_scales(gym.make("CartPole-v1").observation_space, "bounds").tolist() == [0.125, 1.0, 2.0, 1.0]
    space = gym.spaces.Box(np.array([-4.0, 0.0, -np.inf, -3.0], np.float32), np.array([4.0, 0.0, 1.0, 0.3], np.float32))
    assert field_scales(space, "bounds").tolist() == [0.25, 1.0, 1.0, 0.25]  # 4 exactly; 0; unbounded; |−3|
    assert field_scales(space, "none") is None
    obs = np.array([-4.0, 0.0, 7.0, 0.3], np.float32)
    assert scaled(obs, None) is obs and scaled(obs, field_scales(space, "bounds")).tolist() == [-1.0, 0.0, 7.0,
                                                                                                np.float32(0.075)]
    with pytest.raises(ValueError, match="obs_scale must be one of none, bounds, got 'unit'"):
        field_scales(space, "unit")
    with pytest.raises(ValueError, match="td3 setting obs_scale must be one of none, bounds, got 'unit'"):
        agent_settings("td3", {"obs_scale": "unit"})


def rescaled(env: gym.Env) -> gym.Env:
    """``env`` whose observations arrive already multiplied by the bounds' powers of two."""
    scales = field_scales(env.observation_space, "bounds")
    space = gym.spaces.Box(env.observation_space.low * scales, env.observation_space.high * scales,
                           dtype=np.float32)
    return gym.wrappers.TransformObservation(env, lambda o: (o * scales).astype(np.float32), space)


@pytest.mark.parametrize("agent_cls, settings, env_id", [
    (DQN, DQNSettings(**TINY, train_freq=2, gradient_steps=2), "CartPole-v1"),
    (TD3, TD3Settings(**TINY), "Pendulum-v1"),
])
def test_scaling_in_the_agent_is_the_environment_scaled(agent_cls, settings, env_id):
    runs = []
    for own, env in ((True, gym.make(env_id)), (False, rescaled(gym.make(env_id)))):
        chosen = dataclasses.replace(settings, obs_scale="bounds" if own else "none")
        acc = Accelerator(load_config("edge-int8"), seed=0)
        agent = agent_cls(env.observation_space if own else gym.make(env_id).observation_space, env.action_space,
                          chosen, acc, seed=0)
        learn(agent, env, 14, 0, Meter(acc))
        runs.append((agent, acc))
    (agent, acc), (reference, reference_acc) = runs
    assert agent.train_steps == reference.train_steps > 0 and acc.counts == reference_acc.counts
    net = "q" if agent_cls is DQN else "pi"
    for a, b in zip(weights(getattr(agent, net)), weights(getattr(reference, net)), strict=True):
        assert np.array_equal(a, b)
    probe = gym.make(env_id).observation_space.sample()
    assert np.array_equal(agent.predict(probe), reference.predict(scaled(probe, agent.obs_scales)))
