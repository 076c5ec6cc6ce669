"""Every registered drlsim/ id: the checker, Gymnasium's conventions, determinism, light import."""

import copy
import math
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
    "drlsim/SensorNode-v1",
    "drlsim/SensorNodeContinuous-v1",
    "drlsim/DriftingCartPole-v1",
    "drlsim/DriftingPendulum-v1",
}
DRLSIM_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("drlsim/"))
# Warnings the checker raises about CartPole-v1 and Pendulum-v1 themselves (their spaces).
UPSTREAM_WARNINGS = (
    ".*different from the unwrapped version",
    ".*Box observation space (minimum|maximum) value is -?infinity",
    ".*recommend using a symmetric and normalized space",
)


def make(env_id: str, **kwargs) -> gym.Env:
    """``gym.make`` without the deprecation warning a -v0 id gives (it is meant)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
        return gym.make(env_id, **kwargs)


def strip_make_wrappers(env: gym.Env) -> gym.Env:
    """The env as its entry point built it, without the wrappers gymnasium.make adds."""
    added_by_make = gym.wrappers.TimeLimit | gym.wrappers.OrderEnforcing | gym.wrappers.PassiveEnvChecker
    while isinstance(env, added_by_make):
        env = env.env
    return env


def nan_action(space: gym.Space):
    return float("nan") if isinstance(space, gym.spaces.Discrete) else np.full(space.shape, np.nan, np.float32)


def rollout(env: gym.Env, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Observations and rewards of ``steps`` seeded random steps, resetting at episode ends."""
    env.action_space.seed(seed)
    observations, rewards = [env.reset(seed=seed)[0]], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            observations.append(env.reset()[0])
    return np.array(observations), np.array(rewards)


def test_expected_ids_are_registered_with_string_entry_points():
    assert EXPECTED_IDS <= set(DRLSIM_IDS)
    for env_id in DRLSIM_IDS:
        entry_point = gym.spec(env_id).entry_point
        assert isinstance(entry_point, str) and entry_point.startswith("envs.")


@pytest.mark.parametrize("env_id", DRLSIM_IDS)
def test_check_env(env_id):
    env = make(env_id, disable_env_checker=True)
    built = strip_make_wrappers(env)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for message in UPSTREAM_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        # Rendering CartPole and Pendulum needs pygame, which drlsim does not depend on.
        check_env(env.unwrapped, skip_render_check=True)
        check_env(built, skip_render_check=True)  # the drifting wrapper too, where there is one


@pytest.mark.parametrize("env_id", ["drlsim/SensorNode-v1", "drlsim/SensorNodeContinuous-v1"])
def test_sensor_node_renders_text(env_id):
    env = make(env_id, render_mode="ansi")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.reset(seed=0, options={"start_step": 90, "day_of_year": 172})
    assert env.render() == "day 172 01:30  store 1.013/2.025 J  buffer 0/16  running"


