"""Gymnasium environments and wrappers for agents that learn on a low-power device.

Importing the package registers the ``drlsim/`` ids (string entry points: the env
modules load on ``gymnasium.make``); the newest version of each is the one to use:

- ``drlsim/SensorNode-v1``: solar-powered LoRaWAN sensor node, discrete actions.
- ``drlsim/SensorNodeContinuous-v1``: the same node, continuous actions.
- ``drlsim/DriftingCartPole-v1``: CartPole-v1 switching A → B → A → B every 100k steps.
- ``drlsim/DriftingPendulum-v1``: Pendulum-v1 switching A → B → A → B every 100k steps.
- ``-v0`` of each: the first versions, kept for reproducibility.

This package imports neither ``accel`` nor ``agents``.
"""

from gymnasium.envs.registration import register

from envs.wrappers import EnergyBudget, EnergyStore, ParameterSchedule, Phase, find_wrapper

__all__ = ["EnergyBudget", "EnergyStore", "ParameterSchedule", "Phase", "find_wrapper"]

# The sensor nodes end their episodes themselves, after `episode_s` of simulated time.
register(id="drlsim/SensorNode-v0", entry_point="envs.sensor_node_v0:SensorNodeV0Env")
register(
    id="drlsim/SensorNodeContinuous-v0",
    entry_point="envs.sensor_node_v0:SensorNodeV0Env",
    kwargs={"continuous": True},
)
register(id="drlsim/SensorNode-v1", entry_point="envs.sensor_node:SensorNodeEnv")
register(
    id="drlsim/SensorNodeContinuous-v1",
    entry_point="envs.sensor_node:SensorNodeEnv",
    kwargs={"continuous": True},
)
register(
    id="drlsim/DriftingCartPole-v0",
    entry_point="envs.drifting:make_drifting_cartpole",
    max_episode_steps=500,
    reward_threshold=475.0,
)
register(
    id="drlsim/DriftingCartPole-v1",
    entry_point="envs.drifting:make_drifting_cartpole_v1",
    max_episode_steps=500,
    reward_threshold=475.0,
)
register(
    id="drlsim/DriftingPendulum-v0",
    entry_point="envs.drifting:make_drifting_pendulum",
    max_episode_steps=200,
)
register(
    id="drlsim/DriftingPendulum-v1",
    entry_point="envs.drifting:make_drifting_pendulum_v1",
    max_episode_steps=200,
)
