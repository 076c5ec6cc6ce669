"""Slow, obvious references for the numerics kernels: exact rational arithmetic, one element at a time."""

import math
from fractions import Fraction

import numpy as np

from accel.numerics import get_format


def _nearest_even(v: Fraction) -> int:
    """Rounds a non-negative rational half to even."""
    lower = math.floor(v)
    frac = v - lower
    if frac > Fraction(1, 2) or (frac == Fraction(1, 2) and lower % 2 == 1):
        return lower + 1
    return lower


def round_exact(v: Fraction, fmt: str) -> float:
    """Rounds the exact rational ``v`` half to even into ``fmt`` (float: value; fixed: value)."""
    f = get_format(fmt)
    mag = abs(v)
    if f.is_float:
        if mag == 0:
            return 0.0
        exponent = math.floor(math.log2(mag))  # refine: log2 of a rational can be off by one
        while Fraction(2) ** exponent > mag:
            exponent -= 1
        while Fraction(2) ** (exponent + 1) <= mag:
            exponent += 1
        quantum = Fraction(2) ** (max(exponent, f.min_exponent) - f.mantissa_bits)
        r = _nearest_even(mag / quantum) * quantum
        if r > Fraction(f.max_value):
            r = math.inf if f.has_inf else f.max_value
        return math.copysign(float(r), -1.0 if v < 0 else 1.0)
    code = _nearest_even(mag * 2**f.frac_bits)
    code = -code if v < 0 else code
    return float(Fraction(min(max(code, f.min_code), f.max_code), 2**f.frac_bits))


def quantize_ref(x: np.ndarray, fmt: str) -> np.ndarray:
    """Round-to-nearest-even of every element of a float32 array, with the special values spelt out."""
    f = get_format(fmt)
    out = []
    for v in np.asarray(x, np.float32).ravel().tolist():
        if math.isnan(v):
            out.append(math.nan)
        elif math.isinf(v):
            if f.is_float:
                out.append(v if f.has_inf else math.copysign(f.max_value, v))
            else:
                out.append(f.max_value if v > 0 else f.min_value)
        elif v == 0.0:
            out.append(v if f.is_float else 0.0)  # fixed point has no -0.0
        else:
            r = round_exact(Fraction(v), fmt)
            out.append(0.0 if (not f.is_float and r == 0) else r)
    return np.array(out, dtype=f.value_dtype).reshape(np.shape(x))


def neighbours(v: float, fmt: str) -> tuple[float, float]:
    """The two representable values around a finite in-range ``v`` (equal if ``v`` is representable)."""
    f = get_format(fmt)
    fv = Fraction(v)
    if f.is_float:
        mag = abs(fv)
        exponent = math.floor(math.log2(mag)) if mag else f.min_exponent
        quantum = Fraction(2) ** (max(exponent, f.min_exponent) - f.mantissa_bits)
    else:
        quantum = Fraction(1, 2**f.frac_bits)
    lower = math.floor(fv / quantum) * quantum
    upper = lower if lower == fv else lower + quantum
    return float(lower), float(upper)


def gemm_float_ref(a: np.ndarray, b: np.ndarray, acc_fmt: str) -> np.ndarray:
    """Accumulates exact products k = 0 … K−1, rounding the exact sum into ``acc_fmt`` after each add."""
    m, kk = a.shape
    n = b.shape[1]
    c = np.empty((m, n))
    for i in range(m):
        for j in range(n):
            acc = 0.0
            for k in range(kk):
                p = float(a[i, k]) * float(b[k, j])  # exact: the operands' significands fit in 53 bits
                if math.isfinite(acc) and math.isfinite(p):
                    acc = round_exact(Fraction(acc) + Fraction(p), acc_fmt)
                else:
                    acc = acc + p
            c[i, j] = acc
    return c


def gemm_fixed_ref(a: np.ndarray, b: np.ndarray, acc_fmt: str, shift: int = 0) -> tuple[np.ndarray, int]:
    """Integer codes, saturating after every add; returns the codes and the number of saturations."""
    f = get_format(acc_fmt)
    c = np.zeros((a.shape[0], b.shape[1]), np.int64)
    saturations = 0
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            acc = 0
            for k in range(a.shape[1]):
                acc += (int(a[i, k]) * int(b[k, j])) << shift
                if acc > f.max_code or acc < f.min_code:
                    saturations += 1
                    acc = min(max(acc, f.min_code), f.max_code)
            c[i, j] = acc
    return c, saturations
