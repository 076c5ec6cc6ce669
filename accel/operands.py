"""Tensors in the chip's formats: a tensor rounded once into a format, with its scale and its range counted.

Float formats hold values; integer formats hold int64 codes times a power-of-two scale (the
format's binary point, or under ``tensor_pow2`` the smallest power of two that holds the tensor's
largest finite magnitude, found by a max-reduction on the vector unit; under ``channel_pow2`` a
weight matrix has one such scale per output channel). Rounding a tensor also
counts what left the format's range (saturations: fixed point clips, floats overflow) and the NaN
and ±inf it holds, so that low-precision trouble is reported rather than absorbed.

The range statistics are one jitted pass over the tensor (peak, values beyond the limits, non-finite
values); they compare exactly as NumPy compares the same arrays (float32 tensors against limits
rounded to float32, float64 ones in float64).
"""

import functools
import math
from dataclasses import dataclass

import numpy as np

from accel.config import BLOCK_SPAN, CHANNEL_SPAN
from accel.jit import njit
from accel.numerics import quantize, quantize_codes
from accel.numerics.elementwise import floor_scales, format_params, peak_scale, scale_runs
from accel.numerics.formats import NumberFormat
from accel.numerics.gemm import float_code_peak
from accel.numerics.philox import CHUNK, RandomStream
from accel.numerics.quantize import fixed_nearest, fixed_stochastic, nearest_float_params, to_float_nearest
from accel.numerics.requantize import (
    SIG_LIMIT,
    codes_to_fixed,
    float_pairs,
    pairs_to_fixed,
    pow2_scale,
    round_pairs,
    shifted_to_fixed,
)
from accel.numerics.rounding import pow2


@dataclass(frozen=True, slots=True)
class Operand:
    """A tensor in the chip's format: float values (``exp`` None) or integer codes times ``2**exp``
    (int64, or float32 holding integers for formats of up to 25 bits).

    Attributes:
        data: The values or codes.
        exp: The exponent of one code, None for float values; under ``channel_pow2`` an int64
            array of one exponent per channel, shaped to broadcast against ``data`` ((1, N) for
            channels along the columns, (M, 1) along the rows).
        fmt: The format.
        nonfinite: NaN and ±inf among the values.
    """

    data: np.ndarray
    exp: int | np.ndarray | None
    fmt: NumberFormat
    nonfinite: int

    def aligned(self) -> tuple[np.ndarray, int]:
        """Integer codes on one exponent: (codes, exp). Channel codes (float32, as ``channel_pow2``
        makes them) are shifted left onto the smallest channel exponent, as the array aligns each
        channel's products before they meet in an accumulator: a power-of-two factor, exact."""
        if not isinstance(self.exp, np.ndarray):
            return self.data, self.exp
        low = int(self.exp.min())
        if self.exp.shape == self.data.shape and self.data.dtype == np.float32:  # one exponent each (block_pow2)
            # float32 holds the shifted codes exactly below 2**24 (codes of W bits shifted by up to the span)
            exact32 = self.fmt.width_bits + int(self.exp.max()) - low <= 25
            out = np.empty(self.data.shape, np.float32 if exact32 else np.int64)
            _times_pow2(np.ascontiguousarray(self.data).reshape(-1), np.ascontiguousarray(self.exp).reshape(-1), -low,
                        out.reshape(-1))
            return out, low
        return self.data * np.ldexp(np.float32(1.0), self.exp - low).astype(np.float32), low

    def values(self, dtype=None) -> np.ndarray:
        """The values: without ``dtype`` exact (float values as they are held, codes times their scale
        in float64); with it in ``dtype`` (float32: the exact values rounded once into it, as ``astype``
        rounds them; float values held in it already are not copied)."""
        if self.exp is None:
            return self.data if dtype is None else self.data.astype(dtype, copy=False)
        dtype = np.float64 if dtype is None else dtype
        if isinstance(self.exp, np.ndarray):
            if self.exp.shape == self.data.shape and -1000 < self.exp.min() and self.exp.max() < 900:
                out = np.empty(self.data.shape, dtype)  # one exponent each (block_pow2), far from the range ends
                _times_pow2(np.ascontiguousarray(self.data).reshape(-1), np.ascontiguousarray(self.exp).reshape(-1), 0,
                            out.reshape(-1))
                return out
            # one exponent per channel, or near float64's range ends: ldexp rounds what underflows
            return np.ldexp(self.data.astype(np.float64), self.exp).astype(dtype, copy=False)
        if not -1000 < self.exp < 900:
            return np.ldexp(self.data.astype(np.float64), self.exp).astype(dtype, copy=False)
        out = np.empty(self.data.shape, dtype)
        _scaled(np.ascontiguousarray(self.data).reshape(-1), pow2(self.exp), out.reshape(-1))
        return out

    def transposed(self) -> "Operand":
        """The tensor transposed (a view): what rounding the transpose gives when this tensor rounded
        to itself, since its peak, and each channel's, is the same."""
        return Operand(self.data.T, self.exp.T if isinstance(self.exp, np.ndarray) else self.exp, self.fmt,
                       self.nonfinite)


