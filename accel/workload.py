"""Workloads: the chip operations of one training step, written down from network shapes alone.

A workload is a sequence of GEMMs (with their operand roles and tensor names, so the chip knows
what it still holds) and vector operations. ``run_counts`` prices it on an ``Accelerator``
without computing a value, in microseconds per operation, so a design space can be explored
before real learning runs confirm the best chips; the agents, when they learn, issue exactly
these operations in this order (the counts differ only where values decide: zero operands,
saturations, NaN), and a test holds them to it.

The pieces (an MLP's forward and backward pass, gradient clipping, optimizer and target
updates, greedy action selection) are generic; ``dqn_step`` and ``td3_step`` assemble the updates
of Stable-Baselines3-style DQN and TD3 from explicit shapes and options. Their values come from the
agents' settings (``agents.workloads``): this package keeps no copy of any hyperparameter default.
"""

import itertools
import math
from dataclasses import dataclass

from accel import names
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
    names: tuple[tuple[str | None, ...], tuple[str, ...]] | None = None
    """Names of the input and output tensors: named operations go through the memory model (an
    input named None is held on chip: see ``Accelerator.vector_counts``)."""


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
            acc.vector_counts(op.op, op.role, op.elements, out_elements=op.out_elements, names=op.names)
        else:
            acc.replay(op.read_bytes, op.write_bytes)
    return acc.counts - before


def transition_bytes(obs_dim: int, act_dim: int) -> int:
    """Bytes of one transition (s, a, r, s', done) stored in fp32."""
    return FP32_BYTES * (2 * obs_dim + act_dim + 2)


@dataclass(frozen=True, slots=True)
class Parameter:
    """A tensor an update writes: its name (``accel.names.parameters``), its shape, and the name of
    the working copy in the weight format its update rounds anew (None: no copy)."""

    name: str
    shape: tuple[int, ...]
    working: str | None = None


def parameters(net: str, sizes: list[int], master_weights: bool = True) -> list[Parameter]:
    """The parameters of network ``net`` (an MLP of ``sizes``) in the order the chip updates them;
    ``master_weights``: the chip keeps master weights (``formats.master_weight`` not ``"none"``)
    and each weight matrix's update rounds its working copy."""
    return [Parameter(name, shape, working) for (name, working), shape in
            zip(names.parameters(net, len(sizes) - 1, master_weights), parameter_shapes(sizes), strict=True)]


def parameter_shapes(sizes: list[int]) -> list[tuple[int, ...]]:
    """Shapes of an MLP's parameters in the order the chip updates them: W0, b0, W1, b1, …"""
    shapes: list[tuple[int, ...]] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        shapes += [(fan_in, fan_out), (fan_out,)]
    return shapes


def mlp_forward(net: str, sizes: list[int], batch: int, input_name: str, out_act: str | None = None,
                out_role: str = "activation") -> list[Op]:
    """Forward pass of an MLP: per layer a GEMM, the bias add, ReLU on hidden layers.

    Args:
        net: Name prefix of the network's tensors (``q``, ``q_target``, ...).
        sizes: Layer widths, input first.
        batch: Rows of the input.
        input_name: Name of the input tensor.
        out_act: Activation of the output layer: None (linear) or ``"tanh"``.
        out_role: Role of the output layer's GEMM output and bias add: ``"activation"``, or
            ``"accumulator"`` to read it out wide.
    """
    ops: list[Op] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        y = names.output(net, i)
        last = i == len(sizes) - 2
        role = out_role if last else "activation"
        ops.append(GemmOp(batch, fan_in, fan_out, out_role=role,
                          names=(names.layer_input(net, i, input_name), names.weight(net, i), y)))
        ops.append(VectorOp("add", role, batch * fan_out, names=((y, None), (y,))))  # the bias: broadcast
        if not last:
            ops.append(VectorOp("relu", "activation", batch * fan_out, names=((y,), (y,))))
        elif out_act:
            ops.append(VectorOp(out_act, "activation", batch * fan_out, names=((y,), (y,))))
    return ops


