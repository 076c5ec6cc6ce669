"""The torch seam: AccelLinear and the activations on the chip against torch autograd (fp32 chip)
and against a NumPy reference in the chip's formats (16-bit fixed point, exact sums)."""

import numpy as np
import pytest
import torch
from chips import FIXED16_8, chip, fp32_chip
from torch import nn

from agents.linear import AccelLinear, accelerate, forward, mlp


def twins(seed: int, out_act: str | None = None):
    torch.manual_seed(seed)
    net = mlp([5, 7, 6, 3], out_act)
    acc = fp32_chip()
    return net, accelerate(net, acc, "q"), acc


@pytest.mark.parametrize("out_act", [None, "tanh"])
def test_fp32_chip_equals_torch_to_float32_rounding(out_act):
    net, on_chip, _ = twins(0, out_act)
    x = torch.randn(9, 5, requires_grad=True)
    x_chip = x.detach().clone().requires_grad_(True)
    y, y_chip = net(x), forward(on_chip, x_chip, "s")
    np.testing.assert_allclose(y_chip.detach(), y.detach(), rtol=1e-5, atol=1e-6)
    dy = torch.randn_like(y)
    y.backward(dy)
    y_chip.backward(dy)
    np.testing.assert_allclose(x_chip.grad, x.grad, rtol=1e-5, atol=1e-6)
    for torch_layer, chip_layer in zip([m for m in net if isinstance(m, nn.Linear)],
                                       [m for m in on_chip if isinstance(m, AccelLinear)], strict=True):
        np.testing.assert_allclose(chip_layer.weight.grad, torch_layer.weight.grad.T, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(chip_layer.bias.grad, torch_layer.bias.grad, rtol=1e-5, atol=1e-6)


def r16(x) -> np.ndarray:
    """fixed16_8, round half to even, exact in float64."""
    return np.clip(np.round(np.asarray(x, np.float64) * 256), -32768, 32767) / 256


def test_fixed_point_chip_equals_the_numpy_reference():
    acc = chip("edge-fixed16", **FIXED16_8)
    rng = np.random.default_rng(1)
    layer = AccelLinear(6, 4, acc, "q", 0)
    w, b = rng.standard_normal((6, 4)) * 0.5, rng.standard_normal(4) * 0.1
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w.astype(np.float32)))
        layer.bias.copy_(torch.from_numpy(b.astype(np.float32)))
    layer.refresh_weight()
    x = rng.standard_normal((8, 6)).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_(True)
    y = layer(xt)
    wq, xq = r16(w.astype(np.float32)), r16(x)
    expected = r16(r16(xq @ wq) + r16(b.astype(np.float32)))
    np.testing.assert_array_equal(y.detach().numpy(), expected)
    dy = rng.standard_normal((8, 4)).astype(np.float32) * 0.3
    y.backward(torch.from_numpy(dy))
    dyq = r16(dy)
    np.testing.assert_array_equal(layer.weight.grad.numpy(), r16(xq.T @ dyq))
    np.testing.assert_array_equal(layer.bias.grad.numpy(), r16(dyq.sum(axis=0)))
    np.testing.assert_array_equal(xt.grad.numpy(), r16(dyq @ wq.T))


@pytest.mark.parametrize("preset", ["edge-int8", "edge-bf16"])
def test_a_forward_pass_without_a_graph_runs_the_same_chip_operations(preset):
    # acting and target networks run under no_grad: the layers call the chip directly, not through
    # autograd, with the same values, counts and random words
    chips = []
    for grad in (True, False):
        torch.manual_seed(3)
        acc = chip(preset)
        net = accelerate(mlp([5, 16, 16, 3], "tanh"), acc, "q")
        with torch.set_grad_enabled(grad):
            y = forward(net, torch.from_numpy(np.random.default_rng(4).standard_normal((6, 5)).astype(np.float32)), "s")
        chips.append((y.detach().numpy(), acc))
    (y_graph, with_graph), (y_direct, direct) = chips
    assert np.array_equal(y_graph, y_direct)
    assert with_graph.counts == direct.counts and with_graph.rng.state() == direct.rng.state()


