"""The worked example of docs/timing.md, recomputed, and the closed forms' basic facts."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from accel import Accelerator, Dataflow, load_config
from accel.config import with_overrides
from accel.planner import Fold, Runs, stall_cycles
from accel.timing import plan_gemm


def test_worked_example_of_the_timing_doc():
    acc = Accelerator(with_overrides(load_config("edge-bf16"), {"formats.rounding": "nearest"}))
    rng = np.random.default_rng(0)
    acc.gemm(rng.standard_normal((64, 32)), rng.standard_normal((32, 32)))
    c = acc.counts
    assert (c.compute_cycles, c.stall_cycles, c.vector_cycles, c.cycles) == (440, 788, 128, 1356)
    assert (c.dram_read_bytes, c.dram_write_bytes) == (6144, 4096)
    assert dict(c.sram_reads) == {"activation": 4096, "output": 4096, "replay": 0, "weight": 1024}
    assert dict(c.sram_writes) == {"activation": 2048, "output": 4096, "replay": 0, "weight": 1024}


def dram(bandwidth, latency):
    return with_overrides(load_config("edge-bf16"), {"dram.bandwidth_bytes_per_cycle": bandwidth,
                                                     "dram.latency_cycles": latency})


def folds(cycles, traffic) -> Runs:
    """One fold after another; ``traffic`` is (load, store) bytes per fold (all counted as A's loads)."""
    return Runs(tuple((Fold(c, load, 0, store), 1) for c, (load, store) in zip(cycles, traffic, strict=True)))


def test_schedule_of_the_worked_example():
    traffic = [(2560, 0), (2560, 2048), (512, 0), (512, 2048)]
    assert stall_cycles(dram(16, 100), folds([110] * 4, traffic)) == 788


@given(m=st.integers(1, 300), k=st.integers(1, 300), n=st.integers(1, 300), rows=st.integers(1, 64),
       cols=st.integers(1, 64), dataflow=st.sampled_from(list(Dataflow)))
def test_property_closed_forms(m, k, n, rows, cols, dataflow):
    p = plan_gemm(m, k, n, rows, cols, dataflow)
    assert p.macs == m * k * n
    # every MAC fits in a fold: the PE-cycles of the folds cover the useful work
    assert p.compute_cycles * rows * cols >= p.macs
    assert p.c_writes >= m * n and p.a_reads >= m * k and p.b_reads >= k * n
    if dataflow is not Dataflow.OS:
        double = plan_gemm(m, k, n, rows, cols, dataflow, double_buffered_weights=True)
        assert p.compute_cycles - double.compute_cycles == (p.folds - 1) * rows


@given(cycles=st.lists(st.integers(1, 500), min_size=1, max_size=12), data=st.data(),
       bandwidth=st.sampled_from([1, 4, 16.0, 64]), latency=st.integers(0, 200))
def test_property_stalls_never_exceed_serial_transfers(cycles, data, bandwidth, latency):
    traffic = [(data.draw(st.integers(0, 5000)), data.draw(st.integers(0, 5000))) for _ in cycles]
    stalls = stall_cycles(dram(bandwidth, latency), folds(cycles, traffic))
    serial = sum(-(-load // bandwidth) + -(-store // bandwidth) + 2 * latency for load, store in traffic)
    assert 0 <= stalls <= serial  # each transfer charged at most once
    faster = stall_cycles(dram(bandwidth * 2, latency), folds(cycles, traffic))
    assert faster <= stalls