@pytest.mark.parametrize("env_id", DRLSIM_IDS)
def test_render_mode_is_accepted_and_checked(env_id):
    assert make(env_id, render_mode=None).unwrapped.render_mode is None
    with pytest.raises(ValueError, match=r"^render_mode must be None or one of \[.*\], got 'bogus'$"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not in the possible render_modes")  # make's own note
            make(env_id, render_mode="bogus")


@pytest.mark.parametrize("env_id", DRLSIM_IDS)
def test_same_seed_same_trajectory(env_id):
    first, again, other = (rollout(make(env_id), 300, seed) for seed in (3, 3, 4))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("env_id", DRLSIM_IDS)
def test_nan_action_is_refused_in_one_line_and_changes_nothing(env_id):
    env, twin = make(env_id), make(env_id)
    env.reset(seed=5)
    twin.reset(seed=5)
    with pytest.raises(ValueError, match=r"^action must be in .*nan") as refused:
        env.step(nan_action(env.action_space))
    assert "\n" not in str(refused.value)
    action = env.action_space.sample()
    np.testing.assert_array_equal(env.step(action)[0], twin.step(action)[0])


@pytest.mark.parametrize("env_id", DRLSIM_IDS)
def test_unknown_reset_option_is_refused(env_id):
    env = make(env_id)
    with pytest.raises(ValueError, match=r"^options: unknown key 'strat_step'; allowed: "):
        env.reset(seed=0, options={"strat_step": 3})


@pytest.mark.parametrize(
    ("env_id", "step_s", "steps"),
    [("drlsim/SensorNode-v1", 600.0, 144), ("drlsim/SensorNode-v0", 600.0, 144), ("drlsim/SensorNode-v1", 60.0, 1440)],
)
def test_sensor_node_episode_lasts_a_day_whatever_the_step(env_id, step_s, steps):
    env = make(env_id, step_s=step_s)
    env.reset(seed=0)
    truncations = [env.step(0)[3] for _ in range(steps)]
    assert truncations == [False] * (steps - 1) + [True]


def test_sensor_node_v0_trajectory_is_unchanged():
    # Sum of rewards and a hash of the observations of 3000 seeded random steps, computed with
    # envs/sensor_node.py as of commit 18984e7 (before v1): v0 must reproduce them.
    import hashlib

    from envs.sensor_node_v0 import SensorNodeV0Env

    for continuous, total, digest in ((False, -1324.0, "4ea5c4b7faaff4ce"), (True, -1538.0, "54bd5b518d4ef486")):
        env = SensorNodeV0Env(continuous=continuous)
        observations = [env.reset(seed=7)[0]]
        env.action_space.seed(7)
        rewards = []
        for _ in range(3000):
            obs, reward, *_ = env.step(env.action_space.sample())
            observations.append(obs)
            rewards.append(reward)
        assert sum(rewards) == total
        assert hashlib.sha256(np.array(observations).tobytes()).hexdigest()[:16] == digest


def test_drifting_cartpole_v0_switches_at_its_scheduled_step():
    env = make("drlsim/DriftingCartPole-v0")
    env.reset(seed=0)
    switch = DRIFTING_CARTPOLE_PHASES[0].start_step
    for _ in range(switch):
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            env.reset()
    assert info["params"]["length"] == 0.5 and env.get_wrapper_attr("total_steps") == switch
    info = env.step(0)[4]
    assert info["params"] == {"gravity": 9.8, "length": 1.0, "masspole": 0.3}
    assert info["phase"] == "phase 1"
    assert env.unwrapped.length == 1.0


@pytest.mark.parametrize("env_id", ["drlsim/DriftingCartPole-v1", "drlsim/DriftingPendulum-v1"])
def test_v1_drifts_cycle_a_b_a_b_from_100k_steps(env_id):
    schedule = envs.find_wrapper(make(env_id), envs.ParameterSchedule)
    steps = (0, 99_999, 100_000, 199_999, 200_000, 299_999, 300_000, 10**7)
    assert [schedule.phase_at(step) for step in steps] == ["A", "A", "B", "B", "A", "A", "B", "B"]
    a, b = schedule.params_at(0), schedule.params_at(100_000)
    assert a != b and schedule.params_at(200_000) == a and schedule.params_at(300_000) == b


def pd_cart(obs):
    return int(0.2 * obs[1] + 2.0 * obs[2] + 0.5 * obs[3] > 0.0)


def swing_up(obs):
    """Energy pumping with a PD catch, tuned on Pendulum-v1 (examples/drift_policies.py)."""
    angle, rate = math.atan2(obs[1], obs[0]), float(obs[2])
    if abs(angle) < 0.9:
        torque = -(10.0 * angle + 2.0 * rate)
    else:
        energy = rate * rate / 6.0 + 5.0 * (math.cos(angle) - 1.0)
        torque = energy * math.copysign(1.0, rate * math.cos(angle) + 1e-9)
    return np.array([min(max(torque, -2.0), 2.0)], dtype=np.float32)


@pytest.mark.parametrize(
    ("env_id", "policy", "seeds"),
    [("drlsim/DriftingCartPole-v1", pd_cart, range(3)), ("drlsim/DriftingPendulum-v1", swing_up, range(4))],
)
def test_v1_switch_costs_a_policy_good_on_a_at_least_half_its_return(env_id, policy, seeds):
    def mean_return(phase_step):
        schedule = envs.find_wrapper(make(env_id), envs.ParameterSchedule)
        env = make(env_id, phases=[envs.Phase(0, schedule.params_at(phase_step))])
        total = 0.0
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            done = False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy(obs))
                total += reward
                done = terminated or truncated
        return total / len(seeds)

    before, after = mean_return(0), mean_return(100_000)
    if before > 0:  # CartPole: a return to keep
        assert before == 500.0 and after <= before / 2
    else:  # Pendulum: a cost to keep low
        assert before > -250.0 and after <= 1.5 * before


def test_drifting_schedule_can_be_replaced_through_make():
    env = make("drlsim/DriftingPendulum-v0", phases=[envs.Phase(0, {"g": 3.0}, name="low g")])
    env.reset(seed=0)
    info = env.step(np.zeros(1, dtype=np.float32))[4]
    assert info["params"] == {"g": 3.0} and info["phase"] == "low g"


def test_drifting_factories_take_any_iterable_of_phases():
    from envs.drifting import make_drifting_cartpole_v1

    env = make_drifting_cartpole_v1(phases=(envs.Phase(k, {"length": 0.1 * k}) for k in (1, 2)))
    assert [phase.start_step for phase in env.phases] == [1, 2]


@pytest.mark.parametrize("env_id", DRLSIM_IDS)
def test_envs_survive_deepcopy(env_id):
    env = make(env_id)
    env.reset(seed=0)
    clone = copy.deepcopy(env)
    action = env.action_space.sample()
    np.testing.assert_array_equal(env.step(action)[0], clone.step(action)[0])


def test_import_is_light_and_entry_points_are_lazy():
    code = (
        "import sys, envs; "
        "print(sorted(m for m in ('torch', 'numba', 'accel', 'agents', 'matplotlib', "
        "'envs.sensor_node', 'envs.sensor_node_v0', 'envs.drifting', 'envs.irradiance') if m in sys.modules))"
    )
    repo_root = Path(envs.__file__).parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo_root
    )
    assert result.stdout.strip() == "[]"
