"""Names of the tensors a training step moves through the chip, shared by the agents (which run it)
and ``accel.workload`` (which writes it down): a name the SRAM still holds is not fetched again,
so both must call a tensor the same.

A network ``net`` (``q``, ``q_target``, ``pi``, ``q1`` …) has per layer ``i`` its weights
``net.W{i}``, its output ``net.y{i}`` (bias added, activation applied in place), the gradient of
that output ``net.dy{i}`` and of the weights ``net.dW{i}``; ``net.dx`` is the gradient of its
input. Inputs are named by what they hold: ``s``, ``s_next``, ``s_a`` (a critic's state-action
input), ``obs`` (the observation an agent acts on).

The optimizer's tensors: the bias ``net.b{i}`` and its gradient ``net.db{i}``, the master copy of
the weights ``net.W{i}.master`` (``net.W{i}`` is then the working copy the GEMMs read), the
optimizer's state per parameter (``net.W{i}.master.m``, ``.v``, ``.velocity``); ``net.loss`` the
per-sample loss.
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


def bias_grad(net: str, layer: int) -> str:
    """Gradient of ``layer``'s bias (the sum of its output gradient over the batch)."""
    return f"{net}.db{layer}"


def input_grad(net: str) -> str:
    """Gradient of the network's input."""
    return f"{net}.dx"


def layer_input(net: str, layer: int, input_name: str) -> str:
    """What ``layer`` reads: the network's input for layer 0, else the previous layer's output."""
    return input_name if layer == 0 else output(net, layer - 1)


def layer_input_grad(net: str, layer: int) -> str:
    """Where ``layer``'s input gradient goes: the previous layer's output gradient, or ``net.dx``."""
    return input_grad(net) if layer == 0 else output_grad(net, layer - 1)


def bias(net: str, layer: int) -> str:
    """Bias of ``layer`` (one copy, in the update format: the vector unit adds it)."""
    return f"{net}.b{layer}"


def master_weight(net: str, layer: int) -> str:
    """The master copy of ``layer``'s weights, which the optimizer updates; ``weight`` names the
    working copy in the weight format that the GEMMs read."""
    return f"{net}.W{layer}.master"


def parameters(net: str, layers: int, master_weights: bool) -> list[tuple[str, str | None]]:
    """The tensors an update of a ``layers``-layer network writes, in the order the chip updates
    them (``W0, b0, W1, b1 …``), each with the working copy it rounds anew: with ``master_weights``
    a weight matrix's master copy and its working copy, else the weights themselves (no copy); a
    bias and no copy."""
    names: list[tuple[str, str | None]] = []
    for i in range(layers):
        names.append((master_weight(net, i), weight(net, i)) if master_weights else (weight(net, i), None))
        names.append((bias(net, i), None))
    return names


def optimizer_state(parameter: str, slot: str) -> str:
    """An optimizer's state for ``parameter``: Adam's moments ``m`` and ``v``, SGD's ``velocity``."""
    return f"{parameter}.{slot}"


def dueling_heads(net: str) -> tuple[str, str]:
    """The networks of a dueling Q-network's value and advantage heads (``net`` names its trunk)."""
    return f"{net}_value", f"{net}_advantage"


def loss(net: str) -> str:
    """The per-sample loss of the network's prediction."""
    return f"{net}.loss"


def loss_tensors(net: str, layers: int) -> tuple[tuple[None, None], tuple[str, str]]:
    """The tensors of a loss over a ``layers``-layer network's predictions: the predictions and
    targets as held on chip (None), the per-sample loss and the gradient of the last output written."""
    return (None, None), (loss(net), output_grad(net, layers - 1))
