"""Each agent issues exactly its workload's operations: every training step's (and action's, and
target update's) counts equal those ``run_counts`` gives for the workload built from the agent's
settings, on the chip in the same state, except the counts that depend on values."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from accel import Accelerator, list_presets, load_config
from accel.config import with_overrides
from accel.workload import VectorOp, run_counts
from agents import DQN, TD3
from agents.settings import DQNSettings, TD3Settings, ddpg_settings

DATA_DEPENDENT = {"zero_macs", "zero_macs_by_kind", "skipped_macs", "skipped_macs_by_kind", "saturations", "nonfinite",
                  "underflows"}
"""Counts the values decide (an element-skipping chip skips the zero-operand MACs the values hold)."""
COMPRESSED = {"cycles", "stall_cycles", "dram_read_bytes", "dram_write_bytes"}
"""Counts the values decide where the chip compresses (``[compression]``): DRAM and replay bytes at the
measured ratios (a workload counts the declared ones), and the stalls and cycles they leave."""
CODED_SRAM = {"sram_read_bytes", "sram_write_bytes"}
"""With ``[compression] sram`` also the bytes the coded buffers read and write (at the measured ratios)."""
TINY = {"hidden": (8, 8), "batch_size": 4, "learning_starts": 4, "buffer_size": 32}


def dense(preset: str):
    """``preset`` with dense declared operands: the run's values decide its zeros, and its workload,
    priced from the same state, must not assume the preset's declared sparsity instead."""
    return with_overrides(load_config(preset), {f"sparsity.{role}_density": 1.0
                                                for role in ("weight", "activation", "gradient")})


def assert_counts_match(acc: Accelerator, run, workload) -> None:
    """Runs ``run()`` on the chip, then prices ``workload`` from the same starting state."""
    start = acc.snapshot()
    before = acc.counts
    run()
    real = acc.counts - before
    after = acc.snapshot()
    acc.restore(start)
    priced = run_counts(acc, workload)
    acc.restore(after)
    a, b = real.to_dict(), priced.to_dict()
    compression = acc.config.compression
    dependent = DATA_DEPENDENT | (COMPRESSED if compression.enabled else set()) | (
        CODED_SRAM if compression.sram else set())
    assert {key for key in a if a[key] != b[key]} <= dependent, workload.name


def fill(agent, env, steps: int) -> np.ndarray:
    obs, _ = env.reset(seed=0)
    for step in range(steps):
        action = agent.act(obs, step)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        agent.store(obs, action, float(reward), next_obs, terminated)
        obs = next_obs if not (terminated or truncated) else env.reset()[0]
    return obs


@pytest.mark.parametrize("preset", list_presets())
@pytest.mark.parametrize("variant", [{}, {"double_q": True, "loss": "mse", "optimizer": "sgd", "tau": 0.5,
                                          "max_grad_norm": 0.0, "q_readout": "accumulator", "loss_scale": 8.0},
                                     {"dueling": True},
                                     {"dueling": True, "double_q": True, "q_readout": "accumulator",
                                      "loss_scale": 256.0}])
def test_dqn_steps_issue_their_workload(preset, variant):
    env = gym.make("CartPole-v1")
    acc = Accelerator(dense(preset), seed=1)
    agent = DQN(env.observation_space, env.action_space, DQNSettings(**TINY, **variant), acc, seed=0,
                total_steps=20)
    obs = fill(agent, env, 6)
    wl = agent.workloads
    for _ in range(2):  # the second step finds the weights on chip
        assert_counts_match(acc, agent.train_step, wl["train_step"])
    assert_counts_match(acc, lambda: agent.predict(obs), wl["act"])
    assert_counts_match(acc, agent.update_target, wl["target_update"])
    assert_counts_match(acc, lambda: agent.store(obs, 0, 1.0, obs, False), wl["store"])


@pytest.mark.parametrize("preset", list_presets())
@pytest.mark.parametrize("make", [lambda: TD3Settings(**TINY), lambda: ddpg_settings(**TINY),
                                  lambda: TD3Settings(**TINY, loss_scale=64.0)], ids=["td3", "ddpg", "td3-loss-scale"])
def test_td3_steps_issue_their_workload(preset, make):
    env = gym.make("Pendulum-v1")
    acc = Accelerator(dense(preset), seed=1)
    settings = make()
    agent = TD3(env.observation_space, env.action_space, settings, acc, seed=0)
    obs = fill(agent, env, 6)
    wl = agent.workloads
    for _ in range(2 * settings.policy_delay):
        name = "actor_step" if agent.actor_update_due() else "critic_step"
        assert_counts_match(acc, agent.train_step, wl[name])
    assert_counts_match(acc, lambda: agent.act(obs, 10), wl["act"])
    assert_counts_match(acc, lambda: agent.store(obs, np.zeros(1, np.float32), 1.0, obs, False), wl["store"])


@pytest.mark.parametrize("agent", ["dqn", "td3"])
def test_per_channel_weight_scales_issue_the_same_workload(agent):
    """``channel_pow2`` changes the values of the weights, not what the chip does."""
    env = gym.make("CartPole-v1" if agent == "dqn" else "Pendulum-v1")
    acc = Accelerator(with_overrides(dense("edge-int8"), {"formats.scaling": "channel_pow2"}), seed=1)
    make = DQN if agent == "dqn" else TD3
    learner = make(env.observation_space, env.action_space, (DQNSettings if agent == "dqn" else TD3Settings)(**TINY),
                   acc, seed=0)
    fill(learner, env, 6)
    for _ in range(2):
        name = "train_step" if agent == "dqn" else ("actor_step" if learner.actor_update_due() else "critic_step")
        assert_counts_match(acc, learner.train_step, learner.workloads[name])


def test_workloads_follow_the_settings():
    env = gym.make("CartPole-v1")
    small = DQN(env.observation_space, env.action_space, DQNSettings(**TINY))
    wide = DQN(env.observation_space, env.action_space, dataclasses.replace(DQNSettings(**TINY), hidden=(16, 16)))
    assert wide.workloads["train_step"].macs > small.workloads["train_step"].macs
    layers = 4 * (4 * 8 + 8 * 8 + 8 * 2)  # batch 4 through the 4-8-8-2 network
    assert small.workloads["train_step"].macs == 4 * layers - 4 * 4 * 8  # Q', Q, dW, dX (none into the input)


@pytest.mark.parametrize("master", ["fp32", "none"])
def test_master_weights_add_one_quantize_per_weight_matrix_update(master):
    acc = Accelerator(with_overrides(load_config("edge-int8"), {"formats.master_weight": master}), seed=1)
    env = gym.make("Pendulum-v1")
    agent = TD3(env.observation_space, env.action_space, TD3Settings(**{**TINY, "policy_delay": 1}), acc, seed=0)
    fill(agent, env, 6)
    wl = agent.workloads["actor_step"]
    assert_counts_match(acc, agent.train_step, wl)
    quantized = [op.elements for op in wl.ops if isinstance(op, VectorOp) and op.op == "quantize"]
    critic, actor = [4 * 8, 8 * 8, 8 * 1] * 2, [3 * 8, 8 * 8, 8 * 1]  # the optimizers' weights, then the targets'
    assert quantized == ((critic + actor) * 2 if master == "fp32" else [])
