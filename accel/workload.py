"""Workloads: the chip operations of one training step, written down from network shapes alone.

A workload is a sequence of GEMMs (with their operand roles and tensor names, so the chip knows
what it still holds) and vector operations. ``run_counts`` prices it on an ``Accelerator``
without computing a value, in microseconds per operation, so a design space can be explored
before real learning runs confirm the best chips; the agents, when they learn, issue exactly
these operations (the counts differ only where values decide: zero operands, saturations, NaN).

``dqn_step`` and ``td3_step`` describe the updates of Stable-Baselines3-style DQN and TD3 with
MLP networks, biases and ReLU hidden layers, Adam, and polyak-averaged target networks.
"""

import itertools
from dataclasses import dataclass

from accel.accelerator import Accelerator
from accel.counts import EventCounts

FP32_BYTES = 4


@dataclass(frozen=True, slots=True)
class GemmOp:
    """``C[m,n] = A[m,k] · B[k,n]`` with its roles and tensor names (see ``Accelerator.gemm``)."""

    m: int
    k: int
    n: int
    roles: tuple[str, str] = ("activation", "weight")
    out_role: str = "activation"
    names: tuple[str | None, str | None, str | None] = (None, None, None)
    transpose_b: bool = False


@dataclass(frozen=True, slots=True)
class VectorOp:
    """A vector-unit operation over ``elements`` per tensor (see ``Accelerator.vector_counts``)."""

    op: str
    role: str
    elements: int
    out_elements: int | None = None
    """Size of each output when it differs from the inputs' (a reduction such as ``sum_rows``)."""


@dataclass(frozen=True, slots=True)
class ReplayOp:
    """Replay-memory traffic: transitions written (one per environment step) or sampled."""

    read_bytes: int = 0
    write_bytes: int = 0


Op = GemmOp | VectorOp | ReplayOp


@dataclass(frozen=True, slots=True)
class Workload:
    """A named sequence of chip operations."""

    name: str
    ops: tuple[Op, ...]

    @property
    def macs(self) -> int:
        """Multiply-accumulates of its GEMMs."""
        return sum(op.m * op.k * op.n for op in self.ops if isinstance(op, GemmOp))


def run_counts(acc: Accelerator, workload: Workload) -> EventCounts:
    """Counts ``workload`` on ``acc`` without values; returns the counts it added."""
    before = acc.counts
    for op in workload.ops:
        if isinstance(op, GemmOp):
            acc.gemm_counts(op.m, op.k, op.n, op.roles, op.out_role, op.names, op.transpose_b)
        elif isinstance(op, VectorOp):
            acc.vector_counts(op.op, op.role, op.elements, out_elements=op.out_elements)
        else:
            acc.replay(op.read_bytes, op.write_bytes)
    return acc.counts - before


def transition_bytes(obs_dim: int, act_dim: int) -> int:
    """Bytes of one stored transition (s, a, r, s', done) in fp32."""
    return FP32_BYTES * (2 * obs_dim + act_dim + 2)


def mlp_forward(net: str, sizes: list[int], batch: int, input_name: str, out_act: str | None = None) -> list[Op]:
    """Forward pass of an MLP: per layer a GEMM, the bias add, ReLU on hidden layers.

    Args:
        net: Name prefix of the network's tensors (``q``, ``q_target``, ...).
        sizes: Layer widths, input first.
        batch: Rows of the input.
        input_name: Name of the input tensor.
        out_act: Activation of the output layer: None (linear) or ``"tanh"``.
    """
    ops: list[Op] = []
    x = input_name
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        y = f"{net}.y{i}"
        ops.append(GemmOp(batch, fan_in, fan_out, names=(x, f"{net}.W{i}", y)))
        ops.append(VectorOp("add", "activation", batch * fan_out))
        last = i == len(sizes) - 2
        if not last:
            ops.append(VectorOp("relu", "activation", batch * fan_out))
        elif out_act:
            ops.append(VectorOp(out_act, "activation", batch * fan_out))
        x = y
    return ops


