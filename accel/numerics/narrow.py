"""Narrow float formats rounded to nearest in float32 lanes: the vector unit's common programs at SIMD speed.

A format of at most 11 significand bits (bf16, fp16, fp8) rounded to nearest computes each
step of ``relu``, ``add``, ``mul``, ... in float32 here instead of float64, and rounds it on the
float32 bits with 32-bit integer operations, eight lanes to a 256-bit vector. The results are
the ``fused_*`` kernels' (``accel.numerics.elementwise``) bit for bit, because:

- +, − and × of two values of such a format, computed in float32 (24 bits ≥ 2·11 + 2) and
  rounded again into the format, give the exact result rounded once (Figueroa 1995), as the
  float64 step does; a product of two such values has at most 22 bits and is exact in float32
  unless it lies below float32's smallest normal (only bf16 reaches there), and a sum there is
  a multiple of the format's smallest step, exact too. An array holding a nonzero bf16 operand of
  a product up to 2**-62 (whose product float32 might round, to a zero of the wrong sign among
  others) is left to the float64 kernel.
- The rounding: half to even on the bits above the smallest normal (a carry out of the fraction
  lands in the exponent), ``(|v| + magic) − magic`` below it, sign restored afterwards, so an
  exact zero is +0.0 and an underflow keeps its sign, as ``_nearest_float`` rounds.
- Saturations and NaN/inf: a kernel tracks the largest magnitude (as bits: NaN above inf) of
  every input and every step before rounding; below the format's largest value nothing
  saturated and every result is finite, as float64 would have found (a float32 result below
  it means an exact one below it). Otherwise, or after a tiny product, the kernel returns False
  and the caller runs the float64 kernel, which counts them: a rare path per array.

Each kernel takes the ``fused_*`` kernel's arguments plus ``lane_params(fmt)`` after
``format_params`` and returns whether it produced the results (then with no saturation and no
NaN/inf).
"""

import numpy as np

from accel.jit import njit
from accel.numerics.elementwise import _const
from accel.numerics.formats import NumberFormat

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_MAGNITUDE = np.uint32(0x7FFFFFFF)
_TINY = 2.0**-126  # float32's smallest normal: below it a product may be inexact
_SMALL = np.float32(2.0**-62).view(np.uint32)


def lane_params(fmt: NumberFormat) -> tuple | None:
    """The constants the float32 kernels round ``fmt`` with, or None where they do not apply (fixed
    point, fp32, or more than 11 significand bits): (lowest kept bit, half a step minus one, mask of
    the kept bits, magic below the smallest normal, smallest normal, bits of the largest value, whether
    a product of two nonzero values may fall below float32's normal range: bf16's)."""
    if not fmt.is_float or fmt.mantissa_bits > 10:
        return None
    drop = 23 - fmt.mantissa_bits
    return (np.uint32(1 << drop), np.uint32((1 << (drop - 1)) - 1), np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF),
            np.float32(2.0 ** (fmt.min_exponent - fmt.mantissa_bits + 23)), np.float32(2.0**fmt.min_exponent),
            np.float32(fmt.max_value).view(np.uint32), fmt.smallest_step**2 < _TINY)


@njit
def _rn(v, q):
    """The float32 ``v`` rounded half to even into the format ``q`` (finite ``|v|`` below its largest
    value; the integer operations stay 32 bits wide: no variable shift, so they vectorise 8 lanes wide)."""
    a = abs(v)
    bits = np.float32(a).view(np.uint32)
    r = np.uint32((bits + q[1] + np.uint32((bits & q[0]) != 0)) & q[2]).view(np.float32)
    r = (a + q[3]) - q[3] if a < q[4] else r
    return -r if v < _ZERO else r


@njit
def _mag(v):
    """The bits of ``|v|`` (NaN above inf above every finite value)."""
    return np.uint32(np.float32(v).view(np.uint32) & _MAGNITUDE)


@njit
def _top(top, v):
    return np.uint32(max(top, _mag(v)))


@njit
def _tiny(x, q):
    """Whether ``x`` holds a nonzero value of at most 2**-62, in a format whose products may fall
    below float32's normal range (``q[6]``): values above 2**-62 round to at least 2**-63, so the
    product of two is at least 2**-126. (A loop of its own: in the kernel's loop it would keep that
    loop from vectorising; on the bits, 0 wrapping round to the largest.)"""
    tiny = np.uint32(0)
    if q[6]:
        for i in range(x.size):
            tiny = np.uint32(max(tiny, _tiny_bits(x[i])))
    return tiny != 0


