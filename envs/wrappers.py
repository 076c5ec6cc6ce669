"""Wrappers for on-device continual learning: dynamics that drift, and the energy learning costs.

``ParameterSchedule`` changes the physical parameters of a classic-control task as
the total number of steps grows (across episodes), so that a continual learner faces
a non-stationary task. ``EnergyBudget`` bills the energy the learning chip spent: from
the env's own store when the env has one (a sensor node's supercapacitor), otherwise
from a separate battery that truncates the episode when it runs dry.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import CartPoleEnv, PendulumEnv

from envs._checks import FrozenParams, check_options, is_integer, is_real, real

W = TypeVar("W", bound=gym.Wrapper)


def find_wrapper(env: gym.Env, wrapper_type: type[W]) -> W:
    """The outermost wrapper of type ``wrapper_type`` around ``env``.

    ``env.unwrapped`` skips every wrapper, so use this (or ``env.get_wrapper_attr``)
    to reach a wrapper's own methods, e.g. ``find_wrapper(env, EnergyBudget).charge(1e-3)``.

    Raises:
        ValueError: If no wrapper in the chain is a ``wrapper_type``.
    """
    layer = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, wrapper_type):
            return layer
        layer = layer.env
    raise ValueError(f"wrapper_type: no {wrapper_type.__name__} wraps {env}")


# ---------------------------------------------------------------------------------------------
# Drifting dynamics


@dataclass(frozen=True, slots=True)
class Phase:
    """One change of the dynamics parameters in a ``ParameterSchedule``.

    Attributes:
        start_step: Total env step (counted across episodes, from 0) at which the change begins.
        params: Parameter name -> value reached (units of the env's attribute: m, kg, m/s², N);
            any finite number here, the schedule checks each against its env (a length must be
            positive, a force may be negative). Copied into a read-only mapping.
        ramp_steps: 0 for an abrupt switch at ``start_step``; otherwise the parameters move
            linearly from their previous values to ``params`` over this many steps (a drift).
        name: What ``info["phase"]`` says from ``start_step`` on; ``""``: ``"phase <k>"``
            (1-based position in the schedule).
    """

    start_step: int
    params: Mapping[str, float]
    ramp_steps: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        for attr in ("start_step", "ramp_steps"):
            value = getattr(self, attr)
            if not (is_integer(value) and value >= 0):
                raise ValueError(f"Phase.{attr} must be an integer >= 0, got {value!r}")
            object.__setattr__(self, attr, int(value))
        if not isinstance(self.params, Mapping) or not self.params:
            raise ValueError(
                f"Phase.params must be a non-empty mapping of name -> value, got {self.params!r}"
            )
        for key, value in self.params.items():
            if not (isinstance(key, str) and is_real(value)):
                raise ValueError(f"Phase.params[{key!r}] must be a finite number, got {value!r}")
        if not isinstance(self.name, str):
            raise ValueError(f"Phase.name must be a string, got {self.name!r}")
        object.__setattr__(self, "params", FrozenParams({key: float(v) for key, v in self.params.items()}))

    @property
    def end_step(self) -> int:
        """First step at which ``params`` hold exactly."""
        return self.start_step + self.ramp_steps


def _set_cartpole(env: CartPoleEnv, params: Mapping[str, float]) -> None:
    for name, value in params.items():
        setattr(env, name, value)
    # CartPoleEnv caches these two; keep them consistent with the masses and the length.
    env.total_mass = env.masspole + env.masscart
    env.polemass_length = env.masspole * env.length


def _set_pendulum(env: PendulumEnv, params: Mapping[str, float]) -> None:
    for name, value in params.items():
        setattr(env, name, value)


@dataclass(frozen=True, slots=True)
class Driftable:
    """What a schedule may change in one env class.

    Attributes:
        positive: Parameters that must stay > 0 (masses, lengths).
        signed: Parameters that may take any finite value (gravity, force: a negative force
            reverses the actions).
        reset_options: The ``reset`` options the env understands.
        apply: Sets parameters on the env (and what the env derives from them).
    """

    positive: tuple[str, ...]
    signed: tuple[str, ...]
    reset_options: tuple[str, ...]
    apply: Callable[[Any, Mapping[str, float]], None]


# Env class -> what a schedule may change. CartPole's `length` is half the pole's length (m),
# `force_mag` the push (N); Pendulum's `g` is gravity (m/s²), `m` the mass (kg), `l` the length (m).
DRIFTABLE: dict[type[gym.Env], Driftable] = {
    CartPoleEnv: Driftable(("masscart", "masspole", "length"), ("gravity", "force_mag"), ("low", "high"),
                           _set_cartpole),
    PendulumEnv: Driftable(("m", "l"), ("g",), ("x_init", "y_init"), _set_pendulum),
}


class ParameterSchedule(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Changes the physical parameters of a classic-control task on a schedule of total steps.

    The schedule is keyed by the number of steps taken through this wrapper since it
    was built, across episodes (``reset`` does not rewind it): a continual learner
    sees the task change under it. Step ``t`` (0-based) runs with ``params_at(t)``;
    the schedule is a pure function of ``t``, so runs are reproducible.

    Supported tasks and parameters are listed in ``DRIFTABLE`` (CartPole: masscart,
    masspole, length > 0, gravity and force_mag any sign; Pendulum: m, l > 0, g any
    sign). Parameters no phase names keep the env's values.

    ``info`` of ``reset`` and ``step`` carries ``params`` (name -> value used by the
    step) and ``phase`` (the name of the phase in effect; ``initial_phase`` before the
    first); the step count is the ``total_steps`` property (through other wrappers:
    ``env.get_wrapper_attr("total_steps")``). Keeping the count out of ``info`` keeps
    ``reset(seed=s)`` followed by the same actions giving the same ``info`` while the
    parameters do not change, as ``check_env`` asks.

    Actions are checked before the task steps: a discrete action outside the space, or
    a continuous one of the wrong shape or not finite (NaN), raises ``ValueError`` and
    changes nothing (a finite Pendulum torque out of range is clipped, as Pendulum-v1
    does). ``reset`` refuses options the task does not know.

    Example:
        >>> env = ParameterSchedule(CartPoleEnv(), [Phase(1000, {"length": 1.0}),
        ...                                         Phase(2000, {"gravity": 12.0}, ramp_steps=500)])

    Args:
        env: Env whose ``unwrapped`` is a class in ``DRIFTABLE``.
        phases: Changes in order of ``start_step`` (any iterable); a phase starts no earlier
            than the previous one's ramp ends.
        initial_phase: Name of the dynamics before the first phase.

    Raises:
        ValueError: If ``env`` is not supported, ``phases`` is empty or out of order, or a
            phase names a parameter the env does not have or gives it a value out of range.
    """

    def __init__(self, env: gym.Env, phases: Iterable[Phase], initial_phase: str = "initial") -> None:
        supported = [cls for cls in DRIFTABLE if isinstance(env.unwrapped, cls)]
        if not supported:
            names = ", ".join(cls.__name__ for cls in DRIFTABLE)
            raise ValueError(f"env: ParameterSchedule supports {names}; got {type(env.unwrapped).__name__}")
        if not isinstance(initial_phase, str):
            raise ValueError(f"initial_phase must be a string, got {initial_phase!r}")
        self._driftable = DRIFTABLE[supported[0]]
        self._phases = _checked_phases(phases, self._driftable, type(env.unwrapped).__name__)
        gym.utils.RecordConstructorArgs.__init__(self, phases=self._phases, initial_phase=initial_phase)
        gym.Wrapper.__init__(self, env)

        scheduled = sorted({name for phase in self._phases for name in phase.params})
        values = {name: float(getattr(env.unwrapped, name)) for name in scheduled}
        self._base = dict(values)
        self._phase_from: list[dict[str, float]] = []  # parameters when each phase starts
        for phase in self._phases:
            self._phase_from.append(dict(values))
            values.update(phase.params)
        self._starts = [phase.start_step for phase in self._phases]
        self._names = [initial_phase] + [phase.name or f"phase {k + 1}" for k, phase in enumerate(self._phases)]

        self._total_steps = 0
        self._params: dict[str, float] = {}
        self._phase = initial_phase
        self._next_change = 0

    @property
    def total_steps(self) -> int:
        """Steps taken through this wrapper, across episodes."""
        return self._total_steps

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The schedule (validated, immutable)."""
        return self._phases

    def phase_at(self, step: int) -> str:
        """Name of the phase in effect at total step ``step`` (0-based)."""
        return self._names[bisect.bisect_right(self._starts, step)]

    def params_at(self, step: int) -> dict[str, float]:
        """The scheduled parameters for total step ``step`` (0-based)."""
        k = bisect.bisect_right(self._starts, step) - 1
        if k < 0:
            return dict(self._base)
        phase, start = self._phases[k], self._phase_from[k]
        if step >= phase.end_step:
            return {**start, **phase.params}
        fraction = (step - phase.start_step) / phase.ramp_steps
        return {
            **start,
            **{name: start[name] + fraction * (value - start[name]) for name, value in phase.params.items()},
        }

    def _update(self) -> None:
        """Set the env's parameters for the coming step if the schedule changes them."""
        step = self._total_steps
        if step < self._next_change:
            return
        self._params = self.params_at(step)
        self._phase = self.phase_at(step)
        self._driftable.apply(self.env.unwrapped, self._params)
        k = bisect.bisect_right(self._starts, step) - 1
        if k >= 0 and step < self._phases[k].end_step:
            self._next_change = step + 1
        else:
            self._next_change = self._starts[k + 1] if k + 1 < len(self._starts) else math.inf

    def _check_action(self, action: Any) -> None:
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            ok = space.contains(action)
        else:
            values = action if isinstance(action, np.ndarray) else np.asarray(action, dtype=object)
            ok = (
                values.shape == space.shape
                and values.dtype.kind in "fiu"
                and bool(np.isfinite(values).all())
            )
        if not ok:
            raise ValueError(f"action must be in {space} (finite), got {action!r}")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the task; the step count and the parameters carry on."""
        check_options(options, self._driftable.reset_options)
        self._update()
        obs, info = self.env.reset(seed=seed, options=options)
        info["params"] = dict(self._params)
        info["phase"] = self._phase
        return obs, info

    def step(self, action):
        """Step the task with the parameters scheduled for this step."""
        self._check_action(action)
        self._update()
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._total_steps += 1
        info["params"] = dict(self._params)
        info["phase"] = self._phase
        return obs, reward, terminated, truncated, info


def _checked_phases(phases: Iterable[Phase], driftable: Driftable, env_name: str) -> tuple[Phase, ...]:
    if isinstance(phases, Phase | str | Mapping) or not isinstance(phases, Iterable):
        raise ValueError(f"phases must be a non-empty iterable of Phase, got {phases!r}")
    checked = tuple(phases)
    if not checked:
        raise ValueError("phases must be a non-empty iterable of Phase, got none")
    allowed = driftable.positive + driftable.signed
    previous_end = 0
    for i, phase in enumerate(checked):
        if not isinstance(phase, Phase):
            raise ValueError(f"phases[{i}] must be a Phase, got {phase!r}")
        unknown = sorted(set(phase.params) - set(allowed))
        if unknown:
            raise ValueError(
                f"phases[{i}].params: unknown parameter {unknown[0]!r} for {env_name}; "
                f"allowed: {', '.join(allowed)}"
            )
        for name in driftable.positive:
            if name in phase.params and phase.params[name] <= 0.0:
                raise ValueError(
                    f"phases[{i}].params[{name!r}] must be > 0 for {env_name}, got {phase.params[name]!r}"
                )
        if i > 0 and (phase.start_step < previous_end or phase.start_step <= checked[i - 1].start_step):
            raise ValueError(
                f"phases[{i}].start_step = {phase.start_step} must come after phase {i - 1} starts "
                f"and ends its ramp (step {previous_end})"
            )
        previous_end = phase.end_step
    return checked


# ---------------------------------------------------------------------------------------------
# Energy budget


@runtime_checkable
class EnergyStore(Protocol):
    """An env with its own energy store that a learner on the device draws from (SensorNode-v1)."""

    @property
    def stored_j(self) -> float:
        """Usable energy in the store (J)."""
        ...

    @property
    def capacity_j(self) -> float:
        """Usable energy of a full store (J)."""
        ...

    def draw(self, energy_j: float) -> None:
        """Take ``energy_j`` joules from the store for the learner."""
        ...


class EnergyBudget(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """What learning costs the device: the training loop bills it, and an empty store stops the device.

    The loop calls ``charge(energy_j)`` with the energy the chip spent on inference and
    learning since the last step (any number of calls between steps; they add up).

    **On an env with its own store** (``EnergyStore``: ``drlsim/SensorNode-v1``), the
    learner runs on the node and draws from the node's supercapacitor: ``charge`` bills
    the store (paid first at the next step, whose ``info["stored_j"]`` is lower by
    exactly that energy), and a store that learning empties browns the node out, as the
    env's rules say. There is no second battery, so ``capacity_j``, ``initial_j``,
    ``harvest_j_per_step``, ``observe_battery`` and ``refill_on_reset`` are refused
    (the store's level is already in the node's observation).

    **On any other env**, the wrapper holds the device's own battery of ``capacity_j``.
    ``charge`` takes from it at once; each ``step`` then adds ``harvest_j_per_step`` (up
    to ``capacity_j``). If the battery was empty when the step began, the step is
    *truncated* with ``info["truncation_reason"] = "battery_empty"`` (the wrapped env
    still steps, so the observation is valid). By default the battery carries over
    ``reset``: a device that learns too expensively stays flat until harvest brings it back.

    Reaching ``charge`` through other wrappers (``gymnasium.make`` adds some)::

        env = EnergyBudget(gymnasium.make("CartPole-v1"), capacity_j=5.0)
        env.charge(2e-3)                                   # outermost: direct
        wrapped = gymnasium.wrappers.RecordEpisodeStatistics(env)
        wrapped.get_wrapper_attr("charge")(2e-3)            # through wrappers
        envs.find_wrapper(wrapped, EnergyBudget).charge(2e-3)

    (``env.unwrapped`` skips this wrapper and has no ``charge``.)

    ``info`` of ``reset`` and ``step`` carries ``battery_j`` (J left: the node's usable
    store, or the battery after the step's harvest) and ``energy_spent_j`` (J charged
    since the previous ``step`` or ``reset``; at ``reset``, what was charged before it).

    Args:
        env: Env to wrap.
        capacity_j: Battery capacity (J); only for an env without its own store.
        initial_j: Battery level at construction (J), in [0, capacity_j]; default full.
        harvest_j_per_step: Energy harvested per step (J).
        observe_battery: Append the battery level (fraction of capacity, in [0, 1]) to the
            observation; needs a 1-D floating-point ``Box`` observation space.
        refill_on_reset: Restore ``initial_j`` at every ``reset`` instead of carrying over.

    Raises:
        ValueError: If an energy is negative or not finite, ``initial_j`` exceeds
            ``capacity_j``, ``observe_battery`` is set for an unsupported space, or a
            battery argument is given for an env with its own store (or ``capacity_j``
            is missing for one without).
    """

    def __init__(
        self,
        env: gym.Env,
        capacity_j: float | None = None,
        *,
        initial_j: float | None = None,
        harvest_j_per_step: float = 0.0,
        observe_battery: bool = False,
        refill_on_reset: bool = False,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self,
            capacity_j=capacity_j,
            initial_j=initial_j,
            harvest_j_per_step=harvest_j_per_step,
            observe_battery=observe_battery,
            refill_on_reset=refill_on_reset,
        )
        gym.Wrapper.__init__(self, env)
        self._store = env.unwrapped if isinstance(env.unwrapped, EnergyStore) else None
        if self._store is not None:
            battery_args = {
                "capacity_j": capacity_j is not None,
                "initial_j": initial_j is not None,
                "harvest_j_per_step": harvest_j_per_step != 0.0,
                "observe_battery": observe_battery is not False,
                "refill_on_reset": refill_on_reset is not False,
            }
            for name, given in battery_args.items():
                if given:
                    raise ValueError(
                        f"{name}: {type(env.unwrapped).__name__} has its own store, which the learner "
                        f"draws from; leave {name} at its default"
                    )
            self._capacity_j = self._store.capacity_j
            self._initial_j = 0.0  # unused: there is no battery to fill
        else:
            allowed = f"a positive finite energy (J): {type(env.unwrapped).__name__} has no store of its own"
            self._capacity_j = real("capacity_j", capacity_j, allowed, 0.0, low_open=True)
            initial = self._capacity_j if initial_j is None else initial_j
            self._initial_j = real("initial_j", initial, f"an energy in [0, capacity_j = {capacity_j}] J", 0.0,
                                   self._capacity_j)
        self._harvest_j_per_step = real("harvest_j_per_step", harvest_j_per_step, "a finite energy >= 0 J", 0.0)
        self._observe_battery = bool(observe_battery)
        self._refill_on_reset = bool(refill_on_reset)
        if self._observe_battery:
            self.observation_space = _with_battery(env.observation_space)

        self._battery_j = self._initial_j
        self._spent_j = 0.0

    @property
    def capacity_j(self) -> float:
        """Usable energy when full (J): the node's store, or the separate battery."""
        return self._capacity_j

    @property
    def harvest_j_per_step(self) -> float:
        """Energy the separate battery gains per step (J)."""
        return self._harvest_j_per_step

    @property
    def observe_battery(self) -> bool:
        """Whether the battery level is appended to the observation."""
        return self._observe_battery

    @property
    def refill_on_reset(self) -> bool:
        """Whether ``reset`` refills the separate battery."""
        return self._refill_on_reset

    @property
    def battery_j(self) -> float:
        """Energy left (J): the node's usable store, or the separate battery."""
        return self._store.stored_j if self._store is not None else self._battery_j

    def charge(self, energy_j: float) -> None:
        """Bill ``energy_j`` joules the device spent (inference, learning).

        Raises:
            ValueError: If ``energy_j`` is negative or not finite (nothing is billed).
        """
        energy_j = real("energy_j", energy_j, "a finite energy >= 0 J", 0.0)
        if self._store is not None:
            self._store.draw(energy_j)
        else:
            self._battery_j = max(self._battery_j - energy_j, 0.0)
        self._spent_j += energy_j

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        if not self._observe_battery:
            return obs
        level = np.array([self._battery_j / self._capacity_j], dtype=self.observation_space.dtype)
        return np.concatenate((obs, level))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env; a separate battery carries over unless ``refill_on_reset``."""
        obs, info = self.env.reset(seed=seed, options=options)
        if self._refill_on_reset:
            self._battery_j = self._initial_j
        info["battery_j"] = self.battery_j
        info["energy_spent_j"], self._spent_j = self._spent_j, 0.0
        return self._observe(obs), info

    def step(self, action):
        """Step the env; a separate battery then takes its harvest and truncates the episode when empty."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["energy_spent_j"], self._spent_j = self._spent_j, 0.0
        if self._store is None:
            empty = self._battery_j <= 0.0
            self._battery_j = min(self._battery_j + self._harvest_j_per_step, self._capacity_j)
            if empty:
                truncated = True
                info["truncation_reason"] = "battery_empty"
        info["battery_j"] = self.battery_j
        return self._observe(obs), reward, terminated, truncated, info


def _with_battery(space: gym.Space) -> spaces.Box:
    if not (
        isinstance(space, spaces.Box) and len(space.shape) == 1 and np.issubdtype(space.dtype, np.floating)
    ):
        raise ValueError(f"observe_battery needs a 1-D floating-point Box observation space, got {space}")
    low = np.append(space.low, 0.0).astype(space.dtype)
    high = np.append(space.high, 1.0).astype(space.dtype)
    return spaces.Box(low, high, dtype=space.dtype)
