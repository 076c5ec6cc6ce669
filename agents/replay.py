"""Replay memory bounded in bytes, with observations stored compressed (experience compression).

Published DRL training chips keep experience in a narrow format to fit more of it on chip
(KAIST 2019 compresses it). Here observations (s and s') are stored in ``storage_format``: a
float format as is, an integer format as codes with a *per-field* power-of-two scale, the
smallest that holds the largest magnitude seen so far in that field (it only grows; when it
does, that field's stored codes are shifted to the new scale). Rewards are stored in fp32,
discrete actions in one byte (two above 256 actions), continuous actions in fp32, the
termination flag in one byte. Each stored transition and each sampled batch is traffic the
caller charges to the chip (``Accelerator.replay``).
"""

import math
from typing import NamedTuple

import numpy as np

from accel.numerics import get_format, quantize

REWARD_BYTES = 4
DONE_BYTES = 1
MIN_SCALE_EXP = -24
"""Scale exponent of a field that has only held zeros (integer formats)."""


class Batch(NamedTuple):
    """Sampled transitions, float32 arrays (SB3's ``ReplayBufferSamples``)."""

    observations: np.ndarray
    actions: np.ndarray
    next_observations: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray


def transition_bytes(obs_dim: int, action_dim: int, storage_format: str, discrete_actions: int | None) -> int:
    """Bytes one stored transition takes (see the module docstring)."""
    action_bytes = (1 if discrete_actions <= 256 else 2) if discrete_actions is not None else 4 * action_dim
    obs_bytes = math.ceil(get_format(storage_format).width_bits / 8)
    return 2 * obs_dim * obs_bytes + action_bytes + REWARD_BYTES + DONE_BYTES


class ReplayMemory:
    """A FIFO ring of ``capacity`` transitions.

    Args:
        capacity: Transitions held; the oldest is overwritten first.
        obs_dim: Observation size.
        action_dim: Action size (1 for a discrete action).
        storage_format: Format of stored observations (see the module docstring).
        discrete_actions: Number of discrete actions, or None for continuous actions.
        limit_bytes: The memory may not exceed this many bytes (None: no bound).

    Raises:
        ValueError: A non-positive size, or ``capacity`` transitions that exceed ``limit_bytes``.
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, storage_format: str = "fp32",
                 discrete_actions: int | None = None, limit_bytes: int | None = None) -> None:
        if capacity < 1 or obs_dim < 1 or action_dim < 1:
            raise ValueError(f"replay memory sizes must be positive, got capacity {capacity}, obs_dim {obs_dim}, "
                             f"action_dim {action_dim}")
        self.format = get_format(storage_format)
        self.capacity, self.obs_dim, self.discrete = capacity, obs_dim, discrete_actions is not None
        self.bytes_per_transition = transition_bytes(obs_dim, action_dim, storage_format, discrete_actions)
        """Bytes one stored transition takes."""
        if limit_bytes is not None and self.capacity_bytes > limit_bytes:
            raise ValueError(f"replay memory of {capacity} transitions × {self.bytes_per_transition} B = "
                             f"{self.capacity_bytes} B exceeds its {limit_bytes} B; at most "
                             f"{limit_bytes // self.bytes_per_transition} transitions fit")
        self._obs = np.zeros((capacity, obs_dim), np.float32)
        self._next_obs = np.zeros((capacity, obs_dim), np.float32)
        self._actions = np.zeros((capacity, action_dim), np.float32)
        self._rewards = np.zeros(capacity, np.float32)
        self._dones = np.zeros(capacity, np.float32)
        self._scale_exp = np.full(obs_dim, MIN_SCALE_EXP, np.int64)  # per field; integer formats only
        self.size, self._next = 0, 0

    @property
    def capacity_bytes(self) -> int:
        """Bytes of the whole memory."""
        return self.capacity * self.bytes_per_transition

    def add(self, obs, action, reward: float, next_obs, terminated: bool) -> None:
        """Stores one transition (``terminated``: the episode ended, not a time limit)."""
        obs, next_obs = np.asarray(obs, np.float32).reshape(-1), np.asarray(next_obs, np.float32).reshape(-1)
        if not self.format.is_float:
            self._grow_scales(np.maximum(np.abs(obs), np.abs(next_obs)))
        i = self._next
        self._obs[i], self._next_obs[i] = self._compress(obs), self._compress(next_obs)
        self._actions[i] = np.asarray(action, np.float32).reshape(-1)
        self._rewards[i], self._dones[i] = reward, float(terminated)
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement (as SB3 draws them)."""
        idx = rng.integers(0, self.size, size=batch_size)
        return Batch(self._obs[idx], self._actions[idx], self._next_obs[idx], self._rewards[idx], self._dones[idx])

    def _compress(self, x: np.ndarray) -> np.ndarray:
        if self.format.is_float:
            return quantize(x, self.format.name)
        scale = np.ldexp(np.float32(1.0), self._scale_exp).astype(np.float32)
        return quantize(x / scale, self.format.name) * scale

    def _grow_scales(self, peak: np.ndarray) -> None:
        """Raises each field's scale to hold ``peak``; requantizes the stored codes of fields it changed."""
        needed = np.ceil(np.log2(np.maximum(peak, 1e-30) / self.format.max_code)).astype(np.int64)
        grown = needed > self._scale_exp
        if not grown.any():
            return
        self._scale_exp = np.maximum(self._scale_exp, needed)
        if self.size:
            fields = np.flatnonzero(grown)
            scale = np.ldexp(np.float32(1.0), self._scale_exp[fields]).astype(np.float32)
            for store in (self._obs, self._next_obs):
                store[:, fields] = quantize(np.ascontiguousarray(store[:, fields] / scale), self.format.name) * scale
