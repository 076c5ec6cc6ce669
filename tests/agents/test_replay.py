"""Replay memory: its byte bound, FIFO overwrite and the round trip of each storage format."""

import numpy as np
import pytest

from accel.numerics import quantize
from agents.replay import ReplayMemory, transition_bytes


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
