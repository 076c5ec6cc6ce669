"""Bit-exact GEMM kernels: ``C = A · B`` accumulated in the accumulator format, k = 0 … K−1.

Each output is accumulated in the order a systolic column accumulates, rounding (or
saturating) after every add, exactly as ``accel.numerics.mac`` defines one step. Where
exactness allows a faster route the wrappers take it, and the tests prove it equal:

* fp32 accumulation of operands whose significands together fit in 24 bits, with every product
  inside fp32's normal range: each product is exact in float32 and each float32 add is the
  correctly rounded sum, so a vectorised float32 loop gives the same bits.
* integer codes whose every partial sum is bounded below the accumulator's limit cannot
  saturate, and the result is the exact integer product, which BLAS computes exactly in float32
  (bound < 2**24) or float64 (bound < 2**53), in any order.
"""

from dataclasses import dataclass

import numpy as np

from accel.jit import njit
from accel.numerics.formats import NumberFormat, get_format
from accel.numerics.mac import mac_fixed, mac_float

_FP32_MIN_NORMAL = 2.0**-126
_FP32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True, slots=True)
class GemmResult:
    """What a GEMM on the MAC array produced.

    Attributes:
        values: (M, N) accumulator contents: float64 values of a float accumulator format, or
            int64 codes of a fixed-point one.
        saturations: Adds whose result left the accumulator's range (fixed point: clipped;
            floats: overflowed to ±inf).
        nonfinite: Output elements that are NaN or ±inf.
        route: Which kernel computed it (``"sequential"``, ``"float32"``, ``"blas"``).
    """

    values: np.ndarray
    saturations: int
    nonfinite: int
    route: str


@njit
def _gemm_float_sequential(a, b, c, mantissa_bits, min_exponent, max_value, has_inf):
    """``c = a · b``, one ``mac_float`` per product, i-k-j order: each output sums k = 0 … K−1 in
    turn, and the outputs of a row are independent chains the CPU overlaps."""
    overflows = 0
    c[:] = 0.0
    for i in range(a.shape[0]):
        ci = c[i]
        for k in range(a.shape[1]):
            aik = a[i, k]
            bk = b[k]
            for j in range(b.shape[1]):
                ci[j], overflowed = mac_float(ci[j], aik, bk[j], mantissa_bits, min_exponent, max_value, has_inf)
                overflows += overflowed
    return overflows


@njit
def _gemm_float32(a, b, c):
    """``c += a · b`` in float32, i-k-j order: every output still sums k = 0 … K−1 in turn.

    Register blocking over i: four rows of ``c`` advance together, so each element of ``b`` is
    loaded once for four multiply-adds (blocking over k would change the order of the sums). The
    products are exact in float32, so even a fused multiply-add would round the same.
    """
    m, n = a.shape[0], b.shape[1]
    i = 0
    while i + 4 <= m:
        c0, c1, c2, c3 = c[i], c[i + 1], c[i + 2], c[i + 3]
        for k in range(a.shape[1]):
            a0, a1, a2, a3 = a[i, k], a[i + 1, k], a[i + 2, k], a[i + 3, k]
            bk = b[k]
            for j in range(n):
                bkj = bk[j]
                c0[j] += a0 * bkj
                c1[j] += a1 * bkj
                c2[j] += a2 * bkj
                c3[j] += a3 * bkj
        i += 4
    for r in range(i, m):  # the last M mod 4 rows, one at a time
        cr = c[r]
        for k in range(a.shape[1]):
            ark = a[r, k]
            bk = b[k]
            for j in range(n):
                cr[j] += ark * bk[j]


@njit
def _finite_magnitude_bits(bits):
    """Bit patterns of the smallest and largest finite non-zero magnitudes among float64 bit
    patterns; those of ``(inf, 0.0)`` if there are none.

    For magnitudes the integer order of the bits is the order of the values (about 0.25 ns per
    element; a select-based loop was slower).
    """
    lo, hi = 0x7FF0000000000000, 0  # the bits of inf and of 0.0
    for i in range(bits.size):
        mag = bits[i] & 0x7FFFFFFFFFFFFFFF
        if 0 < mag < 0x7FF0000000000000:
            lo = min(lo, mag)
            hi = max(hi, mag)
    return lo, hi


def _finite_magnitude_range(x: np.ndarray) -> tuple[float, float]:
    """``(smallest, largest)`` finite non-zero magnitude of a contiguous float64 array; ``(inf, 0.0)`` if none."""
    lo, hi = _finite_magnitude_bits(x.reshape(-1).view(np.int64))
    return float(np.int64(lo).view(np.float64)), float(np.int64(hi).view(np.float64))


@njit
def _code_range(x):
    """``(smallest, largest)`` element of a non-empty 2-D integer array, in one pass without temporaries."""
    lo = hi = x[0, 0]
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            lo = min(lo, x[i, j])
            hi = max(hi, x[i, j])
    return lo, hi


def _max_abs_code(x: np.ndarray) -> int:
    if x.size == 0:
        return 0
    lo, hi = _code_range(x)
    return max(int(hi), -int(lo))  # Python ints: |−2**63| does not wrap


