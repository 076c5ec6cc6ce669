"""Replay memory: its byte bound, FIFO overwrite and the round trip of each storage format."""

import gymnasium as gym
import numpy as np
import pytest

from accel import Accelerator, load_config
from accel.compression import compressed_bits, float_words
from accel.numerics import get_format, quantize
from agents import TD3
from agents.replay import ReplayMemory, transition_bytes
from agents.settings import TD3Settings


def test_bytes_per_transition_follow_the_storage_format():
    assert transition_bytes(4, 1, "fp32", 2) == 2 * 4 * 4 + 1 + 4 + 1
    assert transition_bytes(4, 1, "int8", 2) == 2 * 4 + 1 + 4 + 1
    assert transition_bytes(3, 1, "bf16", None) == 2 * 3 * 2 + 4 + 4 + 1


def test_a_memory_over_its_bytes_is_refused_naming_what_fits():
    per = transition_bytes(4, 1, "int8", 2)
    ReplayMemory(100, 4, 1, "int8", 2, limit_bytes=100 * per)
    with pytest.raises(ValueError, match="at most 99 transitions fit"):
        ReplayMemory(100, 4, 1, "int8", 2, limit_bytes=100 * per - 1)


def test_the_oldest_transition_is_overwritten_first():
    memory = ReplayMemory(3, 2, 1, "fp32", 4)
    for i in range(5):
        memory.add([i, i], i % 4, float(i), [i + 1, i + 1], False)
    assert memory.size == 3
    batch = memory.sample(200, np.random.default_rng(0))
    assert set(batch.rewards.tolist()) == {2.0, 3.0, 4.0}
    np.testing.assert_array_equal(batch.next_observations[:, 0], batch.rewards + 1)


@pytest.mark.parametrize("fmt", ["fp32", "bf16", "fp8_e4m3"])
def test_float_formats_store_the_rounded_observation(fmt):
    memory = ReplayMemory(4, 3, 1, fmt, 2)
    obs = np.array([0.1, -2.7, 300.0], np.float32)
    memory.add(obs, 1, 1.0, obs, True)
    batch = memory.sample(1, np.random.default_rng(0))
    np.testing.assert_array_equal(batch.observations[0], quantize(obs, fmt))
    assert batch.dones[0] == 1.0 and batch.actions[0, 0] == 1.0


def test_int8_keeps_a_scale_per_field_and_rescales_stored_codes():
    memory = ReplayMemory(8, 2, 1, "int8", 2)
    small, large = np.array([0.3, 0.01], np.float32), np.array([5.0, 0.02], np.float32)
    memory.add(small, 0, 0.0, small, False)
    first = memory.sample(1, np.random.default_rng(0)).observations[0]
    assert np.all(np.abs(first - small) <= np.array([2.0**-9, 2.0**-14]))  # half a step of each field's scale
    memory.add(large, 0, 0.0, large, False)  # field 0's scale grows to 2**-4; field 1's to 2**-13
    batch = memory.sample(64, np.random.default_rng(0))
    for row in batch.observations:
        reference = small if row[0] < 1 else large
        assert np.all(np.abs(row - reference) <= np.array([2.0**-4, 2.0**-13]))


def _transition(rng, obs_dim=6):
    obs = (rng.standard_normal(obs_dim) * 2.0 ** rng.integers(-2, 3, obs_dim)).astype(np.float32)
    return obs, (obs * 0.5).astype(np.float32)


def test_a_compressed_transition_takes_its_codes_bytes():
    fmt = get_format("bf16")
    memory = ReplayMemory(8, 6, 1, "bf16", 4, compression="exp_top3")
    obs, nxt = _transition(np.random.default_rng(0))
    stored = memory.add(obs, 1, 1.0, nxt, False)
    words = float_words(np.concatenate((quantize(obs, "bf16"), quantize(nxt, "bf16"))), fmt)
    assert stored == memory.bytes_per_transition - 12 * 2 + -(-compressed_bits("exp_top3", words, fmt) // 8)
    assert stored < memory.bytes_per_transition and memory.stored_bytes == stored


def test_integer_codes_are_coded_and_never_take_more_than_raw():
    memory = ReplayMemory(8, 4, 1, "int8", 2, compression="bitmask")
    zeros = np.zeros(4, np.float32)
    assert memory.add(zeros, 0, 0.0, zeros, False) == memory.bytes_per_transition - 8 + 1  # an all-zero mask
    dense = np.array([1.0, -2.0, 3.0, 0.5], np.float32)
    assert memory.add(dense, 0, 0.0, dense, False) == memory.bytes_per_transition  # the mask would not pay


def test_the_byte_bound_holds_the_stored_bytes_and_pushes_out_the_oldest():
    rng = np.random.default_rng(1)
    raw = ReplayMemory(64, 6, 1, "bf16", 4).bytes_per_transition
    limit = 10 * raw
    memory = ReplayMemory(64, 6, 1, "bf16", 4, limit_bytes=limit, compression="exp_mean_delta")
    for i in range(40):
        obs, nxt = _transition(rng)
        memory.add(obs, 0, float(i), nxt, False)
        assert memory.stored_bytes <= limit
    assert 10 < memory.size < 40  # more than raw transitions would fit, fewer than were written
    batch = memory.sample(500, np.random.default_rng(2))
    assert set(batch.rewards.tolist()) == set(map(float, range(40 - memory.size, 40)))  # the newest held


def test_sampled_bytes_are_the_batchs_stored_bytes():
    memory = ReplayMemory(4, 2, 1, "fp32", 2, compression="bitmask")
    sizes = [memory.add(np.array([i, 0], np.float32), 0, 0.0, np.zeros(2, np.float32), False) for i in range(2)]
    batch = memory.sample(50, np.random.default_rng(0))
    assert memory.sampled_bytes == sum(sizes[int(r)] for r in (batch.observations[:, 0] != 0))


def test_compression_errors_are_one_line():
    with pytest.raises(ValueError, match=r"compression.replay = 'exp_top3' codes float exponents.*'int8'"):
        ReplayMemory(4, 2, 1, "int8", 2, compression="exp_top3")
    with pytest.raises(ValueError, match="unknown compression scheme 'lz4'; schemes: none, bitmask"):
        ReplayMemory(4, 2, 1, "fp32", 2, compression="lz4")


def test_an_agent_on_a_compressing_chip_charges_the_stored_bytes():
    env = gym.make("Pendulum-v1")
    acc = Accelerator(load_config("cnpu2019"))  # [compression] replay = "exp_top3"
    agent = TD3(env.observation_space, env.action_space, TD3Settings(hidden=(8, 8), batch_size=4, buffer_size=32),
                acc)
    obs, _ = env.reset(seed=0)
    before = acc.counts
    agent.store(obs, np.zeros(1, np.float32), 1.0, obs, False)
    spent = acc.counts - before
    assert spent.dram_write_bytes == agent.replay.stored_bytes < agent.replay.bytes_per_transition
    assert spent.vector_ops == {"encode:int8": agent.replay.bytes_per_transition}
