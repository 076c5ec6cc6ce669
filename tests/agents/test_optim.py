"""Optimizers and target updates on the chip: against torch on an all-fp32 chip, and against a
NumPy reference that rounds every elementary step into the same format (bf16 updates)."""

import numpy as np
import pytest
import torch
from chips import chip, fp32_chip
from torch import nn

from accel.numerics import quantize
from agents.linear import AccelLinear, accelerate, mlp
from agents.optim import Optimizer, update_target


def params(seed: int) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [nn.Parameter(torch.randn(6, 5, generator=g)), nn.Parameter(torch.randn(5, generator=g))]


def run(optimizer: Optimizer, grads: list[list[torch.Tensor]]) -> None:
    for step_grads in grads:
        for p, g in zip(optimizer.params, step_grads, strict=True):
            p.grad = g.clone()
        optimizer.step()


@pytest.mark.parametrize("kind", ["adam", "sgd"])
@pytest.mark.parametrize("max_grad_norm", [0.0, 0.5])
def test_fp32_chip_updates_as_torch(kind, max_grad_norm):
    grads = [[torch.randn(6, 5) * 3, torch.randn(5) * 3] for _ in range(4)]
    on_torch, on_chip = params(0), params(0)
    run(Optimizer(on_torch, kind, 1e-2, None, max_grad_norm), grads)
    run(Optimizer(on_chip, kind, 1e-2, fp32_chip(), max_grad_norm), grads)
    for a, b in zip(on_chip, on_torch, strict=True):
        np.testing.assert_allclose(a.detach(), b.detach(), rtol=2e-5, atol=2e-6)


def bf16(x) -> np.ndarray:
    return quantize(np.asarray(x, np.float32), "bf16").astype(np.float64)


def adam_reference(w, g, m, v, step, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam with every constant and every elementary result rounded to bf16 (nearest even)."""
    c = {k: bf16(np.float32(x)) for k, x in
         {"b1": b1, "b2": b2, "k1": 1 - b1, "k2": 1 - b2, "c1": 1 - b1**step, "c2": 1 - b2**step, "lr": lr,
          "eps": eps}.items()}
    w, g, m, v = bf16(w), bf16(g), bf16(m), bf16(v)
    m = bf16(bf16(c["b1"] * m) + bf16(c["k1"] * g))
    v = bf16(bf16(c["b2"] * v) + bf16(c["k2"] * bf16(g * g)))
    denom = bf16(bf16(np.sqrt(bf16(v / c["c2"]))) + c["eps"])
    return bf16(w - bf16(bf16(c["lr"] * bf16(m / c["c1"])) / denom)), m, v


def test_bf16_updates_equal_the_numpy_reference():
    acc = chip("edge-bf16", **{"formats.master_weight": "bf16", "formats.rounding": "nearest"})
    p = [nn.Parameter(torch.from_numpy(bf16(np.linspace(-1, 1, 12)).astype(np.float32)))]
    opt = Optimizer(p, "adam", 1e-2, acc)
    w, m, v = p[0].detach().numpy().astype(np.float64), np.zeros(12), np.zeros(12)
    rng = np.random.default_rng(0)
    for step in range(1, 4):
        g = bf16(rng.standard_normal(12).astype(np.float32))
        p[0].grad = torch.from_numpy(g.astype(np.float32))
        opt.step()
        w, m, v = adam_reference(w, g, m, v, step, 1e-2)
        np.testing.assert_array_equal(p[0].detach().numpy(), w.astype(np.float32))


@pytest.mark.parametrize("tau", [1.0, 0.005])
def test_target_updates_match_torch(tau):
    online, target = nn.Linear(4, 3), nn.Linear(4, 3)
    expected = [(1 - tau) * t.detach() + tau * o.detach() for t, o in zip(target.parameters(), online.parameters(),
                                                                         strict=True)]
    update_target(target, online, tau, fp32_chip())
    for t, e in zip(target.parameters(), expected, strict=True):
        np.testing.assert_allclose(t.detach(), e, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("master", ["fp32", "none"])
def test_updates_round_each_weight_matrix_working_copy_at_once(master):
    acc = chip("edge-int8", seed=1, **{"formats.master_weight": master})
    torch.manual_seed(1)
    online, target = accelerate(mlp([3, 5, 2]), acc, "q"), accelerate(mlp([3, 5, 2]), acc, "q_target")
    layers = [m for m in (*online, *target) if isinstance(m, AccelLinear)]
    copies = [layer.gemm_weight() for layer in layers]
    opt = Optimizer(online.parameters(), "sgd", 0.5, acc)
    for p in opt.params:
        p.grad = torch.ones_like(p)
    quantized = acc.counts.vector_ops.get("quantize:int8", 0)
    opt.step()
    update_target(target, online, 0.5, acc)
    assert acc.counts.vector_ops.get("quantize:int8", 0) - quantized == (2 * (3 * 5 + 5 * 2) if master == "fp32" else 0)
    for layer, old in zip(layers, copies, strict=True):
        w, master_copy = layer.gemm_weight(), layer.weight.detach().numpy()
        if master == "none":  # the GEMMs read the parameter, which the update wrote in int8
            assert np.shares_memory(w, master_copy)
            continue
        assert w is not old and not np.array_equal(w, old)  # rounded anew by the update, before any forward
        step = 2.0 ** np.ceil(np.log2(np.max(np.abs(master_copy)) / 127))
        assert np.all(np.abs(w - master_copy) < step) and not np.array_equal(w, master_copy)


def test_adam_state_larger_than_the_weight_buffer_goes_through_dram():
    # a 64x64 layer: its fp32 master copy, m and v are 16 KiB each; the weight buffer holds 8 KiB
    acc = chip("edge-int8", **{"sram.weight_bytes": 8192})
    torch.manual_seed(0)
    net = accelerate(mlp([64, 64]), acc, "q")
    opt = Optimizer(net.parameters(), "adam", 1e-3, acc)
    for p in opt.params:
        p.grad = torch.ones_like(p)
    before = acc.counts
    opt.step()
    moved = acc.counts - before
    # W: master, m and v read from DRAM and written back (none fits); the bias (256 B each) and its
    # state are fetched once and stay; the working copy (4 KiB of int8) fits and stays
    matrix, bias = 64 * 64 * 4, 64 * 4
    assert moved.dram_read_bytes == 3 * matrix + 3 * bias
    assert moved.dram_write_bytes == 3 * matrix
    before = acc.counts
    opt.step()  # the bias state is held now; W's still does not fit
    moved = acc.counts - before
    assert (moved.dram_read_bytes, moved.dram_write_bytes) == (3 * matrix, 3 * matrix)
