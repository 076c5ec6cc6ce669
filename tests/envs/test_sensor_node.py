"""SensorNode-v1: hand-computed energies, the store's rules, the learner's draw, and properties."""

import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import EnergyBudget
from envs.irradiance import day_length_h
from envs.sensor_node import SensorNodeEnv, lora_time_on_air_s

OFF_KEEP, OFF_SEND, ARMED_KEEP, ARMED_SEND = range(4)
STEP_S = 60.0
SLEEP_J = 7e-6 * STEP_S
SENSOR_J = 6e-6 * STEP_S
READING_J = 50e-6
# Two empty receive windows of 8 symbols (SF9, then SF12 at 125 kHz) at 41.8 mW, and 1 ms start-up.
WAKEUP_J = 41.8e-3 * 8 * (2**9 + 2**12) / 125e3 + 1e-3 * 1.6e-3 * 3.3


def frame_j(readings: int) -> float:
    return 137e-3 * lora_time_on_air_s(13 + 4 * readings, 9) + WAKEUP_J


def make_node(**overrides) -> SensorNodeEnv:
    """A deterministic node: constant 5 mW harvest (0.3 J/step), no leakage, an event every step."""
    kwargs = {
        "harvest_profile_mw": [5.0],
        "leakage_ua": 0.0,
        "event_prob": (1.0, 1.0),
        "regime_switch_prob": (0.0, 0.0),
    }
    kwargs.update(overrides)
    env = SensorNodeEnv(**kwargs)
    env.reset(seed=0)
    return env


@pytest.mark.parametrize(
    ("payload_bytes", "spreading_factor", "seconds"),
    [
        (23, 7, 60.25 * 2**7 / 125e3),  # 10 application bytes at SF7: 61.7 ms
        (23, 12, 45.25 * 2**12 / 125e3),  # the same at SF12 (low-data-rate optimisation): 1482.8 ms
        (17, 9, 40.25 * 2**9 / 125e3),  # one 4-byte reading at SF9: 164.9 ms
        (77, 9, 110.25 * 2**9 / 125e3),  # sixteen readings at SF9: 451.6 ms
    ],
)
def test_lora_time_on_air_matches_the_designers_guide(payload_bytes, spreading_factor, seconds):
    assert lora_time_on_air_s(payload_bytes, spreading_factor) == pytest.approx(seconds)


@pytest.mark.parametrize(("args", "name"), [((256, 9), "payload_bytes"), ((17, 6), "spreading_factor"),
                                            ((17, 9.0), "spreading_factor")])
