"""``quantize``: round a float32 tensor into a number format of the chip, exactly.

Floats follow torch's casts bit for bit (round half to even, subnormals kept, overflow to ±inf,
except OCP ``fp8_e4m3``, which has no infinities and saturates at ±448; NaN stays NaN; -0.0 is
kept). Fixed point rounds onto the grid ``2**-F``, saturates at its extremes (±inf included),
keeps NaN and returns +0.0 for zero. The kernels read the float32 bit patterns and decide every
rounding on the integer significand.
"""

import functools
import math

import numpy as np

from accel.jit import njit
from accel.numerics.formats import NumberFormat, get_format
from accel.numerics.philox import CHUNK, RandomStream, chunk_words, fill_words
from accel.numerics.rounding import float_quantum_exponent, on_fixed_grid, pow2, round_by, stochastic_code

ROUNDING_MODES = ("nearest", "stochastic")
_U32 = np.uint32


@njit
def _f32_parts(a):
    """Magnitude bits ``a`` (finite, non-zero) of a float32 as ``(sig, sig_exp, exponent)``.

    ``|x| = sig * 2**sig_exp``; ``exponent`` is that of the binade, -126 for subnormals.
    """
    biased = a >> 23
    exponent = max(biased, 1) - 127
    sig = a & 0x7FFFFF if biased == 0 else (a & 0x7FFFFF) | 0x800000
    return np.int64(sig), exponent - 23, exponent


@njit
def _nearest_float_bits(u, drop, bias, lsb, keep, max_bits, overflow_bits, sub_below, sub_magic,
                        with_subnormal_steps):
    """The float32 pattern of the float32 pattern ``u`` rounded half to even into a float format.

    Above the format's smallest normal the step there is float32's shifted left by ``drop`` bits:
    adding ``half − 1`` plus the last kept bit and clearing the ``drop`` low bits rounds half to
    even on the integer pattern, and a carry out of the fraction lands in the exponent, which
    is the next binade. Where the format keeps float32's exponent range (bf16) float32's
    subnormal step is shifted the same way, so that holds down to 0. Magnitude patterns are
    ordered as their values, so a pattern above ``max_bits`` overflowed (inf's pattern lands
    there too) and becomes ``overflow_bits``. Below a narrower format's smallest normal (the
    pattern ``sub_below``; ``with_subnormal_steps``) the step is fixed, ``2**(min_exponent −
    mantissa)``, which is float32's step in the binade of ``sub_magic``: ``(|x| + sub_magic) −
    sub_magic`` rounds ``|x|`` half to even onto it (the sum stays in that binade, the
    difference is exact). NaN becomes the quiet NaN ``0x7FC00000``; the sign bit is kept.

    Every operation is on uint32 (or float32), cast back after each step because numba widens
    integer arithmetic to 64 bits: LLVM then narrows it and the loop runs 8 lanes per AVX2 register.
    """
    a = _U32(u & _U32(0x7FFFFFFF))
    r = _U32(_U32(_U32(a + bias) + _U32(_U32(a >> drop) & lsb)) & keep)
    r = overflow_bits if r > max_bits else r
    if with_subnormal_steps:
        sub = _U32(np.float32((a.view(np.float32) + sub_magic) - sub_magic).view(np.uint32))
        r = sub if a < sub_below else r
    return _U32(0x7FC00000) if a > _U32(0x7F800000) else _U32(r | _U32(u & _U32(0x80000000)))


@njit
def to_float_nearest(bits, out_bits, drop, bias, lsb, keep, max_bits, overflow_bits, sub_below, sub_magic):
    """Round to nearest, branch-free so the loop vectorises; one loop per case of subnormal steps."""
    if sub_below > 0:
        for i in range(bits.size):
            out_bits[i] = _nearest_float_bits(bits[i], drop, bias, lsb, keep, max_bits, overflow_bits, sub_below,
                                              sub_magic, True)
    else:
        for i in range(bits.size):
            out_bits[i] = _nearest_float_bits(bits[i], drop, bias, lsb, keep, max_bits, overflow_bits, sub_below,
                                              sub_magic, False)


