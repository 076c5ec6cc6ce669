"""Scalar rounding kernels: magnitudes ``sig * 2**-shift`` onto the integers, exactly.

Every rounding decision is made in integer arithmetic on the significand bits, never by adding
0.5 in floating point. ``round_float`` rounds the exact value ``s + e`` (two float64, the pair
``two_sum`` returns for a sum), so the same routine rounds an accumulator update correctly.

Stochastic rounding compares the discarded bits with a uniform ``U`` in [0, 1) whose first 32
bits are a main word of the chip's Philox stream (``accel.numerics.philox``): the magnitude
rounds up with probability exactly ``discarded / 2**shift``. When the discarded part lies more
than 32 bits below the rounding point and the word ties with its leading bits (probability
2**-32), ``resolve`` reads the next bits of ``U`` from the stream's further words of that
decision, so the probability is exact, not truncated, and the main counter never depends on the
values.
"""

import math

import numpy as np

from accel.jit import njit
from accel.numerics.philox import further_word

UNDECIDED = -1
POW2 = np.ldexp(1.0, np.arange(-1100, 1000))  # POW2[e + 1100] == 2.0**e (exact, subnormals included)


@njit
def pow2(e):
    """``2.0**e`` for integer ``-1100 ≤ e < 1000`` (a table lookup, exact)."""
    return POW2[e + 1100]


