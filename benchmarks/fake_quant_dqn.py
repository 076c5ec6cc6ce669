"""Which part of block-scaled int8 holds DQN back: a fake-quantization model of the chip in plain torch.

Not the simulator. A DQN on CartPole-v1 with the RL Zoo's settings (as ``agents.DQN``) whose every
GEMM operand and result is rounded stochastically into ``--bits``-bit integers with power-of-two
scales, computed in float32 otherwise (fp32 accumulation, Adam on fp32 master weights, the ReLU, the
Huber loss). It runs in 2–4 minutes where the chip's own 50 000-step run takes 8–14, so it can try
what the chip cannot be configured to do (blocks laid along each GEMM's reduction dimension, two
working copies of a weight matrix) and tell which of the chip's choices costs the learning. Each
option moves the model one step towards what the edge-bfp8 chip does:

* ``--scheme block`` (the default): one scale per ``--block`` values. Unless told otherwise, the
  blocks run along each GEMM's reduction dimension, as the OCP microscaling formats lay them: the
  forward GEMM's weight copy along its inputs, the input-gradient GEMM's copy along its outputs (two
  working copies, each rounded from the master), the weight gradient's ``dY`` along the batch.
* ``--stored weights,gradients,outputs`` (any of them) or ``all``: blocks as the chip stores them instead (row-major,
  32 consecutive values of a row; one weight copy read both ways; ``dY`` as the vector unit left it;
  ``outputs``: the inputs, outputs and Q-values too; ``all``: every tensor, as the chip).
* ``--span S``: a block's scale at most ``S`` powers of two below its tensor's largest (the chip's
  ``block_span``; 0: no floor).
* ``--chip-bias``: the bias added after the GEMM's result is rounded, and rounded again (the
  chip's vector unit) instead of inside the accumulator.
* ``--chip-target``: the TD target rounded (the chip computes it in the activation format).

Prints one JSON line: the options, the greedy eval return (20 episodes, seeds 10 000 +), the mean
training return over the last fifth of the steps (after env step 40 000 of 50 000: "late", as
``bench_learning.py`` has it) and the wall time.

    python benchmarks/fake_quant_dqn.py --seed 0                              # blocks along the reduction
    python benchmarks/fake_quant_dqn.py --seed 0 --stored all --span 12 --chip-bias --chip-target   # as the chip
"""

import argparse
import itertools
import json
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from bench_learning import LATE_FRACTION

KINDS = ("weights", "gradients", "outputs")


def stored_kinds(text: str) -> str:
    """``--stored``'s value checked: ``none``, ``all`` or a comma-separated list of ``KINDS``."""
    if text in ("none", "all") or all(kind in KINDS for kind in text.split(",")):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: none, all, or a comma-separated list of {', '.join(KINDS)}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scheme", choices=("fp32", "tensor", "block"), default="block",
                        help="fp32: no rounding; tensor: one scale per tensor; block: one per --block values")
    parser.add_argument("--bits", type=int, default=8, help="integer width of every rounded value")
    parser.add_argument("--block", type=int, default=32, help="values per scale under --scheme block")
    parser.add_argument("--span", type=int, default=0, help="floor of a block's scale below its tensor's (0: none)")
    parser.add_argument("--stored", type=stored_kinds, default="none",
                        help="which tensors keep blocks as stored: none, all, or a list of weights, gradients, outputs")
    parser.add_argument("--chip-bias", action="store_true", help="bias added after the result's rounding")
    parser.add_argument("--chip-target", action="store_true", help="TD target rounded")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=50_000)
    return parser.parse_args()


ARGS = parse()
LATE_STEP = round(ARGS.steps * (1 - LATE_FRACTION))
"""Training episodes ending from this step on give the late return (40 000 of 50 000, as bench_learning's)."""
QMAX = 2 ** (ARGS.bits - 1) - 1
NOISE = torch.Generator().manual_seed(ARGS.seed + 1000)
"""The stochastic rounding's random words (apart from the agent's own random source)."""


def stored(kind: str) -> bool:
    """Whether tensors of ``kind`` (``weights``, ``gradients``, ``outputs``) keep blocks as stored."""
    return ARGS.stored == "all" or kind in ARGS.stored.split(",")


def _round(groups: torch.Tensor, amax: torch.Tensor, span: bool) -> torch.Tensor:
    """``groups`` rounded stochastically onto the power-of-two step that holds ``amax`` in ``QMAX`` codes."""
    exponent = torch.ceil(torch.log2(torch.clamp(amax, min=1e-30) / QMAX))
    if span and ARGS.span:
        exponent = torch.clamp(exponent, min=float(exponent.max()) - ARGS.span)
    step = torch.exp2(exponent)
    noise = torch.rand(groups.shape, generator=NOISE)
    rounded = torch.clamp(torch.floor(groups / step + noise), -QMAX, QMAX) * step
    return torch.where(amax > 0, rounded, torch.zeros_like(rounded))


