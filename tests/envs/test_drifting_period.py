"""The v1 drifting tasks' ``period_steps``: the same A → B → A → B cycle on a shorter clock."""

import gymnasium as gym
import pytest

import envs
from envs.drifting import CARTPOLE_B, PENDULUM_B


@pytest.mark.parametrize("env_id, b", [("drlsim/DriftingCartPole-v1", CARTPOLE_B),
                                       ("drlsim/DriftingPendulum-v1", PENDULUM_B)])
def test_phases_switch_every_period(env_id, b):
    env = gym.make(env_id, period_steps=7)
    schedule = envs.find_wrapper(env, envs.ParameterSchedule)
    assert [schedule.phase_at(step) for step in (0, 6, 7, 13, 14, 21, 1000)] == ["A", "A", "B", "B", "A", "B", "B"]
    assert all(schedule.params_at(7)[k] == v for k, v in b.items())
    default = envs.find_wrapper(gym.make(env_id), envs.ParameterSchedule)
    assert default.phase_at(99_999) == "A" and default.phase_at(100_000) == "B"


@pytest.mark.parametrize("kwargs, message", [
    ({"period_steps": 0}, "period_steps must be a positive integer"),
    ({"period_steps": 2.5}, "period_steps must be a positive integer"),
    ({"period_steps": 5, "phases": [envs.Phase(3, {"length": 0.2})]}, "either phases or period_steps"),
])
def test_bad_period_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("drlsim/DriftingCartPole-v1", **kwargs)
