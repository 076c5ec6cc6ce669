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
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic

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


@intrinsic
def _fma32(typingctx, x, y, z):
    """``x · y + z`` rounded once to float32 (LLVM's ``llvm.fma.f32``: one ``vfmadd`` where the CPU
    has FMA). Only for products that are exact in float32, where it rounds as ``x * y + z`` does."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f32, [f32, f32, f32]), "llvm.fma.f32")
        return builder.call(fma, args)

    return sig, codegen


@njit
def _gemm_float32(a, b, c):
    """``c = a · b`` summed in float32, k = 0 … K−1 in turn for every output; returns how many
    outputs are not finite.

    ``c`` is float64 (each output is a float32 sum, exact in float64); ``a`` may be float32 or
    float64 holding float32 values (each element is read once, so it is cast on the fly).
    Four rows of sums advance together in a float32 scratch that stays in L1, so each load of
    ``b`` serves four rows, and four steps of k are applied per load and store of a sum,
    ``(((s + p_k) + p_{k+1}) + p_{k+2}) + p_{k+3}``: the same roundings in the same order, a
    quarter of the stores. Each step is a fused multiply-add, which rounds ``p + s`` once, as
    the separate add does, because the caller guarantees every product is exact in float32.
    """
    m, depth, n = a.shape[0], a.shape[1], b.shape[1]
    sums = np.empty((4, n), np.float32)
    nonfinite = 0
    for i in range(0, m, 4):
        rows = min(4, m - i)
        sums[:] = 0.0
        if rows == 4:
            s0, s1, s2, s3 = sums[0], sums[1], sums[2], sums[3]
            whole = depth - depth % 4
            for k in range(0, whole, 4):
                a00, a01, a02, a03 = (np.float32(a[i, k]), np.float32(a[i, k + 1]), np.float32(a[i, k + 2]),
                                      np.float32(a[i, k + 3]))
                a10, a11, a12, a13 = (np.float32(a[i + 1, k]), np.float32(a[i + 1, k + 1]),
                                      np.float32(a[i + 1, k + 2]), np.float32(a[i + 1, k + 3]))
                a20, a21, a22, a23 = (np.float32(a[i + 2, k]), np.float32(a[i + 2, k + 1]),
                                      np.float32(a[i + 2, k + 2]), np.float32(a[i + 2, k + 3]))
                a30, a31, a32, a33 = (np.float32(a[i + 3, k]), np.float32(a[i + 3, k + 1]),
                                      np.float32(a[i + 3, k + 2]), np.float32(a[i + 3, k + 3]))
                b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
                for j in range(n):
                    x0, x1, x2, x3 = b0[j], b1[j], b2[j], b3[j]
                    s0[j] = _fma32(a03, x3, _fma32(a02, x2, _fma32(a01, x1, _fma32(a00, x0, s0[j]))))
                    s1[j] = _fma32(a13, x3, _fma32(a12, x2, _fma32(a11, x1, _fma32(a10, x0, s1[j]))))
                    s2[j] = _fma32(a23, x3, _fma32(a22, x2, _fma32(a21, x1, _fma32(a20, x0, s2[j]))))
                    s3[j] = _fma32(a33, x3, _fma32(a32, x2, _fma32(a31, x1, _fma32(a30, x0, s3[j]))))
            for k in range(whole, depth):  # the last K mod 4 steps, one at a time
                a0, a1 = np.float32(a[i, k]), np.float32(a[i + 1, k])
                a2, a3 = np.float32(a[i + 2, k]), np.float32(a[i + 3, k])
                bk = b[k]
                for j in range(n):
                    x = bk[j]
                    s0[j] = _fma32(a0, x, s0[j])
                    s1[j] = _fma32(a1, x, s1[j])
                    s2[j] = _fma32(a2, x, s2[j])
                    s3[j] = _fma32(a3, x, s3[j])
        else:  # the last M mod 4 rows, one at a time
            for r in range(rows):
                sr = sums[r]
                for k in range(depth):
                    ark = np.float32(a[i + r, k])
                    bk = b[k]
                    for j in range(n):
                        sr[j] = _fma32(ark, bk[j], sr[j])
        for r in range(rows):
            sr, cr = sums[r], c[i + r]
            for j in range(n):
                cr[j] = sr[j]
                if not np.isfinite(sr[j]):
                    nonfinite += 1
    return nonfinite


@njit
def _finite_magnitude_bits(bits, abs_mask, inf_bits):
    """Bit patterns of the smallest and largest finite non-zero magnitudes among float bit patterns
    (int32 for float32, int64 for float64); ``(inf_bits, 0)`` if there are none.

    For magnitudes the integer order of the bits is the order of the values (about 0.25 ns per
    element; a select-based loop on the float values was slower).
    """
    lo, hi = inf_bits, inf_bits & 0  # hi: a 0 of the bits' type
    for i in range(bits.size):
        mag = bits[i] & abs_mask
        if 0 < mag < inf_bits:
            lo = min(lo, mag)
            hi = max(hi, mag)
    return lo, hi


_FLOAT_BITS = {np.dtype(np.float32): (np.int32, 0x7FFFFFFF, 0x7F800000),
               np.dtype(np.float64): (np.int64, 0x7FFFFFFFFFFFFFFF, 0x7FF0000000000000)}


def _finite_magnitude_range(x: np.ndarray) -> tuple[float, float]:
    """``(smallest, largest)`` finite non-zero magnitude of a contiguous float32 or float64 array;
    ``(inf, 0.0)`` if none. One pass over the bits, no temporaries."""
    int_type, abs_mask, inf_bits = _FLOAT_BITS[x.dtype]
    lo, hi = _finite_magnitude_bits(x.reshape(-1).view(int_type), int_type(abs_mask), int_type(inf_bits))
    return float(int_type(lo).view(x.dtype)), float(int_type(hi).view(x.dtype))


@njit
def _code_range(x, as_float32):
    """``(smallest, largest)`` element of a non-empty 2-D integer array, in one pass that also
    writes the codes as float32 into ``as_float32``: exact wherever they are below 2**24 in
    magnitude, which is when the BLAS route uses them. The conversion goes through int32 (which
    AVX2 converts 8 at a time; it has no int64 conversion), so larger codes come out wrong there."""
    lo = hi = x[0, 0]
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = x[i, j]
            as_float32[i, j] = np.float32(np.int32(v))
            lo = min(lo, v)
            hi = max(hi, v)
    return lo, hi


@njit
def _float32_to_codes(x, codes):
    """``codes = x`` for float32 integers below 2**24 in magnitude, through int32 (8 at a time on AVX2)."""
    for i in range(x.size):
        codes[i] = np.int32(x[i])


def _max_abs_code(x: np.ndarray) -> tuple[int, np.ndarray]:
    """The largest magnitude among the codes ``x``, and ``x`` as float32."""
    as_float32 = np.empty(x.shape, np.float32)
    if x.size == 0:
        return 0, as_float32
    lo, hi = _code_range(x, as_float32)
    return max(int(hi), -int(lo)), as_float32  # Python ints: |−2**63| does not wrap


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


def _float_operand(x: np.ndarray) -> np.ndarray:
    """``x`` itself if it is a contiguous float32 or float64 array, else a contiguous float64 copy."""
    if x.dtype in _FLOAT_BITS and x.flags.c_contiguous:
        return x
    return np.ascontiguousarray(x, np.float32 if x.dtype == np.float32 else np.float64)


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
        a: (M, K) values already quantized to ``a_fmt`` (float32, as ``quantize`` returns them,
            or float64; float32 C-contiguous operands are used without a copy).
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
    a, b = _float_operand(a), _float_operand(b)
    values = np.empty((a.shape[0], b.shape[1]), np.float64)
    if _fits_float32_route(a, b, a_f, b_f, acc):
        # a is read element by element (cast in the kernel); b row by row, so it is made float32 once
        nonfinite = _gemm_float32(a, b.astype(np.float32, copy=False), values)
        overflows, route = 0, "float32"
        if nonfinite:  # count overflows exactly where they may have happened
            rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
            redo = gemm_float(a[rows], b, "fp32", "fp32", "fp32")  # fp32 operand formats: the sequential kernel
            overflows = redo.saturations
        return GemmResult(values, int(overflows), int(nonfinite), route)
    a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
    overflows = _gemm_float_sequential(a, b, values, acc.mantissa_bits, acc.min_exponent, acc.max_value,
                                       acc.has_inf)
    return GemmResult(values, int(overflows), int((~np.isfinite(values)).sum()), "sequential")


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
    (max_a, a32), (max_b, b32) = _max_abs_code(a), _max_abs_code(b)
    if (max_a * max_b) << shift > acc.max_code + 1:
        raise ValueError(f"a product of codes up to {max_a} and {max_b} (shifted by {shift}) "
                         f"does not fit the accumulator {acc_fmt}")
    bound = a.shape[1] * max_a * max_b  # no partial sum of |products| exceeds it
    if bound << shift <= acc.max_code:  # cannot saturate: the exact integer product
        if bound < 2**24:  # every code and every partial sum is an integer exact in float32
            c32 = np.matmul(a32, b32, out=np.empty((a.shape[0], b.shape[1]), np.float32))
            c = np.empty(c32.shape, np.int64)
            _float32_to_codes(c32.reshape(-1), c.reshape(-1))
        elif bound < 2**53:
            c = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
        else:
            c = a @ b
        return GemmResult(c << shift if shift else c, 0, 0, "blas")
    c = np.zeros((a.shape[0], b.shape[1]), np.int64)
    saturations = _gemm_fixed_sequential(a, b, c, shift, acc.min_code, acc.max_code)
    return GemmResult(c, int(saturations), 0, "sequential")
