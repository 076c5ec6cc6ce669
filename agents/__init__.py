"""Agents that learn on the simulated chip: DQN and TD3 (DDPG as a TD3 preset), their replay
memory and optimizers, and the torch seam (``AccelLinear``, ``accelerate``).

``from agents import DQN, TD3`` imports torch; ``agents.settings`` alone does not.
"""

_EXPORTS = {"DQN": "agents.dqn", "TD3": "agents.td3", "AccelLinear": "agents.linear", "accelerate": "agents.linear"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
