"""The registered drifting tasks: CartPole and Pendulum under a default ``ParameterSchedule``.

v0 schedules are kept as they were, for reproducibility. v1 schedules switch between two
dynamics A and B, A → B → A → B, every ``DRIFT_PERIOD_STEPS`` total steps: the first
switch comes after a typical training budget, each B costs a policy that was perfect
on A at least half its return (docs/envs.md gives the measurements), and the return to
A measures forgetting and recovery.
"""

from __future__ import annotations

from collections.abc import Iterable

from gymnasium.envs.classic_control import CartPoleEnv, PendulumEnv

from envs._checks import check_render_mode, is_integer
from envs.wrappers import ParameterSchedule, Phase

DRIFTING_CARTPOLE_PHASES: tuple[Phase, ...] = (
    # The pole becomes twice as long (half-length 0.5 -> 1.0 m) and three times as heavy.
    Phase(start_step=20_000, params={"length": 1.0, "masspole": 0.3}),
    # Then gravity drifts from 9.8 to 12 m/s² over 20k steps.
    Phase(start_step=40_000, params={"gravity": 12.0}, ramp_steps=20_000),
)
"""Schedule of ``drlsim/DriftingCartPole-v0`` (total env steps)."""

DRIFTING_PENDULUM_PHASES: tuple[Phase, ...] = (
    # The mass drifts from 1.0 to 1.5 kg over 20k steps.
    Phase(start_step=10_000, params={"m": 1.5}, ramp_steps=20_000),
    # Then the pendulum is abruptly shortened from 1.0 to 0.7 m.
    Phase(start_step=40_000, params={"l": 0.7}),
)
"""Schedule of ``drlsim/DriftingPendulum-v0`` (total env steps)."""

DRIFT_PERIOD_STEPS = 100_000
"""Total env steps each phase of a v1 schedule lasts."""

CARTPOLE_A = {"length": 0.5, "force_mag": 10.0}
"""CartPole-v1's own dynamics (half-length 0.5 m, 10 N push)."""
CARTPOLE_B = {"length": 0.1, "force_mag": -10.0}
"""A pole five times shorter, and a motor wired the other way round."""
PENDULUM_A = {"g": 10.0}
"""Pendulum-v1's own gravity (m/s²)."""
PENDULUM_B = {"g": 14.0}
"""Gravity 40 % stronger: the swing-up tuned on A no longer reaches the top."""


def cycle(a: dict[str, float], b: dict[str, float], period_steps: int = DRIFT_PERIOD_STEPS) -> tuple[Phase, ...]:
    """The schedule A → B → A → B: abrupt switches at ``period_steps``, twice and three times that.

    Args:
        a: Parameters of dynamics A (the env starts with them; the schedule restores them).
        b: Parameters of dynamics B.
        period_steps: Total env steps per phase.
    """
    return (
        Phase(period_steps, b, name="B"),
        Phase(2 * period_steps, a, name="A"),
        Phase(3 * period_steps, b, name="B"),
    )


def _v1_schedule(phases: Iterable[Phase] | None, period_steps: int | None, a: dict[str, float],
                 b: dict[str, float]) -> Iterable[Phase]:
    """``phases`` as given, or the cycle A → B → A → B with ``period_steps`` per phase (default 100k)."""
    if period_steps is None:
        return cycle(a, b) if phases is None else phases
    if phases is not None:
        raise ValueError("period_steps: give either phases or period_steps, not both")
    if not (is_integer(period_steps) and period_steps >= 1):
        raise ValueError(f"period_steps must be a positive integer (total env steps per phase), got {period_steps!r}")
    return cycle(a, b, int(period_steps))


DRIFTING_CARTPOLE_V1_PHASES = cycle(CARTPOLE_A, CARTPOLE_B)
"""Schedule of ``drlsim/DriftingCartPole-v1``: B at 100k, A at 200k, B at 300k total steps."""
DRIFTING_PENDULUM_V1_PHASES = cycle(PENDULUM_A, PENDULUM_B)
"""Schedule of ``drlsim/DriftingPendulum-v1``: B at 100k, A at 200k, B at 300k total steps."""


def make_drifting_cartpole(
    phases: Iterable[Phase] = DRIFTING_CARTPOLE_PHASES, render_mode: str | None = None
) -> ParameterSchedule:
    """CartPole whose pole gets longer and heavier at 20k total steps, then gravity drifts up.

    Observation, action, reward and termination are CartPole-v1's; ``info`` adds
    ``params`` and ``phase`` (see ``ParameterSchedule``).

    Args:
        phases: The schedule; defaults to ``DRIFTING_CARTPOLE_PHASES``.
        render_mode: ``None`` or one of ``CartPoleEnv.metadata["render_modes"]``.

    Raises:
        ValueError: If ``render_mode`` or the schedule is not allowed.

    ## Version History

    - v1: ``make_drifting_cartpole_v1``.
    - v0: Initial version (CartPole-v1 dynamics, ``DRIFTING_CARTPOLE_PHASES``). Since
      then: ``render_mode`` checked, NaN and out-of-space actions and unknown ``reset``
      options refused with ``ValueError``, ``info["phase"]``.
    """
    render_mode = check_render_mode(render_mode, CartPoleEnv.metadata)
    return ParameterSchedule(CartPoleEnv(render_mode=render_mode), phases)


