"""A dueling Q-network (Wang et al. 2016): Q(s, a) = V(s) + A(s, a) − mean_a' A(s, a').

A trunk (every hidden layer with its ReLU) feeds two heads, the state value V (one output) and the
advantages A (one per action); the combination runs on the chip's vector unit, or in torch without
a chip. On an int8 chip each head's output is its own tensor with its own power-of-two scale, so
the advantages, which differ between actions by far less than V's magnitude, keep their bits
(docs/agents.md, Learning in int8); acting needs only the advantages (``advantages``).

On the chip the trunk's output feeds both heads through ``_Fork``, whose backward pass adds the two
heads' input gradients on the vector unit (not in torch's engine). The operations and their order
are those ``accel.workload.dueling_forward`` and ``dueling_backward`` write down.
"""

import numpy as np
import torch
from torch import nn

from accel import Accelerator, names
from accel.workload import loss_role
from agents.linear import accelerate, as_numpy, as_tensor, forward, mlp


def _column_sum(x: np.ndarray, accelerator: Accelerator, role: str) -> np.ndarray:
    """Per row the sum of ``x``'s columns, one add per extra column (in column order)."""
    total = x[:, 0]
    for j in range(1, x.shape[1]):
        total = accelerator.vector.add(np.ascontiguousarray(total), np.ascontiguousarray(x[:, j]), role=role)
    return np.ascontiguousarray(total)


def _minus_mean(x: np.ndarray, accelerator: Accelerator, role: str) -> np.ndarray:
    """−mean of each row of ``x``: the column sum scaled by −1/n."""
    return accelerator.vector.scale(_column_sum(x, accelerator, role), -1.0 / x.shape[1], role=role)


class _Combine(torch.autograd.Function):
    """Q = A + (V − mean A) on the vector unit; backward: dV = Σ_a dQ, dA = dQ − mean_a dQ."""

    @staticmethod
    def forward(ctx, value, advantage, accelerator: Accelerator, role: str):
        vector, a = accelerator.vector, as_numpy(advantage)
        shift = vector.add(np.ascontiguousarray(as_numpy(value)[:, 0]), _minus_mean(a, accelerator, role), role=role)
        ctx.accelerator, ctx.role = accelerator, loss_role(role)
        return as_tensor(vector.add(a, np.ascontiguousarray(np.broadcast_to(shift[:, None], a.shape)), role=role))

    @staticmethod
    def backward(ctx, dq):
        accelerator, role = ctx.accelerator, ctx.role
        dq = np.ascontiguousarray(as_numpy(dq), dtype=np.float32)
        dv = _column_sum(dq, accelerator, role)
        shift = accelerator.vector.scale(dv, -1.0 / dq.shape[1], role=role)
        da = accelerator.vector.add(dq, np.ascontiguousarray(np.broadcast_to(shift[:, None], dq.shape)), role=role)
        return as_tensor(dv[:, None]), as_tensor(da), None, None


class _Fork(torch.autograd.Function):
    """The trunk's output read by both heads; backward: their input gradients added on the vector unit."""

    @staticmethod
    def forward(ctx, h, accelerator: Accelerator, tensor_names):
        ctx.accelerator, ctx.tensor_names = accelerator, tensor_names
        return h.clone(), h.clone()

    @staticmethod
    def backward(ctx, d_value, d_advantage):
        grad = ctx.accelerator.vector.add(np.ascontiguousarray(as_numpy(d_value), dtype=np.float32),
                                          np.ascontiguousarray(as_numpy(d_advantage), dtype=np.float32),
                                          role="gradient", names=ctx.tensor_names)
        return as_tensor(grad), None, None


class DuelingQ(nn.Module):
    """A dueling Q-network for ``n_actions`` actions on a trunk of ``sizes`` (input first, then the
    hidden widths), in torch fp32 until ``on_chip`` moves it onto a chip.

    Args:
        sizes: Input width and hidden widths.
        n_actions: Actions (the advantage head's outputs).
    """

    def __init__(self, sizes: list[int], n_actions: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*mlp(sizes), nn.ReLU())
        self.value, self.advantage = mlp([sizes[-1], 1]), mlp([sizes[-1], n_actions])
        self.accelerator: Accelerator | None = None
        self.q_role = "activation"
        self.hidden_name = self.fork_names = None

    def on_chip(self, accelerator: Accelerator, net: str = "q", q_role: str = "activation") -> "DuelingQ":
        """The same network on the chip (``accelerate`` on the trunk and each head), its tensors named
        after ``net`` (the heads: ``accel.names.dueling_heads``), the heads' outputs and their
        combination in ``q_role``'s format (``DQNSettings.q_readout``). Returns itself."""
        value, advantage = names.dueling_heads(net)
        layers = sum(isinstance(m, nn.Linear) for m in self.trunk)
        self.trunk = accelerate(self.trunk, accelerator, net)
        self.value = accelerate(self.value, accelerator, value, q_role)
        self.advantage = accelerate(self.advantage, accelerator, advantage, q_role)
        self.accelerator, self.q_role = accelerator, q_role
        self.hidden_name = names.output(net, layers - 1)
        """The trunk's output, which both heads read."""
        self.fork_names = ((names.input_grad(value), names.input_grad(advantage)),
                           (names.output_grad(net, layers - 1),))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        if self.accelerator is None:
            a = self.advantage(h)
            return self.value(h) + a - a.mean(dim=1, keepdim=True)
        h_value, h_advantage = _Fork.apply(h, self.accelerator, self.fork_names)
        value = forward(self.value, h_value, self.hidden_name)
        advantage = forward(self.advantage, h_advantage, self.hidden_name)
        return _Combine.apply(value, advantage, self.accelerator, self.q_role)

    def advantages(self, x: torch.Tensor, input_name: str) -> torch.Tensor:
        """A(s, ·) alone for input ``x`` named ``input_name``: the greedy action is its largest,
        whatever V is (acting runs no value head)."""
        return forward(self.advantage, forward(self.trunk, x, input_name), self.hidden_name)
