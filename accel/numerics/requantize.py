"""Round exact values ``sig · 2**exp`` (int64 significands) into a format: GEMM results leaving the array.

An accumulator holds either float values or integer codes with a power-of-two scale; both are
exact pairs ``(sig, exp)``. ``round_pairs`` rounds them once into the output format, half to even
or stochastically, with every decision made on the integer significand (as ``quantize`` does for
float32 inputs), so no value is ever rounded twice.
"""

import math

import numpy as np

from accel.jit import njit
from accel.numerics.formats import NumberFormat
from accel.numerics.philox import CHUNK, RandomStream, chunk_words
from accel.numerics.rounding import float_quantum_exponent, pow2, round_by

SIG_LIMIT = 2**53
"""Significands must be below this in magnitude (every accumulator of a valid chip is)."""


@njit
def _pairs_to_float(sig, exp, out, mantissa_bits, min_exponent, max_value, has_inf, stochastic, key, first):
    words = np.zeros(CHUNK, np.uint64)
    for start in range(0, sig.size, CHUNK):
        for i in range(start, chunk_words(key, first, start, sig.size, words, stochastic)):
            mag = abs(sig[i])
            if mag == 0:
                out[i] = 0.0
                continue
            exponent = math.frexp(np.float64(mag))[1] - 1 + exp[i]
            qexp = float_quantum_exponent(exponent, mantissa_bits, min_exponent)
            if qexp <= exp[i]:
                value = np.float64(mag) * pow2(exp[i])
            else:
                k = round_by(mag, qexp - exp[i], stochastic, words[i - start], key, first + np.uint64(i))
                value = np.float64(k) * pow2(qexp)
            if value > max_value:
                value = math.inf if has_inf else max_value
            out[i] = -value if sig[i] < 0 else value