def quant(x: torch.Tensor, axis: int, as_stored: bool | None = None) -> torch.Tensor:
    """``x`` rounded into the scheme: blocks along ``axis``, or row-major as stored (``as_stored``;
    by default when ``--stored all``)."""
    if ARGS.scheme == "fp32":
        return x
    if ARGS.scheme == "tensor":
        return _round(x, x.abs().max(), span=False)
    if ARGS.stored == "all" if as_stored is None else as_stored:  # one row of values as stored
        return quant(x.reshape(1, -1), 1, as_stored=False).reshape(x.shape)
    moved = x.movedim(axis, -1)
    padded = F.pad(moved, (0, (-x.shape[axis]) % ARGS.block))
    groups = padded.reshape(*padded.shape[:-1], -1, ARGS.block)
    rounded = _round(groups, groups.abs().amax(-1, keepdim=True), span=True)
    return rounded.reshape(padded.shape)[..., :x.shape[axis]].movedim(-1, axis)


class QuantLinear(torch.autograd.Function):
    """``y = x·W + b`` with rounded operands and results; W's two working copies come in apart."""

    @staticmethod
    def forward(ctx, x, weight, bias, w_forward, w_backward):
        outputs = stored("outputs")
        xq = quant(x, 1, outputs)
        ctx.save_for_backward(xq, w_backward)
        if ARGS.chip_bias:
            return quant(quant(xq @ w_forward, 1, outputs) + bias, 1, outputs)
        return quant(xq @ w_forward + bias, 1, outputs)

    @staticmethod
    def backward(ctx, dy):
        xq, w_backward = ctx.saved_tensors
        dyq = quant(dy, 1)
        dx = quant(dyq @ w_backward.T, 1)
        dw = quant(xq.T @ (dyq if stored("gradients") else quant(dy, 0)), 1)
        return dx, dw, dy.sum(0), None, None


class Net(torch.nn.Module):
    """An MLP whose weights are stored (fan_in, fan_out), as the chip holds them."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.ws, self.bs = torch.nn.ParameterList(), torch.nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            layer = torch.nn.Linear(fan_in, fan_out)
            self.ws.append(torch.nn.Parameter(layer.weight.detach().T.contiguous()))
            self.bs.append(layer.bias)
        self.version, self.copies = -1, []

    def working(self, version: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The weights' working copies (forward, backward), rounded anew when the masters changed."""
        if version != self.version:
            self.copies = [self._copies(w.detach()) for w in self.ws]
            self.version = version
        return self.copies

    @staticmethod
    def _copies(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(forward, backward) copies of ``w``: blocks along its inputs and along its outputs, or one
        copy as stored read both ways."""
        if stored("weights"):
            copy = quant(w, 1)
            return copy, copy
        return quant(w, 0), quant(w, 1)

    def forward(self, x: torch.Tensor, version: int) -> torch.Tensor:
        copies = self.working(version)
        for i, (w, b) in enumerate(zip(self.ws, self.bs, strict=True)):
            x = QuantLinear.apply(x, w, b, *copies[i])
            if i < len(self.ws) - 1:
                x = torch.relu(x)
        return x


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(ARGS.seed)
    rng = np.random.default_rng(ARGS.seed)
    env = gym.make("CartPole-v1")
    q, q_target = Net([4, 256, 256, 2]), Net([4, 256, 256, 2])
    q_target.load_state_dict(q.state_dict())
    optimizer = torch.optim.Adam(q.parameters(), lr=2.3e-3)
    size = 100_000
    obs_b, next_b = np.zeros((size, 4), np.float32), np.zeros((size, 4), np.float32)
    act_b, rew_b, done_b = np.zeros(size, np.int64), np.zeros(size, np.float32), np.zeros(size, np.float32)
    stored_count, version, target_version = 0, 0, 10 ** 9
    obs, _ = env.reset(seed=ARGS.seed)
    episode_return, late = 0.0, []
    start = time.time()
    for step in range(ARGS.steps):
        eps = max(0.04, 1 - (1 - 0.04) * step / (0.16 * ARGS.steps))
        if rng.random() < eps:
            action = int(rng.integers(2))
        else:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs)[None], version).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        i = stored_count
        obs_b[i], next_b[i], act_b[i], rew_b[i], done_b[i] = obs, next_obs, action, reward, terminated
        stored_count += 1
        episode_return += reward
        obs = next_obs
        if terminated or truncated:
            if step >= LATE_STEP:
                late.append(episode_return)
            episode_return = 0.0
            obs, _ = env.reset()
        if step % 10 == 0:
            q_target.load_state_dict(q.state_dict())
            target_version += 1
        if step >= 1000 and (step + 1) % 256 == 0:
            for _ in range(128):
                idx = rng.integers(0, stored_count, 64)
                with torch.no_grad():
                    next_q = q_target(torch.as_tensor(next_b[idx]), target_version).max(1).values
                    target = torch.as_tensor(rew_b[idx]) + 0.99 * (1 - torch.as_tensor(done_b[idx])) * next_q
                    if ARGS.chip_target:
                        target = quant(target[None], 1)[0]
                chosen = q(torch.as_tensor(obs_b[idx]), version).gather(1, torch.as_tensor(act_b[idx])[:, None])[:, 0]
                loss = F.smooth_l1_loss(chosen, target)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(q.parameters(), 10)
                optimizer.step()
                version += 1
    returns = []
    for episode in range(20):
        obs, _ = env.reset(seed=10_000 + episode)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs)[None], version).argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
    options = {k: getattr(ARGS, k) for k in ("scheme", "bits", "block", "span", "stored", "chip_bias", "chip_target",
                                              "seed", "steps")}
    print(json.dumps({**options, "eval": float(np.mean(returns)), "late": float(np.mean(late)) if late else None,
                      "wall_s": round(time.time() - start, 1)}))


if __name__ == "__main__":
    main()
