"""Bit-exact GEMM kernels: ``C = A · B`` accumulated in the accumulator format, k = 0 … K−1.

Each output is accumulated in the order a systolic column accumulates, rounding (or
saturating) after every add, exactly as ``accel.numerics.mac`` defines one step. Where
exactness allows a faster route the wrappers take it, and the tests prove it equal:

* fp32 accumulation of operands that are float32 values (every float format, fixed point of at
  most 24 bits): ``mac_float`` returns ``acc + a·b`` (the exact product) rounded once to fp32,
  subnormals kept, overflow to ±inf. That is the definition of IEEE 754's fused multiply-add
  ``fma(a, b, acc)`` in binary32 (``llvm.fma.f32``), whatever the operands' widths, so a
  vectorised FMA loop gives the same bits, including the sign of zero (an exact zero sum is +0
  in both, a sum that rounds to zero keeps its sign in both).
* narrow float accumulators (bf16, fp16) of products with no more significant bits than the
  accumulator (fp8 × fp8): two rows advance one step of k at a time across every column in a
  branch-free float32 loop, the float32 sum rounded into the format on its bits (proof at
  ``_gemm_float_columns``); the rare steps outside the format's normal range take
  ``mac_float``. Other float accumulations take ``mac_float`` for every MAC (``"sequential"``).
* integer codes whose every partial sum is bounded below the accumulator's limit cannot
  saturate, and the result is the exact integer product, which BLAS computes exactly in float32
  (bound < 2**24) or float64 (bound < 2**53), in any order.

The float32 products go through torch's ``mm`` or numpy's sgemm, whichever ran the shape faster
the first time it came (``_sgemm``): which is faster depends on the machine and the shape (on
one of this project's AMD EPYC machines numpy's OpenBLAS ran 64×256×256 at a quarter of torch's
speed, on another as fast as torch and 64×256×2 four times faster). With integer operands and
sums exact in float32 every BLAS gives the same bits. The float64 ones go through numpy's dgemm.

BLAS runs on one thread: the first BLAS route limits the process's BLAS thread pools and torch's
intra-op threads to one (``threadpoolctl``, ``torch.set_num_threads``), as every other kernel
here is single-threaded. Parallelism belongs to sweeps,
across processes; a multi-threaded BLAS beside them (or beside any other load) oversubscribes the
cores, and its sleeping threads take milliseconds to wake between the simulator's small products.
"""

import functools
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic
from threadpoolctl import threadpool_limits

from accel.jit import njit
from accel.numerics.formats import NumberFormat, get_format
from accel.numerics.mac import mac_fixed, mac_float

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_SCRATCH = threading.local()
_CODE_DTYPES = (np.dtype(np.int64), np.dtype(np.float32))


@dataclass(frozen=True, slots=True)
class GemmResult:
    """What a GEMM on the MAC array produced.

    Attributes:
        values: (M, N) accumulator contents: float64 values of a float accumulator format, or
            int64 codes of a fixed-point one.
        saturations: Adds whose result left the accumulator's range (fixed point: clipped;
            floats: overflowed to ±inf).
        nonfinite: Output elements that are NaN or ±inf.
        route: Which kernel computed it (``"sequential"``, ``"fma32"``, ``"columns"``, ``"blas"``).
    """

    values: np.ndarray
    saturations: int
    nonfinite: int
    route: str


@intrinsic
def _fma32(typingctx, x, y, z):
    """``x · y + z`` with the exact product, rounded once to float32 (LLVM's ``llvm.fma.f32``: one
    ``vfmadd`` where the CPU has FMA, a correctly rounded ``fmaf`` in libm where it has not)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f32, [f32, f32, f32]), "llvm.fma.f32")
        return builder.call(fma, args)

    return sig, codegen


@njit
def _gemm_fma32(a, b, c):
    """``c = a · b`` accumulated in fp32, one fused multiply-add per MAC, k = 0 … K−1 in turn for
    every output; returns how many outputs are not finite.

    ``c`` is float64 (each output is a float32 value, exact in float64); ``a`` may be float32 or
    float64 holding float32 values (each element is read once, so it is cast on the fly).
    Four rows of sums advance together in a float32 scratch that stays in L1, so each load of
    ``b`` serves four rows, and four steps of k are applied per load and store of a sum,
    ``fma(a3, b3, fma(a2, b2, fma(a1, b1, fma(a0, b0, s))))``: the same roundings in the same
    order, a quarter of the stores.
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
def _fma32_overflows(a, b, c):
    """Overflows of ``_gemm_fma32``: how many non-finite outputs of ``c`` came from an add of
    finite values (``mac_float``'s count). Each such output's chain is replayed; after its first
    non-finite step nothing more can overflow, so the replay stops there."""
    overflows = 0
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            if np.isfinite(c[i, j]):
                continue
            s = np.float32(0.0)
            for k in range(a.shape[1]):
                x, y = np.float32(a[i, k]), np.float32(b[k, j])
                if not (np.isfinite(x) and np.isfinite(y)):
                    break
                s = _fma32(x, y, s)
                if not np.isfinite(s):
                    overflows += 1
                    break
    return overflows


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


