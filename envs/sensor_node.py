"""SensorNode-v1: a solar-powered LoRaWAN sensor node that decides when to sense and when to send.

Every default is a figure from a datasheet or a measurement (docs/envs.md lists the
sources); ``NodeSettings`` holds them, validated once and immutable.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs._checks import check_options, check_render_mode, is_integer, is_real, real
from envs.irradiance import (
    HAURWITZ_W_M2,
    TMY3_GREENSBORO,
    CloudFit,
    Sky,
    clear_sky_ghi_w_m2,
    cos_zenith,
    day_length_h,
)

SECONDS_PER_DAY = 86_400.0
LORAWAN_HEADER_BYTES = 13
"""MHDR (1) + DevAddr (4) + FCtrl (1) + FCnt (2) + FPort (1) + MIC (4): LoRaWAN 1.0 uplink overhead."""
RX2_SPREADING_FACTOR = 12
"""EU868's second receive window listens at DR0 (SF12, 125 kHz)."""
RADIO_STARTUP_J = 1e-3 * 1.6e-3 * 3.3
"""Radio leaving sleep: ~1 ms in standby (Semtech's SX1276 driver, RADIO_WAKEUP_TIME) at 1.6 mA, 3.3 V."""

DISCRETE_ACTIONS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),  # 0: sensor off, keep the buffer
    (0.0, 1.0),  # 1: sensor off, send the buffer in one frame
    (1.0, 0.0),  # 2: sensor armed, keep the buffer
    (1.0, 1.0),  # 3: sensor armed, send the buffer in one frame
)
"""(fraction of the step the sensor is armed, fraction of the buffer sent) of each discrete action."""


def lora_time_on_air_s(payload_bytes: int, spreading_factor: int, bandwidth_hz: float = 125e3) -> float:
    """Time on air of one LoRa frame (s), Semtech AN1200.13 ("LoRa Modem Designer's Guide").

    Explicit header, CRC on, coding rate 4/5, 8 preamble symbols; low-data-rate
    optimisation on when a symbol lasts 16 ms or more (SF11 and SF12 at 125 kHz).

    Args:
        payload_bytes: PHY payload (bytes, LoRaWAN header included), 0 to 255.
        spreading_factor: 7 to 12.
        bandwidth_hz: Channel bandwidth (Hz).

    Raises:
        ValueError: If an argument is out of range.
    """
    if not (is_integer(payload_bytes) and 0 <= payload_bytes <= 255):
        raise ValueError(f"payload_bytes must be an integer in [0, 255], got {payload_bytes!r}")
    if not (is_integer(spreading_factor) and 7 <= spreading_factor <= 12):
        raise ValueError(f"spreading_factor must be an integer in [7, 12], got {spreading_factor!r}")
    bandwidth_hz = real("bandwidth_hz", bandwidth_hz, "a positive finite bandwidth (Hz)", 0.0, low_open=True)
    symbol_s = 2.0**spreading_factor / bandwidth_hz
    low_rate = 1 if symbol_s >= 16e-3 else 0
    numerator = 8 * payload_bytes - 4 * spreading_factor + 28 + 16
    payload_symbols = 8 + max(math.ceil(numerator / (4 * (spreading_factor - 2 * low_rate))) * 5, 0)
    return (8 + 4.25 + payload_symbols) * symbol_s