@njit
def _scaled(codes, unit, out):
    """``out = codes · unit``, computed in float64: exact for codes below 2**53 and a power of two ``unit``
    that keeps the products normal (one pass where ``np.ldexp`` of a float64 copy takes two); a float32
    ``out`` receives each exact product rounded once."""
    for i in range(codes.size):
        out[i] = np.float64(codes[i]) * unit


@njit
def _times_pow2(codes, exps, shift, out):
    """``out[i] = codes[i] · 2**(exps[i] + shift)``, computed in float64 (exact for codes below 2**53
    and exponents within ``pow2``'s table that keep the product normal) and stored once into ``out``'s dtype."""
    for i in range(codes.size):
        out[i] = np.float64(codes[i]) * pow2(exps[i] + shift)


@njit
def _bit_peaks(bits, abs_mask, inf_bits):
    """(largest finite magnitude, largest magnitude with inf and NaN) of float bit patterns (uint32 of
    float32, uint64 of float64). For magnitudes the integer order of the bits is the order of the
    values and the patterns above inf's are NaN, so the loop is two integer max-reductions, which
    vectorise."""
    zero = bits.dtype.type(0)
    peak = zero
    top = zero
    for i in range(bits.size):
        mag = bits[i] & abs_mask
        peak = max(peak, mag if mag < inf_bits else zero)
        top = max(top, mag)
    return peak, top


@njit
def _bit_counts(bits, abs_mask, inf_bits, limit_bits):
    """(magnitudes above ``limit_bits`` but not NaN, ±inf values, NaN values) of float bit patterns."""
    above = 0
    infinite = 0
    nan = 0
    for i in range(bits.size):
        mag = bits[i] & abs_mask
        above += np.int64((mag > limit_bits) & (mag <= inf_bits))
        infinite += np.int64(mag == inf_bits)
        nan += np.int64(mag > inf_bits)
    return above, infinite, nan


_BITS = {np.dtype(np.float32): (np.uint32, np.uint32(0x7FFFFFFF), np.uint32(0x7F800000)),
         np.dtype(np.float64): (np.uint64, np.uint64(0x7FFFFFFFFFFFFFFF), np.uint64(0x7FF0000000000000))}


@functools.cache
def _limit_bits(dtype: np.dtype, limit: float) -> int:
    """The bits of ``limit`` rounded to ``dtype`` (NumPy compares a float32 array with a Python float
    in float32)."""
    uint = _BITS[dtype][0]
    return int(np.array(limit, dtype).view(uint))