_U32 = np.uint32


@njit
def _round_narrow(s, drop, bias, keep, min_bits, max_bits):
    """The float32 ``s`` rounded half to even into a narrow float format on its bit pattern (as
    ``quantize`` does), and whether ``|s|`` lies outside that shortcut's range: non-zero below
    the format's smallest normal, at or above its largest value, or not finite."""
    bits = np.float32(s).view(np.uint32)
    mag = _U32(bits & _U32(0x7FFFFFFF))
    r = _U32(_U32(_U32(_U32(mag + bias) + _U32(_U32(mag >> drop) & _U32(1))) & keep) | _U32(bits ^ mag))
    refused = (_U32(mag - _U32(1)) < _U32(min_bits - _U32(1))) | (mag >= max_bits)
    return r.view(np.float32), refused


@njit
def _gemm_float_columns(a, b, c, mantissa_bits, min_exponent, max_value, has_inf, drop, bias, keep, min_bits,
                        max_bits):
    """``c = a · b`` in a narrow float accumulator, rounding after every add, for operands whose
    products are exact float32 values of at most P significant bits, P ≤ 11 the accumulator's
    (fp8 × fp8 into bf16 or fp16). Returns how many adds overflowed.

    Two rows advance together one step of k at a time across all columns, in a branch-free
    float32 loop (8 lanes): ``s = fl32(acc + p)`` (one ``fma``, the product being exact) rounded
    half to even into the format. That is ``round(acc + p)`` whenever the refusals below do not
    apply. If ``s`` is exact, clearly. Otherwise ``acc`` and ``p`` (each at most P bits) span
    more than 24 bits, so the smaller, t, is below ``2**(E − 24 + P)`` for the exponent E of
    ``x = acc + p``, and the larger, d, is a multiple of ``2**(E − P)``. The format rounds ``s``
    and ``x`` differently only if one of its midpoints (P + 1 ≤ 12 bits: a float32) lies between
    them, which nearest rounding to float32 allows only at ``s`` itself; but such a midpoint and
    d are multiples of ``2**(E − 1 − P)`` less than ``|t| + ulp32(x)/2 < 2**(E − 23 + P) ≤
    2**(E − 1 − P)`` apart (as 2P ≤ 22), so the midpoint would be d, which has only P bits: none
    is. Sums that are subnormal in the format, overflow or are not finite are
    refused, and that step of those columns repeats with ``mac_float``.
    """
    m, depth, n = a.shape[0], a.shape[1], b.shape[1]
    old, new = np.empty((2, n), np.float32), np.empty((2, n), np.float32)
    overflows = 0
    for i in range(0, m, 2):
        rows = min(2, m - i)
        i1 = i + rows - 1  # an odd last row is computed twice and counted once
        old[:] = 0.0
        for k in range(depth):
            a0, a1 = np.float32(a[i, k]), np.float32(a[i1, k])
            bk = b[k]
            o0, o1, n0, n1 = old[0], old[1], new[0], new[1]
            refused = _U32(0)
            for j in range(n):
                x = bk[j]
                n0[j], bad0 = _round_narrow(_fma32(a0, x, o0[j]), drop, bias, keep, min_bits, max_bits)
                n1[j], bad1 = _round_narrow(_fma32(a1, x, o1[j]), drop, bias, keep, min_bits, max_bits)
                refused = _U32(refused | _U32(bad0) | _U32(bad1))
            if refused:  # find the refused columns again (the same float32 sums) and take mac_float there
                for r in range(rows):
                    ar = a[i + r, k]
                    ar32 = np.float32(ar)
                    for j in range(n):
                        if _round_narrow(_fma32(ar32, bk[j], old[r, j]), drop, bias, keep, min_bits, max_bits)[1]:
                            new[r, j], overflowed = mac_float(np.float64(old[r, j]), np.float64(ar),
                                                              np.float64(bk[j]), mantissa_bits, min_exponent,
                                                              max_value, has_inf)
                            overflows += overflowed
            old, new = new, old
        for r in range(rows):
            for j in range(n):
                c[i + r, j] = old[r, j]
    return overflows