def mlp_backward(net: str, sizes: list[int], batch: int, input_name: str, input_grad: bool = False,
                 out_act: str | None = None, weight_grads: bool = True) -> list[Op]:
    """Backward pass of ``mlp_forward``'s network from the gradient of its output.

    Per layer, last first: the output activation's derivative (``"tanh"`` or ``"relu"``), the weight gradient
    ``dW = Xᵀ · dY`` and the bias gradient (a sum over the batch) unless ``weight_grads`` is off
    (a frozen network that only passes gradients through), and — except for the first layer
    unless ``input_grad`` — the input gradient ``dX = dY · Wᵀ`` and the ReLU derivative.
    """
    ops: list[Op] = []
    layers = list(itertools.pairwise(sizes))
    if out_act:
        last, dy = names.output(net, len(layers) - 1), names.output_grad(net, len(layers) - 1)
        ops.append(VectorOp(f"{out_act}_grad", "gradient", batch * sizes[-1], names=((last, dy), (dy,))))
    for i in reversed(range(len(layers))):
        fan_in, fan_out = layers[i]
        dy = names.output_grad(net, i)
        if weight_grads:
            ops.append(GemmOp(fan_in, batch, fan_out, roles=("activation", "gradient"), out_role="gradient",
                              names=(names.layer_input(net, i, input_name), dy, names.weight_grad(net, i))))
            ops.append(VectorOp("sum_rows", "gradient", batch * fan_out, out_elements=fan_out,
                                names=((dy,), (names.bias_grad(net, i),))))
        if i > 0 or input_grad:
            ops.append(GemmOp(batch, fan_out, fan_in, roles=("gradient", "weight"), out_role="gradient",
                              names=(dy, names.weight(net, i), names.layer_input_grad(net, i)), transpose_b=True))
        if i > 0:
            below = names.output_grad(net, i - 1)
            ops.append(VectorOp("relu_grad", "gradient", batch * fan_in,
                                names=((names.output(net, i - 1), below), (below,))))
    return ops


def dueling_forward(net: str, sizes: list[int], n_actions: int, batch: int, input_name: str,
                    q_role: str = "activation") -> list[Op]:
    """Forward pass of a dueling Q-network (``agents.dueling``): the trunk of ``sizes`` (input and
    hidden widths, every layer with its ReLU), the value and advantage heads on its output
    (``accel.names.dueling_heads``), then Q = A + (V − mean A) on the vector unit in ``q_role``'s
    format: the advantages' column sum, its scaling by −1/n, the add of V, the add to every advantage."""
    value, advantage = names.dueling_heads(net)
    hidden = names.output(net, len(sizes) - 2)
    ops = mlp_forward(net, sizes, batch, input_name, out_act="relu")
    ops += mlp_forward(value, [sizes[-1], 1], batch, hidden, out_role=q_role)
    ops += mlp_forward(advantage, [sizes[-1], n_actions], batch, hidden, out_role=q_role)
    return ops + _combine(n_actions, batch, q_role)


def _combine(n_actions: int, batch: int, role: str) -> list[Op]:
    """``x + shift(s)`` with the shift from a row sum scaled by −1/n: the column adds, the scale, the
    shift's add (forward: of V; backward: none, the sum is dV) and the add to all ``n_actions`` columns."""
    return [*[VectorOp("add", role, batch)] * (n_actions - 1), VectorOp("scale", role, batch),
            VectorOp("add", role, batch), VectorOp("add", role, batch * n_actions)]


def dueling_backward(net: str, sizes: list[int], n_actions: int, batch: int, input_name: str,
                     q_role: str = "activation") -> list[Op]:
    """Backward pass of ``dueling_forward`` from the gradient of Q (in ``loss_role(q_role)``'s format):
    dV = Σ_a dQ and dA = dQ − mean_a dQ, the advantage head's backward pass then the value head's
    (torch's order: the later one first), their input gradients added into the trunk's output
    gradient, the trunk's backward pass."""
    value, advantage = names.dueling_heads(net)
    hidden = names.output(net, len(sizes) - 2)
    combine = _combine(n_actions, batch, loss_role(q_role))
    ops = combine[:n_actions] + combine[n_actions + 1:]  # the column sum is dV itself: no add of V
    for head, width in ((advantage, n_actions), (value, 1)):
        ops += mlp_backward(head, [sizes[-1], width], batch, hidden, input_grad=True)
    trunk_grad = names.output_grad(net, len(sizes) - 2)
    ops.append(VectorOp("add", "gradient", batch * sizes[-1],
                        names=((names.input_grad(value), names.input_grad(advantage)), (trunk_grad,))))
    return ops + mlp_backward(net, sizes, batch, input_name, out_act="relu")


