"""Observations as the agents feed them to their networks: each field optionally brought within
[−1, 1] by a power of two taken from the observation space's bounds (``obs_scale = "bounds"``).

On an integer chip every tensor has one power-of-two scale, set by its largest value: an input whose
fields span different ranges (Pendulum's cos θ and sin θ in [−1, 1] beside θ̇ up to 8) leaves the
small fields few bits. Multiplying each bounded field by ``2**-ceil(log2(bound))`` puts them on one
range exactly (a power of two changes a float's exponent only); the host does it as the observation
arrives, and it is not priced.
"""

import gymnasium as gym
import numpy as np

from agents.settings import OBS_SCALES


def field_scales(space: gym.spaces.Box, mode: str) -> np.ndarray | None:
    """The float32 power of two each field of ``space``'s observations is multiplied by (``None`` for
    ``"none"``): ``2**-ceil(log2(max(|low|, |high|)))`` where both bounds are finite and not both 0,
    1 elsewhere."""
    if mode not in OBS_SCALES:
        raise ValueError(f"obs_scale must be one of {', '.join(OBS_SCALES)}, got {mode!r}")
    if mode == "none":
        return None
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    bound = np.maximum(np.abs(low), np.abs(high))
    bounded = np.isfinite(low) & np.isfinite(high) & (bound > 0)
    exponent = np.where(bounded, -np.ceil(np.log2(np.where(bounded, bound, 1.0))), 0.0)
    return np.ldexp(np.float32(1.0), exponent.astype(np.int64)).astype(np.float32)


def scaled(obs, scales: np.ndarray | None):
    """``obs`` in float32 multiplied field by field by ``scales``; ``obs`` itself for ``None``."""
    return obs if scales is None else np.asarray(obs, np.float32) * scales
