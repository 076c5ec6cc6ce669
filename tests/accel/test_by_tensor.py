"""Value counts per tensor (``accel.by_tensor``): the running table, spans between readings, the top
tensors, and a chip attributing every saturation, NaN/inf and value rounded to 0 to the tensor it
came from, through snapshots."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import Accelerator, load_config
from accel.by_tensor import ByTensor, ValueCounts, since, top
from accel.config import with_overrides
from accel.numerics import get_format

NAMES = st.sampled_from(["net.W0", "net.y0", "net.dy1", "q.y1"])
EVENTS = st.lists(st.tuples(NAMES, st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)), max_size=30)


def totals(events) -> dict[str, ValueCounts]:
    """The obvious per-name sums, names with nothing left out."""
    out: dict[str, list[int]] = {}
    for name, *counts in events:
        out.setdefault(name, [0, 0, 0])
        out[name] = [a + b for a, b in zip(out[name], counts, strict=True)]
    return {name: ValueCounts(*c) for name, c in out.items() if any(c)}


@given(EVENTS, EVENTS)
@settings(max_examples=60, deadline=None)
def test_running_counts_and_spans_are_the_sums(first, second):
    table = ByTensor()
    for event in first:
        table.add(*event)
    before = table.freeze()
    for event in second:
        table.add(*event)
    after = table.freeze()
    assert dict(before) == totals(first) and dict(after) == totals(first + second)
    assert since(after, before) == totals(second)
    assert dict(ByTensor(after).freeze()) == dict(after)  # a table restarted from a reading goes on from it
    keys = [(-(c.saturations + c.nonfinite), -c.underflows, name) for name, c in after.items()]
    assert keys == sorted(keys)


def test_top_ranks_one_count_and_leaves_out_the_tensors_without_it():
    counts = {"a": ValueCounts(saturations=2), "b": ValueCounts(saturations=7, underflows=1),
              "c": ValueCounts(underflows=9), "d": ValueCounts(saturations=2)}
    assert top(counts, "saturations") == {"b": 7, "a": 2, "d": 2}
    assert list(top(counts, "saturations", n=2)) == ["b", "a"]
    assert top(counts, "underflows") == {"c": 9, "b": 1} and top(counts, "nonfinite") == {}


def chip(preset: str, **overrides) -> Accelerator:
    return Accelerator(with_overrides(load_config(preset), {"formats.rounding": "nearest", **overrides}))


def fixed16_unscaled() -> Accelerator:
    """edge-fixed16 with plain int16 values (no per-tensor scale): 1e6 saturates, 0.1 rounds to 0."""
    return chip("edge-fixed16", **{"formats.scaling": "none"})


def test_a_gemm_charges_each_operand_and_its_output_by_name():
    acc = chip("edge-bf16")
    a = np.array([[3e38, 3e38], [np.nan, 1.0]], np.float32)  # the sum overflows; a NaN
    acc.gemm(a, np.ones((2, 1), np.float32), names=("net.x", "net.W0", "net.y0"))
    by = acc.counts_by_tensor
    assert by["net.x"].nonfinite == 1 and by["net.y0"].nonfinite == 2  # NaN in, then inf and NaN out
    assert by["net.y0"].saturations >= 1 and "net.W0" not in by
    c = acc.counts
    assert sum(v.saturations for v in by.values()) == c.saturations
    assert sum(v.nonfinite for v in by.values()) == c.nonfinite
    assert sum(v.underflows for v in by.values()) == c.underflows


def test_unnamed_tensors_are_named_by_operation_and_role_and_vector_outputs_by_name():
    acc = fixed16_unscaled()
    big = np.full((4, 4), 1e6, np.float32)
    acc.gemm(big, np.eye(4, dtype=np.float32))
    acc.vector.add(big, big, names=(("net.a", "net.b"), ("net.sum",)))  # charged to what it writes
    acc.vector.relu(np.full((2, 2), 0.1, np.float32))
    acc.round_into(np.array([0.2, 5e4]), get_format("int16"))
    by = acc.counts_by_tensor
    assert by["gemm A (activation)"] == ValueCounts(saturations=16)
    assert by["net.sum"].saturations == 48 and by["relu (activation)"] == ValueCounts(underflows=4)
    assert by["round_into (int16)"] == ValueCounts(saturations=1, underflows=1)
    assert sum(v.saturations for v in by.values()) == acc.counts.saturations
    assert sum(v.underflows for v in by.values()) == acc.counts.underflows


def test_snapshot_and_restore_carry_the_counts_per_tensor():
    acc = fixed16_unscaled()
    big = np.full((4, 4), 1e6, np.float32)
    acc.gemm(big, np.eye(4, dtype=np.float32), names=("x", "w", "y"))
    state = acc.snapshot()
    acc.gemm(big, np.eye(4, dtype=np.float32), names=("x", "w", "y"))
    assert acc.counts_by_tensor["x"].saturations == 2 * state.counts_by_tensor["x"].saturations
    acc.restore(state)
    assert dict(acc.counts_by_tensor) == dict(state.counts_by_tensor)
    fresh = fixed16_unscaled()
    fresh.restore(state)
    assert dict(fresh.counts_by_tensor) == dict(state.counts_by_tensor) and fresh.counts == acc.counts