def _pair(name: str, value: object) -> tuple[float, float]:
    pair = tuple(value) if isinstance(value, Sequence | np.ndarray) else ()
    if len(pair) != 2 or not all(is_real(p) and 0.0 <= p <= 1.0 for p in pair):
        raise ValueError(f"{name} must be two probabilities in [0, 1] (quiet, busy), got {value!r}")
    return float(pair[0]), float(pair[1])


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """The node's hardware, its events and its reward, validated once (SI units in the names).

    Attributes:
        step_s: Simulated time per step (s).
        episode_s: Simulated time per episode (s); ``round(episode_s / step_s)`` steps.
        capacitance_f: Supercapacitor (F).
        voltage_max_v: Its rated voltage, where charging stops (V).
        voltage_min_v: Lowest voltage the node runs at (V); the store below it is unusable.
        leakage_ua: Leakage current at ``voltage_max_v`` (µA); a parallel resistance, so it
            falls with the voltage.
        initial_charge: Usable store at reset, a fraction of ``capacity_j``.
        restart_charge: Usable store, as a fraction of ``capacity_j``, at which a browned-out
            node starts again (the supervisor's hysteresis).
        cell_area_cm2: Solar cell area (cm²).
        cell_efficiency: Cell efficiency (electrical out / light in).
        harvester_efficiency: Efficiency of the charger between cell and store.
        cloud_fit: Cloud model of the sky (``envs.irradiance``).
        harvest_profile_mw: Harvest power per step (mW) repeating with its length, replacing
            the sky model (no weather); ``None``: the sky model.
        sleep_power_uw: Node asleep: MCU and radio in sleep, charger's quiescent draw (µW).
        sensor_power_uw: Wake-on-event sensor while armed (µW).
        reading_energy_uj: MCU waking to read and classify one detection (µJ).
        spreading_factor: LoRa spreading factor of the uplink (7–12, 125 kHz).
        tx_power_mw: Radio transmitting (mW drawn).
        rx_power_mw: Radio receiving (mW drawn).
        rx_window_symbols: Symbols each class-A receive window stays open when nothing comes.
        reading_bytes: Payload bytes per reading.
        buffer_readings: Readings the RAM buffer holds (lost at a brown-out).
        deadline_s: A reading not sent within this time of its detection is stale: the
            application no longer wants it, and it is dropped from the buffer (lost).
        event_prob: Probability of an event per step in the (quiet, busy) regime.
        regime_switch_prob: Probability per step of leaving the (quiet, busy) regime.
        loss_penalty: Reward lost per reading dropped (buffer full, stale, or lost at a brown-out).
        brownout_penalty: Reward lost per brown-out (the node resets and rejoins).
    """

    step_s: float = 60.0
    episode_s: float = SECONDS_PER_DAY
    capacitance_f: float = 1.0
    voltage_max_v: float = 2.7
    voltage_min_v: float = 1.8
    leakage_ua: float = 3.0
    initial_charge: float = 0.5
    restart_charge: float = 0.2
    cell_area_cm2: float = 0.5
    cell_efficiency: float = 0.2
    harvester_efficiency: float = 0.8
    cloud_fit: CloudFit = TMY3_GREENSBORO
    harvest_profile_mw: tuple[float, ...] | None = None
    sleep_power_uw: float = 7.0
    sensor_power_uw: float = 6.0
    reading_energy_uj: float = 50.0
    spreading_factor: int = 9
    tx_power_mw: float = 137.0
    rx_power_mw: float = 41.8
    rx_window_symbols: int = 8
    reading_bytes: int = 4
    buffer_readings: int = 16
    deadline_s: float = 3600.0
    event_prob: tuple[float, float] = (0.02, 0.5)
    regime_switch_prob: tuple[float, float] = (0.01, 0.1)
    loss_penalty: float = 0.5
    brownout_penalty: float = 10.0
    capacity_j: float = field(init=False)
    """Usable energy of a full store, ``C (V_max² − V_min²) / 2`` (J); derived."""

    def __post_init__(self) -> None:
        checked = {
            "step_s": real("step_s", self.step_s, "a positive finite time (s)", 0.0, low_open=True),
            "capacitance_f": real("capacitance_f", self.capacitance_f, "a positive capacitance (F)", 0.0,
                                  low_open=True),
            "voltage_max_v": real("voltage_max_v", self.voltage_max_v, "a positive voltage (V)", 0.0,
                                  low_open=True),
            "leakage_ua": real("leakage_ua", self.leakage_ua, "a finite current >= 0 µA", 0.0),
            "initial_charge": real("initial_charge", self.initial_charge, "a fraction in [0, 1]", 0.0, 1.0),
            "restart_charge": real("restart_charge", self.restart_charge, "a fraction in (0, 1]", 0.0, 1.0,
                                   low_open=True),
            "loss_penalty": real("loss_penalty", self.loss_penalty, "a finite number >= 0", 0.0),
            "brownout_penalty": real("brownout_penalty", self.brownout_penalty, "a finite number >= 0", 0.0),
        }
        checked["deadline_s"] = real("deadline_s", self.deadline_s, f"a time >= step_s = {checked['step_s']} s",
                                     checked["step_s"])
        checked["episode_s"] = real("episode_s", self.episode_s, f"a time >= step_s = {checked['step_s']} s",
                                    checked["step_s"])
        checked["voltage_min_v"] = real("voltage_min_v", self.voltage_min_v,
                                        f"a voltage in [0, voltage_max_v = {checked['voltage_max_v']}) V", 0.0)
        if checked["voltage_min_v"] >= checked["voltage_max_v"]:
            raise ValueError(f"voltage_min_v must be below voltage_max_v, got {self.voltage_min_v!r}")
        for name in ("cell_efficiency", "harvester_efficiency"):
            checked[name] = real(name, getattr(self, name), "a fraction in [0, 1]", 0.0, 1.0)
        for name, unit in (("cell_area_cm2", "cm²"), ("sleep_power_uw", "µW"), ("sensor_power_uw", "µW"),
                           ("reading_energy_uj", "µJ"), ("tx_power_mw", "mW"), ("rx_power_mw", "mW")):
            checked[name] = real(name, getattr(self, name), f"a finite number >= 0 ({unit})", 0.0)
        for name, low, high in (("spreading_factor", 7, 12), ("rx_window_symbols", 0, 1000),
                                ("reading_bytes", 1, 255), ("buffer_readings", 1, 10_000)):
            value = getattr(self, name)
            if not (is_integer(value) and low <= value <= high):
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
            checked[name] = int(value)
        frame_bytes = LORAWAN_HEADER_BYTES + checked["reading_bytes"] * checked["buffer_readings"]
        if frame_bytes > 255:
            raise ValueError(
                f"buffer_readings: a full buffer ({frame_bytes} bytes with the header) must fit one "
                f"255-byte LoRa frame; got {self.buffer_readings!r}"
            )
        if not isinstance(self.cloud_fit, CloudFit):
            raise ValueError(f"cloud_fit must be a CloudFit, got {self.cloud_fit!r}")
        checked["harvest_profile_mw"] = _profile(self.harvest_profile_mw)
        checked["event_prob"] = _pair("event_prob", self.event_prob)
        checked["regime_switch_prob"] = _pair("regime_switch_prob", self.regime_switch_prob)
        checked["capacity_j"] = 0.5 * checked["capacitance_f"] * (
            checked["voltage_max_v"] ** 2 - checked["voltage_min_v"] ** 2
        )
        for name, value in checked.items():
            object.__setattr__(self, name, value)