def _float_stats(x: np.ndarray, limit: float) -> tuple[float, int, int, int]:
    """(largest finite magnitude, magnitudes above ``limit`` (±inf included), ±inf values, NaN values)
    of a flat contiguous float32 or float64 array; ``limit`` is compared in the array's precision."""
    uint, abs_mask, inf_bits = _BITS[x.dtype]
    bits = x.view(uint)
    limit_bits = _limit_bits(x.dtype, float(limit))
    peak, top = _bit_peaks(bits, abs_mask, inf_bits)
    if top > limit_bits or top >= inf_bits:  # something above the limit, infinite or NaN: count them
        above, infinite, nan = _bit_counts(bits, abs_mask, inf_bits, uint(limit_bits))
    else:
        above = infinite = nan = 0
    return float(uint(peak).view(x.dtype)), above, infinite, nan


@njit
def _max_abs_code(codes):
    peak = 0
    for i in range(codes.size):
        peak = max(peak, abs(codes[i]))
    return peak


def count_nonfinite(x: np.ndarray) -> int:
    """NaN and ±inf values in a float array."""
    if x.dtype not in _BITS:
        return 0
    _, _, infinite, nan = _float_stats(np.ascontiguousarray(x).reshape(-1), math.inf)
    return infinite + nan


@njit
def _outside(x, lo, hi):
    """Values of a flat float array above ``hi`` or below ``lo``."""
    count = 0
    for i in range(x.size):
        if x[i] > hi or x[i] < lo:
            count += 1
    return count


@njit
def _code_stats(codes, exp, lo, hi):
    """(largest magnitude, values ``code · 2**exp`` above ``hi`` or below ``lo``) of flat int64 codes."""
    peak = 0
    outside = 0
    for i in range(codes.size):
        c = codes[i]
        peak = max(peak, abs(c))
        v = math.ldexp(float(c), exp)
        if v > hi or v < lo:
            outside += 1
    return peak, outside


def _limit(x: np.ndarray, value: float):
    """``value`` as NumPy compares it with ``x``: rounded to float32 for a float32 tensor."""
    return np.float32(value) if x.dtype == np.float32 else float(value)


def _scale(peak: float, fmt: NumberFormat, scaling: str) -> int:
    """Exponent of one code: the binary point, or under ``tensor_pow2`` the smallest power of two
    that holds the tensor's largest finite magnitude ``peak``."""
    if scaling == "none" or peak == 0.0:
        return -fmt.frac_bits
    mantissa, exp = math.frexp(peak)  # peak = mantissa · 2**exp exactly, 0.5 ≤ mantissa < 1
    return pow2_scale(int(math.ldexp(mantissa, 53)), exp - 53, fmt)


def _requantize_codes(codes: np.ndarray, exp: int, fmt: NumberFormat, scaling: str,
                      stream: RandomStream | None) -> tuple[Operand, int]:
    """Integer accumulator codes ``code · 2**exp`` rounded into a fixed-point format (``round_pairs``'s
    rounding: the same bits, the same random words)."""
    flat = codes.reshape(-1)
    peak = float_code_peak(flat) if flat.dtype == np.float32 else int(_max_abs_code(flat))
    if peak >= SIG_LIMIT:
        raise ValueError("accumulator codes must be below 2**53 in magnitude")
    if scaling == "none" or peak == 0:
        scale = -fmt.frac_bits
        _, saturations = _code_stats(flat, exp, fmt.min_code * 2.0**scale, fmt.max_code * 2.0**scale)
    else:  # the scale holds the largest value: nothing saturates
        scale, saturations = pow2_scale(peak, exp, fmt), 0
    out = codes_to_fixed(flat, exp, scale, fmt, stream)
    return Operand(out.reshape(codes.shape), scale, fmt, 0), saturations


@functools.cache
def _fixed_params(fmt: NumberFormat, scaling: str, stochastic: bool) -> tuple:
    return format_params(fmt, scaling != "none", stochastic)


