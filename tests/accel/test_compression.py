"""The codecs of ``accel.compression``: every size equals the length of the stream the slow codec of
``naive_compression`` writes bit by bit, and that stream decodes back to the same words."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive_compression import CODECS

from accel import Accelerator
from accel.compression import (
    RATIO_STEPS,
    SCHEME_NAMES,
    SCHEMES,
    code_words,
    compressed_bits,
    float_words,
    get_scheme,
    nominal_ratio,
    ratio_steps,
    stored_bits,
    value_words,
)
from accel.config import load_config, with_overrides
from accel.numerics import get_format, quantize

FLOATS = ("bf16", "fp16", "fp32", "fp8_e4m3", "fp8_e5m2")
INTEGERS = ("int8", "int16", "fixed16_8")


def _words(draw_values, fmt_name: str) -> np.ndarray:
    fmt = get_format(fmt_name)
    if fmt.is_float:
        return float_words(quantize(np.asarray(draw_values, np.float32), fmt_name), fmt)
    codes = np.clip(np.round(np.asarray(draw_values, np.float64) * 16), fmt.min_code, fmt.max_code)
    return code_words(codes, fmt)


values = st.lists(st.one_of(st.just(0.0), st.floats(-1e4, 1e4, width=32), st.sampled_from([1.0, -2.0, 0.5])),
                  min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(xs=values, scheme=st.sampled_from(list(SCHEMES)), fmt_name=st.sampled_from(FLOATS + INTEGERS))
def test_property_sizes_are_the_streams_and_the_streams_decode(xs, scheme, fmt_name):
    fmt = get_format(fmt_name)
    if SCHEMES[scheme].floats_only and not fmt.is_float:
        return
    words = _words(xs, fmt_name)
    encode, decode = CODECS[scheme]
    stream = encode([int(w) for w in words], fmt)
    assert compressed_bits(scheme, words, fmt) == len(stream)
    assert decode(stream, words.size, fmt) == [int(w) for w in words]


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_long_zero_runs_and_many_symbols(scheme):
    fmt = get_format("bf16")
    rng = np.random.default_rng(4)
    x = quantize((rng.standard_normal(3000) * (rng.random(3000) < 0.2)).astype(np.float32), "bf16")
    x[100:400] = 0  # runs longer than the run field
    x[-77:] = 0
    words = float_words(x, fmt)
    encode, decode = CODECS[scheme]
    stream = encode([int(w) for w in words], fmt)
    assert compressed_bits(scheme, words, fmt) == len(stream)
    assert decode(stream, words.size, fmt) == [int(w) for w in words]


def test_float_words_are_the_formats_bit_patterns():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(4000) * 10.0 ** rng.integers(-40, 38, 4000)).astype(np.float32)
    x[:5] = (0.0, -0.0, np.inf, -np.inf, np.nan)
    for name, bits in (("fp32", lambda v: v.view(np.uint32)), ("bf16", lambda v: v.view(np.uint32) >> 16),
                       ("fp16", lambda v: v.astype(np.float16).view(np.uint16))):
        fmt = get_format(name)
        v = quantize(x, name)
        fast, built = float_words(v, fmt), float_words(v.astype(np.float64), fmt)  # float32 bits; from the exponent
        assert np.array_equal(fast[5:], bits(v[5:]).astype(np.uint64)), name
        assert np.array_equal(fast, built), name
        assert fast[4] == ((1 << fmt.exponent_bits) - 1) << fmt.mantissa_bits | 1 << (fmt.mantissa_bits - 1)


def test_hand_counted_sizes():
    int8 = get_format("int8")
    words = code_words(np.array([0, 0, 5, 0, -1, 0, 0, 0]), int8)
    assert compressed_bits("bitmask", words, int8) == 8 + 2 * 8
    assert compressed_bits("rle", words, int8) == 3 * (5 + 8)  # (2, 5), (1, −1), (2, 0)
    assert compressed_bits("huffman", words, int8) == 9 + 3 * 14 + (6 * 1 + 1 * 2 + 1 * 2)
    bf16 = get_format("bf16")
    ones = float_words(np.array([1.0, 2.0, 4.0, 8.0, 1.5], np.float32), bf16)  # exponents 127 128 129 130 127
    assert compressed_bits("exp_top3", ones, bf16) == 3 * 8 + 5 * 10 + 8  # table 127, 128, 129: 130 escapes
    assert compressed_bits("exp_mean_delta", ones, bf16) == 8 + 5 * 11  # mean 128: deltas −1 0 1 2 −1


def test_stored_size_never_exceeds_the_raw_size_and_ratios_round_up():
    int8 = get_format("int8")
    dense = code_words(np.arange(1, 65), int8)
    assert compressed_bits("bitmask", dense, int8) > 64 * 8
    assert stored_bits("bitmask", dense, int8) == 64 * 8
    assert ratio_steps("bitmask", dense, int8) == RATIO_STEPS
    sparse = code_words(np.r_[np.ones(8), np.zeros(56)], int8)
    bits = 64 + 8 * 8
    assert ratio_steps("bitmask", sparse, int8) == -(-bits * RATIO_STEPS // (64 * 8))
    assert ratio_steps("none", sparse, int8) == RATIO_STEPS


def test_nominal_ratios():
    bf16 = get_format("bf16")
    assert nominal_ratio("exp_top3", bf16) == 10 / 16
    assert nominal_ratio("exp_mean_delta", bf16) == (11 + 8 / 16) / 16
    assert nominal_ratio("bitmask", bf16) == nominal_ratio("none", bf16) == 1.0


def test_unknown_scheme_and_integer_exponents_are_refused():
    with pytest.raises(ValueError, match="unknown compression scheme 'zip'; schemes: none, bitmask, rle"):
        get_scheme("zip")
    assert SCHEME_NAMES[0] == "none"
    with pytest.raises(ValueError, match="int8 is not a float format"):
        compressed_bits("exp_top3", code_words(np.zeros(3), get_format("int8")), get_format("int8"))


# --- on the chip ---------------------------------------------------------------------------------------


def _chip(**compression):
    return with_overrides(load_config("edge-bf16"), {f"compression.{k}": v for k, v in compression.items()})


def _gemm_counts(cfg):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((8, 16)).astype(np.float32)
    b = rng.standard_normal((16, 8)).astype(np.float32)
    b[::2] = 0  # half of the weights zero
    acc = Accelerator(cfg)
    acc.gemm(a, b)
    return acc.counts


def test_a_compressed_weight_crosses_dram_at_its_measured_size():
    raw = _gemm_counts(_chip())
    assert raw.dram_read_bytes == 8 * 16 * 2 + 16 * 8 * 2  # A and B fetched once (one fold), bf16
    got = _gemm_counts(_chip(weight="bitmask"))
    b_bits = 16 * 8 + 64 * 16  # the mask, then the 64 nonzero bf16 words
    steps = -(-b_bits * RATIO_STEPS // (16 * 8 * 16))
    assert got.dram_read_bytes == 8 * 16 * 2 + -(-16 * 8 * 2 * steps // RATIO_STEPS)
    assert got.dram_write_bytes == raw.dram_write_bytes  # C is an activation: not compressed
    assert got.vector_ops["decode:int8"] == 16 * 8 * 2 and "encode:int8" not in got.vector_ops
    cfg = _chip()  # one fold: it waits for its loads, then for C's write-back
    for counts in (raw, got):
        assert counts.folds == 1 and counts.stall_cycles == 2 * cfg.dram.latency_cycles + sum(
            math.ceil(nbytes / cfg.dram.bandwidth_bytes_per_cycle)
            for nbytes in (counts.dram_read_bytes, counts.dram_write_bytes))
    assert got.cycles - got.stall_cycles == raw.cycles - raw.stall_cycles
    assert got.macs == raw.macs and got.sram_read_bytes == raw.sram_read_bytes


def test_a_workload_at_the_measured_ratio_counts_what_the_run_counts():
    b_bits = 16 * 8 + 64 * 16
    ratio = -(-b_bits * RATIO_STEPS // (16 * 8 * 16)) / RATIO_STEPS
    cfg = _chip(weight="bitmask", weight_ratio=ratio)
    priced = Accelerator(cfg)
    priced.gemm_counts(8, 16, 8)
    run = _gemm_counts(cfg)
    a, b = run.to_dict(), priced.counts.to_dict()
    assert {key for key in a if a[key] != b[key]} <= {"zero_macs", "zero_macs_by_kind"}


def test_compression_none_changes_nothing():
    assert _gemm_counts(_chip(weight="none", activation="none", gradient="none", replay="none")) == \
        _gemm_counts(load_config("edge-bf16"))


def test_bad_compression_keys_are_one_line_errors():
    with pytest.raises(ValueError, match=r"compression.weight must be one of 'none', 'bitmask', .*got 'zip'"):
        _chip(weight="zip")
    with pytest.raises(ValueError, match=r"compression.replay_ratio must be a ratio in \(0, 1\]"):
        _chip(replay_ratio=0)
    with pytest.raises(ValueError, match=r"compression.gradient = 'exp_top3' codes float exponents.*int8"):
        with_overrides(load_config("edge-int8"), {"compression.gradient": "exp_top3"})


def test_a_named_vector_operation_moves_compressed_activations_at_the_declared_ratio():
    raw, packed = Accelerator(_chip()), Accelerator(_chip(activation="exp_top3", activation_ratio=0.5))
    n = 40_000  # 80 000 bf16 bytes: more than the 64 KiB activation buffer, so x comes from DRAM and y goes back
    for acc in (raw, packed):
        acc.vector_counts("relu", "activation", n, names=(("x",), ("y",)))
    r, p = raw.counts, packed.counts
    assert (r.dram_read_bytes, r.dram_write_bytes) == (2 * n, 2 * n)
    assert (p.dram_read_bytes, p.dram_write_bytes) == (n, n)
    assert p.vector_ops["decode:int8"] == p.vector_ops["encode:int8"] == 2 * n
    cfg = packed.config
    transfer = cfg.dram.latency_cycles + math.ceil(2 * n / cfg.dram.bandwidth_bytes_per_cycle)
    assert p.stall_cycles == max(0, transfer - p.vector_cycles) < r.stall_cycles


def test_a_vector_operation_with_values_moves_its_tensors_at_their_measured_ratios():
    acc = Accelerator(_chip(activation="bitmask"))
    rng = np.random.default_rng(6)
    n = 40_000
    x = quantize((rng.standard_normal(n) * (rng.random(n) < 0.5)).astype(np.float32), "bf16")
    y = acc.vector.relu(x, names=(("x",), ("y",)))  # x comes from DRAM, y goes back (80 000 B each)
    bf16 = get_format("bf16")
    steps = [ratio_steps("bitmask", float_words(t, bf16), bf16) for t in (x, y)]
    assert steps[1] < steps[0] < RATIO_STEPS  # relu leaves more zeros
    c = acc.counts
    assert (c.dram_read_bytes, c.dram_write_bytes) == tuple(-(-2 * n * s // RATIO_STEPS) for s in steps)
    assert c.vector_ops["decode:int8"] == c.vector_ops["encode:int8"] == 2 * n


def test_value_words_size_integer_tensors_as_their_codes():
    int8 = get_format("int8")
    codes = np.array([0, 3, -3, 0, 3, 7, 0, 0], np.float32)
    for scheme in ("bitmask", "rle", "huffman"):
        assert compressed_bits(scheme, value_words(codes * 0.125, int8), int8) == \
            compressed_bits(scheme, code_words(codes, int8), int8)
    assert np.array_equal(value_words(np.array([-0.0], np.float32), int8), [0])


def test_the_ratio_of_several_tensors_codes_each_on_its_own():
    bf16 = get_format("bf16")
    a, b = (float_words(np.array(v * 14, np.float32), bf16) for v in ([1.0, 2.0, 4.0], [8.0, 16.0, 32.0]))
    bits = stored_bits("exp_top3", a, bf16) + stored_bits("exp_top3", b, bf16)
    assert bits == 2 * (3 * 8 + 42 * 10)  # each its own table: no escapes
    assert ratio_steps("exp_top3", [a, b], bf16) == -(-bits * RATIO_STEPS // (84 * 16))
    assert ratio_steps("exp_top3", [a, b], bf16) != ratio_steps("exp_top3", np.concatenate((a, b)), bf16)
