"""SensorNode-v0 (kept for reproducibility): energy accounting, rewards and brown-out on hand-computed cases."""

import numpy as np
import pytest

from envs.sensor_node_v0 import SensorNodeV0Env as SensorNodeEnv
from envs.sensor_node_v0 import solar_profile_mw

SLEEP, SLEEP_TX, LOW, LOW_TX, HIGH, HIGH_TX = range(6)
# Default node at 60 s steps: sleep 0.01 mW, sensing 3 mW, radio wake-up 20 mJ, 30 mJ per packet.
SLEEP_J = 0.01e-3 * 60
SENSE_J = 3e-3 * 60
WAKEUP_J = 20e-3
TX_J = 30e-3


def make_node(**overrides) -> SensorNodeEnv:
    """A deterministic node: constant 5 mW harvest (0.3 J/step), no weather, an event every step."""
    kwargs = {
        "capacity_j": 1.0,
        "initial_charge": 0.5,
        "harvest_profile_mw": [5.0],
        "weather_sigma": 0.0,
        "event_prob": (1.0, 1.0),
        "regime_switch_prob": (0.0, 0.0),
    }
    kwargs.update(overrides)
    env = SensorNodeEnv(**kwargs)
    env.reset(seed=0)
    return env


def test_sense_and_transmit_one_packet():
    env = make_node()
    obs, reward, terminated, truncated, info = env.step(HIGH_TX)
    spent = SLEEP_J + SENSE_J + WAKEUP_J + TX_J
    assert info["spent_j"] == pytest.approx(spent)
    assert info["harvest_j"] == pytest.approx(0.3)
    assert info["stored_j"] == pytest.approx(0.5 + 0.3 - spent)
    assert (info["delivered"], info["missed"], info["brownout"]) == (1, 0, False)
    assert reward == 1.0
    assert not terminated and not truncated
    assert obs[0] == pytest.approx(0.5 + 0.3 - spent)  # battery fraction of a 1 J store
    assert obs[2] == 0.0  # buffer emptied
    assert obs[5] == 1.0  # event detected


def test_full_buffer_drops_the_reading_as_missed():
    env = make_node(buffer_packets=2)
    rewards = [env.step(HIGH)[1] for _ in range(3)]
    assert rewards == [0.0, 0.0, -0.5]
    obs, _, _, _, info = env.step(HIGH)
    assert obs[2] == 1.0 and info["missed"] == 1
    assert info["stored_j"] == pytest.approx(min(0.5 + 4 * (0.3 - SLEEP_J - SENSE_J), 1.0))


def test_sleeping_misses_the_event_and_the_store_saturates_at_capacity():
    env = make_node(initial_charge=1.0)
    _, reward, _, _, info = env.step(SLEEP)
    assert reward == -0.5
    assert info["missed"] == 1 and info["spent_j"] == pytest.approx(SLEEP_J)
    assert info["stored_j"] == 1.0


def test_brownout_empties_store_and_buffer_and_is_penalised():
    env = make_node(harvest_profile_mw=[0.0], initial_charge=0.2)
    _, reward, _, _, info = env.step(HIGH)
    assert reward == 0.0 and info["stored_j"] == pytest.approx(0.2 - SLEEP_J - SENSE_J)
    obs, reward, terminated, truncated, info = env.step(HIGH)
    assert info["brownout"]
    assert info["spent_j"] == pytest.approx(0.2 - SLEEP_J - SENSE_J)  # all that was left
    assert reward == -1.0 - 0.5  # brown-out penalty and the missed event
    assert info["stored_j"] == 0.0 and info["delivered"] == 0
    assert obs[0] == 0.0 and obs[2] == 0.0 and obs[5] == 0.0  # packet lost, nothing detected
    assert not terminated and not truncated


def test_brownout_penalties_follow_the_arguments():
    env = make_node(harvest_profile_mw=[0.0], initial_charge=0.0, brownout_penalty=3.0, miss_penalty=2.0)
    assert env.step(SLEEP)[1] == -5.0


def test_continuous_transmit_fraction_rounds_half_up():
    env = make_node(continuous=True)
    action = np.array([1.0, 0.4], dtype=np.float32)
    steps = [env.step(action) for _ in range(3)]
    assert [s[4]["delivered"] for s in steps] == [0, 1, 1]  # round(0.4·1), round(0.4·2), round(0.4·2)
    assert steps[0][4]["spent_j"] == pytest.approx(SLEEP_J + SENSE_J)
    assert steps[1][4]["spent_j"] == pytest.approx(SLEEP_J + SENSE_J + WAKEUP_J + TX_J)


def test_continuous_duty_scales_sensing_energy():
    env = make_node(continuous=True, event_prob=(0.0, 0.0))
    info = env.step(np.array([0.25, 0.0], dtype=np.float32))[4]
    assert info["spent_j"] == pytest.approx(SLEEP_J + 0.25 * SENSE_J)
    assert info["event"] is False and info["missed"] == 0


