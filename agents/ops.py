"""The few steps of an agent between its networks' layers (target values, maxima, losses), each on
the chip's vector unit when there is a chip, else in torch fp32: one agent code for both.

On the chip, the order and shapes of these operations are those ``accel.workload.dqn_step`` and
``td3_step`` write down.
"""

import numpy as np
import torch
import torch.nn.functional as F

from accel import Accelerator, names


def _tensor(values) -> torch.Tensor:
    return torch.from_numpy(np.asarray(values, dtype=np.float32))


def column_max(q: torch.Tensor, accelerator: Accelerator | None,
               role: str = "activation") -> tuple[torch.Tensor, torch.Tensor]:
    """Per row the largest value and its column (the first on ties), one comparison per extra column
    (in ``role``'s format: ``"accumulator"`` for Q-values read out wide)."""
    if accelerator is None:
        return q.max(dim=1)
    q = q.detach().numpy()
    best, index = q[:, 0], np.zeros(len(q), np.int64)
    for j in range(1, q.shape[1]):
        index = np.where(q[:, j] > best, j, index)
        best = accelerator.vector.maximum(best, q[:, j], role=role)
    return _tensor(best), torch.from_numpy(index)


def twin_min(values: list[torch.Tensor], accelerator: Accelerator | None) -> torch.Tensor:
    """Elementwise minimum of the critics' values (TD3's clipped double-Q; one critic: itself)."""
    low = values[0]
    for v in values[1:]:
        low = torch.minimum(low, v) if accelerator is None else _tensor(accelerator.vector.minimum(low.numpy(),
                                                                                                  v.numpy()))
    return low


def td_target(rewards: np.ndarray, dones: np.ndarray, next_q: torch.Tensor, gamma: float,
              accelerator: Accelerator | None, role: str = "activation") -> torch.Tensor:
    """r + γ·(1 − done)·Q' (SB3's order of operations: the discount first, then one multiply-add), in
    ``role``'s format on the chip."""
    discount = ((1.0 - dones) * np.float32(gamma)).astype(np.float32)
    if accelerator is None:
        return torch.from_numpy(rewards) + torch.from_numpy(discount) * next_q
    return _tensor(accelerator.vector.fma(discount, next_q.numpy(), rewards, role=role))


def clipped_add(x: torch.Tensor, noise: np.ndarray, accelerator: Accelerator | None) -> torch.Tensor:
    """x + noise, clipped to [−1, 1] (an action with exploration or smoothing noise)."""
    if accelerator is None:
        return (x + torch.from_numpy(noise)).clamp(-1.0, 1.0)
    vector = accelerator.vector
    y = vector.add(x.detach().numpy(), noise)
    return _tensor(vector.minimum(vector.maximum(y, np.full_like(y, -1.0)), np.ones_like(y)))


def loss_backward(kind: str, pred: torch.Tensor, target: torch.Tensor, accelerator: Accelerator | None,
                  net: str, layers: int, role: str = "gradient", loss_scale: float = 1.0) -> float:
    """The mean ``"huber"`` (SB3's smooth L1) or ``"mse"`` loss of ``pred``, the output of the
    ``layers``-layer network ``net``, computed in ``role``'s format (``accel.workload.loss_role``); its
    gradient (on the chip times ``loss_scale``, a power of two) sent back through ``pred``'s graph.
    Returns the loss."""
    if accelerator is None:
        loss = (F.smooth_l1_loss if kind == "huber" else F.mse_loss)(pred, target)
        loss.backward()
        return loss.item()
    loss, grad = getattr(accelerator.vector, kind)(pred.detach().numpy(), target.numpy(), role=role,
                                                   names=names.loss_tensors(net, layers))
    if loss_scale != 1.0:
        grad = accelerator.vector.scale(grad, loss_scale, role=role)
    pred.backward(_tensor(grad))
    return loss


def ascent_backward(q: torch.Tensor, accelerator: Accelerator | None, loss_scale: float = 1.0) -> float:
    """Sends back the gradient of −mean(q) (an actor's loss: climb the critic; on the chip times
    ``loss_scale``, a power of two). Returns the loss."""
    if accelerator is None:
        loss = -q.mean()
        loss.backward()
        return loss.item()
    grad = accelerator.vector.scale(np.ones(q.shape, np.float32), -loss_scale / q.numel(), role="gradient")
    q.backward(_tensor(grad))
    return -float(q.detach().mean())
