"""SensorNode-v0: the first energy-harvesting sensor node, kept as it was for reproducibility.

Its defaults are not those of a real node (see ``envs.sensor_node`` for v1); only Gymnasium's
conventions have been added since (``render_mode``, episode length from ``step_s``, numpy
scalars, refused ``reset`` options). Trajectories under the default arguments are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs._checks import check_options, check_render_mode, is_integer, is_real, real

SECONDS_PER_DAY = 86_400.0
SUNRISE_H = 6.0
SUNSET_H = 18.0
LOW_DUTY = 0.1
"""Sensing duty cycle of the discrete ``low`` sample rate (fraction of the step the sensor is on)."""

# Discrete actions as (sensing duty cycle, fraction of the buffer to transmit).
DISCRETE_ACTIONS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),  # 0: sleep, buffer
    (0.0, 1.0),  # 1: sleep, wake the radio only to transmit the buffer
    (LOW_DUTY, 0.0),  # 2: sample at the low rate, buffer
    (LOW_DUTY, 1.0),  # 3: sample at the low rate, transmit the buffer
    (1.0, 0.0),  # 4: sample continuously, buffer
    (1.0, 1.0),  # 5: sample continuously, transmit the buffer
)


def solar_profile_mw(peak_mw: float = 10.0, step_s: float = 60.0) -> np.ndarray:
    """Clear-sky power of a small solar cell over one day, one value per step.

    Half a sine wave between sunrise (06:00) and sunset (18:00), zero at night,
    sampled at the middle of each step.

    Args:
        peak_mw: Power at solar noon (mW); 10 mW is about 0.5 cm² of silicon cell in full sun.
        step_s: Length of one step (s); must divide the day into at least one step.

    Returns:
        Float64 array of ``round(86400 / step_s)`` harvest powers (mW).

    Raises:
        ValueError: If ``peak_mw`` is negative or ``step_s`` is not in (0, 86400].
    """
    real("peak_mw", peak_mw, "a finite power >= 0 mW", 0.0)
    real("step_s", step_s, "in (0, 86400] seconds", 0.0, SECONDS_PER_DAY, low_open=True)
    steps = max(1, round(SECONDS_PER_DAY / step_s))
    hours = (np.arange(steps) + 0.5) * (24.0 / steps)
    daylight = (hours - SUNRISE_H) / (SUNSET_H - SUNRISE_H)
    return peak_mw * np.clip(np.sin(np.pi * daylight), 0.0, None)


def _probability_pair(name: str, value: Sequence[float]) -> tuple[float, float]:
    pair = tuple(value)
    if len(pair) != 2 or not all(is_real(p) and 0.0 <= p <= 1.0 for p in pair):
        raise ValueError(f"{name} must be two probabilities in [0, 1] (quiet, busy), got {value!r}")
    return float(pair[0]), float(pair[1])


def _harvest_profile(profile_mw: Sequence[float] | np.ndarray | None, step_s: float) -> np.ndarray:
    if profile_mw is None:
        return solar_profile_mw(step_s=step_s)
    profile = np.asarray(profile_mw, dtype=np.float64)
    if profile.ndim != 1 or profile.size == 0:
        raise ValueError(
            "harvest_profile_mw must be a non-empty 1-D sequence of powers (mW), one per step, "
            f"got shape {profile.shape}"
        )
    if not (np.all(np.isfinite(profile)) and np.all(profile >= 0.0)):
        raise ValueError("harvest_profile_mw must hold finite powers >= 0 mW")
    return profile


class SensorNodeV0Env(gym.Env):
    """An energy-harvesting wireless sensor node (mW class) that learns when to sense, send and sleep.

    ## Description

    A node with a solar cell and a supercapacitor watches for events (a door opening, a
    vibration burst). Each step (60 s of simulated time by default) the agent picks how
    long the sensor samples (the duty cycle) and how much of the packet buffer the radio
    sends. Detected events become packets in a buffer; packets count only once delivered.
    Harvest follows the sun (day/night) under a random walk of cloud cover; events come
    in bursts (a quiet and a busy regime). Sensing more catches more events but drains
    the store the node needs to survive the night; sending in batches saves radio wake-ups
    but risks a full buffer.

    Units (defaults): a 1 F supercapacitor at 5 V stores ``capacity_j = 12.5`` J; the
    solar cell gives up to 10 mW at noon (``solar_profile_mw``); the MCU sleeps at 10 µW;
    the sensor and MCU awake draw 3 mW; a radio burst costs 20 mJ to wake up plus 30 mJ
    per packet (a LoRa-class link).

    ## Energy per step

    With duty cycle ``d``, ``n`` packets sent and step length ``Δt``::

        spent_j = sleep_power·Δt + d·sense_power·Δt + (n > 0)·(radio_wakeup + n·tx_energy)

    The step's harvest ``H`` (profile power × cloud factor × Δt) and the store ``E``
    pay for it: ``E ← min(E + H − spent_j, capacity_j)``. If ``E + H < spent_j`` the node
    browns out: the store empties (``E = 0``), the buffer (volatile RAM) is lost, the
    step's event is missed and nothing is sent.

    ## Action Space

    Discrete (``drlsim/SensorNode-v0``), ``Discrete(6)``:

    | Num | Sensing duty cycle | Radio                     |
    |-----|--------------------|---------------------------|
    | 0   | 0 (sleep)          | buffer                    |
    | 1   | 0 (sleep)          | transmit the whole buffer |
    | 2   | 0.1 (low rate)     | buffer                    |
    | 3   | 0.1 (low rate)     | transmit the whole buffer |
    | 4   | 1.0 (continuous)   | buffer                    |
    | 5   | 1.0 (continuous)   | transmit the whole buffer |

    Continuous (``drlsim/SensorNodeContinuous-v0``), ``Box(0, 1, (2,), float32)``:

    | Num | Action                                                      | Min | Max |
    |-----|-------------------------------------------------------------|-----|-----|
    | 0   | sensing duty cycle (fraction of the step the sensor is on)  | 0   | 1   |
    | 1   | fraction of the buffer to transmit (rounded half up)        | 0   | 1   |

    Actions outside the space raise ``ValueError``.

    ## Observation Space

    ``Box(low, high, (6,), float32)``:

    | Num | Observation                                             | Min | Max |
    |-----|---------------------------------------------------------|-----|-----|
    | 0   | store level, ``E / capacity_j``                         | 0   | 1   |
    | 1   | harvest power now, as a fraction of the profile's peak  | 0   | 1   |
    | 2   | buffer fill, ``packets / buffer_packets``               | 0   | 1   |
    | 3   | sin(2π · time of day)                                   | -1  | 1   |
    | 4   | cos(2π · time of day)                                   | -1  | 1   |
    | 5   | 1 if an event was detected in the last step, else 0     | 0   | 1   |

    "Time of day" is the position in the (periodic) harvest profile.

    ## Rewards

    ``+1`` per packet delivered, ``−miss_penalty`` per event missed (not sensed, or
    sensed with the buffer full), ``−brownout_penalty`` per step in brown-out.

    ## Events

    One event at most per step, with probability ``event_prob[regime]``; the regime
    (quiet = 0, busy = 1) switches at the end of each step with probability
    ``regime_switch_prob[regime]``. An event is detected with probability equal to the
    duty cycle.

    ## Info

    ``step`` returns ``stored_j`` (J in the node's store after the step; named apart
    from ``EnergyBudget``'s ``battery_j``, the learning device's battery), ``harvest_j``,
    ``spent_j`` (J), ``event`` and ``brownout`` (bools), ``delivered`` and ``missed``
    (counts); ``reset`` returns ``stored_j``.

    ## Starting State

    Store at ``initial_charge · capacity_j``, empty buffer, quiet regime, a uniformly
    random time of day (or ``options={"start_step": k}``: profile step ``k``), cloud
    factor uniform in [0.2, 1] (1 when ``weather_sigma = 0``).

    ## Episode End

    The node never terminates. An episode is truncated after ``episode_s`` of simulated
    time (one day by default: 1440 steps of 60 s, ``round(episode_s / step_s)`` steps).

    ## Arguments

    ```python
    gymnasium.make("drlsim/SensorNode-v0", capacity_j=12.5, weather_sigma=0.05)
    gymnasium.make("drlsim/SensorNodeContinuous-v0")
    ```

    Args:
        continuous: Box actions (duty cycle, transmit fraction) instead of ``Discrete(6)``.
        render_mode: ``None`` only (the node does not render).
        capacity_j: Usable energy of the store when full (J).
        initial_charge: Store level at reset as a fraction of ``capacity_j``, in [0, 1].
        step_s: Simulated time per step (s).
        episode_s: Simulated time per episode (s), at least ``step_s``.
        harvest_profile_mw: Harvest power per step (mW), a 1-D periodic sequence; ``None``
            gives ``solar_profile_mw(10.0, step_s)``, one day.
        weather_sigma: Standard deviation of the per-step change of the cloud factor (a
            random walk clipped to [0, 1] that multiplies the harvest); 0 gives clear sky.
        sleep_power_mw: Power of the node asleep (mW).
        sense_power_mw: Extra power while the sensor samples (mW), scaled by the duty cycle.
        tx_energy_mj: Radio energy per packet sent (mJ).
        radio_wakeup_mj: Radio energy per step in which anything is sent (mJ).
        buffer_packets: Packets the buffer holds.
        event_prob: Probability of an event per step in the (quiet, busy) regime.
        regime_switch_prob: Probability per step of leaving the (quiet, busy) regime.
        miss_penalty: Penalty per missed event.
        brownout_penalty: Penalty per step in brown-out.

    Raises:
        ValueError: If an argument is out of range; the message names it.

    ## Version History

    - v0: Initial version. Since then, only Gymnasium's conventions: ``render_mode``,
      ``episode_s`` (the registered ids no longer add a 1440-step ``TimeLimit``; the
      default is the same day), numpy scalars of any width, unknown ``reset`` options
      refused. Superseded by v1 (``envs.sensor_node``).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (Gymnasium's class attribute)

    def __init__(
        self,
        *,
        continuous: bool = False,
        render_mode: str | None = None,
        capacity_j: float = 12.5,
        initial_charge: float = 0.5,
        step_s: float = 60.0,
        episode_s: float = SECONDS_PER_DAY,
        harvest_profile_mw: Sequence[float] | np.ndarray | None = None,
        weather_sigma: float = 0.05,
        sleep_power_mw: float = 0.01,
        sense_power_mw: float = 3.0,
        tx_energy_mj: float = 30.0,
        radio_wakeup_mj: float = 20.0,
        buffer_packets: int = 16,
        event_prob: Sequence[float] = (0.02, 0.5),
        regime_switch_prob: Sequence[float] = (0.01, 0.1),
        miss_penalty: float = 0.5,
        brownout_penalty: float = 1.0,
    ) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata)
        self._continuous = bool(continuous)
        self._capacity_j = real("capacity_j", capacity_j, "a positive finite energy (J)", 0.0, low_open=True)
        self._initial_charge = real("initial_charge", initial_charge, "a fraction in [0, 1]", 0.0, 1.0)
        self.step_s = real("step_s", step_s, "a positive finite time (s)", 0.0, low_open=True)
        episode_s = real("episode_s", episode_s, f"a time >= step_s = {self.step_s} s", self.step_s)
        self._episode_steps = round(episode_s / self.step_s)
        profile_mw = _harvest_profile(harvest_profile_mw, self.step_s)
        self._weather_sigma = real("weather_sigma", weather_sigma, "a finite cloud factor per step >= 0", 0.0)
        if not (is_integer(buffer_packets) and buffer_packets >= 1):
            raise ValueError(f"buffer_packets must be an integer >= 1, got {buffer_packets!r}")
        self._buffer_packets = int(buffer_packets)
        self._event_prob = _probability_pair("event_prob", event_prob)
        self._regime_switch_prob = _probability_pair("regime_switch_prob", regime_switch_prob)
        self._miss_penalty = real("miss_penalty", miss_penalty, "a finite number >= 0 (reward units)", 0.0)
        self._brownout_penalty = real(
            "brownout_penalty", brownout_penalty, "a finite number >= 0 (reward units)", 0.0
        )

        # Energies per step in joules, as Python floats: step() does scalar arithmetic only.
        self._sleep_j = real("sleep_power_mw", sleep_power_mw, "a finite number >= 0 (mW)", 0.0) * 1e-3 * self.step_s
        self._sense_j = real("sense_power_mw", sense_power_mw, "a finite number >= 0 (mW)", 0.0) * 1e-3 * self.step_s
        self._tx_j = real("tx_energy_mj", tx_energy_mj, "a finite number >= 0 (mJ)", 0.0) * 1e-3
        self._wakeup_j = real("radio_wakeup_mj", radio_wakeup_mj, "a finite number >= 0 (mJ)", 0.0) * 1e-3
        harvest_j = profile_mw * 1e-3 * self.step_s
        self._harvest_j: list[float] = harvest_j.tolist()
        self._harvest_peak_j = float(harvest_j.max()) or 1.0
        phase = 2.0 * np.pi * np.arange(harvest_j.size) / harvest_j.size
        self._sin_day: list[float] = np.sin(phase).tolist()
        self._cos_day: list[float] = np.cos(phase).tolist()

        if self._continuous:
            self.action_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        else:
            self.action_space = spaces.Discrete(len(DISCRETE_ACTIONS))
        low = np.array([0.0, 0.0, 0.0, -1.0, -1.0, 0.0], dtype=np.float32)
        high = np.ones(6, dtype=np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

        self._stored_j = self._initial_charge * self._capacity_j
        self._buffered = 0
        self._busy = 0
        self._cloud = 1.0
        self._time_step = 0
        self._detected = False

    @property
    def continuous(self) -> bool:
        """Box actions (True) or ``Discrete(6)``."""
        return self._continuous

    def _decode(self, action) -> tuple[float, float]:
        """The (duty cycle, transmit fraction) an action asks for; ``ValueError`` if outside the space."""
        if self._continuous:
            values = np.asarray(action, dtype=np.float64)
            if values.shape == (2,):
                duty, tx_fraction = float(values[0]), float(values[1])
                if 0.0 <= duty <= 1.0 and 0.0 <= tx_fraction <= 1.0:
                    return duty, tx_fraction
        elif self.action_space.contains(action):
            return DISCRETE_ACTIONS[int(action)]
        raise ValueError(f"action must be in {self.action_space}, got {action!r}")

    def _observation(self) -> np.ndarray:
        t = self._time_step
        return np.array(
            (
                self._stored_j / self._capacity_j,
                self._harvest_j[t] * self._cloud / self._harvest_peak_j,
                self._buffered / self._buffer_packets,
                self._sin_day[t],
                self._cos_day[t],
                float(self._detected),
            ),
            dtype=np.float32,
        )

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a new episode; ``options={"start_step": k}`` starts at profile step ``k``."""
        super().reset(seed=seed)
        period = len(self._harvest_j)
        start = check_options(options, ("start_step",)).get("start_step")
        if start is None:
            start = int(self.np_random.integers(period))
        elif not (is_integer(start) and 0 <= start < period):
            raise ValueError(f"options['start_step'] must be an integer in [0, {period}), got {start!r}")
        self._time_step = int(start)
        self._stored_j = self._initial_charge * self._capacity_j
        self._buffered = 0
        self._busy = 0
        self._cloud = float(self.np_random.uniform(0.2, 1.0)) if self._weather_sigma > 0.0 else 1.0
        self._detected = False
        self._steps_left = self._episode_steps
        return self._observation(), {"stored_j": self._stored_j}

    def step(self, action):
        """Spend one step's energy as ``action`` says; see the class docstring for the rules."""
        duty, tx_fraction = self._decode(action)
        rng = self.np_random
        harvest_j = self._harvest_j[self._time_step] * self._cloud
        event = rng.random() < self._event_prob[self._busy]
        detected = event and rng.random() < duty

        stored = self._buffered
        missed = int(event and not detected)
        if detected:
            if stored < self._buffer_packets:
                stored += 1
            else:
                missed = 1  # buffer full: the reading is dropped
        sent = int(tx_fraction * stored + 0.5)
        spent_j = self._sleep_j + duty * self._sense_j
        if sent:
            spent_j += self._wakeup_j + sent * self._tx_j

        available_j = self._stored_j + harvest_j
        brownout = available_j < spent_j
        if brownout:
            spent_j = available_j
            self._stored_j = 0.0
            self._buffered = 0
            sent = 0
            missed = int(event)
            detected = False
            reward = -self._brownout_penalty - self._miss_penalty * missed
        else:
            self._stored_j = min(available_j - spent_j, self._capacity_j)
            self._buffered = stored - sent
            reward = sent - self._miss_penalty * missed
        self._detected = detected

        if self._weather_sigma > 0.0:
            self._cloud = min(max(self._cloud + self._weather_sigma * rng.standard_normal(), 0.0), 1.0)
        if rng.random() < self._regime_switch_prob[self._busy]:
            self._busy = 1 - self._busy
        self._time_step = (self._time_step + 1) % len(self._harvest_j)

        info = {
            "stored_j": self._stored_j,
            "harvest_j": harvest_j,
            "spent_j": spent_j,
            "event": event,
            "delivered": sent,
            "missed": missed,
            "brownout": brownout,
        }
        self._steps_left -= 1
        return self._observation(), float(reward), False, self._steps_left <= 0, info