def test_lora_time_on_air_refuses_bad_arguments(args, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        lora_time_on_air_s(*args)


def test_defaults_make_the_radio_dominant_and_batching_worth_it():
    node = SensorNodeEnv()
    assert node.frame_j(1) == pytest.approx(frame_j(1))
    assert node.frame_j(1) > 100 * READING_J  # a frame costs far more than a reading
    assert node.frame_j(16) < 2.5 * node.frame_j(1)  # sixteen readings in one frame: < 2.5 frames of one
    assert node.capacity_j == pytest.approx(0.5 * 1.0 * (2.7**2 - 1.8**2))
    leak_w_full = 2.7 * 3e-6
    assert 0.5 < leak_w_full / 7e-6 < 2.0  # leakage as large as the sleep power


def test_sense_and_send_one_reading():
    env = make_node()
    stored = env.stored_j
    obs, reward, terminated, truncated, info = env.step(ARMED_SEND)
    spent = SLEEP_J + SENSOR_J + READING_J + frame_j(1)
    assert info["spent_j"] == pytest.approx(spent)
    assert info["harvest_j"] == pytest.approx(0.3)
    assert info["stored_j"] == pytest.approx(stored + 0.3 - spent)
    assert (info["delivered"], info["lost"], info["brownout"], info["running"]) == (1, 0, False, True)
    assert reward == 1.0 and not terminated and not truncated
    assert obs[2] == 0.0 and obs[6] == 0.0 and obs[9] == 0.0  # buffer empty, detection just now


def test_batching_sends_the_buffer_in_one_frame():
    env = make_node(initial_charge=1.0, harvest_profile_mw=[0.0])
    for _ in range(3):
        env.step(ARMED_KEEP)
    stored = env.stored_j
    info = env.step(ARMED_SEND)[4]
    assert info["delivered"] == 4
    assert stored - info["stored_j"] == pytest.approx(SLEEP_J + SENSOR_J + READING_J + frame_j(4))


def test_full_buffer_drops_the_reading():
    env = make_node(buffer_readings=2)
    rewards = [env.step(ARMED_KEEP)[1] for _ in range(3)]
    assert rewards == [0.0, 0.0, -0.5]
    obs = env.step(ARMED_KEEP)[0]
    assert obs[2] == 1.0


def test_readings_go_stale_after_the_deadline_oldest_first():
    env = make_node(deadline_s=180.0)  # stale at an age of 3 steps
    losses = [env.step(ARMED_KEEP)[4]["lost"] for _ in range(5)]
    assert losses == [0, 0, 0, 1, 1]
    obs, _, _, _, info = env.step(OFF_KEEP)  # step 5 drops the reading of step 2; those of steps 3, 4 remain
    assert info["lost"] == 1 and obs[2] == pytest.approx(2 / 16)
    assert obs[9] == 1.0  # the reading of step 3 is 3 steps old at step 6: stale if not sent now


def test_leakage_follows_a_parallel_resistance():
    env = make_node(leakage_ua=3.0, harvest_profile_mw=[0.0], event_prob=(0.0, 0.0), sleep_power_uw=0.0,
                    initial_charge=1.0)
    floor = 0.5 * 1.8**2
    total = env.stored_j + floor
    info = env.step(OFF_KEEP)[4]
    rc = (2.7 / 3e-6) * 1.0
    assert info["leak_j"] == pytest.approx(total * -math.expm1(-2 * STEP_S / rc))
    assert info["stored_j"] == pytest.approx(total * math.exp(-2 * STEP_S / rc) - floor)
    assert info["leak_j"] / STEP_S == pytest.approx(2.7 * 3e-6, rel=1e-3)  # 3 µA at 2.7 V


def test_brownout_loses_the_buffer_and_the_node_restarts_when_recharged():
    env = make_node(harvest_profile_mw=[0.0], initial_charge=0.0, restart_charge=0.2)
    obs, reward, _, _, info = env.step(ARMED_KEEP)
    assert info["brownout"] and not info["running"] and info["lost"] == 1
    assert reward == -10.0 - 0.5 and info["stored_j"] == 0.0 and obs[8] == 0.0 and obs[2] == 0.0
    # Off: no sensing, no draw, no reward, until the store is back at 20 % of capacity.
    recharge = make_node(harvest_profile_mw=[100.0], initial_charge=0.0)  # 6 J per step
    recharge._running = False
    _, reward, _, _, info = recharge.step(ARMED_SEND)
    assert reward == 0.0 and info["spent_j"] == 0.0 and info["delivered"] == 0 and info["running"]


def test_a_careless_node_dies_in_a_busy_night_and_a_careful_one_does_not():
    def night(action):
        env = make_node(harvest_profile_mw=[0.0], initial_charge=1.0, leakage_ua=3.0)
        return [env.step(action)[4]["brownout"] for _ in range(14 * 60)]  # a 14-hour winter night

    assert any(night(ARMED_SEND))  # a frame per reading
    assert not any(night(OFF_KEEP))  # asleep


def test_learner_draw_comes_from_the_store_exactly():
    budget, plain = EnergyBudget(make_node()), make_node()
    budget.charge(0.01)
    budget.charge(0.02)
    assert budget.battery_j == pytest.approx(plain.stored_j - 0.03)
    info, plain_info = budget.step(ARMED_SEND)[4], plain.step(ARMED_SEND)[4]
    assert info["stored_j"] == pytest.approx(plain_info["stored_j"] - 0.03)
    assert info["learner_j"] == info["energy_spent_j"] == pytest.approx(0.03)
    assert info["battery_j"] == info["stored_j"]
    assert "truncation_reason" not in info


def test_learning_that_empties_the_store_browns_the_node_out():
    env = EnergyBudget(make_node(harvest_profile_mw=[0.0]))
    env.charge(env.battery_j + 1e-3)
    assert env.battery_j == 0.0
    _, reward, _, truncated, info = env.step(ARMED_KEEP)
    assert info["brownout"] and not truncated and reward == -10.0 - 0.5


def test_budget_on_the_node_passes_the_checker():
    import warnings

    from gymnasium.utils.env_checker import check_env

    env = EnergyBudget(gym.make("drlsim/SensorNode-v1", render_mode="ansi", disable_env_checker=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        check_env(env)


def test_draw_before_reset_is_reported_and_discarded():
    env = EnergyBudget(make_node())
    env.charge(0.25)
    _, info = env.reset(seed=1)
    assert info["energy_spent_j"] == info["learner_j"] == 0.25
    assert info["battery_j"] == pytest.approx(0.5 * env.capacity_j)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"capacity_j": 5.0}, "capacity_j"), ({"initial_j": 1.0}, "initial_j"), ({"harvest_j_per_step": 1e-3},
     "harvest_j_per_step"), ({"observe_battery": True}, "observe_battery"), ({"refill_on_reset": True},
     "refill_on_reset")],
)
def test_budget_on_the_node_refuses_a_second_battery(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}: SensorNodeEnv has its own store"):
        EnergyBudget(SensorNodeEnv(), **kwargs)


