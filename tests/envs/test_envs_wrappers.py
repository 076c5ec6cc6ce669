"""ParameterSchedule (drifting dynamics) and EnergyBudget (battery of the learning device)."""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control import CartPoleEnv, MountainCarEnv, PendulumEnv
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import EnergyBudget, ParameterSchedule, Phase, find_wrapper
from envs.sensor_node_v0 import SensorNodeV0Env

PHASES = (
    Phase(start_step=10, params={"length": 1.0, "masspole": 0.3}),
    Phase(start_step=20, params={"gravity": 12.0}, ramp_steps=10),
)


def scheduled_cartpole(phases=PHASES) -> ParameterSchedule:
    env = ParameterSchedule(CartPoleEnv(), phases)
    env.reset(seed=0)
    return env


def run(env: gym.Env, steps: int, action=0) -> list:
    """Step `steps` times with a fixed action, resetting at episode ends; return the step tuples."""
    out = []
    for _ in range(steps):
        out.append(env.step(action))
        if out[-1][2] or out[-1][3]:
            env.reset()
    return out


# --- ParameterSchedule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, {"gravity": 9.8, "length": 0.5, "masspole": 0.1}),
        (9, {"gravity": 9.8, "length": 0.5, "masspole": 0.1}),
        (10, {"gravity": 9.8, "length": 1.0, "masspole": 0.3}),  # abrupt switch
        (20, {"gravity": 9.8, "length": 1.0, "masspole": 0.3}),  # ramp starts from the old value
        (25, {"gravity": 9.8 + 0.5 * 2.2, "length": 1.0, "masspole": 0.3}),  # halfway
        (30, {"gravity": 12.0, "length": 1.0, "masspole": 0.3}),
        (10**9, {"gravity": 12.0, "length": 1.0, "masspole": 0.3}),
    ],
)
def test_params_at_given_steps(step, expected):
    assert scheduled_cartpole().params_at(step) == pytest.approx(expected)


def test_schedule_is_applied_across_episodes_with_derived_quantities():
    env = scheduled_cartpole()
    steps = run(env, 40)  # action 0 ends CartPole episodes after ~10 steps: several resets
    assert env.total_steps == 40
    for t, (_, _, _, _, info) in enumerate(steps):
        assert info["params"] == pytest.approx(env.params_at(t))
    cartpole = env.unwrapped
    assert (cartpole.length, cartpole.masspole, cartpole.gravity) == (1.0, 0.3, 12.0)
    assert cartpole.total_mass == pytest.approx(1.3)
    assert cartpole.polemass_length == pytest.approx(0.3)
    _, info = env.reset()
    assert info["params"] == pytest.approx({"gravity": 12.0, "length": 1.0, "masspole": 0.3})


def test_switch_changes_the_dynamics():
    plain = scheduled_cartpole([Phase(10**6, {"length": 1.0})])
    switched = scheduled_cartpole([Phase(0, {"length": 1.0, "masspole": 0.3})])
    obs_plain = plain.step(1)[0]
    obs_switched = switched.step(1)[0]
    # Euler step: positions move with the old velocities; the accelerations differ.
    assert obs_plain[[0, 2]] == pytest.approx(obs_switched[[0, 2]])
    assert obs_plain[1] != pytest.approx(obs_switched[1], rel=1e-3)
    assert obs_plain[3] != pytest.approx(obs_switched[3], rel=1e-3)


def test_pendulum_mass_drifts_linearly():
    env = ParameterSchedule(PendulumEnv(), [Phase(5, {"m": 2.0}, ramp_steps=4)])
    env.reset(seed=0)
    masses = [env.step(np.zeros(1, dtype=np.float32))[4]["params"]["m"] for _ in range(11)]
    assert masses == pytest.approx([1.0] * 6 + [1.25, 1.5, 1.75, 2.0, 2.0])
    assert env.unwrapped.m == 2.0


def test_schedule_trajectories_are_reproducible():
    def trajectory():
        env = ParameterSchedule(PendulumEnv(), [Phase(50, {"m": 1.5, "l": 0.8})])
        env.reset(seed=7)
        env.action_space.seed(7)
        return [env.step(env.action_space.sample())[0] for _ in range(100)]

    np.testing.assert_array_equal(trajectory(), trajectory())


