"""The options for learning in int8 (docs/agents.md, Learning in int8): the wide Q readout, checked
against exact NumPy products and priced at the accumulator's width; the dueling head against torch
autograd on an all-fp32 chip; their settings refused in one line when wrong; each through
``drlsim train``."""

import json

import numpy as np
import pytest
import torch
from chips import fp32_chip

from accel import Accelerator, load_config
from agents.dueling import DuelingQ
from agents.linear import forward
from agents.settings import DQNSettings, agent_settings
from drlsim.cli import main


def integer_matrix(rng, shape) -> np.ndarray:
    """Integers within int8's codes, with one at ±127 so that the power-of-two scale is 1: exact in int8."""
    x = rng.integers(-127, 128, shape).astype(np.float32)
    x.flat[0] = 127.0
    return x


def test_the_accumulator_readout_is_the_exact_product_and_int8_rounds_it():
    rng = np.random.default_rng(0)
    a, b = integer_matrix(rng, (8, 64)), integer_matrix(rng, (64, 3))
    exact = a.astype(np.int64) @ b.astype(np.int64)
    acc = Accelerator(load_config("edge-int8"), seed=0)
    wide = acc.gemm(a, b, out_role="accumulator")
    np.testing.assert_array_equal(wide, exact)  # int32 holds every sum of 64 products of int8 codes
    narrow = acc.gemm(a, b)
    step = 2.0 ** np.ceil(np.log2(np.abs(exact).max() / 127))
    assert np.all(narrow % step == 0) and np.all(np.abs(narrow - exact) < step) and not np.array_equal(narrow, exact)


def test_the_accumulator_readout_is_priced_at_the_accumulators_width():
    written = {}
    for role in ("activation", "accumulator"):
        acc = Accelerator(load_config("edge-int8"))
        acc.gemm_counts(64, 256, 2, out_role=role, names=("x", "w", "y"))
        written[role] = acc.counts.sram_write_bytes["activation"]
    assert written["accumulator"] - written["activation"] == 64 * 2 * (4 - 1)  # int32 words instead of int8


@pytest.mark.parametrize("n_actions", [2, 3])
def test_the_dueling_head_on_an_fp32_chip_gives_torchs_values_and_gradients(n_actions):
    torch.manual_seed(0)
    reference = DuelingQ([4, 16, 8], n_actions)
    chip = DuelingQ([4, 16, 8], n_actions)
    chip.load_state_dict(reference.state_dict())
    chip.on_chip(fp32_chip())
    x = torch.randn(5, 4)
    picked = torch.tensor([0, 1, n_actions - 1, 1, 0])[:, None]
    outputs = []
    for net in (reference, chip):
        q = forward(net, x, "s")
        q.gather(1, picked).pow(2).sum().backward()  # a gradient at one action per row, as the TD loss sends
        outputs.append(q.detach())
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(chip.advantages(x, "s").detach(), reference.advantage(reference.trunk(x)).detach(),
                               rtol=1e-5, atol=1e-6)
    for (name, a), (_, b) in zip(chip.named_parameters(), reference.named_parameters(), strict=True):
        expected = b.grad.T if b.grad.ndim == 2 else b.grad  # the chip stores weights (fan_in, fan_out)
        np.testing.assert_allclose(a.grad, expected, rtol=1e-4, atol=1e-5, err_msg=name)


def test_the_options_are_refused_in_one_line_naming_the_setting():
    with pytest.raises(ValueError, match="dqn setting q_readout must be one of activation, accumulator, got 'wide'"):
        DQNSettings(q_readout="wide")
    with pytest.raises(ValueError, match="dqn setting dueling must be true or false, got 'yes please'"):
        agent_settings("dqn", {"dueling": "yes please"})


@pytest.mark.parametrize("option", ["q_readout=accumulator", "dueling=true"])
def test_each_option_trains_through_the_cli(tmp_path, option):
    args = ["train", "--agent", "dqn", "--env", "CartPole-v1", "--hw", "edge-int8", "--steps", "20", "--seed", "1",
            "--out", str(tmp_path), "--eval-episodes", "1", "--set", "hidden=8,8", "--set", "batch_size=4",
            "--set", "learning_starts=8", "--set", "buffer_size=64", "--set", "train_freq=4",
            "--set", "gradient_steps=2", "--set", option]
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["train_steps"] == 6 and summary["energy_j_training"] > 0
    assert summary["underflows"] > 0  # int8 under a per-tensor scale: small gradients round to 0
    key, value = option.split("=")
    assert f"{key} = {value if value == 'true' else repr(value).replace(chr(39), chr(34))}" in (
        tmp_path / "config.toml").read_text()