@njit
def _gemm_fixed_sequential(a, b, c, shift, min_code, max_code):
    saturations = 0
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            aik = a[i, k]
            for j in range(b.shape[1]):
                c[i, j], saturated = mac_fixed(c[i, j], (aik * b[k, j]) << shift, min_code, max_code)
                saturations += saturated
    return saturations


def _check_operands(a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"GEMM operands must be (M, K) and (K, N) matrices, got {a.shape} and {b.shape}")


def _fits_float32_route(a: np.ndarray, b: np.ndarray, a_fmt: NumberFormat, b_fmt: NumberFormat,
                        acc: NumberFormat) -> bool:
    """Whether every product is exact in float32 and float32 adds round like the accumulator."""
    if acc.name != "fp32" or a_fmt.significand_bits + b_fmt.significand_bits > 24:
        return False
    (a_lo, a_hi), (b_lo, b_hi) = _finite_magnitude_range(a), _finite_magnitude_range(b)
    if a_hi == 0.0 or b_hi == 0.0:
        return True  # every product is zero, ±inf or NaN: exact in float32
    return a_lo * b_lo >= _FP32_MIN_NORMAL and a_hi * b_hi <= _FP32_MAX


def gemm_float(a: np.ndarray, b: np.ndarray, a_fmt: str, b_fmt: str, acc_fmt: str) -> GemmResult:
    """Exact GEMM of float (or fixed-point valued) operands into a float accumulator.

    Args:
        a: (M, K) values already quantized to ``a_fmt``.
        b: (K, N) values already quantized to ``b_fmt``.
        a_fmt: Format of ``a`` (its significand width decides whether products are exact).
        b_fmt: Format of ``b``.
        acc_fmt: Float accumulator format (``fp32``, ``bf16``, ``fp16``, ...).
    """
    a_f, b_f, acc = get_format(a_fmt), get_format(b_fmt), get_format(acc_fmt)
    _check_operands(a, b)
    a, b = np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64)
    if not acc.is_float:
        raise ValueError(f"gemm_float needs a float accumulator, got {acc_fmt!r}")
    if a_f.significand_bits + b_f.significand_bits > 53:
        raise ValueError(f"products of {a_fmt} and {b_fmt} are not exact in float64; use gemm_fixed on codes")
    if _fits_float32_route(a, b, a_f, b_f, acc):
        c = np.zeros((a.shape[0], b.shape[1]), np.float32)
        _gemm_float32(np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32), c)
        values, overflows, route = c.astype(np.float64), 0, "float32"
        if not np.isfinite(c).all():  # count overflows exactly where they may have happened
            rows = np.flatnonzero(~np.isfinite(c).all(axis=1))
            redo = gemm_float(a[rows], b, "fp32", "fp32", "fp32")  # fp32 operands: the sequential kernel
            overflows = redo.saturations
    else:
        values = np.empty((a.shape[0], b.shape[1]), np.float64)
        overflows = _gemm_float_sequential(a, b, values, acc.mantissa_bits, acc.min_exponent, acc.max_value,
                                           acc.has_inf)
        route = "sequential"
    return GemmResult(values, int(overflows), int((~np.isfinite(values)).sum()), route)


def gemm_fixed(a: np.ndarray, b: np.ndarray, acc_fmt: str, shift: int = 0) -> GemmResult:
    """Exact GEMM of integer codes into a fixed-point accumulator, saturating after every add.

    Args:
        a: (M, K) int64 codes.
        b: (K, N) int64 codes.
        acc_fmt: Fixed-point accumulator format (``int32``, ``fixed<W>_<F>``).
        shift: Left shift aligning a product's binary point with the accumulator's
            (``F_acc − F_a − F_b``; 0 for integer codes with separate scales).

    Raises:
        ValueError: A single product does not fit in the accumulator (it would not be exact).
    """
    acc = get_format(acc_fmt)
    _check_operands(a, b)
    if acc.is_float:
        raise ValueError(f"gemm_fixed needs a fixed-point accumulator, got {acc_fmt!r}")
    if a.dtype != np.int64 or b.dtype != np.int64:
        raise TypeError(f"gemm_fixed takes int64 codes, got {a.dtype} and {b.dtype}")
    if shift < 0:
        raise ValueError(f"shift must be ≥ 0, got {shift}")
    max_a, max_b = _max_abs_code(a), _max_abs_code(b)
    if (max_a * max_b) << shift > acc.max_code + 1:
        raise ValueError(f"a product of codes up to {max_a} and {max_b} (shifted by {shift}) "
                         f"does not fit the accumulator {acc_fmt}")
    bound = a.shape[1] * max_a * max_b  # no partial sum of |products| exceeds it
    if bound << shift <= acc.max_code:  # cannot saturate: the exact integer product
        if bound < 2**24:
            c = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.int64)
        elif bound < 2**53:
            c = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
        else:
            c = a @ b
        return GemmResult(c << shift if shift else c, 0, 0, "blas")
    c = np.zeros((a.shape[0], b.shape[1]), np.int64)
    saturations = _gemm_fixed_sequential(a, b, c, shift, acc.min_code, acc.max_code)
    return GemmResult(c, int(saturations), 0, "sequential")