@pytest.mark.parametrize(
    ("phases", "match"),
    [
        ([], "phases must be a non-empty"),
        (Phase(0, {"length": 1.0}), "phases must be a non-empty"),
        ([{"length": 1.0}], r"phases\[0\] must be a Phase"),
        ([Phase(0, {"mass": 1.0})], r"unknown parameter 'mass' for CartPoleEnv; allowed: masscart, masspole"),
        ([Phase(0, {"length": -1.0})], r"phases\[0\].params\['length'\] must be > 0 for CartPoleEnv"),
        ((p for p in ()), "phases must be a non-empty iterable of Phase, got none"),
        ("AB", "phases must be a non-empty iterable"),
        ([Phase(10, {"length": 1.0}), Phase(10, {"gravity": 5.0})], r"phases\[1\].start_step"),
        ([Phase(10, {"length": 1.0}, ramp_steps=10), Phase(15, {"gravity": 5.0})], r"phases\[1\].start_step"),
    ],
)
def test_bad_schedules_are_rejected(phases, match):
    with pytest.raises(ValueError, match=match):
        ParameterSchedule(CartPoleEnv(), phases)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start_step": -1, "params": {"length": 1.0}}, "Phase.start_step"),
        ({"start_step": 0, "params": {"length": 1.0}, "ramp_steps": 1.5}, "Phase.ramp_steps"),
        ({"start_step": 0, "params": {}}, "Phase.params"),
        ({"start_step": 0, "params": {"length": "long"}}, r"Phase.params\['length'\]"),
        ({"start_step": True, "params": {"length": 1.0}}, "Phase.start_step"),
        ({"start_step": 0, "params": {"length": 1.0}, "name": 3}, "Phase.name"),
        ({"start_step": 0, "params": {"length": math.inf}}, r"Phase.params\['length'\]"),
    ],
)
def test_bad_phases_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Phase(**kwargs)


def test_unsupported_env_is_rejected():
    with pytest.raises(ValueError, match="env: ParameterSchedule supports CartPoleEnv, PendulumEnv"):
        ParameterSchedule(MountainCarEnv(), [Phase(0, {"force": 1.0})])


# --- EnergyBudget --------------------------------------------------------------------------


def budget(**kwargs) -> EnergyBudget:
    env = EnergyBudget(CartPoleEnv(), **{"capacity_j": 1.0, **kwargs})
    env.reset(seed=0)
    return env


def test_charges_between_steps_add_up_and_harvest_refills_to_capacity():
    env = budget(harvest_j_per_step=0.05)
    env.charge(0.1)
    env.charge(0.2)
    assert env.battery_j == pytest.approx(0.7)
    info = env.step(0)[4]
    assert info["energy_spent_j"] == pytest.approx(0.3)
    assert info["battery_j"] == pytest.approx(0.75)
    info = env.step(0)[4]
    assert info["energy_spent_j"] == 0.0 and info["battery_j"] == pytest.approx(0.8)
    for _ in range(10):
        env.step(0)
        env.reset()
    assert env.battery_j == 1.0


def test_episode_is_truncated_when_the_battery_runs_empty():
    env = budget()
    env.charge(0.6)
    _, _, _, truncated, info = env.step(0)
    assert not truncated and "truncation_reason" not in info
    env.charge(0.6)  # more than is left: the battery empties
    assert env.battery_j == 0.0
    _, _, terminated, truncated, info = env.step(0)
    assert truncated and not terminated
    assert info["truncation_reason"] == "battery_empty"
    assert info["battery_j"] == 0.0 and info["energy_spent_j"] == pytest.approx(0.6)
    env.reset()  # the battery carries over: still empty
    assert env.step(0)[3]


def test_harvest_brings_the_device_back_and_refill_on_reset():
    env = budget(initial_j=0.0, harvest_j_per_step=0.01)
    assert env.step(0)[3]  # empty when the step began
    assert not env.step(0)[3]  # the harvest of the previous step powers this one
    refill = budget(initial_j=0.5, refill_on_reset=True)
    refill.charge(0.5)
    _, info = refill.reset()
    assert info["battery_j"] == 0.5 and refill.battery_j == 0.5


def test_battery_level_is_appended_to_the_observation():
    env = EnergyBudget(SensorNodeV0Env(), capacity_j=2.0, observe_battery=True)
    assert env.observation_space.shape == (7,)
    assert env.observation_space.low[-1] == 0.0 and env.observation_space.high[-1] == 1.0
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs[-1] == 1.0
    env.charge(0.5)
    obs = env.step(0)[0]
    assert obs[-1] == pytest.approx(0.75)
    assert env.observation_space.contains(obs)


def test_energy_wrapped_env_passes_the_checker():
    env = EnergyBudget(SensorNodeV0Env(), capacity_j=2.0, harvest_j_per_step=1e-3, observe_battery=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        check_env(env, skip_render_check=True)


def test_charge_is_reachable_through_outer_wrappers():
    inner = EnergyBudget(gym.make("CartPole-v1"), capacity_j=1.0)
    env = gym.wrappers.RecordEpisodeStatistics(inner)
    env.reset(seed=0)
    env.get_wrapper_attr("charge")(0.25)
    find_wrapper(env, EnergyBudget).charge(0.25)
    assert inner.battery_j == pytest.approx(0.5)
    assert not hasattr(env.unwrapped, "charge")
    with pytest.raises(ValueError, match="no ParameterSchedule"):
        find_wrapper(env, ParameterSchedule)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"capacity_j": -1.0}, "capacity_j"),
        ({"capacity_j": math.nan}, "capacity_j"),
        ({"capacity_j": 1.0, "initial_j": 2.0}, "initial_j"),
        ({"capacity_j": 1.0, "harvest_j_per_step": -0.1}, "harvest_j_per_step"),
        ({}, "capacity_j"),
    ],
)
def test_bad_budget_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EnergyBudget(CartPoleEnv(), **kwargs)