@njit
def _peak32(bits):
    """(largest finite magnitude as float64, ±inf values, NaN values) of float32 bit patterns."""
    peak = np.uint32(0)
    infinite = 0
    nan = 0
    for i in range(bits.size):
        mag = bits[i] & np.uint32(0x7FFFFFFF)
        peak = max(peak, mag if mag < np.uint32(0x7F800000) else np.uint32(0))
        infinite += np.int64(mag == np.uint32(0x7F800000))
        nan += np.int64(mag > np.uint32(0x7F800000))
    return np.float64(np.uint32(peak).view(np.float32)), infinite, nan


@njit
def _round32(x, codes, scratch, p, scale, peak, infinite, key, first):
    """The codes of the flat float32 ``x`` at the exponent ``scale`` into ``codes`` (float32), as
    ``quantize_codes`` rounds them (stochastic rounding: element ``i`` with main word ``first + i``);
    returns the saturations (under ``tensor_pow2`` only ±inf lie beyond a scale that holds ``peak``,
    else the values beyond the float32-rounded limits). ``scratch``: ``_scratch32``'s arrays."""
    lo, hi = np.float32(math.ldexp(np.float64(p[11]), scale)), np.float32(math.ldexp(np.float64(p[12]), scale))
    if p[14] and peak != 0.0 and math.isfinite(lo) and math.isfinite(hi):
        saturations = infinite  # the scale holds the largest finite magnitude
    else:
        saturations = 0
        for i in range(x.size):
            saturations += np.int64((x[i] > hi) | (x[i] < lo))
    nan_mask, words, open_ = scratch
    if p[1]:
        fixed_stochastic(x, codes, nan_mask, p[10], -scale, p[11], p[12], key, first, words, open_)
    else:
        fixed_nearest(x, codes, nan_mask, math.ldexp(1.0, -scale), np.float64(p[11]), np.float64(p[12]))
    return saturations


@njit
def _scratch32(size):
    """Scratch for ``_round32`` of up to ``size`` values: (NaN mask, random words, open decisions)."""
    return np.empty(size, np.bool_), np.empty(min(CHUNK, size), np.uint64), np.empty(min(CHUNK, size), np.bool_)


@njit
def _fixed32(x, codes, p, key, first):
    """``to_format`` of the flat float32 tensor ``x`` into the fixed-point format ``p`` of at most 25
    bits (``elementwise.format_params``), in one compiled call: the scale from the largest finite
    magnitude, the saturations, the codes into ``codes`` (float32). Returns (scale, saturations, NaN
    values)."""
    peak, infinite, nan = _peak32(x.view(np.uint32))
    scale = peak_scale(peak, p)
    return scale, _round32(x, codes, _scratch32(x.size), p, scale, peak, infinite, key, first), nan