@pytest.mark.parametrize("energy_j", [-1e-3, math.nan, math.inf, "1", True])
def test_bad_draw_is_refused_and_bills_nothing(energy_j):
    env = EnergyBudget(make_node())
    before = env.battery_j
    with pytest.raises(ValueError, match=r"^energy_j must be a finite energy >= 0 J"):
        env.charge(energy_j)
    assert env.battery_j == before and env.step(OFF_KEEP)[4]["learner_j"] == 0.0


def test_observation_knows_the_time_the_date_and_its_recent_detections():
    env = SensorNodeEnv()
    obs, _ = env.reset(seed=1, options={"start_step": 720, "day_of_year": 172})  # solar noon, June
    assert obs[3] == pytest.approx(0.0, abs=1e-6) and obs[4] == pytest.approx(-1.0)
    assert obs[5] == pytest.approx(day_length_h(172, math.radians(36.1)) / 24.0)
    assert 14.0 < obs[5] * 24.0 < 15.0 and obs[1] > 0.0
    assert obs[6] == 1.0 and obs[7] == 0.0 and obs[8] == 1.0
    obs, _ = env.reset(seed=1, options={"start_step": 0, "day_of_year": 355})  # midnight, December
    assert obs[1] == 0.0 and 9.0 < obs[5] * 24.0 < 10.0
    busy = make_node()
    rates = [busy.step(ARMED_SEND)[0][7] for _ in range(60)]
    assert rates[-1] == pytest.approx(1.0 - math.exp(-1.0), rel=1e-3)  # an hour of detections every step


def test_sky_varies_with_the_seed_and_the_day():
    def day_harvest(seed, day):
        env = SensorNodeEnv()
        env.reset(seed=seed, options={"start_step": 0, "day_of_year": day})
        return sum(env.step(OFF_KEEP)[4]["harvest_j"] for _ in range(1440))

    assert day_harvest(3, 172) == day_harvest(3, 172)
    assert day_harvest(3, 172) != day_harvest(4, 172)
    clear_winter = max(day_harvest(seed, 355) for seed in range(4))
    assert 0.0 < clear_winter < max(day_harvest(seed, 172) for seed in range(4))


def test_settings_are_validated_once_and_immutable():
    env = SensorNodeEnv(capacitance_f=np.float32(0.47), harvest_profile_mw=np.array([1.0, 0.0]))
    assert env.settings.capacity_j == pytest.approx(0.5 * 0.47 * (2.7**2 - 1.8**2), rel=1e-6)
    assert env.settings.harvest_profile_mw == (1.0, 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.settings.capacitance_f = 10.0
    with pytest.raises(TypeError, match="capacity"):
        SensorNodeEnv(capacity=3.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"step_s": 0.0}, "step_s"),
        ({"episode_s": 30.0}, "episode_s"),
        ({"capacitance_f": -1.0}, "capacitance_f"),
        ({"voltage_min_v": 2.7}, "voltage_min_v"),
        ({"leakage_ua": math.nan}, "leakage_ua"),
        ({"initial_charge": 1.5}, "initial_charge"),
        ({"restart_charge": 0.0}, "restart_charge"),
        ({"cell_efficiency": 1.2}, "cell_efficiency"),
        ({"harvest_profile_mw": []}, "harvest_profile_mw"),
        ({"harvest_profile_mw": [1.0, -2.0]}, "harvest_profile_mw"),
        ({"harvest_profile_mw": "sun"}, "harvest_profile_mw"),
        ({"sleep_power_uw": -7.0}, "sleep_power_uw"),
        ({"spreading_factor": 13}, "spreading_factor"),
        ({"buffer_readings": 0}, "buffer_readings"),
        ({"buffer_readings": 61}, "buffer_readings"),
        ({"deadline_s": 10.0}, "deadline_s"),
        ({"event_prob": (0.1,)}, "event_prob"),
        ({"regime_switch_prob": (0.1, 1.5)}, "regime_switch_prob"),
        ({"loss_penalty": -1.0}, "loss_penalty"),
        ({"cloud_fit": None}, "cloud_fit"),
        ({"continuous": 1}, "continuous"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        SensorNodeEnv(**kwargs)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"start_step": 1440}, r"start_step'\] must be an integer in \[0, 1440\)"),
        ({"day_of_year": 366}, r"day_of_year'\] must be an integer in \[1, 365\]"),
        ("start_step", "options must be None or a dict"),
    ],
)
def test_bad_reset_options_are_named_and_change_nothing(options, match):
    env = SensorNodeEnv()
    env.reset(seed=0)
    before = env.step(OFF_KEEP)[0]
    with pytest.raises(ValueError, match=match):
        env.reset(seed=0, options=options)
    assert env.step(OFF_KEEP)[0][2] == before[2] and env._clock == 2