def test_relu_and_tanh_run_on_the_vector_unit():
    acc = fp32_chip()
    net = accelerate(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Tanh()), acc)
    before = acc.counts.vector_ops
    forward(net, torch.randn(2, 3), "x").sum().backward()
    ops = {k: v - before.get(k, 0) for k, v in acc.counts.vector_ops.items()}
    assert ops["relu:fp32"] == 8 and ops["tanh:fp32"] == 4
    assert ops["relu_grad:fp32"] == 8 and ops["tanh_grad:fp32"] == 4 and ops["sum_rows:fp32"] == 2 * 4 + 2 * 2


def test_accelerate_refuses_what_it_cannot_run():
    acc = fp32_chip()
    with pytest.raises(TypeError, match="Linear, ReLU or Tanh"):
        accelerate(nn.Sequential(nn.Linear(3, 4), nn.Sigmoid()), acc)
    with pytest.raises(TypeError, match="bias"):
        accelerate(nn.Sequential(nn.Linear(3, 4, bias=False)), acc)
    with pytest.raises(TypeError, match=r"nn\.Sequential"):
        accelerate(nn.Linear(3, 4), acc)


def on_grid(values: np.ndarray, step: float) -> np.ndarray:
    return np.round(np.asarray(values, np.float64) / step) * step


def test_both_gemms_of_a_step_read_one_stochastically_rounded_working_copy():
    # weights fixed16_8 rounded stochastically; inputs on its grid and 32-bit activations and
    # gradients, so each GEMM is exact: any second rounding of W would show in the results
    wide = {**FIXED16_8, "formats.rounding": "stochastic", "formats.activation": "fixed32_16",
            "formats.gradient": "fixed32_16", "formats.accumulator": "fixed64_32"}
    acc = chip("edge-fixed16", seed=2, **wide)
    rng = np.random.default_rng(2)
    layer = AccelLinear(6, 4, acc, "q", 0)
    w = rng.standard_normal((6, 4)) * 0.5
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w.astype(np.float32)))
    before = acc.counts.vector_ops.get("quantize:fixed16_8", 0)
    layer.refresh_weight()
    assert acc.counts.vector_ops["quantize:fixed16_8"] - before == 24
    copy = layer.gemm_weight()
    np.testing.assert_array_equal(copy, on_grid(copy, 2.0**-8))  # in the weight format
    assert not np.array_equal(copy, r16(w.astype(np.float32)))  # rounded stochastically, not to nearest
    assert np.all(np.abs(copy - w.astype(np.float32)) < 2.0**-8)
    x = on_grid(rng.standard_normal((8, 6)), 2.0**-8).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_(True)
    y = layer(xt)
    np.testing.assert_array_equal(y.detach().numpy(), (x.astype(np.float64) @ copy).astype(np.float32))
    dy = on_grid(rng.standard_normal((8, 4)), 2.0**-8).astype(np.float32)
    y.backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(xt.grad.numpy(), (dy.astype(np.float64) @ copy.T).astype(np.float32))
    assert layer.gemm_weight() is copy  # a forward or backward pass rounds nothing anew


def test_forward_and_backward_read_the_same_int8_weights_on_edge_int8(monkeypatch):
    acc = chip("edge-int8", seed=4)
    torch.manual_seed(4)
    net = accelerate(mlp([5, 7, 3]), acc, "q")
    read: dict[str, list[np.ndarray]] = {}
    gemm = acc.gemm

    def recording(a, b, roles=("activation", "weight"), **kwargs):
        if roles[1] == "weight":
            read.setdefault(kwargs["names"][1], []).append(b)
        return gemm(a, b, roles, **kwargs)
    monkeypatch.setattr(acc, "gemm", recording)
    forward(net, torch.randn(4, 5, requires_grad=True), "s").sum().backward()
    top = net[2]
    first, second = read["q.W1"]  # Y = X·W, then dX = dY·Wᵀ
    assert first is second is top.gemm_weight()
    step = 2.0 ** np.ceil(np.log2(np.max(np.abs(first)) / 127))
    np.testing.assert_array_equal(first, on_grid(first, step))  # int8 codes at one power-of-two scale
    assert not np.array_equal(first, top.weight.detach().numpy())  # not the fp32 master
