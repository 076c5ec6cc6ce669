"""Replay memory bounded in bytes, with observations stored compressed (experience compression).

Published DRL training chips keep experience in a narrow format to fit more of it on chip
(KAIST 2019 compresses it). Here observations (s and s') are stored in ``storage_format``: a
float format as is, an integer format as codes with a *per-field* power-of-two scale, the
smallest that holds the largest magnitude seen so far in that field (it only grows; when it
does, that field's stored codes are shifted to the new scale). Rewards are stored in fp32,
discrete actions in one byte (two above 256 actions), continuous actions in fp32, the
termination flag in one byte. Each stored transition and each sampled batch is traffic the
caller charges to the chip (``Accelerator.replay``).

With a ``compression`` scheme (the chip's ``[compression] replay``, a scheme of
``accel.compression``) the observations of each transition (s and s', as the words the memory
holds: float bits, or integer codes) are coded as one unit when the transition is written; its
stored bytes are that code's (rounded up to whole bytes; never more than raw) plus the other fields
raw, measured once at the write (a later growth of an integer field's scale is not re-measured).
The byte bound then holds the stored bytes: a transition that would take the memory over it pushes
out the oldest ones first, so a memory of well-compressed transitions holds more of them (up to
``capacity``).
"""

import math
from typing import NamedTuple

import numpy as np

from accel.compression import NONE, code_words, float_words, get_scheme, stored_bits
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


def replay_compression(accelerator) -> str:
    """The replay scheme of a chip (``[compression] replay``), ``"none"`` without one."""
    return NONE if accelerator is None else accelerator.config.compression.replay


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
        compression: Scheme of the stored observations (``accel.compression``), or ``"none"``.

    Raises:
        ValueError: A non-positive size, ``capacity`` transitions that exceed ``limit_bytes``
            (uncompressed; compressed: not even one raw transition fits), an unknown scheme, or an
            exponent scheme on an integer storage format.
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, storage_format: str = "fp32",
                 discrete_actions: int | None = None, limit_bytes: int | None = None,
                 compression: str = NONE) -> None:
        if capacity < 1 or obs_dim < 1 or action_dim < 1:
            raise ValueError(f"replay memory sizes must be positive, got capacity {capacity}, obs_dim {obs_dim}, "
                             f"action_dim {action_dim}")
        self.format = get_format(storage_format)
        self.capacity, self.obs_dim, self.discrete = capacity, obs_dim, discrete_actions is not None
        self.bytes_per_transition = transition_bytes(obs_dim, action_dim, storage_format, discrete_actions)
        """Bytes one transition takes uncompressed."""
        self.compression, self.limit_bytes = compression, limit_bytes
        if compression != NONE and get_scheme(compression).floats_only and not self.format.is_float:
            raise ValueError(f"compression.replay = {compression!r} codes float exponents, but the replay "
                             f"format {storage_format!r} is not a float format")
        fits = limit_bytes is None or (self.bytes_per_transition <= limit_bytes if compression != NONE
                                       else self.capacity_bytes <= limit_bytes)
        if not fits:
            raise ValueError(f"replay memory of {capacity} transitions × {self.bytes_per_transition} B = "
                             f"{self.capacity_bytes} B exceeds its {limit_bytes} B; at most "
                             f"{limit_bytes // self.bytes_per_transition} transitions fit")
        self._stored = np.zeros(capacity, np.int64)  # stored bytes per slot
        self.stored_bytes = 0
        """Bytes the held transitions take as stored (compressed or raw)."""
        self.sampled_bytes = 0
        """Stored bytes of the last sampled batch (what reading it moves)."""
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

    def add(self, obs, action, reward: float, next_obs, terminated: bool) -> int:
        """Stores one transition (``terminated``: the episode ended, not a time limit); returns the
        bytes it takes as stored (what writing it moves)."""
        obs, next_obs = np.asarray(obs, np.float32).reshape(-1), np.asarray(next_obs, np.float32).reshape(-1)
        if not self.format.is_float:
            self._grow_scales(np.maximum(np.abs(obs), np.abs(next_obs)))
        if self.size == self.capacity:
            self._drop_oldest()  # the slot about to be overwritten
        i = self._next
        self._obs[i], self._next_obs[i] = self._compress(obs), self._compress(next_obs)
        self._actions[i] = np.asarray(action, np.float32).reshape(-1)
        self._rewards[i], self._dones[i] = reward, float(terminated)
        stored = self._stored_size(i)
        while self.limit_bytes is not None and self.size and self.stored_bytes + stored > self.limit_bytes:
            self._drop_oldest()
        self._stored[i] = stored
        self.stored_bytes += stored
        self._next = (i + 1) % self.capacity
        self.size += 1
        return stored

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement (as SB3 draws them)."""
        draws = rng.integers(0, self.size, size=batch_size)
        # the held slots: all of them, or the ``size`` before the next (oldest ones pushed out by the bound)
        idx = draws if self.size == self.capacity else (draws + self._next - self.size) % self.capacity
        self.sampled_bytes = int(self._stored[idx].sum())
        return Batch(self._obs[idx], self._actions[idx], self._next_obs[idx], self._rewards[idx], self._dones[idx])

    def _drop_oldest(self) -> None:
        oldest = (self._next - self.size) % self.capacity
        self.stored_bytes -= int(self._stored[oldest])
        self._stored[oldest] = 0
        self.size -= 1

    def _stored_size(self, i: int) -> int:
        """Bytes transition ``i`` takes as stored: its observations' code (or raw words), the rest raw."""
        if self.compression == NONE:
            return self.bytes_per_transition
        values = np.concatenate((self._obs[i], self._next_obs[i]))
        if self.format.is_float:
            words = float_words(values, self.format)
        else:
            scale = np.ldexp(1.0, np.tile(self._scale_exp, 2))
            words = code_words(np.round(values.astype(np.float64) / scale), self.format)
        raw_obs = values.size * ((self.format.width_bits + 7) // 8)
        return self.bytes_per_transition - raw_obs + -(-stored_bits(self.compression, words, self.format) // 8)

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
