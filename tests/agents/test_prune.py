"""Gradual magnitude pruning: Zhu & Gupta's schedule, element and group masks, pruned agents on a skipping chip."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import Accelerator, load_config
from agents import DQN, TD3
from agents.loop import Meter, learn
from agents.prune import magnitude_mask, scheduled_sparsity
from agents.settings import DQNSettings, TD3Settings, agent_settings

TINY = {"hidden": (16, 16), "batch_size": 4, "learning_starts": 4, "buffer_size": 64}


@given(final=st.floats(0.01, 0.99), initial=st.floats(0, 1), start=st.integers(0, 50), n=st.integers(1, 20),
       interval=st.integers(1, 10), step=st.integers(0, 400))
@settings(max_examples=200, deadline=None)
def test_schedule_is_zhu_and_guptas_formula_at_the_mask_updates(final, initial, start, n, interval, step):
    s = DQNSettings(sparsity=final, initial_sparsity=initial * final, prune_start=start, prune_steps=n * interval,
                    prune_interval=interval)
    got = scheduled_sparsity(s, step)
    j, offset = divmod(step - start, interval)
    if step < start or offset or j > n:
        assert got is None
    else:  # s_t = s_f + (s_i − s_f)(1 − (t − t0)/(nΔt))³
        assert got == pytest.approx(final + (initial * final - final) * (1 - j * interval / (n * interval)) ** 3)
        assert initial * final - 1e-12 <= got <= final + 1e-12
    assert scheduled_sparsity(DQNSettings(), step) is None  # off by default


def group_mask_ref(w: np.ndarray, sparsity: float, group: int) -> np.ndarray:
    """Group by group: the ⌊sparsity · groups⌋ groups of smallest L2 norm (first ones on ties) zeroed."""
    groups = [list(range(r, min(r + group, w.shape[0]))) for r in range(0, w.shape[0], group)]
    norms = [np.sqrt(sum(float(w[r, c]) ** 2 for r in rows for c in range(w.shape[1]))) for rows in groups]
    order = sorted(range(len(groups)), key=lambda g: (norms[g], g))
    mask = np.ones(w.shape, np.float32)
    for g in order[:int(sparsity * len(groups))]:
        mask[groups[g]] = 0.0
    return mask


@given(k=st.integers(1, 20), n=st.integers(1, 6), group=st.integers(0, 5), sparsity=st.floats(0, 0.99),
       seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_masks_prune_the_smallest_weights_or_groups(k, n, group, sparsity, seed):
    w = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    mask = magnitude_mask(w, sparsity, group)
    if group:
        assert np.array_equal(mask, group_mask_ref(w, sparsity, group))
    else:
        pruned = int(sparsity * w.size)
        assert int((mask == 0).sum()) == pruned
        if 0 < pruned < w.size:
            assert np.abs(w[mask == 0]).max() <= np.abs(w[mask == 1]).min()


def run(agent_cls, settings, env_id, accelerator, steps):
    env = gym.make(env_id)
    agent = agent_cls(env.observation_space, env.action_space, settings, accelerator, seed=0)
    learn(agent, env, steps, 0, Meter(accelerator))
    return agent


@pytest.mark.parametrize("chip", [None, "omnidrl"])
def test_a_group_pruned_dqn_ends_at_its_sparsity_and_the_chip_skips_its_groups(chip):
    s = DQNSettings(**TINY, train_freq=1, gradient_steps=1, sparsity=0.5, prune_group=4, prune_steps=20,
                    prune_interval=5)
    acc = None if chip is None else Accelerator(load_config(chip))
    agent = run(DQN, s, "CartPole-v1", acc, 40)
    for layer in agent.pruner.layers[1:]:  # the first layer's single group of 4 inputs is never pruned
        w = layer.weight.detach().numpy()
        k_by_n = w if acc is not None else w.T
        zero_groups = [(k_by_n[r:r + 4] == 0).all() for r in range(0, k_by_n.shape[0], 4)]
        assert sum(zero_groups) == len(zero_groups) // 2
        if acc is not None:
            assert np.array_equal(layer.gemm_weight() == 0, k_by_n == 0)  # the array sees the pruned weights
    assert (agent.pruner.layers[0].weight != 0).all()
    if acc is not None:
        c = acc.counts
        # k = 16 fills one fold of the 32-row array either way: the skipped MACs save energy, not cycles
        assert 0 < c.skipped_macs <= c.zero_macs and c.saved_cycles == 0


def test_pruning_is_vector_work_on_the_chip_and_off_by_default():
    plain, pruned = (Accelerator(load_config("edge-bf16")) for _ in range(2))
    run(TD3, TD3Settings(**TINY), "Pendulum-v1", plain, 10)
    run(TD3, TD3Settings(**TINY, sparsity=0.5, prune_steps=2, prune_interval=1), "Pendulum-v1", pruned, 10)
    mul = "mul:fp32"
    assert pruned.counts.vector_ops[mul] > plain.counts.vector_ops.get(mul, 0)
    assert pruned.counts.vector_ops["minmax:fp32"] > plain.counts.vector_ops.get("minmax:fp32", 0)
    assert plain.counts.skipped_macs == 0


@pytest.mark.parametrize(("overrides", "message"), [
    ({"sparsity": "1"}, "sparsity < 1"),
    ({"sparsity": "0.5", "initial_sparsity": "0.6"}, "initial_sparsity <= sparsity"),
    ({"prune_group": "-1"}, "prune_group"),
    ({"prune_interval": "0"}, "prune_interval"),
    ({"prune_steps": "150"}, "multiple of prune_interval"),
])
def test_bad_pruning_settings_are_one_line_errors(overrides, message):
    with pytest.raises(ValueError, match=message) as error:
        agent_settings("dqn", overrides)
    assert "\n" not in str(error.value)


def test_torch_reference_masks_nn_linear_weights():
    s = DQNSettings(**TINY, train_freq=1, gradient_steps=1, sparsity=0.75, prune_steps=10, prune_interval=5)
    agent = run(DQN, s, "CartPole-v1", None, 30)
    for layer in agent.pruner.layers:
        assert isinstance(layer, torch.nn.Linear)
        assert (layer.weight == 0).sum().item() == int(0.75 * layer.weight.numel())