@functools.cache
def nearest_float_params(f: NumberFormat) -> tuple:
    """The loop constants of ``to_float_nearest`` for the float format ``f`` (uint32, and a float32);
    computed once per format (they cost more than rounding a small tensor)."""
    drop = 23 - f.mantissa_bits
    max_bits = int(np.float32(f.max_value).view(np.uint32))
    fixed_step = f.min_exponent > -126  # below its smallest normal the step is fixed (not bf16)
    sub_below = int(np.float32(2.0**f.min_exponent).view(np.uint32)) if fixed_step else 0
    sub_magic = np.float32(2.0 ** (f.min_exponent - f.mantissa_bits + 23) if fixed_step else 1.0)
    ints = (drop, (1 << (drop - 1)) - 1 if drop else 0, 1 if drop else 0, 0xFFFFFFFF & -(1 << drop), max_bits,
            0x7F800000 if f.has_inf else max_bits, sub_below)
    return (*(np.uint32(v) for v in ints), sub_magic)


@njit
def _float_bits_stochastic(u, mantissa_bits, min_exponent, max_value, has_inf, word, key, w):
    """The float32 pattern ``u`` rounded stochastically into a float format (main word ``w`` of the
    stream ``key``, ``word`` its value), as a float64 value; NaN stays NaN, the sign is kept."""
    a = np.int64(u) & 0x7FFFFFFF
    negative = np.int64(u) >> 31 == 1
    if a > 0x7F800000:
        return np.nan
    if a == 0:
        mag = 0.0
    elif a == 0x7F800000:
        mag = math.inf if has_inf else max_value
    else:
        sig, sig_exp, exponent = _f32_parts(a)
        qexp = float_quantum_exponent(exponent, mantissa_bits, min_exponent)
        shift = qexp - sig_exp
        if shift > 0:
            sig = round_by(sig, shift, True, word, key, w)
        mag = np.float64(sig) * pow2(qexp)
        if mag > max_value:
            mag = math.inf if has_inf else max_value
    return -mag if negative else mag


@njit
def _to_float_stochastic(bits, out_bits, drop, max_bits, overflow_bits, min_bits, step, mantissa_bits, min_exponent,
                         max_value, has_inf, key, first):
    """Stochastic rounding of float32 patterns into a float format; element ``i`` uses main word
    ``first + i`` of the stream ``key``.

    From the format's smallest normal up (``min_bits``) its step is float32's shifted left by
    ``drop`` bits, so ``round_by``'s decision is the word's leading ``drop`` bits below the ``drop``
    low bits of the pattern, and rounding up adds one at bit ``drop`` (a carry lands in the next
    binade); a pattern above ``max_bits`` overflowed (inf's lands there too) and becomes
    ``overflow_bits``. Below it the step is fixed, ``step``, and ``stochastic_code`` rounds onto
    it. Branch-free; NaN and what ``stochastic_code`` leaves undecided take ``_float_bits_stochastic``.
    """
    low = _U32((1 << drop) - 1)
    inv = 1.0 / step
    words = np.zeros(CHUNK, np.uint64)
    open_ = np.empty(CHUNK, np.bool_)
    for start in range(0, bits.size, CHUNK):
        stop = min(start + CHUNK, bits.size)
        bc, oc = bits[start:stop], out_bits[start:stop]  # views indexed from 0: the loop vectorises
        if not _float_bits_on_grid(bc, low, min_bits, inv):  # values already in the format need no words
            fill_words(key, first + np.uint64(start), words, 0, stop - start)
        for j in range(stop - start):
            u = bc[j]
            a = _U32(u & _U32(0x7FFFFFFF))
            rem = _U32(a & low)
            up = _U32((words[j] >> np.uint64(32 - drop)) < np.uint64(rem))  # drop ≤ 23: decided by 32 bits
            r = _U32(_U32(a - rem) + _U32(up << drop))
            r = overflow_bits if r > max_bits else r
            code, undecided = stochastic_code(np.float64(a.view(np.float32)), words[j], inv, 2.0**64, math.inf)
            r = np.float32(code * step).view(np.uint32) if a < min_bits else r
            oc[j] = _U32(r | _U32(u & _U32(0x80000000)))
            open_[j] = (a > _U32(0x7F800000)) | ((a < min_bits) & undecided)
        for j in range(stop - start):
            if open_[j]:
                oc[j] = np.float32(_float_bits_stochastic(bc[j], mantissa_bits, min_exponent, max_value, has_inf,
                                                          words[j], key, first + np.uint64(start + j))).view(np.uint32)


