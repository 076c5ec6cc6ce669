"""``[compression] sram = true``: the weight and activation buffers hold the compressed classes coded.
Their SRAM bytes follow the measured (runs) or declared (workloads) ratio, the codec works at the
buffer's edge, and nothing else moves: words, tiling, DRAM traffic and cycles are those of coded DRAM."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import Accelerator
from accel.compression import RATIO_STEPS, float_words, ratio_steps
from accel.config import load_config, with_overrides
from accel.numerics import get_format, quantize
from energy import EnergyModel

BF16 = get_format("bf16")


def _chip(preset: str = "edge-bf16", **compression):
    return with_overrides(load_config(preset), {f"compression.{k}": v for k, v in compression.items()})


def _at(nbytes: int, steps: int) -> int:
    return -(-nbytes * steps // RATIO_STEPS)


def _operands(m: int = 8, k: int = 16, n: int = 8):
    rng = np.random.default_rng(5)
    a = quantize(rng.standard_normal((m, k)).astype(np.float32), "bf16")
    b = quantize(rng.standard_normal((k, n)).astype(np.float32), "bf16")
    b[::2] = 0  # half of the weights zero
    return a, b


def _gemm_counts(cfg, fidelity: str = "fast", repeat: int = 1, names=(None, None, None), shape=(8, 16, 8)):
    a, b = _operands(*shape)
    acc = Accelerator(cfg, fidelity)
    for _ in range(repeat):
        acc.gemm(a, b, names=names)
    return acc.counts


def test_coded_sram_scales_the_weight_buffers_bytes_by_the_measured_ratio():
    _, b = _operands()
    steps = ratio_steps("bitmask", float_words(b, BF16), BF16)
    assert steps < RATIO_STEPS
    plain = _gemm_counts(_chip(weight="bitmask"))
    coded = _gemm_counts(_chip(weight="bitmask", sram=True))
    raw_b = 16 * 8 * 2
    b_reads = plain.sram_read_bytes["weight"]  # the array's reads of B, raw (nothing else reads the weight buffer)
    assert b_reads == plain.sram_reads["weight"] * 2 > 0
    assert coded.sram_read_bytes["weight"] == _at(b_reads, steps)
    assert plain.sram_write_bytes["weight"] == raw_b  # B written into the buffer as DRAM delivers it
    assert coded.sram_write_bytes["weight"] == _at(raw_b, steps) == coded.dram_read_bytes - 8 * 16 * 2
    assert coded.sram_reads == plain.sram_reads and coded.sram_writes == plain.sram_writes  # words stay words
    for buffer in ("activation", "output"):  # A and C uncompressed; partial sums raw
        assert coded.sram_read_bytes[buffer] == plain.sram_read_bytes[buffer]
        assert coded.sram_write_bytes[buffer] == plain.sram_write_bytes[buffer]
    assert coded.vector_ops["decode:int8"] == b_reads  # at the array's edge, per raw byte read
    assert plain.vector_ops["decode:int8"] == raw_b  # in the DMA path, per raw byte loaded
    differ = {key for key, value in coded.to_dict().items() if plain.to_dict()[key] != value}
    assert differ <= {"sram_read_bytes", "sram_write_bytes", "vector_ops"}  # decode moves where B is read again


def test_a_resident_weight_is_read_coded_though_it_does_not_cross_dram():
    plain = _gemm_counts(_chip(weight="bitmask"), repeat=2, names=(None, "w", None))
    coded = _gemm_counts(_chip(weight="bitmask", sram=True), repeat=2, names=(None, "w", None))
    assert coded.dram_read_bytes == plain.dram_read_bytes  # the second GEMM fetches only A
    _, b = _operands()
    steps = ratio_steps("bitmask", float_words(b, BF16), BF16)
    one_read = plain.sram_read_bytes["weight"] // 2
    assert coded.sram_read_bytes["weight"] == 2 * _at(one_read, steps)
    assert coded.vector_ops["decode:int8"] == 2 * one_read


def test_a_coded_output_is_encoded_once_and_written_at_its_ratio():
    cfg = _chip(activation="bitmask", sram=True)
    plain = _gemm_counts(_chip(activation="bitmask"), names=(None, None, "y"))
    coded = _gemm_counts(cfg, names=(None, None, "y"))
    a, b = _operands()
    acc = Accelerator(cfg)
    y = acc.gemm(a, b)
    a_steps, y_steps = (ratio_steps("bitmask", float_words(t, BF16), BF16) for t in (a, y))
    assert plain.dram_write_bytes == coded.dram_write_bytes == 0  # y stays in the activation buffer
    assert "encode:int8" not in plain.vector_ops and coded.vector_ops["encode:int8"] == 8 * 8 * 2
    a_reads = plain.sram_read_bytes["activation"]
    assert coded.sram_read_bytes["activation"] == _at(a_reads, a_steps)
    assert coded.sram_write_bytes["activation"] == _at(8 * 16 * 2, a_steps) + _at(8 * 8 * 2, y_steps)
    assert coded.sram_read_bytes["output"] == plain.sram_read_bytes["output"]  # accumulators raw


@pytest.mark.parametrize("preset", ["edge-bf16", "omnidrl"])
def test_both_fidelities_count_coded_sram_alike(preset):
    cfg = _chip(preset, weight="bitmask", activation="bitmask", gradient="bitmask", sram=True)
    cfg = with_overrides(cfg, {"array.transposable": False})  # a transposition through SRAM, of coded words
    rng = np.random.default_rng(7)
    a = quantize(rng.standard_normal((40, 70)).astype(np.float32), "bf16")
    w = quantize(rng.standard_normal((30, 70)).astype(np.float32) * (rng.random((30, 70)) < 0.4), "bf16")
    counts = []
    for fidelity in ("fast", "cycle"):
        acc = Accelerator(cfg, fidelity)
        acc.gemm(a, w, ("activation", "weight"), "gradient", names=("a", "w", "g"), transpose_b=True)
        counts.append(acc.counts)
    assert counts[0] == counts[1]
    assert counts[0].vector_ops["transpose:bf16"] == 70 * 30
    plain = Accelerator(with_overrides(cfg, {"compression.sram": False}))
    plain.gemm(a, w, ("activation", "weight"), "gradient", names=("a", "w", "g"), transpose_b=True)
    copy = 70 * 30 * 2  # Wᵀ read and written back through the weight buffer, as coded words
    b_reads = plain.counts.sram_read_bytes["weight"] - copy
    sw = ratio_steps("bitmask", float_words(w, BF16), BF16)
    assert counts[0].sram_read_bytes["weight"] == _at(b_reads, sw) + _at(copy, sw)


def _equal_but_zeros(run: Accelerator, priced: Accelerator) -> None:
    real, declared = run.counts.to_dict(), priced.counts.to_dict()
    assert {key for key in real if real[key] != declared[key]} <= {"zero_macs", "zero_macs_by_kind"}


def test_a_workload_at_the_measured_ratio_counts_what_the_run_counts():
    a, b = _operands()
    ratio = ratio_steps("bitmask", float_words(b, BF16), BF16) / RATIO_STEPS
    cfg = _chip(weight="bitmask", sram=True, weight_ratio=ratio)
    run, priced = Accelerator(cfg), Accelerator(cfg)
    for _ in range(2):  # then the weights are resident: read coded from SRAM only
        run.gemm(a, b, names=(None, "w", "y"))
        priced.gemm_counts(8, 16, 8, names=(None, "w", "y"))
    _equal_but_zeros(run, priced)
    x = quantize(np.random.default_rng(8).random(3000).astype(np.float32) + 0.5, "bf16")  # relu(x) = x: one ratio
    ratio = ratio_steps("exp_top3", float_words(x, BF16), BF16) / RATIO_STEPS
    cfg = _chip(activation="exp_top3", sram=True, activation_ratio=ratio)
    run, priced = Accelerator(cfg), Accelerator(cfg)
    run.vector.relu(x, names=(("x",), ("y",)))
    run.vector.relu(x)
    priced.vector_counts("relu", "activation", x.size, names=(("x",), ("y",)))
    priced.vector_counts("relu", "activation", x.size)
    assert ratio < 1
    _equal_but_zeros(run, priced)


def test_vector_operations_read_and_write_coded_words():
    n = 1000  # fits the buffer: no DRAM but x's fetch
    rng = np.random.default_rng(6)
    x = quantize((rng.standard_normal(n) * (rng.random(n) < 0.5)).astype(np.float32), "bf16")
    plain, coded = Accelerator(_chip(activation="bitmask")), Accelerator(_chip(activation="bitmask", sram=True))
    for acc in (plain, coded):
        y = acc.vector.relu(x, names=(("x",), ("y",)))  # x fetched from DRAM, y kept
        acc.vector.relu(y)  # unnamed: its input already on chip
    sx, sy = (ratio_steps("bitmask", float_words(t, BF16), BF16) for t in (x, y))
    p, c = plain.counts, coded.counts
    assert p.sram_read_bytes["activation"] == 2 * 2 * n and p.sram_write_bytes["activation"] == 3 * 2 * n
    assert c.sram_read_bytes["activation"] == _at(2 * n, sx) + _at(2 * n, sy)
    assert c.sram_write_bytes["activation"] == _at(2 * n, sx) + 2 * _at(2 * n, sy)  # fetched x, y, relu(y) = y
    assert c.dram_read_bytes == p.dram_read_bytes == _at(2 * n, sx)
    assert (p.vector_ops["decode:int8"], p.vector_ops.get("encode:int8", 0)) == (2 * n, 0)
    assert (c.vector_ops["decode:int8"], c.vector_ops["encode:int8"]) == (2 * 2 * n, 2 * 2 * n)
    assert c.sram_reads == p.sram_reads and c.cycles == p.cycles


def test_vector_operations_without_values_take_the_declared_ratio():
    cfg = _chip(activation="exp_top3", activation_ratio=0.5, sram=True)
    acc = Accelerator(cfg)
    acc.vector_counts("relu", "activation", 1000, names=(("x",), ("y",)))
    acc.vector_counts("relu", "activation", 1000)
    c = acc.counts
    assert c.sram_read_bytes["activation"] == 2 * 1000 and c.sram_write_bytes["activation"] == 3 * 1000
    assert c.dram_read_bytes == 1000
    master, plain = Accelerator(cfg), Accelerator(_chip())  # optimizer state ("master") is never a compressed class
    for acc in (master, plain):
        acc.vector_counts("adam", "master", 100_000, names=(("w", "g", "m", "v"), ("w", "m", "v")))
    assert master.counts == plain.counts


def test_sram_false_changes_nothing_and_bad_values_are_one_line():
    assert _gemm_counts(_chip(weight="bitmask", sram=False)) == _gemm_counts(_chip(weight="bitmask"))
    assert _gemm_counts(_chip(sram=True)) == _gemm_counts(_chip())  # no compressed class: nothing coded
    with pytest.raises(ValueError, match=r"compression.sram must be true or false, got 'yes'"):
        _chip(sram="yes")


def test_coded_sram_costs_less_sram_energy_and_prices_the_decoder():
    plain_cfg, coded_cfg = (_chip(weight="bitmask", activation="bitmask", sram=sram) for sram in (False, True))
    shape = (64, 256, 64)
    plain, coded = (EnergyModel(cfg).estimate(_gemm_counts(cfg, shape=shape)) for cfg in (plain_cfg, coded_cfg))
    assert coded.sram_breakdown_j["weight"] < plain.sram_breakdown_j["weight"]
    # A is read once per column fold: more bytes decoded at the array's edge than loaded from DRAM
    assert coded.breakdown_j["vector"] > plain.breakdown_j["vector"]


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 40), k=st.integers(1, 40), n=st.integers(1, 40), transpose=st.booleans(),
       zeros=st.floats(0, 1), named=st.booleans(), seed=st.integers(0, 2**16))
def test_property_coded_sram_moves_only_bytes_and_the_codec(m, k, n, transpose, zeros, named, seed):
    rng = np.random.default_rng(seed)
    a = quantize(rng.standard_normal((m, k)).astype(np.float32) * (rng.random((m, k)) >= zeros), "bf16")
    w = quantize(rng.standard_normal((n, k) if transpose else (k, n)).astype(np.float32), "bf16")
    small = {"array.transposable": False, "sram.weight_bytes": 1024, "sram.activation_bytes": 1024,
             "sram.output_bytes": 512}  # transpositions through SRAM, operands tiled and fetched again
    names = ("a", "w", "y") if named else (None, None, None)
    counts = {}
    for sram, fidelity in ((False, "fast"), (True, "fast"), (True, "cycle")):
        cfg = with_overrides(_chip(weight="bitmask", activation="bitmask", sram=sram), small)
        acc = Accelerator(cfg, fidelity)
        for _ in range(2):
            acc.gemm(a, w, names=names, transpose_b=transpose)
        counts[sram, fidelity] = acc.counts
    plain, coded = counts[False, "fast"], counts[True, "fast"]
    assert coded == counts[True, "cycle"]
    differ = {key for key, value in coded.to_dict().items() if plain.to_dict()[key] != value}
    assert differ <= {"sram_read_bytes", "sram_write_bytes", "vector_ops"}
    for buffer in ("weight", "activation"):
        assert coded.sram_read_bytes[buffer] <= plain.sram_read_bytes[buffer]
        assert coded.sram_write_bytes[buffer] <= plain.sram_write_bytes[buffer]
    assert coded.sram_read_bytes["output"] == plain.sram_read_bytes["output"]
    b_reads = plain.sram_reads["weight"] - (2 * k * n if transpose else 0)  # the array's reads of B (words)
    assert coded.vector_ops["decode:int8"] == 2 * (plain.sram_reads["activation"] + b_reads)  # bf16: 2 bytes
    assert coded.vector_ops["encode:int8"] == 2 * m * n * 2  # C once per GEMM