def q_parameters(net: str, sizes: list[int], n_actions: int, dueling: bool,
                 master_weights: bool = True) -> list[Parameter]:
    """The parameters of a Q-network (an MLP of ``sizes`` + ``[n_actions]``, or with ``dueling`` the
    trunk of ``sizes`` and its two heads) in the order the chip updates them."""
    if not dueling:
        return parameters(net, [*sizes, n_actions], master_weights)
    value, advantage = names.dueling_heads(net)
    return (parameters(net, sizes, master_weights) + parameters(value, [sizes[-1], 1], master_weights)
            + parameters(advantage, [sizes[-1], n_actions], master_weights))


REDUCTION_ARITY = 16
"""Rows a reduction stage sums at once (``sum_rows`` of up to this many rows)."""


def reduction_stages(n: int) -> list[tuple[int, int]]:
    """The (rows, columns) of each ``sum_rows`` stage of a tree sum of ``n`` values: the values
    (zero-padded to rows × columns) viewed as up to ``REDUCTION_ARITY`` rows, summed into one row of
    partial sums, until one value is left."""
    stages = []
    while n > 1:
        rows = min(REDUCTION_ARITY, n)
        n = -(-n // rows)
        stages.append((rows, n))
    return stages


def clip_grad_norm(shapes: list[tuple[int, ...]]) -> list[Op]:
    """Gradient clipping by global norm in the update format: the squares of every gradient, their
    tree sum (``reduction_stages``), then every gradient scaled by min(1, max_norm / norm) (the
    square root and the quotient of one scalar are the controller's)."""
    ops: list[Op] = [VectorOp("mul", "master", _size(shape)) for shape in shapes]
    ops += [VectorOp("sum_rows", "master", rows * cols, out_elements=cols)
            for rows, cols in reduction_stages(sum(_size(shape) for shape in shapes))]
    ops += [VectorOp("scale", "master", _size(shape)) for shape in shapes]
    return ops


def working_copy(param: Parameter) -> list[Op]:
    """The ``quantize`` that rounds ``param``'s working copy into the weight format once after its
    update, the copy every GEMM reads until the next one (reading the update's output as it
    streams out); nothing for a tensor without one."""
    if param.working is None:
        return []
    return [VectorOp("quantize", "weight", _size(param.shape), names=((None,), (param.working,)))]


OPTIMIZER_STATE = {"adam": ("adam", ("m", "v")), "sgd": ("sgd_momentum", ("velocity",))}
"""Each optimizer's vector operation and the state it keeps per parameter (``accel.names.optimizer_state``)."""


def optimizer_step(params: list[Parameter], optimizer: str, max_grad_norm: float | None = None,
                   unscale: bool = False) -> list[Op]:
    """One update of ``params`` by ``"adam"`` or ``"sgd"`` (with momentum), one vector operation per
    tensor in the update format, after clipping the gradients when ``max_grad_norm`` is given. With
    ``unscale`` (a loss scale) the gradients are first divided by it, one ``scale`` per tensor, unless
    clipping does it within its own scaling.

    Each update reads the parameter and its state through the memory model (from DRAM what the
    weight buffer does not hold, back to DRAM what does not fit) and the gradient where the
    backward pass left it; then the parameter's working copy is rounded (``working_copy``)."""
    if max_grad_norm is not None:
        ops = clip_grad_norm([p.shape for p in params])
    else:
        ops = [VectorOp("scale", "master", _size(p.shape)) for p in params] if unscale else []
    op, slots = OPTIMIZER_STATE[optimizer]
    for p in params:
        state = tuple(names.optimizer_state(p.name, slot) for slot in slots)
        ops.append(VectorOp(op, "master", _size(p.shape), names=((p.name, None, *state), (p.name, *state))))
        ops += working_copy(p)
    return ops


def target_update(target: list[Parameter], online: list[Parameter], hard: bool) -> list[Op]:
    """A target network's update from its online network, per tensor: polyak averaging, or a
    ``hard`` copy (each tensor read and written through the vector unit, scaled by 1); then each
    weight matrix's working copy rounded anew (``working_copy``)."""
    ops: list[Op] = []
    for t, o in zip(target, online, strict=True):
        if hard:
            ops.append(VectorOp("scale", "master", _size(t.shape), names=((o.name,), (t.name,))))
        else:
            ops.append(VectorOp("polyak", "master", _size(t.shape), names=((t.name, o.name), (t.name,))))
        ops += working_copy(t)
    return ops


def greedy_action(net: str, sizes: list[int], input_name: str = "obs", q_role: str = "activation",
                  dueling: bool = False) -> list[Op]:
    """Batch-1 inference of a Q-network and the comparisons that pick its best action, the Q-values
    in ``q_role``'s format (``mlp_forward``'s ``out_role``). A ``dueling`` network (``sizes``: the
    trunk's, then the actions) runs its trunk and advantage head only: the best advantage is the best Q."""
    n_actions = sizes[-1]
    if dueling:
        trunk = sizes[:-1]
        ops = mlp_forward(net, trunk, 1, input_name, out_act="relu")
        ops += mlp_forward(names.dueling_heads(net)[1], [trunk[-1], n_actions], 1, names.output(net, len(trunk) - 2),
                           out_role=q_role)
    else:
        ops = mlp_forward(net, sizes, 1, input_name, out_role=q_role)
    return ops + [VectorOp("minmax", q_role, 1)] * (n_actions - 1)


def noisy_action(net: str, sizes: list[int], input_name: str = "obs") -> list[Op]:
    """Batch-1 inference of a tanh policy, exploration noise added and the action clipped to [−1, 1]."""
    act = sizes[-1]
    return [*mlp_forward(net, sizes, 1, input_name, out_act="tanh"), VectorOp("add", "activation", act),
            VectorOp("minmax", "activation", act), VectorOp("minmax", "activation", act)]


def loss_role(q_role: str) -> str:
    """The role a TD loss computes in: the gradient's, or with Q-values read out wide (``q_role``
    ``"accumulator"``) the accumulator's, so that the TD error is taken between the wide values (the
    backward GEMM then rounds the gradient into the gradient format with its own scale)."""
    return "gradient" if q_role == "activation" else q_role


def loss_op(loss: str, net: str, layers: int, batch: int, role: str = "gradient") -> VectorOp:
    """The ``"huber"`` or ``"mse"`` loss of ``batch`` predictions of ``net`` (taken from its output on
    chip) against their targets in ``role``'s format, writing the per-sample loss and the gradient
    of the output."""
    return VectorOp(loss, role, batch, names=names.loss_tensors(net, layers))


def _size(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape))