def test_observe_battery_needs_a_flat_float_box():
    with pytest.raises(ValueError, match="observe_battery"):
        EnergyBudget(gym.make("FrozenLake-v1"), capacity_j=1.0, observe_battery=True)


@pytest.mark.parametrize("energy_j", [-1e-3, math.nan, math.inf, "1"])
def test_bad_charge_is_named(energy_j):
    env = budget()
    with pytest.raises(ValueError, match="energy_j"):
        env.charge(energy_j)
    assert env.battery_j == 1.0


def test_energy_charged_before_a_reset_is_reported_by_the_reset():
    env = budget()
    env.charge(0.1)
    _, info = env.reset()
    assert info["energy_spent_j"] == pytest.approx(0.1)
    env.charge(0.2)
    assert env.step(0)[4]["energy_spent_j"] == pytest.approx(0.2)


@pytest.mark.parametrize("energy_j", [np.float32(0.25), np.float16(0.25), np.int8(0)])
def test_charge_takes_numpy_scalars_of_any_width(energy_j):
    env = budget()
    env.charge(energy_j)
    assert env.battery_j == pytest.approx(1.0 - float(energy_j))


# --- Phase and schedule conventions -------------------------------------------------------


def test_phase_params_are_copied_and_read_only():
    params = {"length": 1.0}
    phase = Phase(0, params)
    params["length"] = -3.0
    assert phase.params == {"length": 1.0}
    with pytest.raises(TypeError):
        phase.params["length"] = -3.0  # type: ignore[index]
    env = ParameterSchedule(CartPoleEnv(), [phase])
    env.reset(seed=0)
    assert env.step(0)[4]["params"] == {"length": 1.0}


def test_negative_force_reverses_the_push_and_numpy_values_are_taken():
    env = ParameterSchedule(CartPoleEnv(), [Phase(np.int64(0), {"force_mag": np.float32(-10.0)}, name="reversed")])
    env.reset(seed=0)
    plain = CartPoleEnv()
    plain.reset(seed=0)
    obs, _, _, _, info = env.step(1)  # "push right" now pushes left, as action 0 does on the plain task
    assert info["phase"] == "reversed"
    np.testing.assert_array_equal(obs, plain.step(0)[0])


def test_phases_are_named_in_info():
    env = ParameterSchedule(CartPoleEnv(), [Phase(2, {"length": 0.2}, name="short"), Phase(4, {"length": 0.5})],
                            initial_phase="A")
    _, info = env.reset(seed=0)
    names = [info["phase"]] + [step[4]["phase"] for step in run(env, 5)]
    assert names == ["A", "A", "A", "short", "short", "phase 2"]


def test_pendulum_keeps_clipping_finite_torques_and_refuses_nan():
    env = ParameterSchedule(PendulumEnv(), [Phase(10, {"g": 12.0})])
    env.reset(seed=0)
    env.step(np.array([5.0], dtype=np.float32))  # clipped to 2 N·m, as Pendulum-v1 does
    for action in (np.array([np.nan], dtype=np.float32), np.array([1.0, 1.0]), "1", np.array([np.inf])):
        with pytest.raises(ValueError, match=r"^action must be in Box"):
            env.step(action)
    assert env.total_steps == 1


@settings(max_examples=50, deadline=None)
@given(
    start=st.integers(0, 1000),
    ramp=st.integers(1, 1000),
    target=st.floats(0.05, 5.0),
    step=st.integers(0, 3000),
)
def test_a_ramp_moves_monotonically_between_its_ends(start, ramp, target, step):
    env = ParameterSchedule(CartPoleEnv(), [Phase(start, {"length": target}, ramp_steps=ramp)])
    value = env.params_at(step)["length"]
    low, high = sorted((0.5, target))
    assert low - 1e-12 <= value <= high + 1e-12
    assert (env.params_at(step + 1)["length"] - value) * (target - 0.5) >= -1e-12
    if step >= start + ramp:
        assert value == target
    if step <= start:
        assert value == 0.5


@pytest.mark.parametrize("name", ["capacity_j", "harvest_j_per_step", "observe_battery", "refill_on_reset"])
def test_budget_settings_are_read_only(name):
    env = budget()
    with pytest.raises(AttributeError):
        setattr(env, name, -1.0)
    assert env.capacity_j == 1.0