def test_day_of_year_is_refused_with_a_fixed_profile():
    with pytest.raises(ValueError, match="not used with harvest_profile_mw"):
        make_node().reset(options={"day_of_year": 10})


@pytest.mark.parametrize("action", [4, -1, 1.5, "2", np.array([1, 2]), None])
def test_discrete_refuses_actions_outside_the_space(action):
    with pytest.raises(ValueError, match=r"^action must be in Discrete\(4\)"):
        make_node().step(action)


@pytest.mark.parametrize("action", [[1.5, 0.0], [0.5, -0.1], [np.nan, 0.0], [0.5], [[0.5, 0.5]], 0.5])
def test_continuous_refuses_actions_outside_the_space(action):
    with pytest.raises(ValueError, match=r"^action must be in Box"):
        make_node(continuous=True).step(np.array(action, dtype=np.float32) if action != 0.5 else action)


def test_continuous_fractions():
    env = make_node(continuous=True, initial_charge=1.0)
    steps = [env.step(np.array([1.0, 0.4], dtype=np.float32))[4] for _ in range(3)]
    assert [s["delivered"] for s in steps] == [0, 1, 1]  # round(0.4·1), round(0.4·2), round(0.4·2)
    quiet = make_node(continuous=True, event_prob=(0.0, 0.0))
    assert quiet.step(np.array([0.25, 0.0]))[4]["spent_j"] == pytest.approx(SLEEP_J + 0.25 * SENSOR_J)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    actions=st.lists(st.integers(0, 3), min_size=1, max_size=200),
    draws=st.lists(st.floats(0.0, 0.05), min_size=1, max_size=200),
    capacitance_f=st.sampled_from([0.1, 0.47, 1.0]),
)
def test_every_step_balances_its_energy_and_its_readings(seed, actions, draws, capacitance_f):
    env = EnergyBudget(gym.make("drlsim/SensorNode-v1", capacitance_f=capacitance_f, event_prob=(0.3, 0.8)))
    node = env.unwrapped
    env.reset(seed=seed)
    for action, draw in zip(actions, draws * (len(actions) // len(draws) + 1), strict=False):
        stored, buffered, running = node._stored_j, len(node._buffer), node._running
        env.charge(draw)
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs) and not terminated
        balance = stored + info["harvest_j"] - info["leak_j"] - draw - info["spent_j"]
        if info["brownout"]:
            assert info["stored_j"] == 0.0 and len(node._buffer) == 0
        else:
            assert info["stored_j"] == pytest.approx(min(max(balance, 0.0), node.capacity_j), abs=1e-12)
        detected = int(info["detected"])
        assert detected <= int(running and info["event"])
        assert buffered + detected == len(node._buffer) + info["delivered"] + info["lost"]
        assert reward == info["delivered"] - 0.5 * info["lost"] - 10.0 * info["brownout"]
        if truncated:
            env.reset()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), energy_j=st.floats(0.0, 0.5), action=st.integers(0, 3))
def test_info_stored_j_drops_by_exactly_the_learners_draw(seed, energy_j, action):
    budget, plain = EnergyBudget(SensorNodeEnv(initial_charge=0.6)), SensorNodeEnv(initial_charge=0.6)
    budget.reset(seed=seed, options={"start_step": 0})  # midnight: no harvest to fill the store
    plain.reset(seed=seed, options={"start_step": 0})
    budget.charge(energy_j)
    info, plain_info = budget.step(action)[4], plain.step(action)[4]
    assert info["stored_j"] == pytest.approx(plain_info["stored_j"] - energy_j, abs=1e-12)
