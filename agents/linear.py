"""The torch seam: layers whose values come from the simulated chip.

``AccelLinear`` is an ``nn.Module`` behind a ``torch.autograd.Function``: its forward pass is one
GEMM ``Y = X · W`` on the chip and the bias add on the vector unit; its backward pass the
weight-gradient GEMM ``dW = Xᵀ · dY`` (X read as the forward pass stored it, ``transpose_a``),
the bias gradient (a sum over the batch on the vector unit) and the input-gradient GEMM
``dX = dY · Wᵀ`` (W read as stored, ``transpose_b``: a transposable array needs no copy). Each
operand takes its role's format on the chip: weights, activations, gradients. ``AccelReLU`` and
``AccelTanh`` run the activations and their derivatives on the vector unit.

The weights are stored (fan_in, fan_out), as the chip holds them, and hold the master copy the
optimizer updates (``agents.optim``): fp32, or the weight format with ``master_weight = "none"``.
With master weights the layer also keeps a working copy in the weight format, rounded once by the
vector unit (``quantize``) whenever the master copy is written (``weights_written``): both GEMMs of
a step read the same rounded weights, as a chip's array does.
Tensors are named as ``accel.names`` and ``accel.workload`` name them, so the chip knows what
its SRAM still holds and a training step issues exactly its workload's operations.

``accelerate(module, accelerator)`` converts an ``nn.Sequential`` of ``Linear``, ``ReLU`` and
``Tanh`` layers into the same network on the chip.
"""

import weakref

import numpy as np
import torch
from torch import nn

from accel import Accelerator, names


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor's values as the chip takes them (no copy)."""
    return t.detach().numpy()


def as_tensor(values: np.ndarray) -> torch.Tensor:
    """A chip result as a float32 tensor (fixed point wider than 24 bits comes back in float64)."""
    return torch.from_numpy(np.asarray(values, dtype=np.float32))


def _linear_forward(layer: "AccelLinear", x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, str]:
    """``x · W + b`` on the chip: the GEMM, then the bias add. Returns (y, the name of x)."""
    acc, net, i = layer.accelerator, layer.net, layer.index
    source = names.layer_input(net, i, layer.input_name)
    y_name = names.output(net, i)
    y = acc.gemm(x, w, out_role=layer.out_role, names=(source, names.weight(net, i), y_name))
    y = acc.vector.add(y, np.broadcast_to(as_numpy(layer.bias), y.shape), role=layer.out_role,
                       names=((y_name, None), (y_name,)))
    return y, source


class _LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, layer: "AccelLinear"):
        w = layer.gemm_weight()
        y, source = _linear_forward(layer, as_numpy(x), w)
        ctx.save_for_backward(x)
        ctx.layer, ctx.source, ctx.w = layer, source, w
        return as_tensor(y)

    @staticmethod
    def backward(ctx, dy):
        x, = ctx.saved_tensors
        layer = ctx.layer
        acc, net, i = layer.accelerator, layer.net, layer.index
        dy = np.ascontiguousarray(as_numpy(dy), dtype=np.float32)
        dy_name = names.output_grad(net, i)
        dx = dw = db = None
        if ctx.needs_input_grad[1]:
            dw = as_tensor(acc.gemm(as_numpy(x), dy, roles=("activation", "gradient"), out_role="gradient",
                                           names=(ctx.source, dy_name, names.weight_grad(net, i)), transpose_a=True))
            db = as_tensor(acc.vector.sum_rows(dy, role="gradient", names=((dy_name,), (names.bias_grad(net, i),))))
        if ctx.needs_input_grad[0]:
            dx = as_tensor(acc.gemm(dy, ctx.w, roles=("gradient", "weight"), out_role="gradient",
                                           names=(dy_name, names.weight(net, i), names.layer_input_grad(net, i)),
                                           transpose_b=True))
        return dx, dw, db, None


def has_master_weights(accelerator: Accelerator | None) -> bool:
    """Whether the chip keeps master weights apart from the weight format (``formats.master_weight``
    not ``"none"``; also without a chip, the workloads' default)."""
    return accelerator is None or accelerator.config.formats.master_weight != "none"


_LAYER_OF_PARAM: "weakref.WeakValueDictionary[int, AccelLinear]" = weakref.WeakValueDictionary()
"""Each live ``AccelLinear`` by the ids of its weight and bias parameters (``weights_written`` and
``parameter_name`` find the owner)."""


