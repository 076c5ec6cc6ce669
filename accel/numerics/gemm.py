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
def _gemm_float_sequential(a, bt, c, mantissa_bits, min_exponent, max_value, has_inf):
    overflows = 0
    for i in range(a.shape[0]):
        for j in range(bt.shape[0]):
            acc = 0.0
            for k in range(a.shape[1]):
                acc, overflowed = mac_float(acc, a[i, k], bt[j, k], mantissa_bits, min_exponent, max_value,
                                            has_inf)
                overflows += overflowed
            c[i, j] = acc
    return overflows


@njit
def _gemm_float32(a, b, c):
    """``c += a · b`` in float32, i-k-j order: every output still sums k = 0 … K−1 in turn."""
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            aik = a[i, k]
            for j in range(b.shape[1]):
                c[i, j] += aik * b[k, j]


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
    mags = []
    for m in (a, b):
        finite = np.abs(m[np.isfinite(m) & (m != 0)])
        if finite.size == 0:
            return True  # every product is zero, ±inf or NaN: exact in float32
        mags.append((float(finite.min()), float(finite.max())))
    return mags[0][0] * mags[1][0] >= _FP32_MIN_NORMAL and mags[0][1] * mags[1][1] <= _FP32_MAX


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
        overflows = _gemm_float_sequential(
            np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b.T, np.float64), values,
            acc.mantissa_bits, acc.min_exponent, acc.max_value, acc.has_inf)
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
    max_a = int(np.abs(a).max()) if a.size else 0
    max_b = int(np.abs(b).max()) if b.size else 0
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
        return GemmResult(c << shift, 0, 0, "blas")
    c = np.zeros((a.shape[0], b.shape[1]), np.int64)
    saturations = _gemm_fixed_sequential(a, b, c, shift, acc.min_code, acc.max_code)
    return GemmResult(c, int(saturations), 0, "sequential")