def _profile(profile_mw: object) -> tuple[float, ...] | None:
    if profile_mw is None:
        return None
    try:
        profile = np.asarray(profile_mw, dtype=np.float64)
    except (TypeError, ValueError):
        profile = np.zeros((0, 0))
    if profile.ndim != 1 or profile.size == 0 or not (np.all(np.isfinite(profile)) and np.all(profile >= 0.0)):
        raise ValueError(
            "harvest_profile_mw must be None or a non-empty 1-D sequence of finite powers >= 0 mW, "
            f"got {profile_mw!r}"
        )
    return tuple(profile.tolist())


class SensorNodeEnv(gym.Env):
    """A solar-powered LoRaWAN sensor node that learns when to arm its sensor and when to send.

    ## Description

    A node watches for events (a door, a vibration burst) with a wake-on-event sensor
    (µW), buffers each detection as a 4-byte reading in RAM, and sends the buffer to a
    gateway in LoRaWAN frames; a reading is wanted within an hour (``deadline_s``). A
    0.5 cm² silicon cell charges a 1 F supercapacitor through a harvester; the sky
    follows a clear-sky model under clouds fitted to a measured year
    (``envs.irradiance``), with the season drawn per episode. The radio
    dominates: one frame costs tens of mJ whether it carries one reading or sixteen, so
    batching pays, while waiting lets readings go stale, a full buffer drops them and a
    brown-out loses the buffer.
    The store (2 J usable) carries a careful node through the night, not a careless one.

    It is partially observable: the busy/quiet regime of the events is hidden (the
    observation gives what a real node knows: its store, its light, its buffer, the
    time and date, and its own recent detections).

    ## Energy per step

    With sensor armed a fraction ``d`` of the step ``Δt``, ``detected`` readings this
    step and a frame of ``n`` readings sent::

        spent_j = sleep·Δt + d·sensor·Δt + detected·reading + (n > 0)·frame(n)
        frame(n) = tx_power · time_on_air(13 + 4n bytes, SF) + radio_wakeup
        radio_wakeup = rx_power · rx_window_symbols · (T_sym(SF) + T_sym(SF12)) + start-up

    (the two class-A receive windows that follow every uplink, and 1 ms of start-up).
    The store ``E`` (usable energy above ``voltage_min_v``) leaks through a parallel
    resistance, ``leak_j = (E + E_min)(1 − exp(−2Δt/RC))``, and is paid in this order:
    the learner's energy (``draw``, through ``EnergyBudget``), then the node's.
    ``E ← min(E + harvest_j − leak_j − learner_j − spent_j, capacity_j)``. If that would
    fall below 0 the node **browns out**: the store empties, the buffer (RAM) is lost, and
    the node stays off (no sensing, no sending, no draw but leakage) until the store is
    back at ``restart_charge · capacity_j``.

    ## Action Space

    Discrete (``drlsim/SensorNode-v1``), ``Discrete(4)``:

    | Num | Sensor | Radio                                |
    |-----|--------|--------------------------------------|
    | 0   | off    | keep the buffer                      |
    | 1   | off    | send the whole buffer in one frame   |
    | 2   | armed  | keep the buffer                      |
    | 3   | armed  | send the whole buffer in one frame   |

    Continuous (``drlsim/SensorNodeContinuous-v1``), ``Box(0, 1, (2,), float32)``: the
    fraction of the step the sensor is armed, and the fraction of the buffer sent
    (rounded half up). Actions outside the space (NaN included) raise ``ValueError``.

    ## Observation Space

    ``Box(low, high, (10,), float32)``:

    | Num | Observation                                                          | Min | Max |
    |-----|----------------------------------------------------------------------|-----|-----|
    | 0   | usable store, ``E / capacity_j``                                     | 0   | 1   |
    | 1   | harvest power now over the cell's clear-sky maximum                  | 0   | 1   |
    | 2   | buffer fill, ``readings / buffer_readings``                          | 0   | 1   |
    | 3   | sin(2π · time of day)                                                | -1  | 1   |
    | 4   | cos(2π · time of day)                                                | -1  | 1   |
    | 5   | day length today / 24 h (from the date; the profile's lit fraction)  | 0   | 1   |
    | 6   | time since the last detection / 1 h, capped at 1                     | 0   | 1   |
    | 7   | detections per step, averaged over the last hour (exponentially)     | 0   | 1   |
    | 8   | 1 if the node is running, 0 while it is off after a brown-out        | 0   | 1   |
    | 9   | age of the oldest buffered reading / ``deadline_s`` (0 if empty)     | 0   | 1   |

    ## Rewards

    ``+1`` per reading delivered, ``−loss_penalty`` per reading dropped (buffer full, or
    stale: older than ``deadline_s`` when the step begins its radio decision) or lost (in
    the buffer at a brown-out), ``−brownout_penalty`` per brown-out. Frames carry the
    oldest readings first. Every term
    follows from the node's actions; events the node did not sense simply earn nothing.

    ## Events

    At most one event per step, with probability ``event_prob[regime]``; the hidden regime
    (quiet = 0, busy = 1) switches at the end of each step with probability
    ``regime_switch_prob[regime]``. An armed sensor detects an event with probability
    equal to the fraction of the step it is armed.

    ## Info

    ``step``: ``stored_j`` (usable J after the step), ``harvest_j``, ``leak_j``,
    ``spent_j`` (the node's own draw), ``learner_j`` (drawn for the learner since the
    previous step), ``event``, ``detected``, ``brownout``, ``running`` (bools),
    ``delivered``, ``lost`` (counts). ``reset``: ``stored_j``, ``learner_j`` (drawn before
    the reset, discarded with the old store).

    ## Starting State

    Store at ``initial_charge``, empty buffer, node running, quiet regime, a uniformly
    random time of day and day of the year, the day's clearness and the cloud residual
    drawn from the sky model. ``options``: ``start_step`` (steps after midnight, or the
    profile step) and ``day_of_year`` (1–365; sky model only).

    ## Episode End

    The node never terminates; an episode is truncated after ``episode_s`` of simulated
    time (one day: 1440 steps at the default 60 s).

    ## Arguments

    ```python
    gymnasium.make("drlsim/SensorNode-v1", spreading_factor=12, capacitance_f=0.47)
    gymnasium.make("drlsim/SensorNodeContinuous-v1", render_mode="ansi")
    ```

    Args:
        continuous: Box actions instead of ``Discrete(4)``.
        render_mode: ``None`` or ``"ansi"`` (one line of text per ``render()``).
        **settings: Fields of ``NodeSettings``.

    Raises:
        ValueError: If a setting is out of range; the message names it.
        TypeError: If a setting does not exist.

    ## Version History

    - v1: A node true to its parts (LoRa airtime and receive windows, µW sensing,
      supercapacitor leakage, a measured sky, brown-out with restart), the learner paying
      from the store, readings that go stale, a reward with no term the node cannot
      influence, 10 observations.
    - v0: ``envs.sensor_node_v0`` (kept for reproducibility).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (Gymnasium's class attribute)

    def __init__(self, *, continuous: bool = False, render_mode: str | None = None, **settings) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata)
        if not isinstance(continuous, bool):
            raise ValueError(f"continuous must be True or False, got {continuous!r}")
        self._continuous = continuous
        s = self._settings = NodeSettings(**settings)

        # Per-step energies in joules, as Python floats: step() does scalar arithmetic only.
        self._sleep_j = s.sleep_power_uw * 1e-6 * s.step_s
        self._sensor_j = s.sensor_power_uw * 1e-6 * s.step_s
        self._reading_j = s.reading_energy_uj * 1e-6
        self._wakeup_j = self.radio_wakeup_j(s)
        self._frame_j = [0.0] + [
            s.tx_power_mw * 1e-3 * lora_time_on_air_s(LORAWAN_HEADER_BYTES + n * s.reading_bytes, s.spreading_factor)
            + self._wakeup_j
            for n in range(1, s.buffer_readings + 1)
        ]
        self._floor_j = 0.5 * s.capacitance_f * s.voltage_min_v**2
        if s.leakage_ua > 0.0:
            resistance = s.voltage_max_v / (s.leakage_ua * 1e-6)
            self._leak_fraction = -math.expm1(-2.0 * s.step_s / (resistance * s.capacitance_f))
        else:
            self._leak_fraction = 0.0
        self._cell_m2 = s.cell_area_cm2 * 1e-4 * s.cell_efficiency * s.harvester_efficiency
        self._episode_steps = max(1, round(s.episode_s / s.step_s))
        self._hour_decay = math.exp(-s.step_s / 3600.0)
        self._sky = Sky(s.cloud_fit, s.step_s)
        if s.harvest_profile_mw is None:
            self._peak_w = HAURWITZ_W_M2 * math.exp(-0.057) * s.cloud_fit.clearness_max * self._cell_m2
            self._period = max(1, round(SECONDS_PER_DAY / s.step_s))
            self._lit_fraction = 0.0
        else:
            self._peak_w = max(s.harvest_profile_mw) * 1e-3
            self._period = len(s.harvest_profile_mw)
            self._lit_fraction = sum(p > 0.0 for p in s.harvest_profile_mw) / self._period
        self._peak_w = self._peak_w or 1.0

        if continuous:
            self.action_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        else:
            self.action_space = spaces.Discrete(len(DISCRETE_ACTIONS))
        low = np.array([0, 0, 0, -1, -1, 0, 0, 0, 0, 0], dtype=np.float32)
        self.observation_space = spaces.Box(low, np.ones(10, dtype=np.float32), dtype=np.float32)
        self._stale_steps = math.ceil(s.deadline_s / s.step_s - 1e-9)  # age (steps) at which a reading is stale

        self._stored_j = s.initial_charge * s.capacity_j
        self._pending_j = 0.0
        self._buffer: deque[int] = deque()  # step (since reset) at which each buffered reading was taken
        self._clock = 0
        self._busy = 0
        self._running = True
        self._step_of_day = 0
        self._day = 1
        self._since_detection_s = 3600.0
        self._rate = 0.0
        self._detected = False
        self._steps_left = self._episode_steps

    @property
    def continuous(self) -> bool:
        """Box actions (True) or ``Discrete(4)``."""
        return self._continuous

    @property
    def settings(self) -> NodeSettings:
        """The node's validated settings (immutable)."""
        return self._settings

    @property
    def stored_j(self) -> float:
        """Usable energy in the store now, less what the learner has drawn since the last step (J)."""
        return max(self._stored_j - self._pending_j, 0.0)

    @property
    def capacity_j(self) -> float:
        """Usable energy of a full store (J)."""
        return self._settings.capacity_j

    @staticmethod
    def radio_wakeup_j(settings: NodeSettings) -> float:
        """Energy of a frame beyond its airtime: start-up and the two empty receive windows (J)."""
        rx_s = settings.rx_window_symbols * (
            2.0**settings.spreading_factor + 2.0**RX2_SPREADING_FACTOR
        ) / 125e3
        return settings.rx_power_mw * 1e-3 * rx_s + RADIO_STARTUP_J

    def frame_j(self, readings: int) -> float:
        """Energy of one uplink frame carrying ``readings`` readings (J); 0 for none."""
        if not (is_integer(readings) and 0 <= readings <= self._settings.buffer_readings):
            raise ValueError(
                f"readings must be an integer in [0, {self._settings.buffer_readings}], got {readings!r}"
            )
        return self._frame_j[readings]

    def draw(self, energy_j: float) -> None:
        """Bill the store with energy the learner spent (J); paid first at the next step.

        ``info["stored_j"]`` of that step is lower by exactly ``energy_j`` than without
        the draw, unless the store would have been full (harvest beyond capacity is lost
        either way) or the draw empties it (a brown-out).

        Raises:
            ValueError: If ``energy_j`` is negative or not finite.
        """
        self._pending_j += real("energy_j", energy_j, "a finite energy >= 0 J", 0.0)

    def _decode(self, action) -> tuple[float, float]:
        """The (armed fraction, sent fraction) an action asks for; ``ValueError`` if outside the space."""
        if self._continuous:
            values = np.asarray(action, dtype=np.float64) if isinstance(action, Sequence | np.ndarray) else None
            if values is not None and values.shape == (2,):
                armed, sent = float(values[0]), float(values[1])
                if 0.0 <= armed <= 1.0 and 0.0 <= sent <= 1.0:
                    return armed, sent
        elif self.action_space.contains(action):
            return DISCRETE_ACTIONS[int(action)]
        raise ValueError(f"action must be in {self.action_space}, got {action!r}")

    def _harvest_w(self) -> float:
        """Harvest power at the middle of the coming step (W)."""
        s = self._settings
        if s.harvest_profile_mw is not None:
            return s.harvest_profile_mw[self._step_of_day] * 1e-3
        hour = (self._step_of_day + 0.5) * s.step_s / 3600.0
        cz = cos_zenith(self._day, hour, self._sky.latitude_rad)
        return clear_sky_ghi_w_m2(cz) * self._sky.factor() * self._cell_m2

    def _observation(self) -> np.ndarray:
        s = self._settings
        phase = 2.0 * math.pi * self._step_of_day / self._period
        if s.harvest_profile_mw is None:
            day_length = day_length_h(self._day, self._sky.latitude_rad) / 24.0
        else:
            day_length = self._lit_fraction
        return np.array(
            (
                self._stored_j / s.capacity_j,
                min(self._harvest_w() / self._peak_w, 1.0),
                len(self._buffer) / s.buffer_readings,
                math.sin(phase),
                math.cos(phase),
                day_length,
                min(self._since_detection_s / 3600.0, 1.0),
                self._rate,
                float(self._running),
                (self._clock - self._buffer[0]) * s.step_s / s.deadline_s if self._buffer else 0.0,
            ),
            dtype=np.float32,
        )

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a new episode; see the class docstring for ``options``."""
        s = self._settings
        chosen = check_options(options, ("start_step", "day_of_year"))
        start = chosen.get("start_step")
        if start is not None and not (is_integer(start) and 0 <= start < self._period):
            raise ValueError(f"options['start_step'] must be an integer in [0, {self._period}), got {start!r}")
        day = chosen.get("day_of_year")
        if day is not None and (s.harvest_profile_mw is not None or not (is_integer(day) and 1 <= day <= 365)):
            allowed = "not used with harvest_profile_mw" if s.harvest_profile_mw is not None else "in [1, 365]"
            raise ValueError(f"options['day_of_year'] must be an integer {allowed}, got {day!r}")
        super().reset(seed=seed)
        rng = self.np_random
        self._step_of_day = int(rng.integers(self._period)) if start is None else int(start)
        self._day = int(rng.integers(1, 366)) if day is None else int(day)
        self._sky.reset(rng)
        drawn_j, self._pending_j = self._pending_j, 0.0
        self._stored_j = s.initial_charge * s.capacity_j
        self._buffer.clear()
        self._clock = 0
        self._busy = 0
        self._running = True
        self._since_detection_s = 3600.0
        self._rate = 0.0
        self._detected = False
        self._steps_left = self._episode_steps
        return self._observation(), {"stored_j": self._stored_j, "learner_j": drawn_j}

    def step(self, action):
        """Spend one step's energy as ``action`` says; see the class docstring for the rules."""
        armed, send_fraction = self._decode(action)
        s, rng = self._settings, self.np_random
        harvest_j = self._harvest_w() * s.step_s
        leak_j = (self._stored_j + self._floor_j) * self._leak_fraction
        learner_j, self._pending_j = self._pending_j, 0.0
        available_j = self._stored_j + harvest_j - leak_j - learner_j
        event = bool(rng.random() < s.event_prob[self._busy])

        detected = delivered = lost = 0
        spent_j = 0.0
        brownout = False
        if self._running:
            buffer = self._buffer
            while buffer and self._clock - buffer[0] >= self._stale_steps:
                buffer.popleft()  # stale: nobody wants it any more
                lost += 1
            detected = int(event and rng.random() < armed)
            if detected and len(buffer) == s.buffer_readings:
                lost += 1  # buffer full: the reading is dropped
            elif detected:
                buffer.append(self._clock)
            delivered = int(send_fraction * len(buffer) + 0.5)
            spent_j = self._sleep_j + armed * self._sensor_j + detected * self._reading_j + self._frame_j[delivered]
            if available_j < spent_j:
                brownout, self._running = True, False
                spent_j = max(available_j, 0.0)
                lost += len(buffer)
                delivered = 0
                buffer.clear()
            for _ in range(delivered):
                buffer.popleft()  # oldest first
        self._stored_j = min(max(available_j - spent_j, 0.0), s.capacity_j)
        if not self._running and not brownout and self._stored_j >= s.restart_charge * s.capacity_j:
            self._running = True
        reward = delivered - s.loss_penalty * lost - s.brownout_penalty * brownout

        self._detected = bool(detected)
        self._since_detection_s = 0.0 if detected else min(self._since_detection_s + s.step_s, 3600.0)
        self._rate = self._hour_decay * self._rate + (1.0 - self._hour_decay) * detected
        if rng.random() < s.regime_switch_prob[self._busy]:
            self._busy = 1 - self._busy
        self._sky.advance(rng)
        self._step_of_day += 1
        if self._step_of_day == self._period:
            self._step_of_day = 0
            self._day = self._day % 365 + 1
            self._sky.new_day(rng)
        self._steps_left -= 1
        self._clock += 1

        info = {
            "stored_j": self._stored_j,
            "harvest_j": harvest_j,
            "leak_j": leak_j,
            "spent_j": spent_j,
            "learner_j": learner_j,
            "event": event,
            "detected": bool(detected),
            "brownout": brownout,
            "running": self._running,
            "delivered": delivered,
            "lost": lost,
        }
        return self._observation(), float(reward), False, self._steps_left <= 0, info

    def render(self) -> str | None:
        """One line of text (``render_mode="ansi"``): time, store, buffer, state; ``None`` otherwise."""
        if self.render_mode != "ansi":
            return None
        s = self._settings
        minutes = round(self._step_of_day * s.step_s / 60.0) if s.harvest_profile_mw is None else 0
        clock = f"day {self._day} {minutes // 60:02d}:{minutes % 60:02d}" if s.harvest_profile_mw is None else (
            f"profile step {self._step_of_day}"
        )
        state = "running" if self._running else "off"
        return (
            f"{clock}  store {self._stored_j:.3f}/{s.capacity_j:.3f} J  "
            f"buffer {len(self._buffer)}/{s.buffer_readings}  {state}"
        )