@njit
def _float_bits_on_grid(bits, low, min_bits, inv):
    """Whether every float32 pattern of ``bits`` is a value of the format (``low``: the bits below its
    step from ``min_bits``, its smallest normal, up; the fixed step ``1 / inv`` below), ±inf or ±0."""
    exact = True
    for i in range(bits.size):
        a = _U32(bits[i] & _U32(0x7FFFFFFF))
        t = np.float64(a.view(np.float32)) * inv
        exact &= ((a & low) == 0) & ((a >= min_bits) | (t == np.floor(t)))
    return exact


@functools.cache
def _stochastic_float_params(f: NumberFormat) -> tuple:
    """The loop constants of ``_to_float_stochastic`` for the float format ``f``."""
    max_bits = int(np.float32(f.max_value).view(np.uint32))
    ints = (23 - f.mantissa_bits, max_bits, 0x7F800000 if f.has_inf else max_bits,
            int(np.float32(2.0**f.min_exponent).view(np.uint32)))
    return (*(np.uint32(v) for v in ints), f.smallest_step, f.mantissa_bits, f.min_exponent, f.max_value, f.has_inf)


@njit
def _fixed_code_bits(u, width_bits, frac_bits, min_code, max_code, stochastic, word, key, w):
    """(code, NaN?) of the float32 pattern ``u`` in a fixed-point format; stochastic rounding with main
    word ``w`` of the stream ``key`` (``word``: its value)."""
    a = np.int64(u) & 0x7FFFFFFF
    negative = np.int64(u) >> 31 == 1
    if a == 0 or a > 0x7F800000:
        return np.int64(0), a > 0x7F800000
    sig, sig_exp, exponent = _f32_parts(a)
    if a == 0x7F800000 or exponent >= width_bits - 1 - frac_bits:  # |x| ≥ 2**(W−1) steps: the extremes
        return (min_code if negative else max_code), False
    shift = -frac_bits - sig_exp
    k = sig << -shift if shift <= 0 else round_by(sig, shift, stochastic, word, key, w)
    return (-k if negative else min(k, max_code)), False


@njit
def _to_fixed(bits, codes, nan_mask, width_bits, frac_bits, min_code, max_code, stochastic, key, first):
    """Codes of float32 patterns in a fixed-point format; stochastic rounding of element ``i``
    uses main word ``first + i`` of the stream ``key``."""
    words = np.zeros(CHUNK, np.uint64)
    for start in range(0, bits.size, CHUNK):
        for i in range(start, chunk_words(key, first, start, bits.size, words, stochastic)):
            codes[i], nan_mask[i] = _fixed_code_bits(bits[i], width_bits, frac_bits, min_code, max_code, stochastic,
                                                     words[i - start], key, first + np.uint64(i))