def dqn_step(obs_dim: int, n_actions: int, hidden: tuple[int, ...], batch: int, *,
             bytes_per_transition: int | None = None, double_q: bool = False, loss: str = "huber",
             optimizer: str = "adam", max_grad_norm: float | None = None, master_weights: bool = True,
             q_role: str = "activation", dueling: bool = False, loss_scaled: bool = False) -> Workload:
    """One DQN update: sample a batch, the target r + γ·max Q_target(s'), Q(s), the TD loss,
    backward, the optimizer. The target network's copy is not part of it: it happens every
    ``target_update_interval`` environment steps (``target_update``).

    Args:
        obs_dim: Observation size.
        n_actions: Number of discrete actions.
        hidden: Hidden layer widths.
        batch: Batch size.
        bytes_per_transition: Bytes of a stored transition (default: all fields in fp32).
        double_q: Double DQN: the online network picks the next action, the target network values it.
        loss: ``"huber"`` or ``"mse"``.
        optimizer: ``"adam"`` or ``"sgd"``.
        max_grad_norm: Clip gradients to this global norm (None: no clipping).
        master_weights: The chip keeps master weights: each weight update rounds a working copy
            (``optimizer_step``). False for ``formats.master_weight = "none"``.
        q_role: Role of the Q-values (the head's output, the maximum over actions, the TD target):
            ``"activation"``, or ``"accumulator"`` for a wide readout.
        dueling: A dueling Q-network (``dueling_forward``) instead of an MLP.
        loss_scaled: Static loss scaling: the loss gradient multiplied by the scale (one ``scale``),
            the weight gradients divided by it (``optimizer_step``'s ``unscale``).
    """
    sizes = [obs_dim, *hidden, n_actions]

    def q_forward(net: str, input_name: str) -> list[Op]:
        if dueling:
            return dueling_forward(net, sizes[:-1], n_actions, batch, input_name, q_role)
        return mlp_forward(net, sizes, batch, input_name, out_role=q_role)

    per_transition = bytes_per_transition if bytes_per_transition is not None else transition_bytes(obs_dim, 1)
    ops: list[Op] = [ReplayOp(read_bytes=batch * per_transition)]
    if double_q:
        ops += q_forward("q", "s_next")
        ops += [VectorOp("minmax", q_role, batch)] * (n_actions - 1)  # argmax over actions
        ops += q_forward("q_target", "s_next")
    else:
        ops += q_forward("q_target", "s_next")
        ops += [VectorOp("minmax", q_role, batch)] * (n_actions - 1)  # max over actions
    ops.append(VectorOp("fma", q_role, batch))  # y = γ (1 − done) · Q' + r
    ops += q_forward("q", "s")
    ops.append(loss_op(loss, "q", len(sizes) - 1, batch, loss_role(q_role)))
    if loss_scaled:
        ops.append(VectorOp("scale", loss_role(q_role), batch))
    if dueling:
        ops += dueling_backward("q", sizes[:-1], n_actions, batch, "s", q_role)
    else:
        ops += mlp_backward("q", sizes, batch, "s")
    ops += optimizer_step(q_parameters("q", sizes[:-1], n_actions, dueling, master_weights), optimizer,
                          max_grad_norm, loss_scaled)
    return Workload(f"dqn {'dueling ' if dueling else ''}{'-'.join(map(str, sizes))} batch {batch}", tuple(ops))


