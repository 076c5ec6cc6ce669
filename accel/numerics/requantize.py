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
from accel.numerics.rounding import float_quantum_exponent, pow2, random_words, resolve_undecided, round_by

SIG_LIMIT = 2**53
"""Significands must be below this in magnitude (every accumulator of a valid chip is)."""


@njit
def _pairs_to_float(sig, exp, out, mantissa_bits, min_exponent, max_value, has_inf, stochastic, words, undecided):
    for i in range(sig.size):
        mag = abs(sig[i])
        if mag == 0:
            out[i] = 0.0
            continue
        exponent = math.frexp(np.float64(mag))[1] - 1 + exp[i]
        qexp = float_quantum_exponent(exponent, mantissa_bits, min_exponent)
        if qexp <= exp[i]:
            value = np.float64(mag) * pow2(exp[i])
        else:
            k, undecided[i] = round_by(mag, qexp - exp[i], stochastic, words[i] if stochastic else np.uint64(0))
            value = np.float64(k) * pow2(qexp)
        if value > max_value:
            value = math.inf if has_inf else max_value
        out[i] = -value if sig[i] < 0 else value


@njit
def _pairs_to_fixed(sig, exp, codes, scale_exp, width_bits, min_code, max_code, stochastic, words, undecided):
    for i in range(sig.size):
        mag = abs(sig[i])
        if mag == 0:
            codes[i] = 0
            continue
        exponent = math.frexp(np.float64(mag))[1] - 1 + exp[i]
        if exponent >= width_bits - 1 + scale_exp:  # |value| ≥ 2**(W-1) steps: the extreme codes
            codes[i] = min_code if sig[i] < 0 else max_code
            continue
        if scale_exp <= exp[i]:
            k = mag << (exp[i] - scale_exp)
        else:
            k, undecided[i] = round_by(mag, scale_exp - exp[i], stochastic,
                                       words[i] if stochastic else np.uint64(0))
        codes[i] = -k if sig[i] < 0 else min(k, max_code)


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


def round_pairs(sig: np.ndarray, exp: np.ndarray, fmt: NumberFormat, stochastic: bool,
                rng: np.random.Generator | None, scale_exp: int = 0) -> np.ndarray:
    """Rounds exact values ``sig · 2**exp`` once into ``fmt``.

    Args:
        sig: int64 significands, ``|sig| < 2**53``.
        exp: int64 exponents, same shape (or broadcastable).
        fmt: Target format.
        stochastic: Stochastic rounding (draws from ``rng``) instead of half to even.
        rng: Generator for stochastic rounding.
        scale_exp: For a fixed-point ``fmt``: the exponent of one code (value = code · 2**scale_exp).

    Returns:
        float64 values for a float format (±inf or ±max where they overflow) or int64 codes for a
        fixed one (saturated at its extremes), flattened.
    """
    exp = np.ascontiguousarray(np.broadcast_to(exp, np.shape(sig)), np.int64).reshape(-1)
    sig = np.ascontiguousarray(sig, np.int64).reshape(-1)
    if sig.size and int(np.abs(sig).max()) >= SIG_LIMIT:
        raise ValueError("round_pairs takes significands below 2**53 in magnitude")
    words = random_words(rng, sig.size) if stochastic else np.zeros(0, np.uint64)
    undecided = np.zeros(sig.size, np.bool_)
    if fmt.is_float:
        out = np.empty(sig.size, np.float64)
        _pairs_to_float(sig, exp, out, fmt.mantissa_bits, fmt.min_exponent, fmt.max_value, fmt.has_inf,
                        stochastic, words, undecided)
        step = fmt.smallest_step
        quantum = [float_quantum_exponent(fmt.min_exponent, fmt.mantissa_bits, fmt.min_exponent)] * sig.size
    else:
        out = np.empty(sig.size, np.int64)
        _pairs_to_fixed(sig, exp, out, scale_exp, fmt.width_bits, fmt.min_code, fmt.max_code,
                                      stochastic, words, undecided)
        step, quantum = 1, [scale_exp] * sig.size
    for i in np.flatnonzero(undecided):  # every bit discarded: the value is 0 or ±step
        if resolve_undecided(abs(int(sig[i])), int(quantum[i] - exp[i]), rng):
            out[i] = -step if sig[i] < 0 else step
    return out