@njit
def _blocks32(flat, codes, p, block, span, key, first):
    """``to_format`` of the flat float32 ``flat`` in blocks of ``block`` consecutive values (the
    last one may be shorter), each with its own power-of-two scale: a block's scale holds its
    largest finite magnitude, but lies at most ``span`` below the largest block's (an empty block
    takes that floor). Element ``i`` rounds with main word ``first + i``. Returns (scales,
    saturations, NaN values)."""
    n = -(-flat.size // block)
    peaks = np.empty(n)
    infinite = np.empty(n, np.int64)
    scales = np.empty(n, np.int64)
    nan = 0
    for j in range(n):
        peaks[j], infinite[j], block_nan = _peak32(flat[j * block:(j + 1) * block].view(np.uint32))
        nan += block_nan
        scales[j] = peak_scale(peaks[j], p)
    floor_scales(scales, peaks != 0.0, span)
    saturations = 0
    scratch = _scratch32(flat.size)
    runs = scale_runs(scales)
    for r in range(runs.size - 1):  # a run of consecutive blocks at one scale rounds in one call
        j, end = runs[r], runs[r + 1]
        start, stop = j * block, min(end * block, flat.size)
        run = (scratch[0][:stop - start], scratch[1], scratch[2])
        saturations += _round32(flat[start:stop], codes[start:stop], run, p, scales[j], peaks[j:end].max(),
                                infinite[j:end].sum(), key, first + np.uint64(start))
    return scales, saturations, nan


@njit
def _pairs_to_blocks(sig, exp, codes, p, block, span, stochastic, key, first):
    """``_blocks32`` for exact values ``sig · 2**exp`` (int64 significands below 2**53; ``exp`` one
    exponent each, or one for all), rounded as ``round_pairs`` rounds them. Returns the scales."""
    n = -(-sig.size // block)
    peaks = np.zeros(n)
    scales = np.empty(n, np.int64)
    for j in range(n):
        for i in range(j * block, min((j + 1) * block, sig.size)):
            peaks[j] = max(peaks[j], abs(np.float64(sig[i])) * pow2(exp[min(i, exp.size - 1)]))
        scales[j] = peak_scale(peaks[j], p)
    floor_scales(scales, peaks != 0.0, span)
    if exp.size > 1:
        pairs_to_fixed(sig, exp, codes, scales, block, p[10], p[11], p[12], stochastic, key, first)
        return scales
    runs = scale_runs(scales)
    for r in range(runs.size - 1):  # one exponent for all (a GEMM's accumulators): a run at one scale is one shift
        j, end = runs[r], runs[r + 1]
        start, stop = j * block, min(end * block, sig.size)
        shift = scales[j] - exp[0]
        if 1 <= shift <= 32:
            shifted_to_fixed(sig[start:stop], shift, p[11], p[12], stochastic, key, first + np.uint64(start),
                             codes[start:stop])
        else:
            pairs_to_fixed(sig[start:stop], exp, codes[start:stop], scales[j:end], block, p[10], p[11], p[12],
                           stochastic, key, first + np.uint64(start))
    return scales


@njit
def _float32_nearest(bits, out_bits, limit_bits, params):
    """``to_format`` of the float32 patterns ``bits`` into a float format rounded to nearest, in one
    compiled call: the rounded patterns into ``out_bits`` (``quantize``'s kernel, ``params``: its
    constants), and (magnitudes above ``limit_bits`` with ±inf, NaN and ±inf among the results)."""
    above = 0
    nan = 0
    for i in range(bits.size):
        mag = bits[i] & np.uint32(0x7FFFFFFF)
        above += np.int64((mag > limit_bits) & (mag <= np.uint32(0x7F800000)))
        nan += np.int64(mag > np.uint32(0x7F800000))
    to_float_nearest(bits, out_bits, *params)
    nonfinite = nan
    if above:  # something overflowed (or was ±inf): count the results
        nonfinite = 0
        for i in range(out_bits.size):
            nonfinite += np.int64((out_bits[i] & np.uint32(0x7FFFFFFF)) >= np.uint32(0x7F800000))
    return above, nonfinite


def to_format(values: np.ndarray, fmt: NumberFormat, scaling: str, rounding: str, rng: RandomStream,
              exp: int | None = None, channel_axis: int | None = None, block: int = 32,
              block_span: int = BLOCK_SPAN) -> tuple[Operand, int]:
    """Rounds exact values into ``fmt`` once; returns the operand and how many values lay outside its range.

    Args:
        values: float32 values (the fast kernels), exact float64 values, or, with ``exp``, int64
            codes of value ``code · 2**exp`` (an integer accumulator, below 2**53; or float32
            integer codes below 2**24, as the BLAS route leaves them).
        fmt: The target format.
        scaling: ``"tensor_pow2"``, ``"channel_pow2"``, ``"block_pow2"`` or ``"none"`` (integer
            formats). ``channel_pow2`` scales each channel of a weight matrix apart
            (``channel_axis``) and every other tensor as ``tensor_pow2`` does; ``block_pow2`` each
            block of ``block`` consecutive values (row-major) of every tensor.
        rounding: ``"nearest"`` or ``"stochastic"``.
        rng: The chip's random source (stochastic rounding uses its next ``values.size`` words).
        exp: The exponent of ``values`` when they are integer codes.
        channel_axis: For a weight matrix, the axis its output channels run along (1: the columns
            of W as stored, 0: the rows of Wᵀ); None for every other tensor.
        block: Values per scale under ``block_pow2``.
        block_span: How far a block's scale may lie below the tensor's largest under ``block_pow2``.

    Raises:
        TypeError: Channel scaling of anything but a float32 matrix into a format of at most 25 bits.
    """
    stream = rng if rounding == "stochastic" else None
    flat = values.reshape(-1)
    if scaling == "channel_pow2" and channel_axis is not None and not fmt.is_float:
        return _to_channels(values, fmt, stream, channel_axis)
    if scaling == "block_pow2" and not fmt.is_float:
        return _to_blocks(values, fmt, stream, exp, block, block_span)
    if exp is None and values.dtype == np.float32 and not fmt.is_float and fmt.width_bits <= 25:
        # the common case (a float32 tensor into int8 or 16-bit fixed point) in one compiled call;
        # a float32 peak keeps |scale| far below 800, where the fixed kernels take any binary point
        codes = np.empty(values.shape, np.float32)
        key, first = stream.take(flat.size) if stream is not None else _NO_WORDS
        scale, saturations, nan = _fixed32(np.ascontiguousarray(flat), codes.reshape(-1),
                                           _fixed_params(fmt, scaling, stream is not None), key, first)
        return Operand(codes, int(scale), fmt, int(nan)), int(saturations)
    if exp is None and values.dtype == np.float32 and fmt.is_float and stream is None:
        out = np.empty(values.shape, np.float32)
        above, nonfinite = _float32_nearest(np.ascontiguousarray(flat).view(np.uint32), out.reshape(-1).view(np.uint32),
                                            np.uint32(_limit_bits(flat.dtype, fmt.max_value)),
                                            nearest_float_params(fmt))
        return Operand(out, None, fmt, int(nonfinite)), int(above)
    if exp is not None:  # integer accumulator codes: finite by construction
        if not fmt.is_float:
            return _requantize_codes(values, exp, fmt, scaling, stream)
        _, outside = _code_stats(flat, exp, -fmt.max_value, fmt.max_value)
        out = round_pairs(values, exp, fmt, stream).reshape(values.shape)
        return Operand(out, None, fmt, count_nonfinite(out)), outside
    peak, above, infinite, nan = _float_stats(flat, _limit(flat, fmt.max_value) if fmt.is_float else math.inf)
    if fmt.is_float:
        if values.dtype == np.float32:
            out = quantize(values, fmt.name, rounding, rng)
            # nothing beyond the largest finite value: rounding cannot overflow, only NaN stays non-finite
            return Operand(out, None, fmt, count_nonfinite(out) if above else nan), above
        finite = np.isfinite(values)
        sig, sig_exp = float_pairs(np.where(finite, values, 0.0))
        out = round_pairs(sig, sig_exp, fmt, stream).reshape(values.shape)
        specials = values if fmt.has_inf else np.clip(values, fmt.min_value, fmt.max_value)
        out = np.where(finite, out, specials)
        return Operand(out, None, fmt, count_nonfinite(out)), above
    scale = _scale(peak, fmt, scaling)
    with np.errstate(over="ignore"):  # a limit beyond float32 compares as ±inf, as NumPy compares it
        lo, hi = _limit(flat, fmt.min_code * 2.0**scale), _limit(flat, fmt.max_code * 2.0**scale)
    if scaling != "none" and peak != 0.0 and math.isfinite(lo) and math.isfinite(hi):
        saturations = infinite  # the scale holds the largest finite magnitude: only ±inf lie beyond it
    else:
        saturations = _outside(flat, lo, hi)
    if values.dtype == np.float32:
        # codes of up to 25 bits are exact in float32, which the BLAS route multiplies without a copy
        codes, _ = quantize_codes(values, fmt, rounding, rng, scale_exp=scale,
                                  dtype=np.float32 if fmt.width_bits <= 25 else np.int64)
        return Operand(codes, scale, fmt, int(nan)), saturations
    finite = np.isfinite(values)
    sig, sig_exp = float_pairs(np.where(finite, values, 0.0))
    codes = round_pairs(sig, sig_exp, fmt, stream, scale).reshape(values.shape)
    inf_mask = np.isinf(values)
    codes[inf_mask] = np.where(values[inf_mask] > 0, fmt.max_code, fmt.min_code)
    return Operand(codes, scale, fmt, int(nan)), saturations


_NO_WORDS = (np.uint64(0), np.uint64(0))


def _to_blocks(values: np.ndarray, fmt: NumberFormat, stream: RandomStream | None, exp: int | None,
               block: int, span: int) -> tuple[Operand, int]:
    """``to_format`` into a fixed-point format under ``block_pow2``: float32 or float64 values, or
    integer codes ``values · 2**exp``, rounded in blocks of ``block`` consecutive values (row-major),
    each at its own power-of-two scale (``_blocks32``, ``_pairs_to_blocks``). The operand's ``exp``
    holds each value's exponent (its block's), shaped as the values. Only ±inf saturate: a block's
    scale holds its largest finite magnitude."""
    flat = np.ascontiguousarray(values).reshape(-1)
    key, first = stream.take(flat.size) if stream is not None else _NO_WORDS
    p = _fixed_params(fmt, "block_pow2", stream is not None)
    if exp is None and flat.dtype == np.float32 and fmt.width_bits <= 25:
        codes = np.empty(flat.size, np.float32)
        scales, saturations, nan = _blocks32(flat, codes, p, block, span, key, first)
    else:
        nan = saturations = 0
        if exp is None:  # float values: their exact pairs, ±inf to the extreme codes, NaN to 0
            inf = np.isinf(flat)
            sig, pair_exp = float_pairs(np.where(np.isfinite(flat), flat, 0.0))
            nan, saturations = int(np.isnan(flat).sum()), int(inf.sum())
        else:
            sig, pair_exp = flat.astype(np.int64), np.full(1, exp, np.int64)
        codes = np.empty(flat.size, np.int64)
        scales = _pairs_to_blocks(sig, pair_exp, codes, p, block, span, stream is not None, key, first)
        if saturations:
            codes[inf] = np.where(flat[inf] > 0, fmt.max_code, fmt.min_code)
        if fmt.width_bits <= 25:
            codes = codes.astype(np.float32)
    exps = np.repeat(scales, block)[:flat.size].reshape(values.shape)
    return Operand(codes.reshape(values.shape), exps, fmt, int(nan)), int(saturations)

def _to_channels(values: np.ndarray, fmt: NumberFormat, stream: RandomStream | None,
                 axis: int) -> tuple[Operand, int]:
    """``to_format`` under ``channel_pow2``: each channel of the matrix ``values`` (its columns for
    ``axis`` 1, its rows for 0) rounded with its own power-of-two scale (``_channels32``), the
    random words running through the channels one after the other, so W and Wᵀ round alike: each
    channel is a block of ``_blocks32``."""
    if values.ndim != 2 or values.dtype != np.float32 or fmt.width_bits > 25:
        raise TypeError(f"channel_pow2 rounds float32 matrices into formats of at most 25 bits, got a "
                        f"{values.dtype} array of shape {values.shape} into {fmt.name}")
    rows = np.ascontiguousarray(values.T if axis == 1 else values)
    codes = np.empty(rows.shape, np.float32)
    key, first = stream.take(rows.size) if stream is not None else _NO_WORDS
    scales, saturations, nan = _blocks32(rows.reshape(-1), codes.reshape(-1),
                                         _fixed_params(fmt, "channel_pow2", stream is not None), rows.shape[1],
                                         CHANNEL_SPAN, key, first)
    if axis == 1:
        return Operand(codes.T, scales.reshape(1, -1), fmt, int(nan)), int(saturations)
    return Operand(codes, scales.reshape(-1, 1), fmt, int(nan)), int(saturations)


@njit
def _zero_counts_given_b(a, zero_b, n):
    """``_zero_counts`` with B's zeros per row k already counted (``zero_b``; B has ``n`` columns)."""
    m, depth = a.shape
    zero_a = np.zeros(depth, np.int64)
    for i in range(m):
        for k in range(depth):
            zero_a[k] += a[i, k] == 0
    total = 0
    for k in range(depth):
        total += zero_a[k] * n + zero_b[k] * m - zero_a[k] * zero_b[k]
    return total


@njit
def _zero_counts(a, b, b_rows):
    """MACs of ``a · B`` with a zero operand, Σ_k zA_k·N + zB_k·M − zA_k·zB_k (zA_k: zeros in column k of
    A, zB_k: in row k of B), for a C-contiguous ``a`` and ``b`` holding B (``b_rows``) or Bᵀ."""
    depth = a.shape[1]
    zero_b = np.zeros(depth, np.int64)
    n = b.shape[1] if b_rows else b.shape[0]
    if b_rows:
        for k in range(depth):
            count = 0
            for j in range(n):
                count += b[k, j] == 0
            zero_b[k] = count
    else:
        for j in range(n):
            for k in range(depth):
                zero_b[k] += b[j, k] == 0
    return _zero_counts_given_b(a, zero_b, n)


def same_values(x: np.ndarray, codes: np.ndarray, exp: int) -> bool:
    """Whether the float array ``x`` holds exactly ``codes · 2**exp`` (same shape, contiguous; NaN
    equals nothing), without making the values."""
    return bool(_same_values(x.reshape(-1), codes.reshape(-1), math.ldexp(1.0, exp)))


@njit
def _same_values(x, codes, unit):
    same = True
    for i in range(x.size):
        same &= np.float64(x[i]) == np.float64(codes[i]) * unit
    return same


def underflows(values: np.ndarray, op: Operand) -> int:
    """How many nonzero ``values`` (values or integer codes; NaN aside) their rounding into ``op``
    turned into 0 (``EventCounts.underflows``): in fixed point values within a step of 0 at the
    tensor's scale, in a float format values below its smallest subnormal (fp8 e4m3: 2**-9, e5m2:
    2**-16, within reach of a narrow format's gradients), rounded to 0 (to nearest: those up to half of it)."""
    return int(_rounded_to_zero(np.ascontiguousarray(op.data).reshape(-1), np.ascontiguousarray(values).reshape(-1)))


@njit
def _rounded_to_zero(codes, values):
    """Positions where ``codes`` is 0 and ``values`` is not (NaN is not above 0): one pass, no temporaries."""
    count = 0
    for i in range(codes.size):
        count += np.int64((codes[i] == 0) & (abs(values[i]) > 0))
    return count


def zeros_by_row(b: np.ndarray) -> np.ndarray:
    """Zeros in each row k of B (codes or values, any memory order), as int64: what ``zero_macs`` needs of B."""
    return np.count_nonzero(b == 0, axis=1).astype(np.int64)


def zero_macs(a: np.ndarray, b: np.ndarray, b_zeros: np.ndarray | None = None) -> int:
    """MACs of ``a · b`` (codes or values) with a zero operand: those a zero-gating PE skips. A
    transposed view ``b`` (a kept operand read transposed) is read as it is stored. ``b_zeros``:
    ``zeros_by_row(b)``, when known (a kept operand's)."""
    if b_zeros is not None:
        return int(_zero_counts_given_b(np.ascontiguousarray(a), b_zeros, b.shape[1]))
    if not b.flags.c_contiguous and b.flags.f_contiguous:
        return int(_zero_counts(np.ascontiguousarray(a), b.T, False))
    return int(_zero_counts(np.ascontiguousarray(a), np.ascontiguousarray(b), True))