def mlp_backward(net: str, sizes: list[int], batch: int, input_name: str, input_grad: bool = False,
                 out_act: str | None = None) -> list[Op]:
    """Backward pass of ``mlp_forward``'s network from the gradient of its output.

    Per layer, last first: the output activation's derivative, the weight gradient
    ``dW = Xᵀ · dY``, the bias gradient (a sum over the batch), and — except for the first layer
    unless ``input_grad`` — the input gradient ``dX = dY · Wᵀ`` and the ReLU derivative.
    """
    ops: list[Op] = []
    layers = list(itertools.pairwise(sizes))
    if out_act == "tanh":
        ops.append(VectorOp("tanh_grad", "gradient", batch * sizes[-1]))
    for i in reversed(range(len(layers))):
        fan_in, fan_out = layers[i]
        x = input_name if i == 0 else f"{net}.y{i - 1}"
        dy = f"{net}.dy{i}"
        ops.append(GemmOp(fan_in, batch, fan_out, roles=("activation", "gradient"), out_role="gradient",
                          names=(x, dy, f"{net}.dW{i}")))
        ops.append(VectorOp("add", "gradient", batch * fan_out))
        if i > 0 or input_grad:
            ops.append(GemmOp(batch, fan_out, fan_in, roles=("gradient", "weight"), out_role="gradient",
                              names=(dy, f"{net}.W{i}", f"{net}.dy{i - 1}" if i else f"{net}.dx"),
                              transpose_b=True))
        if i > 0:
            ops.append(VectorOp("relu_grad", "gradient", batch * fan_in))
    return ops


def parameter_count(sizes: list[int]) -> int:
    """Weights and biases of an MLP."""
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def dqn_step(obs_dim: int, n_actions: int, hidden: tuple[int, ...] = (256, 256), batch: int = 64,
             tau: float = 1.0) -> Workload:
    """One DQN update: sample a batch, Q(s) and Q_target(s'), Huber TD loss, backward, Adam, target update.

    Args:
        obs_dim: Observation size.
        n_actions: Number of discrete actions.
        hidden: Hidden layer widths.
        batch: Batch size.
        tau: Polyak coefficient of the target update (1.0: a hard copy, counted every step).
    """
    sizes = [obs_dim, *hidden, n_actions]
    ops: list[Op] = [ReplayOp(read_bytes=batch * transition_bytes(obs_dim, 1))]
    ops += mlp_forward("q_target", sizes, batch, "s_next")
    ops += [VectorOp("minmax", "activation", batch)] * (n_actions - 1)  # max over actions
    ops.append(VectorOp("fma", "activation", batch))  # y = r + γ (1 − done) max Q'
    ops += mlp_forward("q", sizes, batch, "s")
    ops.append(VectorOp("huber", "gradient", batch))
    ops += mlp_backward("q", sizes, batch, "s")
    params = parameter_count(sizes)
    ops.append(VectorOp("adam", "master", params))
    ops.append(VectorOp("polyak", "master", params))
    return Workload(f"dqn {'-'.join(map(str, sizes))} batch {batch}", tuple(ops))


def td3_step(obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (400, 300), batch: int = 256,
             actor_update: bool = True) -> Workload:
    """One TD3 update: twin critics on the clipped double-Q target, then (when the policy delay
    allows, ``actor_update``) the actor through critic 1 and polyak updates of all targets.
    """
    actor = [obs_dim, *hidden, act_dim]
    critic = [obs_dim + act_dim, *hidden, 1]
    ops: list[Op] = [ReplayOp(read_bytes=batch * transition_bytes(obs_dim, act_dim))]
    ops += mlp_forward("pi_target", actor, batch, "s_next", out_act="tanh")
    ops += [VectorOp("add", "activation", batch * act_dim)] * 2  # target noise, then the clip
    for c in ("q1_target", "q2_target"):
        ops += mlp_forward(c, critic, batch, "s_next_a")
    ops += [VectorOp("minmax", "activation", batch), VectorOp("fma", "activation", batch)]
    for c in ("q1", "q2"):
        ops += mlp_forward(c, critic, batch, "s_a")
        ops.append(VectorOp("mse", "gradient", batch))
        ops += mlp_backward(c, critic, batch, "s_a")
        ops.append(VectorOp("adam", "master", parameter_count(critic)))
    if actor_update:
        ops += mlp_forward("pi", actor, batch, "s", out_act="tanh")
        ops += mlp_forward("q1", critic, batch, "s_pi")
        ops.append(VectorOp("scale", "gradient", batch))  # d(−mean Q)/dQ
        ops += mlp_backward("q1", critic, batch, "s_pi", input_grad=True)
        ops += mlp_backward("pi", actor, batch, "s", out_act="tanh")
        ops.append(VectorOp("adam", "master", parameter_count(actor)))
        ops += [VectorOp("polyak", "master", parameter_count(n)) for n in (actor, critic, critic)]
    return Workload(f"td3 actor {'-'.join(map(str, actor))} critics {'-'.join(map(str, critic))} batch {batch}",
                    tuple(ops))
