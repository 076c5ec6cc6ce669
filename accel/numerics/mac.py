"""Exact multiply-accumulate: the arithmetic of one processing element.

A product of two quantized operands is exact; it is added to the accumulator and the sum is
rounded into the accumulator format after every add (floats: half to even, the exact sum
recovered with ``two_sum``; fixed point: integer codes, saturated at the format's extremes).
The GEMM kernels and the cycle-stepped array both call these two functions, so both produce
the same bits whatever order of loops they run.
"""

import math

from accel.jit import njit
from accel.numerics.rounding import round_float, two_sum


@njit
def mac_float(acc, a, b, mantissa_bits, min_exponent, max_value, has_inf):
    """``round(acc + a·b)`` into a float accumulator format.

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
