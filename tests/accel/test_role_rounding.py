"""Per-role rounding (``[formats] weight_rounding``, ``activation_rounding``, ``gradient_rounding``):
each role rounds as a chip whose every rounding is that role's would, bit for bit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import Accelerator, load_config
from accel.config import with_overrides

ROLES = ("weight", "activation", "gradient")


def _chip(preset: str, **formats) -> Accelerator:
    return Accelerator(with_overrides(load_config(preset), {f"formats.{k}": v for k, v in formats.items()}), seed=3)


def _step(acc: Accelerator, rng: np.random.Generator) -> list[np.ndarray]:
    """A layer's forward and backward pass: working copy, three GEMMs, vector operations per role."""
    x = acc.vector.quantize(rng.standard_normal((8, 16)).astype(np.float32), "activation")
    w = acc.vector.quantize(rng.standard_normal((16, 4)).astype(np.float32) / 4, "weight")
    y = acc.gemm(x, w)
    h = acc.vector.relu(acc.vector.add(y, y))
    dy = acc.vector.quantize(rng.standard_normal((8, 4)).astype(np.float32), "gradient")
    dx = acc.gemm(dy, w, roles=("gradient", "weight"), out_role="gradient", transpose_b=True)
    dw = acc.gemm(x, dy, roles=("activation", "gradient"), out_role="gradient", transpose_a=True)
    return [x, w, y, h, dy, dx, dw, acc.vector.relu_grad(h, dy), acc.vector.sum_rows(dw, "gradient")]


@pytest.mark.parametrize("preset", ["edge-int8", "edge-fp8"])
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_every_role_set_is_the_chip_of_that_rounding(preset, rounding):
    other = "stochastic" if rounding == "nearest" else "nearest"
    plain = _chip(preset, rounding=rounding)
    overridden = _chip(preset, rounding=other, **{f"{role}_rounding": rounding for role in ROLES})
    want, got = _step(plain, np.random.default_rng(0)), _step(overridden, np.random.default_rng(0))
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)
    assert plain.counts == overridden.counts
    assert plain.rng.counter == overridden.rng.counter


@settings(max_examples=20, deadline=None)
@given(roundings=st.tuples(*[st.sampled_from(["nearest", "stochastic"])] * 3), seed=st.integers(0, 2**16))
def test_a_role_rounds_as_its_setting_says_whatever_the_others(roundings, seed):
    # each role's values equal those of a chip rounding everything that way, except where an earlier
    # stochastic rounding of another role moved the random stream: compare the stream-free parts
    by_role = dict(zip(ROLES, roundings, strict=True))
    acc = _chip("edge-int8", rounding="stochastic", **{f"{r}_rounding": v for r, v in by_role.items()})
    rng = np.random.default_rng(seed)
    w_master = rng.standard_normal((16, 4)).astype(np.float32) / 4
    before = acc.rng.counter
    w = acc.vector.quantize(w_master, "weight")
    assert (acc.rng.counter - before) == (w_master.size if by_role["weight"] == "stochastic" else 0)
    if by_role["weight"] == "nearest":
        np.testing.assert_array_equal(w, _chip("edge-int8", rounding="nearest").vector.quantize(w_master, "weight"))
    x = acc.vector.quantize(rng.standard_normal((8, 16)).astype(np.float32), "activation")
    before = acc.rng.counter
    acc.gemm(x, w)  # operands already in format; the output rounds as the activation role says
    words = acc.rng.counter - before
    operand_words = x.size * (by_role["activation"] == "stochastic") + w.size * (by_role["weight"] == "stochastic")
    assert words == operand_words + (8 * 4 if by_role["activation"] == "stochastic" else 0)


def test_an_unknown_role_rounding_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"formats\.activation_rounding"):
        _chip("edge-int8", activation_rounding="down")