@njit
def fixed_stochastic(x, codes, nan_mask, width_bits, frac_bits, min_code, max_code, key, first, words, open_):
    """``_to_fixed`` rounding stochastically, branch-free where ``stochastic_code`` decides and by
    ``_fixed_code_bits`` elsewhere; ``codes`` may be float32 (formats of at most 25 bits). ``words``
    (uint64) and ``open_`` (bool): scratch of at least ``min(CHUNK, x.size)`` values."""
    inv, top = pow2(frac_bits), pow2(width_bits - 1)
    for start in range(0, x.size, CHUNK):
        stop = min(start + CHUNK, x.size)
        xc, cc, nc = x[start:stop], codes[start:stop], nan_mask[start:stop]  # views indexed from 0: vectorises
        if on_fixed_grid(xc, inv):  # codes already (operands the chip computed): exact, as nearest rounds them
            fixed_nearest(xc, cc, nc, inv, np.float64(min_code), np.float64(max_code))
            continue
        fill_words(key, first + np.uint64(start), words, 0, stop - start)
        for j in range(stop - start):
            v = np.float64(xc[j])
            cc[j], open_[j] = stochastic_code(v, words[j], inv, top, np.float64(max_code))
            nc[j] = False
        for j in range(stop - start):
            if open_[j]:
                cc[j], nc[j] = _fixed_code_bits(xc[j:j + 1].view(np.uint32)[0], width_bits, frac_bits, min_code,
                                                max_code, True, words[j], key, first + np.uint64(start + j))


@njit
def fixed_nearest(x, codes, nan_mask, scale, min_code, max_code):
    """Round to nearest (half to even) onto the codes ``x · scale``, branch-free so the loop vectorises.

    ``scale = 2**F`` and the float32 ``x`` make ``x · scale`` exact in float64 (for |F| < 800),
    ``np.rint`` rounds it half to even, and the float64 bounds are the exact extreme codes (W ≤ 53);
    ±inf clamp to them, NaN gives code 0.
    """
    for i in range(x.size):
        v = np.float64(x[i]) * scale
        nan = v != v
        r = np.rint(v)
        r = min_code if r < min_code else r
        r = max_code if r > max_code else r
        codes[i] = 0.0 if nan else r  # an integer already: stored as it is (float32 codes: the loop vectorises)
        nan_mask[i] = nan


def _float32_bits(x) -> tuple[np.ndarray, tuple[int, ...]]:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(
            f"quantize expects a floating-point array, got dtype {arr.dtype}; convert it first, "
            "e.g. x.astype(np.float32)"
        )
    flat = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)
    return flat.view(np.uint32), arr.shape


def stream_of(rounding: str, rng) -> RandomStream | None:
    """The Philox stream a call rounds with: None for nearest rounding; the chip's ``RandomStream``
    itself; for a ``numpy.random.Generator`` (``None``: a fresh default one) a stream keyed by one
    64-bit word drawn from it (``RandomStream.from_generator``)."""
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDING_MODES)}, got {rounding!r}")
    if rng is not None and not isinstance(rng, np.random.Generator | RandomStream):
        raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    if rounding == "nearest":
        return None
    if isinstance(rng, RandomStream):
        return rng
    return RandomStream.from_generator(np.random.default_rng() if rng is None else rng)


