"""Wrappers for on-device continual learning: dynamics that drift, and a battery that drains.

``ParameterSchedule`` changes the physical parameters of a classic-control task as
the total number of steps grows (across episodes), so that a continual learner faces
a non-stationary task. ``EnergyBudget`` holds the learning device's battery; the
training loop bills it with the energy the chip spent, and an episode is truncated
when it runs dry.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import CartPoleEnv, PendulumEnv

W = TypeVar("W", bound=gym.Wrapper)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.floating | np.integer) and math.isfinite(value)


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
        params: Parameter name -> value reached (units of the env's attribute: m, kg, m/s², N).
        ramp_steps: 0 for an abrupt switch at ``start_step``; otherwise the parameters move
            linearly from their previous values to ``params`` over this many steps (a drift).
    """

    start_step: int
    params: Mapping[str, float]
    ramp_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("start_step", "ramp_steps"):
            value = getattr(self, name)
            if not (isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0):
                raise ValueError(f"Phase.{name} must be an integer >= 0, got {value!r}")
        if not isinstance(self.params, Mapping) or not self.params:
            raise ValueError(
                f"Phase.params must be a non-empty mapping of name -> value, got {self.params!r}"
            )
        for name, value in self.params.items():
            if not (_is_real(value) and value > 0.0):
                raise ValueError(f"Phase.params[{name!r}] must be a positive finite number, got {value!r}")
        object.__setattr__(self, "params", {name: float(value) for name, value in self.params.items()})

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


# Env class -> (parameters a schedule may change, how to set them). CartPole's `length` is half
# the pole's length (m); Pendulum's `g` is gravity (m/s²), `m` the mass (kg), `l` the length (m).
DRIFTABLE: dict[type[gym.Env], tuple[tuple[str, ...], Callable[[Any, Mapping[str, float]], None]]] = {
    CartPoleEnv: (("gravity", "masscart", "masspole", "length", "force_mag"), _set_cartpole),
    PendulumEnv: (("g", "m", "l"), _set_pendulum),
}


