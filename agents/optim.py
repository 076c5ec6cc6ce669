"""Optimizers and target updates, on the chip's vector unit or, without a chip, in torch fp32.

On the chip every update runs in the update format (``Accelerator.update_format``: the master
weights' format, or the weights' own with ``master_weight = "none"``) with the configured
rounding, one vector operation per tensor in the order ``accel.workload.optimizer_step`` and
``target_update`` write down, each weight matrix's followed by the ``quantize`` that rounds its
layer's working copy anew (``agents.linear.weights_written``) when the chip has master weights.
Without a chip the same objects call ``torch.optim`` and SB3's ``polyak_update`` arithmetic, the
fp32 reference.
"""

import math

import numpy as np
import torch
from torch import nn

from accel import Accelerator, names
from accel.workload import OPTIMIZER_STATE, reduction_stages
from agents.linear import parameter_name, weights_written

CLIP_EPS = 1e-6
"""Added to the norm before dividing, as ``torch.nn.utils.clip_grad_norm_`` does."""


def clip_grad_norm(accelerator: Accelerator, grads: list[np.ndarray], max_norm: float,
                   grad_scale: float = 1.0) -> list[np.ndarray]:
    """Gradients scaled by min(1, max_norm / ‖g‖) on the vector unit (the global norm over all of
    them), the gradients given ``grad_scale`` (a power of two) times too large: their norm is divided
    by it and so is the coefficient, the unscaling folded into the one scaling.

    The squares and their tree sum (``accel.workload.reduction_stages``) run on the vector unit in
    the update format; the square root and quotient of the one scalar are the controller's.
    """
    vector = accelerator.vector
    partial = np.concatenate([vector.mul(g, g, role="master").ravel() for g in grads])
    for rows, cols in reduction_stages(partial.size):
        padded = np.zeros(rows * cols, partial.dtype)
        padded[:partial.size] = partial
        partial = vector.sum_rows(padded.reshape(rows, cols), role="master")
    coef = min(1.0, max_norm / (math.sqrt(float(partial[0])) / grad_scale + CLIP_EPS)) / grad_scale
    return [vector.scale(g, coef, role="master") for g in grads]


class Optimizer:
    """Adam or SGD with momentum over ``params``, with optional clipping of the gradients' global norm.

    Args:
        params: The parameters, in the order the chip updates them (``module.parameters()``).
        kind: ``"adam"`` or ``"sgd"``.
        lr: Step size.
        accelerator: The chip; None updates in torch fp32.
        max_grad_norm: Clip to this global norm first (0: no clipping).
        momentum: SGD's momentum.
        eps: Adam's ε.
        grad_scale: On the chip, the power of two the gradients arrive multiplied by (the loss
            scale): divided out in the update format first (within the clipping, when clipping).
    """

    def __init__(self, params, kind: str, lr: float, accelerator: Accelerator | None = None,
                 max_grad_norm: float = 0.0, momentum: float = 0.9, eps: float = 1e-8,
                 grad_scale: float = 1.0) -> None:
        self.params = list(params)
        self.kind, self.lr, self.accelerator = kind, lr, accelerator
        self.max_grad_norm, self.momentum, self.eps, self.grad_scale = max_grad_norm, momentum, eps, grad_scale
        self.steps = 0
        if accelerator is None:
            self._torch = (torch.optim.Adam(self.params, lr=lr, eps=eps) if kind == "adam"
                           else torch.optim.SGD(self.params, lr=lr, momentum=momentum))
        else:
            slots = 2 if kind == "adam" else 1
            self._state = [[np.zeros(p.shape, np.float32) for _ in range(slots)] for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """One update from the gradients the backward pass left in ``p.grad``."""
        self.steps += 1
        if self.accelerator is None:
            if self.max_grad_norm:
                nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
            self._torch.step()
            return
        vector = self.accelerator.vector
        grads = [p.grad.numpy() for p in self.params]
        if self.max_grad_norm:
            grads = clip_grad_norm(self.accelerator, grads, self.max_grad_norm, self.grad_scale)
        elif self.grad_scale != 1.0:
            grads = [vector.scale(g, 1.0 / self.grad_scale, role="master") for g in grads]
        for p, g, state in zip(self.params, grads, self._state, strict=True):
            w = p.detach().numpy()
            tensors = _update_names(p, OPTIMIZER_STATE[self.kind][1])
            if self.kind == "adam":
                w, state[0], state[1] = vector.adam(w, g, state[0], state[1], self.steps, self.lr, eps=self.eps,
                                                    names=tensors)
            else:
                w, state[0] = vector.sgd_momentum(w, g, state[0], self.lr, self.momentum, names=tensors)
            with torch.no_grad():
                p.copy_(torch.from_numpy(np.asarray(w, np.float32)))
            weights_written(p)


def _update_names(param: torch.Tensor, slots: tuple[str, ...]):
    """The memory model's names of an update of ``param``: the parameter, its gradient (where the
    backward pass left it), its optimizer state in ``slots``; then the parameter and the state
    written (``accel.workload.optimizer_step``). None for a parameter without a chip name."""
    name = parameter_name(param)
    if name is None:
        return None
    state = tuple(names.optimizer_state(name, slot) for slot in slots)
    return (name, None, *state), (name, *state)


def update_target(target: nn.Module, online: nn.Module, tau: float, accelerator: Accelerator | None = None) -> None:
    """target ← τ·online + (1 − τ)·target per tensor (τ = 1: a copy), as SB3's ``polyak_update``."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            if accelerator is None:
                if tau == 1.0:
                    t.copy_(o)
                else:
                    t.mul_(1.0 - tau).add_(o, alpha=tau)
                continue
            t_name, o_name = parameter_name(t), parameter_name(o)
            named = t_name is not None and o_name is not None
            if tau == 1.0:
                new = accelerator.vector.scale(o.numpy(), 1.0, role="master",
                                               names=((o_name,), (t_name,)) if named else None)
            else:
                new = accelerator.vector.polyak(t.numpy(), o.numpy(), tau,
                                                names=((t_name, o_name), (t_name,)) if named else None)
            t.copy_(torch.from_numpy(np.asarray(new, np.float32)))
            weights_written(t)