def quantize_codes(x, fmt: str | NumberFormat, rounding: str = "nearest",
                   rng: np.random.Generator | RandomStream | None = None,
                   scale_exp: int | None = None, dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Rounds ``x`` into a fixed-point format and returns its integer codes.

    Args:
        x: Floating-point array, converted to float32 first as in ``quantize``.
        fmt: A fixed-point format (``"int8"``, ``"fixed16_8"``, ...).
        rounding: ``"nearest"`` (half to even) or ``"stochastic"``.
        rng: For stochastic rounding: a Generator (one word drawn from it keys the call's Philox
            stream, see ``stream_of``; ``None``: a fresh default generator), or the chip's
            ``RandomStream``, whose next ``x.size`` words the call uses.
        scale_exp: Exponent of one code (value = code · 2**scale_exp), e.g. a per-tensor
            power-of-two scale; ``None``: the format's binary point, ``-F``.
        dtype: ``np.int64``, or ``np.float32`` for formats of at most 25 bits, whose codes are
            integers exact in float32 (what ``gemm_fixed``'s BLAS routes multiply).

    Returns:
        ``(codes, nan_mask)``: the codes (saturated at the format's extremes) and a boolean mask
        of the NaN inputs, whose codes are 0. Same shape as ``x``.
    """
    dtype = np.dtype(dtype)
    f = fmt if isinstance(fmt, NumberFormat) else get_format(fmt)
    if f.is_float:
        raise ValueError(f"quantize_codes needs a fixed-point format, got {f.name!r}")
    if not (dtype == np.int64 or (dtype == np.float32 and f.width_bits <= 25)):
        raise ValueError(f"quantize_codes gives int64 codes, or float32 ones for at most 25 bits; got {dtype} "
                         f"for {f.name}")
    frac_bits = f.frac_bits if scale_exp is None else -int(scale_exp)
    bits, shape = _float32_bits(x)
    stream = stream_of(rounding, rng)
    codes = np.empty(bits.size, dtype)
    nan_mask = np.empty(bits.size, np.bool_)
    if stream is None and f.width_bits <= 53 and abs(frac_bits) < 800:
        fixed_nearest(bits.view(np.float32), codes, nan_mask, 2.0**frac_bits, float(f.min_code),
                          float(f.max_code))
        return codes.reshape(shape), nan_mask.reshape(shape)
    key, first = stream.take(bits.size) if stream is not None else (np.uint64(0), np.uint64(0))
    if stream is not None and f.width_bits <= 53 and abs(frac_bits) < 800:
        fixed_stochastic(bits.view(np.float32), codes, nan_mask, f.width_bits, frac_bits, f.min_code, f.max_code,
                         key, first, np.empty(CHUNK, np.uint64), np.empty(CHUNK, np.bool_))
        return codes.reshape(shape), nan_mask.reshape(shape)
    int_codes = np.empty(bits.size, np.int64)
    _to_fixed(bits, int_codes, nan_mask, f.width_bits, frac_bits, f.min_code, f.max_code, stream is not None, key,
              first)
    return int_codes.astype(dtype, copy=False).reshape(shape), nan_mask.reshape(shape)


def quantize(x, fmt: str, rounding: str = "nearest", rng: np.random.Generator | RandomStream | None = None
             ) -> np.ndarray:
    """Returns the values of ``x`` rounded into the number format ``fmt``.

    Args:
        x: Float32 array. Other floating dtypes are converted to float32 first (round to
            nearest), as torch does when it casts them; integer or boolean arrays raise ``TypeError``.
        fmt: ``"fp32"``, ``"bf16"``, ``"fp16"``, ``"fp8_e4m3"``, ``"fp8_e5m2"``, ``"fixed<W>_<F>"``,
            ``"int8"``, ``"int16"`` or ``"int32"``.
        rounding: ``"nearest"`` rounds half to even; ``"stochastic"`` rounds away from the lower
            neighbour with probability equal to the distance to it, in units of the step there.
        rng: Generator for stochastic rounding: every call draws one 64-bit word from it, the key
            of a Philox4x32-10 stream whose words ``0 … x.size − 1`` round the elements in order
            (``accel.numerics.philox``), so the same generator state gives the same bits. ``None``:
            a fresh default generator. The chip passes its own ``RandomStream`` instead.

    Returns:
        An array of the same shape: float32, or float64 for fixed point wider than 24 bits (for
        W > 53 the saturation limits are the float64 values nearest to the exact extremes).

    Raises:
        ValueError: Unknown format (the message lists the valid names) or rounding mode.
        TypeError: ``x`` is not a floating-point array, or ``rng`` is not a Generator.
    """
    f = get_format(fmt)
    if not f.is_float:
        codes, nan_mask = quantize_codes(x, f, rounding, rng)
        out = codes.astype(f.value_dtype)
        out *= np.asarray(f.smallest_step, f.value_dtype)  # a power of two: exact
        if nan_mask.any():
            out[nan_mask] = np.nan
        return out
    bits, shape = _float32_bits(x)
    stream = stream_of(rounding, rng)
    out = np.empty(bits.size, np.float32)
    if stream is None:
        to_float_nearest(bits, out.view(np.uint32), *nearest_float_params(f))
        return out.reshape(shape)
    _to_float_stochastic(bits, out.view(np.uint32), *_stochastic_float_params(f), *stream.take(bits.size))
    return out.reshape(shape)