def _owner(param: torch.Tensor) -> "AccelLinear | None":
    layer = _LAYER_OF_PARAM.get(id(param))
    return layer if layer is not None and (layer.weight is param or layer.bias is param) else None


def weights_written(param: torch.Tensor) -> None:
    """Tells the ``AccelLinear`` whose weight ``param`` is (if any) that its master copy was written
    (an optimizer step, a target update): it rounds its working copy anew. Other tensors: nothing."""
    layer = _owner(param)
    if layer is not None and layer.weight is param:
        layer.refresh_weight()


def parameter_name(param: torch.Tensor) -> str | None:
    """The chip's name of a layer's weight (its master copy when the chip keeps one) or bias
    parameter (``accel.names.parameters``), for the optimizer and target updates; None for a
    tensor no ``AccelLinear`` owns (its updates then stay out of the memory model)."""
    layer = _owner(param)
    if layer is None:
        return None
    if layer.bias is param:
        return names.bias(layer.net, layer.index)
    return (names.master_weight if has_master_weights(layer.accelerator) else names.weight)(layer.net, layer.index)


class AccelLinear(nn.Module):
    """A fully connected layer on the chip: ``y = x · W + b``.

    Args:
        in_features: Input width.
        out_features: Output width.
        accelerator: The chip.
        net: Name of the network the layer belongs to (``q``, ``pi`` …).
        index: Position of the layer in its network (0 = first).
        out_role: Role of its output: ``"activation"``, or ``"accumulator"`` to leave it (and the
            bias add) in the accumulator's format, a wide readout.
    """

    def __init__(self, in_features: int, out_features: int, accelerator: Accelerator, net: str = "net",
                 index: int = 0, out_role: str = "activation") -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.accelerator, self.net, self.index, self.out_role = accelerator, net, index, out_role
        self.input_name = "x"
        """Name of the network's input (layer 0 only): ``s``, ``s_next``, ``obs`` …"""
        self._working = (_read_only(np.zeros((in_features, out_features), accelerator.format_of("weight").value_dtype))
                         if has_master_weights(accelerator) else None)  # else the optimizer's own format
        """The working copy in the weight format (zeros are exact in every format: nothing to round yet)."""
        self.mask: np.ndarray | None = None
        """0/1 keep-mask of pruned weights (``agents.prune``), applied at every write; None: not pruned."""
        _LAYER_OF_PARAM[id(self.weight)] = _LAYER_OF_PARAM[id(self.bias)] = self

    def refresh_weight(self) -> None:
        """Rounds the working copy of the weights anew from the master copy (one ``quantize`` on the
        vector unit), after each write of the master copy; without master weights there is none.
        A pruned layer first masks the master copy (one ``mul``), so the array sees the pruned weights."""
        if self.mask is not None:
            masked = self.accelerator.vector.mul(as_numpy(self.weight), self.mask, role="master")
            with torch.no_grad():
                self.weight.copy_(torch.from_numpy(np.asarray(masked, np.float32)))
        if self._working is not None:  # reads the master copy as its update streams out
            self._working = _read_only(self.accelerator.vector.quantize(
                as_numpy(self.weight), "weight", names=((None,), (names.weight(self.net, self.index),))))

    def gemm_weight(self) -> np.ndarray:
        """The weights the GEMMs read: the working copy, or the parameter itself without master weights."""
        return as_numpy(self.weight) if self._working is None else self._working

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():  # acting, a target network: the same chip operations, no graph
            return as_tensor(_linear_forward(self, as_numpy(x.float()), self.gemm_weight())[0])
        return _LinearFunction.apply(x.float(), self.weight, self.bias, self)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}, net={self.net!r}, index={self.index}"


def _read_only(weights: np.ndarray) -> np.ndarray:
    """``weights`` made read-only: a working copy is replaced, never written, and the chip keeps the
    rounded operand of a read-only array (``Accelerator.gemm``)."""
    weights = weights if weights.base is None else weights.copy()  # a view's base could still be written
    weights.flags.writeable = False
    return weights