class ParameterSchedule(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Changes the physical parameters of a classic-control task on a schedule of total steps.

    The schedule is keyed by the number of steps taken through this wrapper since it
    was built, across episodes (``reset`` does not rewind it): a continual learner
    sees the task change under it. Step ``t`` (0-based) runs with ``params_at(t)``;
    the schedule is a pure function of ``t``, so runs are reproducible.

    Supported tasks and parameters are listed in ``DRIFTABLE`` (CartPole: gravity,
    masscart, masspole, length, force_mag; Pendulum: g, m, l). Parameters no phase
    names keep the env's values.

    ``info`` of ``reset`` and ``step`` carries ``params`` (name -> value used by the
    step); the step count is the ``total_steps`` property (through other wrappers:
    ``env.get_wrapper_attr("total_steps")``). Keeping the count out of ``info`` keeps
    ``reset(seed=s)`` followed by the same actions giving the same ``info`` while the
    parameters do not change, as ``check_env`` asks.

    Example:
        >>> env = ParameterSchedule(CartPoleEnv(), [Phase(1000, {"length": 1.0}),
        ...                                         Phase(2000, {"gravity": 12.0}, ramp_steps=500)])

    Args:
        env: Env whose ``unwrapped`` is a class in ``DRIFTABLE``.
        phases: Changes in order of ``start_step``; a phase starts no earlier than the
            previous one's ramp ends.

    Raises:
        ValueError: If ``env`` is not supported, ``phases`` is empty or out of order, or a
            phase names a parameter the env does not have.
    """

    def __init__(self, env: gym.Env, phases: Sequence[Phase]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, phases=phases)
        gym.Wrapper.__init__(self, env)
        supported = [cls for cls in DRIFTABLE if isinstance(env.unwrapped, cls)]
        if not supported:
            names = ", ".join(cls.__name__ for cls in DRIFTABLE)
            raise ValueError(f"env: ParameterSchedule supports {names}; got {type(env.unwrapped).__name__}")
        allowed, self._set = DRIFTABLE[supported[0]]
        self._phases = _checked_phases(phases, allowed, type(env.unwrapped).__name__)

        scheduled = sorted({name for phase in self._phases for name in phase.params})
        values = {name: float(getattr(env.unwrapped, name)) for name in scheduled}
        self._base = dict(values)
        self._phase_from: list[dict[str, float]] = []  # parameters when each phase starts
        for phase in self._phases:
            self._phase_from.append(dict(values))
            values.update(phase.params)
        self._starts = [phase.start_step for phase in self._phases]

        self._total_steps = 0
        self._params: dict[str, float] = {}
        self._next_change = 0

    @property
    def total_steps(self) -> int:
        """Steps taken through this wrapper, across episodes."""
        return self._total_steps

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
        self._set(self.env.unwrapped, self._params)
        k = bisect.bisect_right(self._starts, step) - 1
        if k >= 0 and step < self._phases[k].end_step:
            self._next_change = step + 1
        else:
            self._next_change = self._starts[k + 1] if k + 1 < len(self._starts) else math.inf

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the task; the step count and the parameters carry on."""
        self._update()
        obs, info = self.env.reset(seed=seed, options=options)
        info["params"] = dict(self._params)
        return obs, info

    def step(self, action):
        """Step the task with the parameters scheduled for this step."""
        self._update()
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._total_steps += 1
        info["params"] = dict(self._params)
        return obs, reward, terminated, truncated, info


def _checked_phases(phases: Sequence[Phase], allowed: tuple[str, ...], env_name: str) -> tuple[Phase, ...]:
    if isinstance(phases, Phase) or not isinstance(phases, Sequence) or len(phases) == 0:
        raise ValueError(f"phases must be a non-empty sequence of Phase, got {phases!r}")
    previous_end = 0
    for i, phase in enumerate(phases):
        if not isinstance(phase, Phase):
            raise ValueError(f"phases[{i}] must be a Phase, got {phase!r}")
        unknown = sorted(set(phase.params) - set(allowed))
        if unknown:
            raise ValueError(
                f"phases[{i}].params: unknown parameter {unknown[0]!r} for {env_name}; "
                f"allowed: {', '.join(allowed)}"
            )
        if i > 0 and (phase.start_step < previous_end or phase.start_step <= phases[i - 1].start_step):
            raise ValueError(
                f"phases[{i}].start_step = {phase.start_step} must come after phase {i - 1} starts "
                f"and ends its ramp (step {previous_end})"
            )
        previous_end = phase.end_step
    return tuple(phases)


# ---------------------------------------------------------------------------------------------
# Energy budget


class EnergyBudget(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The learning device's battery: the training loop bills it, and an empty battery ends the episode.

    The loop calls ``charge(energy_j)`` with the energy the chip spent on inference and
    learning since the last step (any number of calls between steps; they add up). Each
    ``step`` then adds ``harvest_j_per_step`` (up to ``capacity_j``). If the battery was
    empty when the step began, the step is *truncated* with
    ``info["truncation_reason"] = "battery_empty"`` (the wrapped env still steps, so
    the observation is valid). By default the battery carries over ``reset``: a device
    that learns too expensively stays flat until harvest brings it back.

    Reaching ``charge`` through other wrappers (``gymnasium.make`` adds some)::

        env = EnergyBudget(gymnasium.make("CartPole-v1"), capacity_j=5.0)
        env.charge(2e-3)                                   # outermost: direct
        wrapped = gymnasium.wrappers.RecordEpisodeStatistics(env)
        wrapped.get_wrapper_attr("charge")(2e-3)            # through wrappers
        envs.find_wrapper(wrapped, EnergyBudget).charge(2e-3)

    (``env.unwrapped`` skips this wrapper and has no ``charge``.)

    ``info`` of ``reset`` and ``step`` carries ``battery_j`` (J left after the step's
    harvest) and ``energy_spent_j`` (J charged since the previous step, 0 at reset).

    Args:
        env: Env to wrap.
        capacity_j: Battery capacity (J).
        initial_j: Battery level at construction (J), in [0, capacity_j]; default full.
        harvest_j_per_step: Energy harvested per step (J).
        observe_battery: Append the battery level (fraction of capacity, in [0, 1]) to the
            observation; needs a 1-D floating-point ``Box`` observation space.
        refill_on_reset: Restore ``initial_j`` at every ``reset`` instead of carrying over.

    Raises:
        ValueError: If an energy is negative or not finite, ``initial_j`` exceeds
            ``capacity_j``, or ``observe_battery`` is set for an unsupported space.
    """

    def __init__(
        self,
        env: gym.Env,
        capacity_j: float,
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
        if not (_is_real(capacity_j) and capacity_j > 0.0):
            raise ValueError(f"capacity_j must be a positive finite energy (J), got {capacity_j!r}")
        self.capacity_j = float(capacity_j)
        initial = self.capacity_j if initial_j is None else initial_j
        if not (_is_real(initial) and 0.0 <= initial <= self.capacity_j):
            raise ValueError(
                f"initial_j must be an energy in [0, capacity_j = {capacity_j}] J, got {initial!r}"
            )
        self.initial_j = float(initial)
        if not (_is_real(harvest_j_per_step) and harvest_j_per_step >= 0.0):
            raise ValueError(f"harvest_j_per_step must be a finite energy >= 0 J, got {harvest_j_per_step!r}")
        self.harvest_j_per_step = float(harvest_j_per_step)
        self.observe_battery = bool(observe_battery)
        self.refill_on_reset = bool(refill_on_reset)
        if self.observe_battery:
            self.observation_space = _with_battery(env.observation_space)

        self._battery_j = self.initial_j
        self._spent_j = 0.0

    @property
    def battery_j(self) -> float:
        """Energy left in the battery (J)."""
        return self._battery_j

    def charge(self, energy_j: float) -> None:
        """Bill the battery with ``energy_j`` joules the device spent (inference, learning).

        Raises:
            ValueError: If ``energy_j`` is negative or not finite.
        """
        if not (_is_real(energy_j) and energy_j >= 0.0):
            raise ValueError(f"energy_j must be a finite energy >= 0 J, got {energy_j!r}")
        self._spent_j += energy_j
        self._battery_j = max(self._battery_j - energy_j, 0.0)

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        if not self.observe_battery:
            return obs
        level = np.array([self._battery_j / self.capacity_j], dtype=self.observation_space.dtype)
        return np.concatenate((obs, level))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env; the battery carries over unless ``refill_on_reset``."""
        if self.refill_on_reset:
            self._battery_j = self.initial_j
        obs, info = self.env.reset(seed=seed, options=options)
        info["battery_j"] = self._battery_j
        info["energy_spent_j"] = 0.0
        return self._observe(obs), info

    def step(self, action):
        """Step the env, add the harvest, and truncate if the battery was empty."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        empty = self._battery_j <= 0.0
        self._battery_j = min(self._battery_j + self.harvest_j_per_step, self.capacity_j)
        info["battery_j"] = self._battery_j
        info["energy_spent_j"] = self._spent_j
        self._spent_j = 0.0
        if empty:
            truncated = True
            info["truncation_reason"] = "battery_empty"
        return self._observe(obs), reward, terminated, truncated, info


def _with_battery(space: gym.Space) -> spaces.Box:
    if not (
        isinstance(space, spaces.Box) and len(space.shape) == 1 and np.issubdtype(space.dtype, np.floating)
    ):
        raise ValueError(f"observe_battery needs a 1-D floating-point Box observation space, got {space}")
    low = np.append(space.low, 0.0).astype(space.dtype)
    high = np.append(space.high, 1.0).astype(space.dtype)
    return spaces.Box(low, high, dtype=space.dtype)
