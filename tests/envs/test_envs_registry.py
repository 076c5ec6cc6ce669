"""Registration of the drlsim/ ids: the checker over the whole registry, determinism, light import."""

import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.drifting import DRIFTING_CARTPOLE_PHASES

EXPECTED_IDS = {
    "drlsim/SensorNode-v0",
    "drlsim/SensorNodeContinuous-v0",
    "drlsim/DriftingCartPole-v0",
    "drlsim/DriftingPendulum-v0",
}
DRLSIM_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("drlsim/"))
# Warnings the checker raises about CartPole-v1 and Pendulum-v1 themselves (their spaces).
UPSTREAM_WARNINGS = (
    ".*different from the unwrapped version",
    ".*Box observation space (minimum|maximum) value is -?infinity",
    ".*recommend using a symmetric and normalized space",
)


def strip_make_wrappers(env: gym.Env) -> gym.Env:
    """The env as its entry point built it, without the wrappers gymnasium.make adds."""
    added_by_make = gym.wrappers.TimeLimit | gym.wrappers.OrderEnforcing | gym.wrappers.PassiveEnvChecker
    while isinstance(env, added_by_make):
        env = env.env
    return env


def test_expected_ids_are_registered_with_string_entry_points():
    assert EXPECTED_IDS <= set(DRLSIM_IDS)
    for env_id in DRLSIM_IDS:
        entry_point = gym.spec(env_id).entry_point
        assert isinstance(entry_point, str) and entry_point.startswith("envs.")


@pytest.mark.parametrize("env_id", DRLSIM_IDS)
def test_check_env(env_id):
    env = gym.make(env_id, disable_env_checker=True)
    built = strip_make_wrappers(env)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for message in UPSTREAM_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        # Rendering needs pygame, which drlsim does not depend on.
        check_env(env.unwrapped, skip_render_check=True)
        check_env(built, skip_render_check=True)  # the drifting wrapper too, where there is one


@pytest.mark.parametrize("env_id", DRLSIM_IDS)
def test_same_seed_same_trajectory(env_id):
    def trajectory(seed):
        env = gym.make(env_id)
        env.action_space.seed(seed)
        observations, rewards = [env.reset(seed=seed)[0]], []
        for _ in range(300):
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            observations.append(obs)
            rewards.append(reward)
            if terminated or truncated:
                observations.append(env.reset()[0])
        return np.array(observations), np.array(rewards)

    first, again, other = trajectory(3), trajectory(3), trajectory(4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_drifting_cartpole_switches_at_its_scheduled_step():
    env = gym.make("drlsim/DriftingCartPole-v0")
    env.reset(seed=0)
    switch = DRIFTING_CARTPOLE_PHASES[0].start_step
    for _ in range(switch):
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            env.reset()
    assert info["params"]["length"] == 0.5 and env.get_wrapper_attr("total_steps") == switch
    info = env.step(0)[4]
    assert info["params"] == {"gravity": 9.8, "length": 1.0, "masspole": 0.3}
    assert env.unwrapped.length == 1.0


def test_drifting_schedule_can_be_replaced_through_make():
    env = gym.make("drlsim/DriftingPendulum-v0", phases=[envs.Phase(0, {"g": 3.0})])
    env.reset(seed=0)
    assert env.step(np.zeros(1, dtype=np.float32))[4]["params"] == {"g": 3.0}


def test_import_is_light_and_entry_points_are_lazy():
    code = (
        "import sys, envs; "
        "print(sorted(m for m in ('torch', 'numba', 'accel', 'agents', 'matplotlib', "
        "'envs.sensor_node', 'envs.drifting') if m in sys.modules))"
    )
    repo_root = Path(envs.__file__).parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo_root
    )
    assert result.stdout.strip() == "[]"