def _columns_params(a_fmt: NumberFormat, b_fmt: NumberFormat, acc: NumberFormat) -> tuple | None:
    """The loop constants of ``_gemm_float_columns``, or None where its proof does not hold: the
    products must be exact float32 values (no underflow, no overflow) of at most P ≤ 11 bits."""
    if not (a_fmt.is_float and b_fmt.is_float and acc.significand_bits <= 11
            and a_fmt.significand_bits + b_fmt.significand_bits <= acc.significand_bits
            and a_fmt.smallest_step * b_fmt.smallest_step >= 2.0**-149
            and a_fmt.max_value * b_fmt.max_value < float(np.finfo(np.float32).max)):
        return None
    drop = 23 - acc.mantissa_bits
    min_bits = int(np.float32(2.0**acc.min_exponent).view(np.uint32))
    max_bits = int(np.float32(acc.max_value).view(np.uint32))
    return tuple(np.uint32(v) for v in (drop, (1 << (drop - 1)) - 1, 0xFFFFFFFF & -(1 << drop), min_bits, max_bits))


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


def _scratch(slot: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A work array of this thread that later calls reuse (contents undefined).

    A temporary of a few hundred kilobytes allocated afresh on every call is returned to the
    system when it is freed, and touching it again page-faults: that cost more than the dgemm
    itself on 256×256×256. Each slot keeps the largest size it was asked for.
    """
    buffers = _SCRATCH.__dict__
    size = math.prod(shape)
    buf = buffers.get((slot, dtype))
    if buf is None or buf.size < size:
        buf = buffers[slot, dtype] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


@njit
def _float_code_peak(bits):
    """The largest magnitude among float32 codes, from their int32 bit patterns: for magnitudes
    the integer order of the bits is the order of the values, and an integer max-reduction
    vectorises (a float one may not, without fastmath)."""
    peak = np.int32(0)
    for i in range(bits.size):
        peak = max(peak, np.int32(bits[i] & np.int32(0x7FFFFFFF)))
    return peak


def float_code_peak(x: np.ndarray) -> int:
    """The largest magnitude among float32 integer codes, in any memory order (a transposed view too)."""
    if x.size == 0:
        return 0
    flat = (x if x.flags.c_contiguous else x.T if x.flags.f_contiguous else np.ascontiguousarray(x)).reshape(-1)
    return int(np.int32(_float_code_peak(flat.view(np.int32))).view(np.float32))


_SGEMM_CHOICE: dict[tuple, bool] = {}
"""Per shape and memory order of a float32 product: whether torch's ``mm`` ran it faster than numpy's."""


def _sgemm(a: np.ndarray, b: np.ndarray, c: np.ndarray, torch) -> None:
    """``c = a · b`` in float32 through the BLAS that ran this shape and memory order faster, timed
    (best of three each) the first time it came: exact integer operands and sums give the same bits
    through either."""
    key = (a.shape, b.shape, a.flags.c_contiguous, b.flags.c_contiguous)
    use_torch = _SGEMM_CHOICE.get(key)
    if use_torch is None:
        def best(product) -> float:
            times = []
            for _ in range(3):
                start = time.perf_counter()
                product()
                times.append(time.perf_counter() - start)
            return min(times)
        use_torch = _SGEMM_CHOICE[key] = (
            best(lambda: torch.mm(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(c)))
            < best(lambda: np.matmul(a, b, out=c)))
    if use_torch:
        torch.mm(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(c))
    else:
        np.matmul(a, b, out=c)


def _dgemm(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``c = a · b`` in float64 (numpy's dgemm; one entry point for the BLAS products, as ``_sgemm``)."""
    return np.matmul(a, b, out=c)


def _max_abs_code(x: np.ndarray, slot: str) -> tuple[int, np.ndarray]:
    """The largest magnitude among the codes ``x``, and ``x`` as float32 (itself when the codes
    came as float32, in any memory order: the BLAS product reads a transposed view as it is; else
    in a scratch array)."""
    if x.dtype == np.float32:
        return float_code_peak(x), x
    as_float32 = _scratch(slot, x.shape, np.float32)
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
    if x.dtype in _FLOAT_DTYPES and x.flags.c_contiguous:
        return x
    return np.ascontiguousarray(x, np.float32 if x.dtype == np.float32 else np.float64)


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
    if acc.name == "fp32" and max(a_f.significand_bits, b_f.significand_bits) <= 24:  # float32 operands
        # a is read element by element (cast in the kernel); b row by row, so it is made float32 once
        b32 = b.astype(np.float32, copy=False)
        nonfinite = _gemm_fma32(a, b32, values)
        overflows = _fma32_overflows(a, b32, values) if nonfinite else 0
        return GemmResult(values, int(overflows), int(nonfinite), "fma32")
    params = (acc.mantissa_bits, acc.min_exponent, acc.max_value, acc.has_inf)
    columns = _columns_params(a_f, b_f, acc)
    if columns is not None:
        b32 = b.astype(np.float32, copy=False)
        overflows, route = _gemm_float_columns(a, b32, values, *params, *columns), "columns"
    else:
        a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
        overflows, route = _gemm_float_sequential(a, b, values, *params), "sequential"
    return GemmResult(values, int(overflows), int((~np.isfinite(values)).sum()), route)


@functools.cache
def _single_threaded_blas():
    """Limits the process's BLAS and torch to one thread, once (see the module docstring); returns torch."""
    import torch  # imported on the first BLAS product: ``accel`` alone does not need it

    threadpool_limits(limits=1, user_api="blas")
    torch.set_num_threads(1)
    return torch


def gemm_fixed(a: np.ndarray, b: np.ndarray, acc_fmt: str, shift: int = 0, float32_codes: bool = False,
               max_b: int | None = None) -> GemmResult:
    """Exact GEMM of integer codes into a fixed-point accumulator, saturating after every add.

    Args:
        a: (M, K) int64 codes, or float32 integer codes below 2**24 in magnitude (as
            ``quantize_codes(..., dtype=np.float32)`` gives them: the BLAS routes then need no
            conversion).
        b: (K, N) codes, as ``a``.
        acc_fmt: Fixed-point accumulator format (``int32``, ``fixed<W>_<F>``).
        shift: Left shift aligning a product's binary point with the accumulator's
            (``F_acc − F_a − F_b``; 0 for integer codes with separate scales).
        float32_codes: Where every partial sum is an integer below 2**24 and ``shift`` is 0, return
            the accumulators as the float32 codes the product left (exact), not as int64.
        max_b: The largest magnitude among float32 codes ``b``, when known (a kept weight operand's).

    Raises:
        ValueError: A single product does not fit in the accumulator (it would not be exact).
    """
    acc = get_format(acc_fmt)
    _check_operands(a, b)
    if acc.is_float:
        raise ValueError(f"gemm_fixed needs a fixed-point accumulator, got {acc_fmt!r}")
    if a.dtype not in _CODE_DTYPES or b.dtype not in _CODE_DTYPES:
        raise TypeError(f"gemm_fixed takes int64 or float32 codes, got {a.dtype} and {b.dtype}")
    if shift < 0:
        raise ValueError(f"shift must be ≥ 0, got {shift}")
    max_a, a32 = _max_abs_code(a, "a32")
    max_b, b32 = (max_b, b) if max_b is not None and b.dtype == np.float32 else _max_abs_code(b, "b32")
    if (max_a * max_b) << shift > acc.max_code + 1:
        raise ValueError(f"a product of codes up to {max_a} and {max_b} (shifted by {shift}) "
                         f"does not fit the accumulator {acc_fmt}")
    bound = a.shape[1] * max_a * max_b  # no partial sum of |products| exceeds it
    if bound << shift <= acc.max_code:  # cannot saturate: the exact integer product
        torch = _single_threaded_blas()
        shape = (a.shape[0], b.shape[1])
        if bound < 2**24:  # every code and every partial sum is an integer exact in float32
            as_float32 = float32_codes and not shift
            c32 = np.empty(shape, np.float32) if as_float32 else _scratch("c32", shape, np.float32)
            _sgemm(a32, b32, c32, torch)
            if as_float32:
                return GemmResult(c32, 0, 0, "blas")
            c = np.empty(shape, np.int64)
            _float32_to_codes(c32.reshape(-1), c.reshape(-1))
        elif bound < 2**53:  # dgemm: products and partial sums are integers exact in float64
            # codes below 2**24 are exact in the float32 copies already made
            a64, b64 = _scratch("a64", a.shape, np.float64), _scratch("b64", b.shape, np.float64)
            np.copyto(a64, a32 if max_a < 2**24 else a)
            np.copyto(b64, b32 if max_b < 2**24 else b)
            c = _dgemm(a64, b64, _scratch("c64", shape, np.float64)).astype(np.int64)
        else:
            c = a.astype(np.int64, copy=False) @ b.astype(np.int64, copy=False)
        return GemmResult(c << shift if shift else c, 0, 0, "blas")
    c = np.zeros((a.shape[0], b.shape[1]), np.int64)
    saturations = _gemm_fixed_sequential(a.astype(np.int64, copy=False), b.astype(np.int64, copy=False), c, shift,
                                         acc.min_code, acc.max_code)
    return GemmResult(c, int(saturations), 0, "sequential")
