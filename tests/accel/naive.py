"""Slow, obvious references for the numerics kernels: exact rational arithmetic, one element at a time,
and the chip's Philox4x32-10 stream in plain NumPy uint64 arithmetic."""

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
                if acc == 0.0 and p == 0.0:  # IEEE: −0 only when both zeros are −0
                    acc = acc + p
                elif math.isfinite(acc) and math.isfinite(p):
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


# --- the chip's random stream (accel.numerics.philox), written out from Salmon et al. (SC 2011) ------------------

def philox4x32_10(counters: np.ndarray, key: int) -> np.ndarray:
    """Philox4x32-10 of an (n, 4) array of 32-bit counter lanes under a 64-bit key: (n, 4) lanes out."""
    mask = np.uint64(0xFFFFFFFF)
    c = [np.asarray(counters, np.uint64)[:, lane].copy() for lane in range(4)]
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    for _ in range(10):
        hi0, lo0 = divmod(np.uint64(0xD2511F53) * c[0], np.uint64(2**32))
        hi1, lo1 = divmod(np.uint64(0xCD9E8D57) * c[2], np.uint64(2**32))
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & mask, (k1 + np.uint64(0xBB67AE85)) & mask
    return np.stack(c, axis=1)


def _words_of_blocks(lanes: np.ndarray) -> np.ndarray:
    """Each block's two 64-bit words, in order: lanes 0·2**32 + 1, then 2·2**32 + 3."""
    return np.stack([(lanes[:, 0] << np.uint64(32)) | lanes[:, 1], (lanes[:, 2] << np.uint64(32)) | lanes[:, 3]],
                    axis=1).reshape(-1)


def philox_words(key: int, first: int, n: int) -> np.ndarray:
    """Main words ``first … first + n − 1`` of the stream ``key`` (32 bits each, as uint64): word ``w`` is
    lane ``w mod 4`` of the block of counter ``(w // 4, 0)``."""
    blocks = np.arange(first // 4, (first + n) // 4 + 1, dtype=np.uint64)
    counters = np.stack([blocks & np.uint64(0xFFFFFFFF), blocks >> np.uint64(32), 0 * blocks, 0 * blocks], axis=1)
    words = philox4x32_10(counters, key).reshape(-1)
    return words[first % 4:first % 4 + n]


def further_words(key: int, w: int, n: int) -> list[int]:
    """The first ``n`` further words of the decision whose main word is ``w``: blocks of counter ``(w, j)``,
    ``j = 1, 2, …``."""
    j = np.arange(1, n // 2 + 2, dtype=np.uint64)
    counters = np.stack([0 * j + np.uint64(w & 0xFFFFFFFF), 0 * j + np.uint64(w >> 32), j, 0 * j], axis=1)
    return [int(x) for x in _words_of_blocks(philox4x32_10(counters, key))[:n]]


def rounds_up(frac: Fraction, key: int, w: int) -> bool:
    """Whether ``U < frac`` for the uniform ``U`` whose bits are main word ``w`` (32) then its further words (64)."""
    word, bits, t = int(philox_words(key, w, 1)[0]), 32, 0
    while True:
        scaled = frac * 2**bits
        lead = math.floor(scaled)
        if word != lead:
            return word < lead
        frac = scaled - lead
        word, bits, t = further_words(key, w, t + 1)[t], 64, t + 1


def stochastic_ref(x: np.ndarray, fmt: str, key: int, first: int = 0) -> np.ndarray:
    """Stochastic rounding of every element of a float array (element ``i`` with main word ``first + i``):
    the magnitude goes up to the next step when ``U < (|v| − lower) / step``, exactly, the sign is kept
    (fixed point: +0.0 for zero); saturation and special values as ``quantize_ref``."""
    f = get_format(fmt)
    out = []
    for i, v in enumerate(np.asarray(x).ravel().tolist()):
        if not math.isfinite(v) or v == 0.0:
            out.append(float(quantize_ref(np.array([v], np.float32), fmt)[0]))
            continue
        lower, upper = neighbours(abs(v), fmt)
        up = lower != upper and rounds_up((Fraction(abs(v)) - Fraction(lower)) / (Fraction(upper) - Fraction(lower)),
                                          key, first + i)
        mag = upper if up else lower
        if not f.is_float:
            out.append(0.0 if mag == 0 else min(max(math.copysign(mag, v), f.min_value), f.max_value))
            continue
        if mag > f.max_value:
            mag = math.inf if f.has_inf else f.max_value
        out.append(math.copysign(mag, v))
    return np.array(out, dtype=f.value_dtype).reshape(np.shape(x))