@njit
def pairs_to_fixed(sig, exp, codes, scales, block, width_bits, min_code, max_code, stochastic, key, first):
    """Rounds ``sig · 2**exp`` (``exp``: one exponent each, or one for all) into the fixed-point codes
    ``codes``, value ``i`` at the scale ``2**scales[i // block]`` (one scale: ``block`` ≥ the size)."""
    words = np.zeros(CHUNK, np.uint64)
    for start in range(0, sig.size, CHUNK):
        for i in range(start, chunk_words(key, first, start, sig.size, words, stochastic)):
            mag = abs(sig[i])
            if mag == 0:
                codes[i] = 0
                continue
            e = exp[min(i, exp.size - 1)]  # one exponent for all, or one each
            scale_exp = scales[i // block]
            exponent = math.frexp(np.float64(mag))[1] - 1 + e
            if exponent >= width_bits - 1 + scale_exp:  # |value| ≥ 2**(W-1) steps: the extreme codes
                codes[i] = min_code if sig[i] < 0 else max_code
                continue
            if scale_exp <= e:
                k = mag << (e - scale_exp)
            else:
                k = round_by(mag, scale_exp - e, stochastic, words[i - start], key, first + np.uint64(i))
            codes[i] = -k if sig[i] < 0 else min(k, max_code)


@njit
def shifted_to_fixed(codes, shift, min_code, max_code, stochastic, key, first, out):
    """``pairs_to_fixed`` for one exponent ``shift`` bits above the codes' (1 ≤ shift ≤ 32), branch-free:
    ``round_by``'s decision on the ``shift`` low bits (half to even, or below the word's leading
    ``shift`` bits), then the clamp to the extreme codes, which is the saturation (a magnitude of
    2**(W−1) steps or more clamps, one below keeps its code)."""
    mask = (np.int64(1) << shift) - 1
    half = np.int64(1) << (shift - 1)
    words = np.zeros(CHUNK, np.uint64)
    for start in range(0, codes.size, CHUNK):
        stop = chunk_words(key, first, start, codes.size, words, stochastic)
        c, o = codes[start:stop], out[start:stop]  # views indexed from 0: the loop vectorises
        for j in range(stop - start):
            v = np.int64(c[j])  # int64 codes, or float32 ones (integers below 2**24)
            mag = abs(v)
            k = mag >> shift
            rem = mag & mask
            if stochastic:
                up = (words[j] >> np.uint64(32 - shift)) < np.uint64(rem)
            else:
                up = (rem > half) | ((rem == half) & ((k & 1) == 1))
            k += np.int64(up)
            o[j] = min(max(-k if v < 0 else k, min_code), max_code)


def float_pairs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(sig, exp)`` pairs of finite float64 values: ``values == sig · 2**exp``."""
    mantissa, exponent = np.frexp(np.asarray(values, np.float64))
    return np.ldexp(mantissa, 53).astype(np.int64), exponent.astype(np.int64) - 53


def pow2_scale(max_abs_sig: int, exp: int, fmt: NumberFormat) -> int:
    """The scale ``s`` of ``tensor_pow2``: the smallest with ``max|value| ≤ max_code · 2**s``.

    Args:
        max_abs_sig: Largest significand magnitude of the tensor (its values are ``sig · 2**exp``).
        exp: The exponent of that significand.
        fmt: The fixed-point format of the codes.
    """
    if max_abs_sig == 0:
        return 0

    def fits(d: int) -> bool:  # max_abs_sig · 2**exp ≤ max_code · 2**(exp + d)
        return max_abs_sig << max(-d, 0) <= fmt.max_code << max(d, 0)

    d = max_abs_sig.bit_length() - fmt.max_code.bit_length() - 1  # fits(d - 1) never holds
    while not fits(d):
        d += 1
    return exp + d


def codes_to_fixed(codes: np.ndarray, exp: int, scale_exp: int, fmt: NumberFormat,
                   stream: RandomStream | None) -> np.ndarray:
    """``round_pairs`` of integer codes ``codes · 2**exp`` that share one exponent (a GEMM's accumulators)
    into the fixed-point ``fmt`` at the scale ``2**scale_exp``: the same codes, from the same words.
    int64 codes give int64 codes; float32 codes (integers below 2**24, as the BLAS route leaves them)
    give float32 codes when ``fmt`` has at most 25 bits, which float32 holds exactly."""
    flat = codes.reshape(-1)
    stochastic = stream is not None
    key, first = stream.take(flat.size) if stochastic else (np.uint64(0), np.uint64(0))
    dtype = np.float32 if flat.dtype == np.float32 and fmt.width_bits <= 25 else np.int64
    if 1 <= scale_exp - exp <= 32:  # a stochastic decision on at most 32 bits: the first word decides
        out = np.empty(flat.size, dtype)
        shifted_to_fixed(flat, scale_exp - exp, fmt.min_code, fmt.max_code, stochastic, key, first, out)
        return out
    codes = np.empty(flat.size, np.int64)
    pairs_to_fixed(flat.astype(np.int64, copy=False), np.full(1, exp, np.int64), codes, np.full(1, scale_exp, np.int64),
                   max(flat.size, 1), fmt.width_bits, fmt.min_code, fmt.max_code, stochastic, key, first)
    return codes.astype(dtype, copy=False)


def round_pairs(sig: np.ndarray, exp: np.ndarray, fmt: NumberFormat, stream: RandomStream | None,
                scale_exp: int = 0) -> np.ndarray:
    """Rounds exact values ``sig · 2**exp`` once into ``fmt``.

    Args:
        sig: int64 significands, ``|sig| < 2**53``.
        exp: int64 exponents, same shape (or broadcastable).
        fmt: Target format.
        stream: The Philox stream of stochastic rounding (element ``i`` uses its next words in
            order; ``sig.size`` of them), or None: half to even.
        scale_exp: For a fixed-point ``fmt``: the exponent of one code (value = code · 2**scale_exp).

    Returns:
        float64 values for a float format (±inf or ±max where they overflow) or int64 codes for a
        fixed one (saturated at its extremes), flattened.
    """
    exp = np.ascontiguousarray(np.broadcast_to(exp, np.shape(sig)), np.int64).reshape(-1)
    sig = np.ascontiguousarray(sig, np.int64).reshape(-1)
    if sig.size and int(np.abs(sig).max()) >= SIG_LIMIT:
        raise ValueError("round_pairs takes significands below 2**53 in magnitude")
    stochastic = stream is not None
    key, first = stream.take(sig.size) if stochastic else (np.uint64(0), np.uint64(0))
    if fmt.is_float:
        out = np.empty(sig.size, np.float64)
        _pairs_to_float(sig, exp, out, fmt.mantissa_bits, fmt.min_exponent, fmt.max_value, fmt.has_inf,
                        stochastic, key, first)
    else:
        out = np.empty(sig.size, np.int64)
        pairs_to_fixed(sig, exp, out, np.full(1, scale_exp, np.int64), max(sig.size, 1), fmt.width_bits, fmt.min_code,
                       fmt.max_code, stochastic, key, first)
    return out