def _activation_forward(activation: "_Activation", x: np.ndarray) -> np.ndarray:
    y_name = activation.tensor_names[0]
    return getattr(activation.accelerator.vector, activation.kind)(x, names=None if y_name is None else
                                                                   ((y_name,), (y_name,)))


class _ActivationFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, activation: "_Activation"):
        y = _activation_forward(activation, as_numpy(x))
        ctx.activation, ctx.y = activation, y
        return as_tensor(y)

    @staticmethod
    def backward(ctx, dy):
        activation = ctx.activation
        y_name, dy_name = activation.tensor_names
        grad = getattr(activation.accelerator.vector, f"{activation.kind}_grad")(
            ctx.y, as_numpy(dy), names=None if y_name is None else ((y_name, dy_name), (dy_name,)))
        return as_tensor(grad), None


class _Activation(nn.Module):
    """An activation on the chip's vector unit (its derivative too), applied in place to the output
    of layer ``index`` of ``net`` (its tensors ``net.y{index}``, ``net.dy{index}``); without a
    network, its operations stay out of the memory model."""

    kind = ""

    def __init__(self, accelerator: Accelerator, net: str | None = None, index: int = 0) -> None:
        super().__init__()
        self.accelerator = accelerator
        self.tensor_names = (None, None) if net is None else (names.output(net, index), names.output_grad(net, index))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return as_tensor(_activation_forward(self, as_numpy(x)))
        return _ActivationFunction.apply(x, self)


class AccelReLU(_Activation):
    """ReLU on the chip's vector unit (its derivative too)."""

    kind = "relu"


class AccelTanh(_Activation):
    """tanh on the chip's vector unit (its derivative too)."""

    kind = "tanh"


def accelerate(module: nn.Sequential, accelerator: Accelerator, net: str = "net",
               out_role: str = "activation") -> nn.Sequential:
    """The same network on the chip: each ``nn.Linear`` becomes an ``AccelLinear`` with its weights
    (transposed into the chip's (fan_in, fan_out) layout), each ``nn.ReLU``/``nn.Tanh`` its vector-unit twin.

    Args:
        module: An ``nn.Sequential`` of ``Linear`` (with bias), ``ReLU`` and ``Tanh`` layers.
        accelerator: The chip.
        net: Name of the network's tensors on the chip.
        out_role: Role of the last ``Linear``'s output (``AccelLinear``): ``"accumulator"`` reads it out wide.

    Raises:
        TypeError: A layer of another kind, or a ``Linear`` without bias.
    """
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"accelerate takes an nn.Sequential MLP, got {type(module).__name__}")
    layers: list[nn.Module] = []
    for layer in module:
        if isinstance(layer, nn.Linear):
            if layer.bias is None:
                raise TypeError("accelerate: Linear layers need a bias, got one with bias=False")
            index = sum(isinstance(x, AccelLinear) for x in layers)
            last = not any(isinstance(x, nn.Linear) for x in list(module)[len(layers) + 1:])
            chip = AccelLinear(layer.in_features, layer.out_features, accelerator, net, index,
                               out_role if last else "activation")
            with torch.no_grad():
                chip.weight.copy_(layer.weight.T)
                chip.bias.copy_(layer.bias)
            chip.refresh_weight()
            layers.append(chip)
        elif isinstance(layer, nn.ReLU | nn.Tanh):
            below = sum(isinstance(x, AccelLinear) for x in layers) - 1  # the layer whose output it takes
            kind = AccelReLU if isinstance(layer, nn.ReLU) else AccelTanh
            layers.append(kind(accelerator) if below < 0 else kind(accelerator, net, below))
        else:
            raise TypeError(f"accelerate: layers must be Linear, ReLU or Tanh, got {type(layer).__name__}")
    return nn.Sequential(*layers)


def mlp(sizes: list[int], out_act: str | None = None) -> nn.Sequential:
    """A torch MLP of ``sizes`` (input first) with ReLU hidden layers and an optional ``"tanh"`` output."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if out_act == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def forward(net: nn.Module, x: torch.Tensor, input_name: str) -> torch.Tensor:
    """``net(x)``, telling a network on the chip what its input is called (``s``, ``s_next`` …): its
    first ``AccelLinear`` (in the order its modules were registered) reads it."""
    first = next((m for m in net.modules() if isinstance(m, AccelLinear)), None)
    if first is not None:
        first.input_name = input_name
    return net(x)
