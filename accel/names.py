"""Names of the tensors a training step moves through the chip, shared by the agents (which run it)
and ``accel.workload`` (which writes it down): a name the SRAM still holds is not fetched again,
so both must call a tensor the same.

A network ``net`` (``q``, ``q_target``, ``pi``, ``q1`` …) has per layer ``i`` its weights
``net.W{i}``, its output ``net.y{i}`` (bias added, activation applied in place), the gradient of
that output ``net.dy{i}`` and of the weights ``net.dW{i}``; ``net.dx`` is the gradient of its
input. Inputs are named by what they hold: ``s``, ``s_next``, ``s_a`` (a critic's state-action
input), ``obs`` (the observation an agent acts on).
"""


def weight(net: str, layer: int) -> str:
    """Weights of ``layer``."""
    return f"{net}.W{layer}"


def output(net: str, layer: int) -> str:
    """Output of ``layer``."""
    return f"{net}.y{layer}"


def output_grad(net: str, layer: int) -> str:
    """Gradient of ``layer``'s output."""
    return f"{net}.dy{layer}"


def weight_grad(net: str, layer: int) -> str:
    """Gradient of ``layer``'s weights."""
    return f"{net}.dW{layer}"


def input_grad(net: str) -> str:
    """Gradient of the network's input."""
    return f"{net}.dx"


def layer_input(net: str, layer: int, input_name: str) -> str:
    """What ``layer`` reads: the network's input for layer 0, else the previous layer's output."""
    return input_name if layer == 0 else output(net, layer - 1)


def layer_input_grad(net: str, layer: int) -> str:
    """Where ``layer``'s input gradient goes: the previous layer's output gradient, or ``net.dx``."""
    return input_grad(net) if layer == 0 else output_grad(net, layer - 1)
