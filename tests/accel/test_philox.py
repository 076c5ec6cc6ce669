"""The chip's Philox4x32-10 stream: the kernels against Random123's known answers and a plain NumPy
implementation, the stream's bookkeeping, and stochastic rounding against its exact definition."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import further_words, neighbours, philox4x32_10, philox_words, stochastic_ref
from test_quantize import same_bits

from accel import Accelerator, load_config
from accel.config import with_overrides
from accel.numerics import elementwise as ew
from accel.numerics import get_format, quantize, quantize_codes
from accel.numerics.philox import CHUNK, RandomStream, fill_words, further_word, main_word, philox4x32
from accel.numerics.requantize import round_pairs

U64 = np.uint64
# Random123's kat_vectors for philox4x32 with 10 rounds: counter lanes, key lanes, output lanes
KAT = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
       ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
       ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]


@pytest.mark.parametrize("counter, key, want", KAT)
def test_philox_gives_random123s_known_answers(counter, key, want):
    key64 = key[0] | key[1] << 32
    x, y = philox4x32(*(U64(c) for c in counter), U64(key64))
    assert (int(x), int(y)) == (want[0] << 32 | want[1], want[2] << 32 | want[3])
    assert philox4x32_10(np.array([counter], np.uint64), key64)[0].tolist() == list(want)


@settings(max_examples=60, deadline=None)
@given(key=st.integers(0, 2**64 - 1), first=st.integers(0, 2**64 - 1 - 3 * CHUNK), n=st.integers(0, 3 * CHUNK))
def test_kernel_words_are_the_plain_numpy_stream(key, first, n):
    out = np.empty(n, np.uint64)
    fill_words(U64(key), U64(first), out, 0, n)
    assert np.array_equal(out, philox_words(key, first, n))
    if n:
        assert main_word(U64(key), U64(first + n - 1)) == out[-1]
    assert [int(further_word(U64(key), U64(first), t)) for t in range(5)] == further_words(key, first, 5)


def test_words_are_unbiased_bits():
    words = np.empty(1 << 16, np.uint64)
    fill_words(U64(12345), U64(0), words, 0, words.size)
    n = words.size
    assert int(words.max()) < 2**32  # main words are 32 bits
    for bit in (0, 15, 31):  # each bit is 1 half the time (binomial z-test)
        ones = int(((words >> U64(bit)) & U64(1)).sum())
        assert abs(ones - n / 2) / math.sqrt(n / 4) < 4.5


def test_the_stream_reserves_words_in_order_and_keys_from_its_sources():
    stream = RandomStream(7, 2**64 - 1)
    assert stream.take(3) == (7, 2**64 - 1) and stream.state() == (7, 2)  # the counter wraps round 2**64
    assert RandomStream.from_seed(0).state() != RandomStream.from_seed(1).state()
    assert RandomStream.from_seed(3).state() == RandomStream.from_seed(3).state()
    rng, twin = np.random.default_rng(5), np.random.default_rng(5)
    assert RandomStream.from_generator(rng).state() == (int(twin.integers(0, 2**64, dtype=np.uint64)), 0)


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "fp32", "int8", "fixed16_8"])
def test_stochastic_quantize_is_the_exact_definition_with_the_plain_stream(fmt):
    rng = np.random.default_rng(len(fmt))
    x = (rng.standard_normal(700) * 2.0 ** rng.integers(-12, 12, 700)).astype(np.float32)
    x[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40]
    key = int(np.random.default_rng(9).integers(0, 2**64, dtype=np.uint64))
    assert same_bits(quantize(x, fmt, "stochastic", np.random.default_rng(9)), stochastic_ref(x, fmt, key))
    if not get_format(fmt).is_float:  # the chip's own stream, from word 40 on
        codes, nan = quantize_codes(x, fmt, "stochastic", RandomStream(key, 40))
        want = stochastic_ref(x, fmt, key, 40)
        assert np.array_equal(np.where(nan, np.nan, codes * get_format(fmt).smallest_step), want, equal_nan=True)


@pytest.mark.parametrize("fmt", ["bf16", "fp8_e4m3", "int8", "fixed16_8"])
def test_chunks_already_in_the_format_skip_their_words_and_keep_the_rest_in_place(fmt):
    # a chunk of values already in the format needs no words; the chunks after it still take theirs
    # from the counter positions of their own elements
    rng = np.random.default_rng(3)
    off_grid = (rng.standard_normal(2 * CHUNK + 7) * 4).astype(np.float32)
    on_grid = quantize(off_grid, fmt)
    x = np.concatenate([on_grid[:CHUNK], off_grid[CHUNK:], on_grid[:CHUNK + 3], off_grid[:9]])
    key = 0x1234_5678_9ABC_DEF0
    assert same_bits(quantize(x, fmt, "stochastic", RandomStream(key, 5)), stochastic_ref(x, fmt, key, 5))
    fixed = get_format(fmt)
    if not fixed.is_float:
        codes, _ = quantize_codes(x, fmt, "stochastic", RandomStream(key, 5))
        assert np.array_equal(codes * fixed.smallest_step, stochastic_ref(x, fmt, key, 5))
    state, got = np.zeros(ew.STATE_SIZE, np.int64), x.astype(np.float64)
    ew.round_step(got, ew.format_params(fixed, False, True), np.array([key, 5], np.uint64), state)
    assert same_bits(got, stochastic_ref(x, fmt, key, 5).astype(np.float64)) and state[1] == x.size


@pytest.mark.parametrize("master_rounding, adam_words", [("stochastic", 18 * 40 + 8), ("nearest", 0)])
def test_a_chip_uses_one_word_per_rounded_value_whatever_the_values(master_rounding, adam_words):
    def spent(seed: int) -> int:
        chip = Accelerator(with_overrides(load_config("edge-int8"), {"formats.master_rounding": master_rounding}))
        x = np.random.default_rng(seed).standard_normal((8, 5)).astype(np.float32) * seed
        chip.gemm(x, x.T)
        chip.vector.adam(x, x, x, np.abs(x), step=1, lr=1e-3)
        return chip.rng.counter

    assert spent(0) == spent(1) == (40 + 40 + 64) + adam_words


@pytest.mark.parametrize("fmt, value", [("int8", 0.3), ("int8", -2.7), ("bf16", 1 + 2.0**-9), ("fp32", -(1 + 2.0**-25)),
                                        ("fp8_e4m3", 0.3)])
def test_vector_steps_and_accumulators_round_without_bias(fmt, value):
    # a binomial z-test of each kernel that rounds float64 values: the vector unit's steps, GEMM results
    n = 100_000
    f = get_format(fmt)
    lower, upper = (math.copysign(b, value) for b in neighbours(abs(value), fmt))
    p = abs(value - lower) / abs(upper - lower)
    steps = np.full(n, value)
    ew.round_step(steps, ew.format_params(f, False, True), np.array([3, 11], np.uint64),
                  np.zeros(ew.STATE_SIZE, np.int64))
    sig, exp = np.frexp(np.full(n, value))
    pairs = round_pairs(np.ldexp(sig, 53).astype(np.int64), exp.astype(np.int64) - 53, f, RandomStream(4))
    for got in (steps, pairs * (1.0 if f.is_float else f.smallest_step)):
        assert set(np.unique(got).tolist()) <= {lower, upper}
        ups = int((got == upper).sum())
        assert abs(ups - n * p) / math.sqrt(n * p * (1 - p)) < 4.5, (fmt, ups, n * p)


@pytest.mark.parametrize("fmt", ["int8", "fixed16_8", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2"])
def test_decisions_at_the_word_itself_go_the_exact_way(fmt):
    # values whose discarded part, in units of the step, is the leading d bits of their own word (rounds
    # down: U ≥ it) or one unit of the d-th bit more (rounds up): the branch-free shortcuts at their edge
    f = get_format(fmt)
    d, base, step = (24, 0.0, f.smallest_step) if not f.is_float else (23 - f.mantissa_bits, 1.0, 2.0**-f.mantissa_bits)
    key = int(np.random.default_rng(3).integers(0, 2**64, dtype=np.uint64))
    lead = (philox_words(key, 0, 4000) >> U64(32 - d)).astype(np.float64) + np.arange(4000) % 2
    x = (base + lead * 2.0**-d * step).astype(np.float32)  # exact: d bits below one step
    got = quantize(x, fmt, "stochastic", np.random.default_rng(3))
    assert same_bits(got, stochastic_ref(x, fmt, key))
    assert np.array_equal(got != base, np.arange(4000) % 2 == 1)  # the even ones down, the odd ones up
