"""Gymnasium environments and wrappers for agents that learn on a low-power device.

Importing the package registers the ``drlsim/`` ids (string entry points: the env
modules load on ``gymnasium.make``):

- ``drlsim/SensorNode-v0``: energy-harvesting sensor node, discrete actions.
- ``drlsim/SensorNodeContinuous-v0``: the same node, continuous actions.
- ``drlsim/DriftingCartPole-v0``: CartPole-v1 whose pole grows and gravity drifts.
- ``drlsim/DriftingPendulum-v0``: Pendulum-v1 whose mass drifts and length switches.

This package imports neither ``accel`` nor ``agents``.
"""

from gymnasium.envs.registration import register

from envs.wrappers import EnergyBudget, ParameterSchedule, Phase, find_wrapper

__all__ = ["EnergyBudget", "ParameterSchedule", "Phase", "find_wrapper"]

register(
    id="drlsim/SensorNode-v0",
    entry_point="envs.sensor_node:SensorNodeEnv",
    max_episode_steps=1440,
)
register(
    id="drlsim/SensorNodeContinuous-v0",
    entry_point="envs.sensor_node:SensorNodeEnv",
    kwargs={"continuous": True},
    max_episode_steps=1440,
)
register(
    id="drlsim/DriftingCartPole-v0",
    entry_point="envs.drifting:make_drifting_cartpole",
    max_episode_steps=500,
    reward_threshold=475.0,
)
register(
    id="drlsim/DriftingPendulum-v0",
    entry_point="envs.drifting:make_drifting_pendulum",
    max_episode_steps=200,
)
