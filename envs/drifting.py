"""The registered drifting tasks: CartPole and Pendulum under a default ``ParameterSchedule``."""

from __future__ import annotations

from collections.abc import Sequence

from gymnasium.envs.classic_control import CartPoleEnv, PendulumEnv

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


def make_drifting_cartpole(
    phases: Sequence[Phase] = DRIFTING_CARTPOLE_PHASES, render_mode: str | None = None
) -> ParameterSchedule:
    """CartPole whose pole gets longer and heavier at 20k total steps, then gravity drifts up.

    Observation, action, reward and termination are CartPole-v1's; ``info`` adds
    ``params`` (see ``ParameterSchedule``).

    Args:
        phases: The schedule; defaults to ``DRIFTING_CARTPOLE_PHASES``.
        render_mode: Passed to ``CartPoleEnv``.

    ## Version History

    - v0: Initial version (CartPole-v1 dynamics, ``DRIFTING_CARTPOLE_PHASES``).
    """
    return ParameterSchedule(CartPoleEnv(render_mode=render_mode), phases)


def make_drifting_pendulum(
    phases: Sequence[Phase] = DRIFTING_PENDULUM_PHASES, render_mode: str | None = None
) -> ParameterSchedule:
    """Pendulum whose mass drifts up from 10k to 30k total steps, then whose length drops at 40k.

    Observation, action, reward and termination are Pendulum-v1's; ``info`` adds
    ``params`` (see ``ParameterSchedule``).

    Args:
        phases: The schedule; defaults to ``DRIFTING_PENDULUM_PHASES``.
        render_mode: Passed to ``PendulumEnv``.

    ## Version History

    - v0: Initial version (Pendulum-v1 dynamics, ``DRIFTING_PENDULUM_PHASES``).
    """
    return ParameterSchedule(PendulumEnv(render_mode=render_mode), phases)
