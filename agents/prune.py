"""Gradual magnitude pruning (Zhu & Gupta, "To prune, or not to prune", 2017), element-wise or in the
chip's skip groups.

The sparsity of every weight matrix of the pruned networks rises from ``s_i`` to ``s_f`` over
``n`` mask updates ``Δt`` gradient steps apart, starting at step ``t0``:

    s_t = s_f + (s_i − s_f) · (1 − (t − t0) / (n·Δt))³,   t = t0, t0 + Δt, …, t0 + n·Δt

At each update the ``⌊s_t · units⌋`` units of smallest magnitude are masked: single weights
(``prune_group = 0``), or groups of G consecutive input rows (the GEMM's k) across all of a weight
matrix's outputs, ranked by L2 norm (``prune_group = G``): the groups a chip with ``[sparsity]
skipping = "group"`` and ``group = G`` compacts away (``accel.sparsity``). Between updates the mask
stays, and every write of the weights is masked again, so the array sees the pruned weights.

On the chip the mask multiplies the master copy on the vector unit (``mul``, one per weight per
write, in ``AccelLinear.refresh_weight``) before its working copy is rounded; a mask update
counts the magnitudes (``mul`` for squares and ``sum_rows`` into group norms, or nothing for single
weights) and the comparisons with the threshold (``minmax`` per unit); the controller picks the
threshold, as it takes the clipping norm's square root. Without a chip the masks multiply the
torch weights after each optimizer step.
"""

import numpy as np
import torch
from torch import nn

from accel import Accelerator
from agents.linear import AccelLinear
from agents.settings import PruningSettings


def scheduled_sparsity(s: PruningSettings, step: int) -> float | None:
    """Zhu & Gupta's ``s_t`` at gradient step ``step`` if a mask update falls on it, else None."""
    since = step - s.prune_start
    if not s.sparsity or since < 0 or since > s.prune_steps or since % s.prune_interval:
        return None
    return s.sparsity + (s.initial_sparsity - s.sparsity) * (1.0 - since / s.prune_steps) ** 3


def magnitude_mask(w: np.ndarray, sparsity: float, group: int) -> np.ndarray:
    """The keep-mask (0/1, float32) of a (k, n) weight matrix at ``sparsity``.

    Args:
        w: The weights, k (inputs) along the rows.
        sparsity: Fraction of units to prune: the ``⌊sparsity · units⌋`` smallest go (ties: the
            first in row-major order).
        group: 0 for single weights; G for groups of G consecutive rows (the last one possibly
            shorter) ranked by their L2 norm.
    """
    w = np.asarray(w, np.float64)
    if group:
        k = w.shape[0]
        starts = np.arange(0, k, group)
        magnitude = np.sqrt(np.add.reduceat((w * w).sum(axis=1), starts))
    else:
        magnitude = np.abs(w).reshape(-1)
    pruned = np.argsort(magnitude, kind="stable")[:int(sparsity * magnitude.size)]
    keep = np.ones(magnitude.size, np.float32)
    keep[pruned] = 0.0
    if group:
        return np.repeat(keep, group)[:w.shape[0], None] * np.ones((1, w.shape[1]), np.float32)
    return keep.reshape(w.shape)


class Pruner:
    """Prunes the weight matrices of ``networks`` on Zhu & Gupta's schedule.

    Args:
        settings: The agent's settings (their ``PruningSettings`` fields).
        networks: The online networks (of ``AccelLinear`` layers on a chip, of ``nn.Linear`` without
            one: an ``nn.Sequential`` or a ``DuelingQ``); their target copies follow through the target updates.
        accelerator: The chip, or None.
    """

    def __init__(self, settings: PruningSettings, networks: list[nn.Module],
                 accelerator: Accelerator | None = None) -> None:
        self.settings, self.accelerator = settings, accelerator
        self.layers = [layer for net in networks for layer in net.modules()
                       if isinstance(layer, AccelLinear | nn.Linear)]
        self._masks: list[np.ndarray | None] = [None] * len(self.layers)

    def after_update(self, step: int) -> None:
        """Called after the optimizer's update of gradient step ``step`` (counted from 0): renews the
        masks when the schedule says so, and masks the torch weights (without a chip)."""
        sparsity = scheduled_sparsity(self.settings, step)
        if sparsity is not None:
            for i, layer in enumerate(self.layers):
                self._masks[i] = self._renew(layer, sparsity)
        if self.accelerator is None:
            with torch.no_grad():
                for layer, mask in zip(self.layers, self._masks, strict=True):
                    if mask is not None:
                        layer.weight.mul_(torch.from_numpy(mask.T.copy()))

    def _renew(self, layer: nn.Module, sparsity: float) -> np.ndarray | None:
        """The layer's new mask (None while nothing is pruned); on a chip, set and applied at once."""
        w = layer.weight.detach().numpy()
        chip = isinstance(layer, AccelLinear)
        k_by_n = w if chip else w.T
        group = self.settings.prune_group
        mask = magnitude_mask(k_by_n, sparsity, group)
        if not mask.all() or (chip and layer.mask is not None):
            if chip:
                self._count_ranking(k_by_n.shape, group)
                layer.mask = mask
                layer.refresh_weight()
            return mask
        return None

    def _count_ranking(self, shape: tuple[int, int], group: int) -> None:
        """The vector work of ranking one matrix's units against the threshold."""
        acc, elements = self.accelerator, shape[0] * shape[1]
        units = elements
        if group:
            units = -(-shape[0] // group)
            acc.vector_counts("mul", "master", elements)
            acc.vector_counts("sum_rows", "master", elements, out_elements=units)
        acc.vector_counts("minmax", "master", units)
