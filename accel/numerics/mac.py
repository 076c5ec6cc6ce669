"""Exact multiply-accumulate: the arithmetic of one processing element.

A product of two quantized operands is exact; it is added to the accumulator and the sum is
rounded into the accumulator format after every add (floats: half to even, the exact sum
recovered with ``two_sum`` where the float64 sum alone cannot decide; fixed point: integer
codes, saturated at the format's extremes).
The GEMM kernels and the cycle-stepped array both call these two functions, so both produce
the same bits whatever order of loops they run.
"""

import math

import numpy as np

from accel.jit import njit
from accel.numerics.rounding import pow2, round_float, two_sum


@njit
def _round_unless_tie(s, mantissa_bits, min_exponent, max_value):
    """``s`` rounded to nearest into a float format, or NaN where that needs the exact sum.

    The rounding is done on the float64 bit pattern: adding half a step carries into the
    exponent exactly when the value rounds up to the next binade. NaN is returned where ``s``
    lies outside ``[2**min_exponent, max_value)`` (subnormal steps, overflow, zero) or is a tie
    (its discarded bits are exactly ``10…0``); then the error term of the sum decides.
    """
    if not pow2(min_exponent) <= abs(s) < max_value:
        return math.nan
    drop = 52 - mantissa_bits  # float64 fraction bits below the format's last bit
    half = np.int64(1) << (drop - 1)
    bits = np.float64(s).view(np.int64)
    if bits & ((half << 1) - 1) == half:
        return math.nan
    return np.int64((bits + half) & -(half << 1)).view(np.float64)


@njit
def mac_float(acc, a, b, mantissa_bits, min_exponent, max_value, has_inf):
    """``round(acc + a·b)`` into a float accumulator format.

    Fast path without the error term: let ``x = acc + a·b`` exactly and ``s = fl64(x)``. If the
    format rounds ``x`` and ``s`` differently, one of its midpoints lies in the closed interval
    between them (rounding to nearest is a step function that changes only at midpoints). A
    midpoint has ``mantissa_bits + 2 ≤ 53`` significant bits, so it is a float64: strictly
    between ``x`` and ``s`` it would be a float64 nearer to ``x`` than ``s``, which contradicts
    ``s = fl64(x)``; equal to ``x``, ``x`` is a float64 and so ``s = x``. Hence, unless ``s``
    itself is a midpoint, rounding ``s`` gives the bits of rounding ``x``. ``_round_unless_tie``
    refuses ties and the ranges where steps or overflow differ; those take ``two_sum`` and
    ``round_float``.

    Args:
        acc: The accumulator (float64 holding a value of the format).
        a: First operand (float64; its significand bits plus ``b``'s must not exceed 53).
        b: Second operand.
        mantissa_bits: Stored mantissa bits of the accumulator format.
        min_exponent: Exponent of its smallest normal number.
        max_value: Its largest finite value.
        has_inf: Whether it overflows to ±inf (True) or saturates.

    Returns:
        ``(acc, overflowed)``: the new accumulator and whether a sum of finite values overflowed.
    """
    p = a * b
    if not (math.isfinite(acc) and math.isfinite(p)):
        return acc + p, False  # inf and NaN propagate as IEEE addition says
    r = _round_unless_tie(acc + p, mantissa_bits, min_exponent, max_value)
    if r == r:  # in range, not a tie, so below max_value: no overflow
        return r, False
    s, e = two_sum(acc, p)
    r = round_float(s, e, mantissa_bits, min_exponent, max_value, has_inf)
    return r, not math.isfinite(r) or (not has_inf and abs(r) == max_value and abs(s) > max_value)


@njit
def mac_fixed(acc, p, min_code, max_code):
    """``acc + p`` on integer codes, saturated at ``[min_code, max_code]`` (overflow-safe in int64).

    Returns:
        ``(acc, saturated)``.
    """
    if p > 0 and acc > max_code - p:
        return max_code, True
    if p < 0 and acc < min_code - p:
        return min_code, True
    return acc + p, False