@njit
def two_sum(a, b):
    """Returns ``(s, e)`` with ``s = fl(a + b)`` and ``s + e == a + b`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


@njit
def stochastic_up(rem, shift, word):
    """Decides ``U < rem / 2**shift`` for a uniform ``U`` in [0, 1) whose first 32 bits are ``word``.

    Args:
        rem: Discarded bits, an integer ``0 ≤ rem < 2**63``.
        shift: How many bits were discarded (``≥ 1``).
        word: The first 32 random bits of ``U`` (a main word, uint64 below 2**32).

    Returns:
        1 (round up), 0 (down), or ``UNDECIDED`` when the threshold lies more than 32 bits down
        and its leading 32 bits equal ``word`` (probability 2**-32): ``resolve`` goes on.
    """
    if shift > 32:
        drop = shift - 32
        lead = np.uint64(rem >> drop) if drop < 63 else np.uint64(0)
        if word == lead:
            return UNDECIDED
        return 1 if word < lead else 0
    return 1 if (word >> np.uint64(32 - shift)) < np.uint64(rem) else 0


@njit
def resolve(rem, shift, key, w):
    """Finishes ``stochastic_up`` after its first word tied: compares the next bits of ``U``, 64 at a
    time, the further words of the decision whose main word is ``w`` in the stream ``key``; returns
    1 or 0."""
    shift -= 32
    if shift < 63:
        rem &= (np.int64(1) << shift) - 1
    t = 0
    while True:
        word = further_word(key, w, t)
        t += 1
        if shift <= 64:
            return 1 if (word >> np.uint64(64 - shift)) < np.uint64(rem) else 0
        lead = np.uint64(rem >> (shift - 64)) if shift - 64 < 63 else np.uint64(0)
        if word != lead:
            return 1 if word < lead else 0
        if shift - 64 < 63:
            rem &= (np.int64(1) << (shift - 64)) - 1
        shift -= 64


@njit
def word_below(word, rem, drop):
    """``stochastic_up`` for ``1 ≤ drop ≤ 63`` discarded bits ``rem``, branch-free: (1 if ``U`` lies below
    them, 1 if that needs ``U``'s bits beyond its first 32, which ``resolve`` reads)."""
    high = max(drop - 32, 0)
    lead = np.uint64(rem >> high)
    up = (word >> np.uint64(32 - min(drop, 32))) < lead
    tie = (word == lead) & ((rem & ((np.int64(1) << high) - 1)) != 0)
    return np.int64(up), tie


@njit
def split_at(sig, shift):
    """``(sig >> shift, sig mod 2**shift)`` for ``shift ≥ 1``, also where int64 shifts would overflow."""
    if shift > 62:
        return np.int64(0), sig
    return sig >> shift, sig & ((np.int64(1) << shift) - 1)


@njit
def round_nearest(sig, shift, toward):
    """Rounds the magnitude ``sig * 2**-shift`` half to even to an integer.

    Args:
        sig: Non-negative int64 significand (``< 2**63``).
        shift: Bits to discard, ``≥ 1``.
        toward: +1/-1 when the exact magnitude lies above/below ``sig * 2**-shift`` by less than
            its last bit (the error term of a sum), 0 when ``sig`` is exact.
    """
    if shift > 63:  # half a unit, 2**(shift-1), exceeds any int64 significand
        return np.int64(0)
    k, rem = split_at(sig, shift)
    half = np.int64(1) << (shift - 1)
    if rem > half or (rem == half and (toward > 0 or (toward == 0 and (k & 1) == 1))):
        return k + 1
    return k


@njit
def round_by(sig, shift, stochastic, word, key, w):
    """Rounds the magnitude ``sig * 2**-shift`` (shift ≥ 1) half to even, or stochastically with
    the main word ``w`` of the stream ``key`` (``word``: its value, which the caller computed)."""
    if not stochastic:
        return round_nearest(sig, shift, 0)
    k, rem = split_at(sig, shift)
    up = stochastic_up(rem, shift, word)
    return k + (resolve(rem, shift, key, w) if up == UNDECIDED else up)


@njit
def stochastic_code(v, word, inv, top, max_code):
    """The code of ``v`` rounded stochastically onto the grid ``1 / inv`` with the main ``word``, branch-free,
    and whether that shortcut does not decide it (then ``round_by`` decides exactly).

    ``t = |v| · inv`` is exact (``inv`` a power of two), and so are ``f = frac(t) · 2**32`` and its floor
    ``F``: ``U < frac(t)`` holds when ``word < F``, fails when ``word > F`` or ``word = F = f``, and
    needs ``U``'s further bits when ``word = F < f`` (probability 2**-32). Zero gives code 0; NaN,
    ±inf and values from ``top`` (the format's extreme codes) up are left to the exact route.
    """
    a = abs(v)
    t = a * inv
    k = np.floor(t)
    f = (t - k) * 4294967296.0 if t < top else 0.0
    lead = np.floor(f)
    # the word as a float64, exactly (it is below 2**32), by the bits of 2**52 + word: AVX2 has no
    # vector conversion between 64-bit integers and doubles, and with this one the loop vectorises
    u = np.uint64(word | np.uint64(0x4330000000000000)).view(np.float64) - 4503599627370496.0
    code = k + (u < lead)
    code = -code if v < 0.0 else min(code, max_code)
    return code + 0.0, (not t < top) | ((u == lead) & (f != lead))


@njit
def on_fixed_grid(x, inv):
    """Whether every value of ``x`` times the power of two ``inv`` is an integer, ±inf or NaN: then
    ``stochastic_code`` and the exact routes round ``x`` without reading a random word (callers skip
    computing a chunk's words; the counter advances all the same)."""
    t = abs(np.float64(x[0])) * inv if x.size else 0.0
    if not ((t == np.floor(t)) | (t != t)):  # the first value decides at once for most chunks that are not
        return False
    exact = True
    for j in range(x.size):
        t = abs(np.float64(x[j])) * inv
        exact &= (t == np.floor(t)) | (t != t)
    return exact


@njit
def float_quantum_exponent(exponent, mantissa_bits, min_exponent):
    """Exponent of the step of a float format at a magnitude in ``[2**exponent, 2**(exponent+1))``."""
    return max(exponent, min_exponent) - mantissa_bits


@njit
def round_float(s, e, mantissa_bits, min_exponent, max_value, has_inf):
    """Rounds the exact value ``s + e`` half to even into a float format (subnormals kept).

    Args:
        s: The value, or the rounded sum from ``two_sum``.
        e: Its error term (0.0 when ``s`` is exact); ``|e| ≤ ulp(s) / 2``.
        mantissa_bits: Stored mantissa bits of the format (fewer than float64's 52).
        min_exponent: Exponent of its smallest normal number.
        max_value: Its largest finite value.
        has_inf: Overflow gives ±inf when True, saturates at ±max_value when False.

    Returns:
        The rounded value as float64 (exactly representable in the format), NaN for NaN.
    """
    if s != s or s == 0.0:
        return s
    if math.isinf(s):
        return s if has_inf else math.copysign(max_value, s)
    m, ex = math.frexp(abs(s))  # |s| = m * 2**ex, 0.5 ≤ m < 1
    sig = np.int64(m * 9007199254740992.0)  # m * 2**53, exact
    qexp = float_quantum_exponent(ex - 1, mantissa_bits, min_exponent)
    toward = 0 if e == 0.0 else (1 if (e > 0.0) == (s > 0.0) else -1)
    k = round_nearest(sig, qexp - (ex - 53), toward)
    mag = np.float64(k) * pow2(qexp)
    if mag > max_value:
        mag = math.inf if has_inf else max_value
    return math.copysign(mag, s)