def make_drifting_cartpole_v1(
    phases: Iterable[Phase] | None = None, render_mode: str | None = None, period_steps: int | None = None
) -> ParameterSchedule:
    """CartPole switching A → B → A → B every 100k total steps (B: a 0.2 m pole and a reversed motor).

    Observation, action, reward and termination are CartPole-v1's; ``info`` adds
    ``params`` and ``phase`` (``"A"`` or ``"B"``).

    Args:
        phases: The schedule; defaults to ``DRIFTING_CARTPOLE_V1_PHASES``.
        render_mode: ``None`` or one of ``CartPoleEnv.metadata["render_modes"]``.
        period_steps: Total env steps per phase of the A → B → A → B cycle instead of 100k
            (``gymnasium.make(..., period_steps=25_000)``: a shorter experiment); not with ``phases``.

    Raises:
        ValueError: If ``render_mode``, the schedule or ``period_steps`` is not allowed.

    ## Version History

    - v1: Two dynamics cycled A → B → A → B from 100k total steps; B costs a policy
      perfect on A more than half its return. Since then: ``period_steps`` (same default schedule).
    - v0: ``make_drifting_cartpole``.
    """
    render_mode = check_render_mode(render_mode, CartPoleEnv.metadata)
    schedule = _v1_schedule(phases, period_steps, CARTPOLE_A, CARTPOLE_B)
    return ParameterSchedule(CartPoleEnv(render_mode=render_mode), schedule, initial_phase="A")


def make_drifting_pendulum(
    phases: Iterable[Phase] = DRIFTING_PENDULUM_PHASES, render_mode: str | None = None
) -> ParameterSchedule:
    """Pendulum whose mass drifts up from 10k to 30k total steps, then whose length drops at 40k.

    Observation, action, reward and termination are Pendulum-v1's; ``info`` adds
    ``params`` and ``phase`` (see ``ParameterSchedule``).

    Args:
        phases: The schedule; defaults to ``DRIFTING_PENDULUM_PHASES``.
        render_mode: ``None`` or one of ``PendulumEnv.metadata["render_modes"]``.

    Raises:
        ValueError: If ``render_mode`` or the schedule is not allowed.

    ## Version History

    - v1: ``make_drifting_pendulum_v1``.
    - v0: Initial version (Pendulum-v1 dynamics, ``DRIFTING_PENDULUM_PHASES``). Since
      then: ``render_mode`` checked, NaN actions and unknown ``reset`` options refused
      with ``ValueError``, ``info["phase"]``.
    """
    render_mode = check_render_mode(render_mode, PendulumEnv.metadata)
    return ParameterSchedule(PendulumEnv(render_mode=render_mode), phases)


def make_drifting_pendulum_v1(
    phases: Iterable[Phase] | None = None, render_mode: str | None = None, period_steps: int | None = None
) -> ParameterSchedule:
    """Pendulum switching A → B → A → B every 100k total steps (B: gravity 14 instead of 10 m/s²).

    Observation, action, reward and termination are Pendulum-v1's; ``info`` adds
    ``params`` and ``phase`` (``"A"`` or ``"B"``).

    Args:
        phases: The schedule; defaults to ``DRIFTING_PENDULUM_V1_PHASES``.
        render_mode: ``None`` or one of ``PendulumEnv.metadata["render_modes"]``.
        period_steps: Total env steps per phase of the A → B → A → B cycle instead of 100k
            (``gymnasium.make(..., period_steps=25_000)``: a shorter experiment); not with ``phases``.

    Raises:
        ValueError: If ``render_mode``, the schedule or ``period_steps`` is not allowed.

    ## Version History

    - v1: Two dynamics cycled A → B → A → B from 100k total steps; B costs a policy
      perfect on A more than half its return. Since then: ``period_steps`` (same default schedule).
    - v0: ``make_drifting_pendulum``.
    """
    render_mode = check_render_mode(render_mode, PendulumEnv.metadata)
    schedule = _v1_schedule(phases, period_steps, PENDULUM_A, PENDULUM_B)
    return ParameterSchedule(PendulumEnv(render_mode=render_mode), schedule, initial_phase="A")