@njit
def _tiny_bits(v):
    """1 when float32 ``v`` is nonzero and at most 2**-62 in magnitude, else 0 (``_tiny`` of one value)."""
    return np.uint32(np.uint32(_mag(v) - np.uint32(1)) < _SMALL)


@njit
def _const32(c, p):
    """The constant ``c`` rounded as ``fused_*`` rounds it (from float64), as float32, and its magnitude bits
    (at least the largest value's where it saturated)."""
    r, _ = _const(c, p)
    return np.float32(r), _mag(np.float32(r))


@njit
def relu(x, p, q, out):
    top = np.uint32(0)
    for i in range(x.size):
        xi = x[i]
        a = _rn(xi, q)
        out[i] = a if a > _ZERO else _ZERO
        top = _top(top, xi)
    return top < q[5]


@njit
def relu_grad(x, dy, p, q, out):
    top = np.uint32(0)
    for i in range(x.size):
        xi, di = x[i], dy[i]
        out[i] = _rn(di, q) if _rn(xi, q) > _ZERO else _ZERO
        top = _top(_top(top, xi), di)
    return top < q[5]


@njit
def add(x, y, p, q, out):
    top = np.uint32(0)
    for i in range(x.size):
        xi, yi = x[i], y[i]
        s = _rn(xi, q) + _rn(yi, q)
        out[i] = _rn(s, q)
        top = _top(_top(_top(top, xi), yi), s)
    return top < q[5]


@njit
def mul(x, y, p, q, out):
    top = np.uint32(0)
    for i in range(x.size):
        xi, yi = x[i], y[i]
        prod = _rn(xi, q) * _rn(yi, q)
        out[i] = _rn(prod, q)
        top = _top(_top(_top(top, xi), yi), prod)
    return top < q[5] and not (_tiny(x, q) or _tiny(y, q))


@njit
def fma(x, y, z, p, q, out):
    top = np.uint32(0)
    for i in range(x.size):
        xi, yi, zi = x[i], y[i], z[i]
        prod = _rn(xi, q) * _rn(yi, q)
        s = _rn(prod, q) + _rn(zi, q)
        out[i] = _rn(s, q)
        top = _top(_top(_top(_top(_top(top, xi), yi), zi), prod), s)
    return top < q[5] and not (_tiny(x, q) or _tiny(y, q))


@njit
def scale(x, factor, p, q, out):
    f, top = _const32(factor, p)
    for i in range(x.size):
        xi = x[i]
        prod = _rn(xi, q) * f
        out[i] = _rn(prod, q)
        top = _top(_top(top, xi), prod)
    return top < q[5] and not (_tiny(x, q) or (q[6] and _tiny_bits(f)))


@njit
def maximum(x, y, p, q, out):
    top = np.uint32(0)
    for i in range(x.size):
        xi, yi = x[i], y[i]
        a, b = _rn(xi, q), _rn(yi, q)
        out[i] = a if a > b else b
        top = _top(_top(top, xi), yi)
    return top < q[5]


@njit
def minimum(x, y, p, q, out):
    top = np.uint32(0)
    for i in range(x.size):
        xi, yi = x[i], y[i]
        a, b = _rn(xi, q), _rn(yi, q)
        out[i] = a if a < b else b
        top = _top(_top(top, xi), yi)
    return top < q[5]


@njit
def tanh_grad(y, dy, p, q, out):
    top = np.uint32(0)
    for i in range(y.size):
        yi, di = y[i], dy[i]
        a = _rn(yi, q)
        sq = a * a
        one_minus = _ONE - _rn(sq, q)
        prod = _rn(di, q) * _rn(one_minus, q)
        out[i] = _rn(prod, q)
        top = _top(_top(_top(_top(_top(top, yi), di), sq), one_minus), prod)
    # 1 − y², rounded, is 0 or at least 2**-(mantissa bits + 1): _tiny of y and dy covers both products
    return top < q[5] and not (_tiny(y, q) or _tiny(dy, q))


@njit
def sum_rows(x, cols, p, q, out):
    """Column sums of the row-major ``(x.size // cols, cols)`` matrix ``x``, row 0 first (the rows in
    the outer loop: each add runs across the columns)."""
    top = np.uint32(0)
    for j in range(cols):
        xj = x[j]
        out[j] = _rn(xj, q)
        top = _top(top, xj)
    for row in range(1, x.size // cols):
        xr = x[row * cols:(row + 1) * cols]
        for j in range(cols):
            xj = xr[j]
            s = out[j] + _rn(xj, q)
            out[j] = _rn(s, q)
            top = _top(_top(top, xj), s)
    return top < q[5]