def test_detection_rate_follows_duty_cycle():
    env = make_node(harvest_profile_mw=[100.0])
    detected = [env.step(LOW)[0][5] for _ in range(4000)]
    assert np.mean(detected) == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize(
    ("action", "duty", "sends"),
    [(SLEEP, 0.0, False), (SLEEP_TX, 0.0, True), (LOW, 0.1, False), (LOW_TX, 0.1, True), (HIGH, 1.0, False),
     (HIGH_TX, 1.0, True)],
)
def test_each_discrete_action_spends_and_sends_as_documented(action, duty, sends):
    # No events, one packet already buffered: the step's energy tells the duty cycle and whether it sent.
    env = make_node(event_prob=(0.0, 0.0), initial_charge=1.0)
    env._buffered = 1
    info = env.step(action)[4]
    assert info["spent_j"] == pytest.approx(SLEEP_J + duty * SENSE_J + sends * (WAKEUP_J + TX_J))
    assert info["delivered"] == int(sends)


def test_observation_time_of_day_and_harvest():
    env = SensorNodeEnv(weather_sigma=0.0)
    obs, info = env.reset(seed=1, options={"start_step": 720})  # noon at 60 s steps
    assert obs[3] == pytest.approx(0.0, abs=1e-6) and obs[4] == pytest.approx(-1.0)
    assert obs[1] == pytest.approx(1.0, abs=1e-3)  # clear-sky peak
    assert info["stored_j"] == pytest.approx(0.5 * 12.5)
    obs, _ = env.reset(seed=1, options={"start_step": 0})  # midnight: dark
    assert obs[1] == 0.0 and obs[4] == pytest.approx(1.0)


def test_solar_profile_shape_and_units():
    profile = solar_profile_mw(peak_mw=10.0, step_s=60.0)
    assert profile.shape == (1440,)
    assert profile.max() == pytest.approx(10.0, rel=1e-4)
    assert np.all(profile[:360] == 0.0) and np.all(profile[1080:] == 0.0)  # night before 06:00, after 18:00
    # A half sine over 12 h: 10 mW · 2/π · 12 h ≈ 275 J per day.
    assert profile.sum() * 1e-3 * 60.0 == pytest.approx(10e-3 * 2 / np.pi * 12 * 3600, rel=1e-3)


def test_weather_changes_harvest_reproducibly():
    def harvests(seed):
        env = SensorNodeEnv(weather_sigma=0.05)
        env.reset(seed=seed, options={"start_step": 600})
        return [env.step(0)[4]["harvest_j"] for _ in range(100)]

    clear = SensorNodeEnv(weather_sigma=0.0)
    clear.reset(seed=0, options={"start_step": 600})
    clear_sky = [clear.step(0)[4]["harvest_j"] for _ in range(100)]
    assert harvests(3) == harvests(3)
    assert harvests(3) != harvests(4)
    assert all(h <= c + 1e-12 for h, c in zip(harvests(3), clear_sky, strict=True))


@pytest.mark.parametrize("action", [6, -1, 1.0, "2", np.array([1, 2])])
def test_discrete_rejects_actions_outside_the_space(action):
    env = make_node()
    with pytest.raises(ValueError, match=r"^action must be in "):
        env.step(action)


@pytest.mark.parametrize("action", [[1.5, 0.0], [0.5, -0.1], [np.nan, 0.0], [0.5], [[0.5, 0.5]]])
def test_continuous_rejects_actions_outside_the_space(action):
    env = make_node(continuous=True)
    with pytest.raises(ValueError, match=r"^action must be in "):
        env.step(np.array(action, dtype=np.float32))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"capacity_j": -1.0}, "capacity_j"),
        ({"capacity_j": 0.0}, "capacity_j"),
        ({"initial_charge": 1.5}, "initial_charge"),
        ({"step_s": float("inf")}, "step_s"),
        ({"harvest_profile_mw": [[1.0, 2.0]]}, "harvest_profile_mw"),
        ({"harvest_profile_mw": []}, "harvest_profile_mw"),
        ({"harvest_profile_mw": [1.0, -2.0]}, "harvest_profile_mw"),
        ({"weather_sigma": -0.1}, "weather_sigma"),
        ({"sense_power_mw": float("nan")}, "sense_power_mw"),
        ({"tx_energy_mj": -30.0}, "tx_energy_mj"),
        ({"buffer_packets": 0}, "buffer_packets"),
        ({"buffer_packets": 2.5}, "buffer_packets"),
        ({"event_prob": (0.1,)}, "event_prob"),
        ({"regime_switch_prob": (0.1, 1.5)}, "regime_switch_prob"),
        ({"miss_penalty": -1.0}, "miss_penalty"),
    ],
)
def test_bad_constructor_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SensorNodeEnv(**kwargs)


def test_bad_reset_option_is_named():
    env = SensorNodeEnv()
    with pytest.raises(ValueError, match="start_step"):
        env.reset(seed=0, options={"start_step": 1440})


@pytest.mark.parametrize("value", [np.float32(12.5), np.float16(12.5), np.int8(12)])
def test_numpy_scalars_of_any_width_are_accepted(value):
    assert SensorNodeEnv(capacity_j=value).reset(seed=0)[1]["stored_j"] == pytest.approx(0.5 * float(value))


def test_bad_solar_profile_arguments():
    with pytest.raises(ValueError, match="peak_mw"):
        solar_profile_mw(peak_mw=-1.0)
    with pytest.raises(ValueError, match="step_s"):
        solar_profile_mw(step_s=0.0)