def td3_step(obs_dim: int, act_dim: int, hidden: tuple[int, ...], batch: int, actor_update: bool = True, *,
             bytes_per_transition: int | None = None, n_critics: int = 2, target_noise: bool = True,
             optimizer: str = "adam", master_weights: bool = True, loss_scaled: bool = False) -> Workload:
    """One TD3 update (DDPG: one critic, no target noise, an actor update every step): the critics
    on the clipped double-Q target, each forward, loss and backward in turn, one optimizer step
    over all critics; then, when the policy delay allows (``actor_update``), the actor through
    critic 1 (frozen: it only passes the gradient on) and polyak updates of every target network.
    ``master_weights`` and ``loss_scaled`` as in ``dqn_step`` (the actor's scale is folded into its
    loss gradient's constant).
    """
    actor = [obs_dim, *hidden, act_dim]
    critic = [obs_dim + act_dim, *hidden, 1]
    critics = [f"q{i + 1}" for i in range(n_critics)]
    per_transition = bytes_per_transition if bytes_per_transition is not None else transition_bytes(obs_dim, act_dim)
    ops: list[Op] = [ReplayOp(read_bytes=batch * per_transition)]
    ops += mlp_forward("pi_target", actor, batch, "s_next", out_act="tanh")
    if target_noise:  # smoothing noise added, then clipped to [−1, 1]
        ops += [VectorOp("add", "activation", batch * act_dim), VectorOp("minmax", "activation", batch * act_dim),
                VectorOp("minmax", "activation", batch * act_dim)]
    for c in critics:
        ops += mlp_forward(f"{c}_target", critic, batch, "s_next_a")
    ops += [VectorOp("minmax", "activation", batch)] * (n_critics - 1)
    ops.append(VectorOp("fma", "activation", batch))
    for c in critics:
        ops += mlp_forward(c, critic, batch, "s_a")
        ops.append(loss_op("mse", c, len(critic) - 1, batch))
        if loss_scaled:
            ops.append(VectorOp("scale", "gradient", batch))
        ops += mlp_backward(c, critic, batch, "s_a")
    ops += optimizer_step([p for c in critics for p in parameters(c, critic, master_weights)], optimizer,
                          unscale=loss_scaled)
    if actor_update:
        ops += mlp_forward("pi", actor, batch, "s", out_act="tanh")
        ops += mlp_forward("q1", critic, batch, "s_pi")
        ops.append(VectorOp("scale", "gradient", batch))  # d(−mean Q)/dQ
        ops += mlp_backward("q1", critic, batch, "s_pi", input_grad=True, weight_grads=False)
        ops += mlp_backward("pi", actor, batch, "s", out_act="tanh")
        ops += optimizer_step(parameters("pi", actor, master_weights), optimizer, unscale=loss_scaled)
        for net, sizes in [*((c, critic) for c in critics), ("pi", actor)]:
            ops += target_update(parameters(f"{net}_target", sizes, master_weights),
                                 parameters(net, sizes, master_weights), hard=False)
    return Workload(f"td3 actor {'-'.join(map(str, actor))} critics {'-'.join(map(str, critic))} batch {batch}",
                    tuple(ops))
