"""Exact elementwise kernels of the vector unit: every elementary result rounded into a format.

A vector operation is a short program of steps (an add, a multiply, a square root, ...), each
computed in float64 and rounded once into the format the unit computes in, as
``Accelerator.round_into`` rounds exact float64 values: floats half to even or stochastically
(``round_pairs`` of the float64 value; zero becomes +0.0, ±inf stays ±inf or saturates at the
largest value where the format has none, NaN stays NaN), fixed point onto codes times the
power-of-two scale that the rounded tensor's own peak picks under ``tensor_pow2`` (``-F``
otherwise; ±inf to the extreme codes, NaN to 0). A step counts the values that lie beyond the
format's range before rounding (saturations). One jitted kernel runs a whole operation.

Stochastic rounding uses the chip's Philox stream exactly as ``round_into`` does: for every step
in program order, one main word per element (``accel.numerics.philox``), the decisions that word
leaves open finished from their own further words. A program takes ``stream = [key, first
word]`` and reads main word ``first + cursor + i`` for element ``i`` of the step at the cursor,
computing the words itself; the cursor (``state``) says how many it used, a fixed count for the
operation and its size, by which the caller advances the chip's counter.
"""

import math

import numpy as np

from accel.jit import njit
from accel.numerics.formats import NumberFormat
from accel.numerics.philox import CHUNK, fill_words, main_word
from accel.numerics.rounding import (
    float_quantum_exponent,
    on_fixed_grid,
    pow2,
    round_by,
    stochastic_code,
    word_below,
)

_U64 = np.uint64
# State of a running program (an int64 array): saturations counted, words used.
_SATURATIONS, _CURSOR = 0, 1


def format_params(fmt: NumberFormat, pow2_scaling: bool, stochastic: bool, block: int = 0, span: int = 0) -> tuple:
    """The constants the kernels round with, for ``fmt`` (a tuple of float64 and int64).

    Float formats: nearest rounding on the float64 bits above the smallest normal, ``(|v| +
    magic) − magic`` below it (the fixed step there), or for fp32 the CPU's conversion.
    Fixed point: the code range, the binary point, whether each rounded tensor picks its own
    power-of-two scale, and with ``block`` (``block_pow2``) one per block of that many consecutive
    values, at most ``span`` below the tensor's largest.
    """
    drop = 52 - fmt.mantissa_bits if fmt.is_float else 0
    magic = 2.0 ** (fmt.min_exponent - fmt.mantissa_bits + 52) if fmt.is_float else 0.0
    return (fmt.is_float, stochastic, fmt.mantissa_bits, fmt.min_exponent, fmt.max_value, fmt.has_inf, drop,
            (1 << (drop - 1)) if drop else 0, magic, 2.0**fmt.min_exponent if fmt.is_float else 0.0,
            fmt.width_bits, fmt.min_code, fmt.max_code, fmt.frac_bits, pow2_scaling, fmt.smallest_step,
            fmt.name == "fp32", block, span)


@njit
def _nearest_float(v, p):
    """``v`` rounded half to even into the float format ``p`` (bit trick above the smallest
    normal, where a carry out of the fraction lands in the exponent; fixed step below it)."""
    a = abs(v)
    drop, half = p[6], p[7]
    bits = np.float64(a).view(np.int64)
    r = np.int64((bits + (half - 1) + ((bits >> drop) & 1)) & -(half << 1)).view(np.float64)
    r = (a + p[8]) - p[8] if a < p[9] else r
    r = (math.inf if p[5] else p[4]) if r > p[4] else r
    r = -r if v < 0.0 else r
    return v if v != v else r


@njit
def _stochastic_float(v, word, p, key, w):
    """``v`` rounded stochastically into the float format ``p`` with main word ``w`` of the stream
    ``key`` (``word``: its value), as ``round_pairs`` rounds the float64 pair of ``v``."""
    if v != v:
        return v
    if math.isinf(v):
        return v if p[5] else math.copysign(p[4], v)
    if v == 0.0:
        return 0.0
    m, e = math.frexp(abs(v))
    sig = np.int64(m * 9007199254740992.0)  # m · 2**53, exact
    qexp = float_quantum_exponent(e - 1, p[2], p[3])
    value = abs(v)
    if qexp > e - 53:
        value = np.float64(round_by(sig, qexp - (e - 53), True, word, key, w)) * pow2(qexp)
    if value > p[4]:
        value = math.inf if p[5] else p[4]
    return -value if v < 0.0 else value


@njit
def _fixed_code(v, word, stochastic, scale, p, key, w):
    """The code of ``v`` in the fixed-point format ``p`` at the scale ``2**scale`` (``round_pairs``
    of its float64 pair, ±inf at the extremes, NaN 0); stochastic rounding with main word ``w``."""
    if v != v or v == 0.0:
        return np.int64(0)
    top = p[12] if v > 0.0 else p[11]
    if math.isinf(v):
        return top
    m, e = math.frexp(abs(v))
    sig = np.int64(m * 9007199254740992.0)
    if e - 1 >= p[10] - 1 + scale:  # |v| ≥ 2**(W−1) steps
        return top
    if scale <= e - 53:
        k = sig << (e - 53 - scale)
    else:
        k = round_by(sig, scale - (e - 53), stochastic, word, key, w)
    return -k if v < 0.0 else min(k, p[12])


@njit
def peak_scale(peak, p):
    """The exponent of one code: ``-F``, or under ``tensor_pow2`` the smallest ``s`` with ``peak ≤
    max_code · 2**s`` (``requantize.pow2_scale`` of the float64 pair of ``peak``)."""
    if not p[14] or peak == 0.0:
        return -p[13]
    m, e = math.frexp(peak)
    sig = np.int64(m * 9007199254740992.0)
    width, max_code = p[10], p[12]
    d = 53 - width  # fits(d − 1) never holds
    while True:
        if d >= 0:
            fits = width - 1 + d > 53 or sig <= max_code << d
        else:
            fits = 53 - d <= 63 and sig << -d <= max_code
        if fits:
            return e - 53 + d
        d += 1


@njit
def round_step(x, p, stream, state):
    """Rounds the float64 array ``x`` in place into the format ``p`` as ``round_into`` does;
    counts its saturations and (fixed point) the nonzero values it rounds to 0, and advances the word cursor in
    ``state`` by ``x.size`` (stochastic rounding: element ``i`` uses main word ``stream[1] + cursor
    + i`` of the key ``stream[0]``). Under ``block_pow2`` (``p[17]`` values per block) each block of
    consecutive values rounds at its own scale, at most ``p[18]`` below the largest block's."""
    n = x.size
    stochastic = p[1]
    key = stream[0] if stochastic else _U64(0)
    first = stream[1] + _U64(state[_CURSOR]) if stochastic else _U64(0)
    if stochastic:
        state[_CURSOR] += n
    if p[0]:
        _round_float(x, p, stochastic, key, first, state)
    elif p[14] and p[17]:
        block = p[17]
        blocks = -(-n // block)
        scales = np.empty(blocks, np.int64)
        held = np.empty(blocks, np.bool_)
        for j in range(blocks):
            peak = _finite_peak(x[j * block:(j + 1) * block])
            scales[j], held[j] = peak_scale(peak, p), peak != 0.0
        floor_scales(scales, held, p[18])
        scratch = _scratch(n, stochastic)
        runs = scale_runs(scales)
        for r in range(runs.size - 1):  # a run of consecutive blocks at one scale rounds in one call
            start = runs[r] * block
            _round_fixed(x[start:runs[r + 1] * block], scales[runs[r]], p, stochastic, key, first + _U64(start), state,
                         scratch)
    else:
        _round_fixed(x, peak_scale(_finite_peak(x), p), p, stochastic, key, first, state, _scratch(n, stochastic))


@njit
def floor_scales(scales, held, span):
    """Raises every block's scale to at least ``span`` below the largest held one (``held``: the blocks
    with a nonzero peak; the others take that floor); nothing held: the scales stay."""
    if held.any():
        floor = scales[held].max() - span
        for j in range(scales.size):
            scales[j] = floor if not held[j] else max(scales[j], floor)


@njit
def scale_runs(scales):
    """Where the runs of consecutive equal ``scales`` start, then ``scales.size``: run ``r`` covers
    blocks ``runs[r]`` to ``runs[r + 1]``."""
    starts = [0]
    for j in range(1, scales.size):
        if scales[j] != scales[j - 1]:
            starts.append(j)
    starts.append(scales.size)
    return np.array(starts, np.int64)


@njit
def _scratch(size, stochastic):
    """Scratch for rounding up to ``size`` values: (random words, exact values, open decisions)."""
    size = min(CHUNK, size) if stochastic else 0
    return np.zeros(size, np.uint64), np.empty(size), np.zeros(size, np.bool_)


@njit
def _round_fixed(x, scale, p, stochastic, key, first, state, scratch):
    """``round_step`` of ``x`` into the fixed-point format ``p`` at the scale ``2**scale``, element ``i``
    with main word ``first + i``; ``scratch``: ``_scratch``'s arrays."""
    n = x.size
    # values already in the format (most inputs: the chip computed them) round to themselves, with
    # no saturation, no value rounded to 0 and no word read: two vectorised passes decide it
    if _identity(x, scale, p):
        for i in range(n):
            x[i] += 0.0  # −0 becomes +0, as rounding makes every zero
        return
    nonzero = _nonzero(x)
    words, original, open_ = scratch  # an open decision is finished from the exact value in ``original``
    saturations = 0
    unit = pow2(scale)
    lo, hi = np.float64(p[11]) * unit, np.float64(p[12]) * unit
    for i in range(n):
        saturations += np.int64((x[i] > hi) | (x[i] < lo))
    if not stochastic and p[10] <= 53 and abs(scale) < 1000:
        _fixed_nearest(x, scale, p)
    elif stochastic and abs(scale) < 1000:
        # branch-free where ``stochastic_code`` decides; the rest is marked and rounded by ``_fixed_code``
        inv, top, max_code = pow2(-scale), pow2(p[10] - 1), np.float64(p[12])
        for start in range(0, n, CHUNK):
            size = min(CHUNK, n - start)
            xc = x[start:start + size]
            if p[10] <= 53 and on_fixed_grid(xc, inv):  # codes already: exact, as nearest rounds them
                _fixed_nearest(xc, scale, p)
                continue
            fill_words(key, first + _U64(start), words, 0, size)
            for j in range(size):
                v = xc[j]
                original[j] = v
                code, open_[j] = stochastic_code(v, words[j], inv, top, max_code)
                xc[j] = code * unit
            for j in range(size):
                if open_[j]:
                    code = _fixed_code(original[j], words[j], True, scale, p, key, first + _U64(start + j))
                    xc[j] = np.float64(code) * unit
    else:
        for start in range(0, n, CHUNK):
            size = min(CHUNK, n - start)
            if stochastic:
                fill_words(key, first + _U64(start), words, 0, size)
            for j in range(size):
                word = words[j] if stochastic else _U64(0)
                code = _fixed_code(x[start + j], word, stochastic, scale, p, key, first + _U64(start + j))
                x[start + j] = np.float64(code) * unit
    state[_SATURATIONS] += saturations
    state[_UNDERFLOWS] += nonzero - _nonzero(x)  # rounding keeps 0 at 0 and never makes a NaN


@njit
def _round_float(x, p, stochastic, key, first, state):
    """``round_step`` of ``x`` into the float format ``p``, element ``i`` with main word ``first + i``."""
    n = x.size
    if _identity(x, 0, p):  # values already in the format round to themselves: see ``_round_fixed``
        for i in range(n):
            x[i] += 0.0
        return
    words, original, open_ = _scratch(n, stochastic)
    saturations = 0
    for i in range(n):
        saturations += np.int64(abs(x[i]) > p[4])
    if stochastic:
        # In the format's normal range the step is bit ``drop`` of float64's fraction, and
        # round_by keeps the bits above it and adds one there when the word's leading ``drop``
        # bits lie below the discarded ones: branch-free on the bits. Zero gives +0.0; the
        # rest (NaN, ±inf, the format's subnormal steps) is marked in ``open_`` and rounded
        # by ``_stochastic_float`` after the loop.
        drop = p[6]
        low = (np.int64(1) << drop) - 1
        for start in range(0, n, CHUNK):
            size = min(CHUNK, n - start)
            xc = x[start:start + size]  # a view indexed from 0: no wraparound checks, the loop vectorises
            if not _float_on_grid(xc, low, p[9]):  # values already in the format need no words
                fill_words(key, first + _U64(start), words, 0, size)
            for j in range(size):
                v = xc[j]
                original[j] = v
                a = abs(v)
                bits = np.float64(a).view(np.int64)
                rem = bits & low
                up, tie = word_below(words[j], rem, drop)
                r = np.int64((bits - rem) + (up << drop)).view(np.float64)
                r = (math.inf if p[5] else p[4]) if r > p[4] else r
                xc[j] = -r if v < 0.0 else r
                open_[j] = tie | (not (p[9] <= a < math.inf or a == 0.0))
            for j in range(size):
                if open_[j]:
                    xc[j] = _stochastic_float(original[j], words[j], p, key, first + _U64(start + j))
    else:
        for i in range(n):
            x[i] = _nearest_float(x[i], p)
    state[_SATURATIONS] += saturations


@njit
def _finite_peak(x):
    """The largest finite magnitude in the float64 array ``x`` (0.0 if none), as an integer
    max-reduction over the bit patterns, which vectorises where a float one does not."""
    bits = x.view(np.int64)
    peak = np.int64(0)
    for i in range(bits.size):
        a = bits[i] & np.int64(0x7FFFFFFFFFFFFFFF)
        peak = max(peak, a if a < np.int64(0x7FF0000000000000) else np.int64(0))
    return np.int64(peak).view(np.float64)


@njit
def _identity(x, scale, p):
    """Whether rounding ``x`` into the format ``p`` (fixed point: at the scale ``2**scale``) leaves every
    value unchanged but −0: the first chunk decides at once for most tensors that are not."""
    if p[0]:
        return _float_identity(x[:CHUNK], p) and _float_identity(x, p)
    return p[10] <= 53 and abs(scale) < 1000 and _fixed_identity(x[:CHUNK], scale, p) and _fixed_identity(x, scale, p)


@njit
def _fixed_identity(x, scale, p):
    """Whether rounding ``x`` into the fixed-point format ``p`` at the scale ``2**scale`` leaves every
    value unchanged but −0 (which becomes +0): each is a code within the range times the unit (no NaN)."""
    inv, lo, hi = pow2(-scale), np.float64(p[11]), np.float64(p[12])
    same = True
    for i in range(x.size):
        t = x[i] * inv
        same &= (t == np.floor(t)) & (t >= lo) & (t <= hi)
    return same


@njit
def _float_identity(x, p):
    """Whether rounding ``x`` into the float format ``p`` leaves every value unchanged but −0 (which
    becomes +0): each is a value of the format up to its largest, on its fraction bits from the
    smallest normal up, a multiple of its smallest step below (no NaN or ±inf)."""
    low, inv = (np.int64(1) << p[6]) - 1, 1.0 / p[15]
    bits = x.view(np.int64)
    same = True
    for i in range(x.size):
        a = abs(x[i])
        t = a * inv
        same &= (((bits[i] & low) == 0) & (a >= p[9]) & (a <= p[4])) | ((a < p[9]) & (t == np.floor(t)))
    return same


@njit
def _fixed_nearest(x, scale, p):
    """Rounds ``x`` in place half to even onto the codes of the fixed-point format ``p`` at the scale
    ``2**scale`` (``|scale| < 1000``, at most 53 bits). ``x · 2**-scale`` is exact (or far below ½),
    rint rounds it half to even, the bounds are exact codes; + 0.0 turns a code −0 into the integer 0."""
    inv, unit, lo_code, hi_code = pow2(-scale), pow2(scale), np.float64(p[11]), np.float64(p[12])
    for i in range(x.size):
        v = x[i]
        r = min(max(np.rint(v * inv), lo_code), hi_code) + 0.0
        x[i] = 0.0 if v != v else r * unit


@njit
def _float_on_grid(x, low, smallest_normal):
    """Whether every value of the float64 array ``x`` is ±0, ±inf or a value of the float format from
    its smallest normal up (``low``: the float64 fraction bits below its step there)."""
    exact = True
    for i in range(x.size):
        a = abs(x[i])
        exact &= ((np.float64(a).view(np.int64) & low) == 0) & ((a >= smallest_normal) | (a == 0.0))
    return exact


@njit
def _nonzero(x):
    """Values of ``x`` neither 0 nor NaN (fixed point rounds NaN to 0: it is no underflow)."""
    count = 0
    for i in range(x.size):  # indexed, not iterated: the iterator keeps the loop from vectorising
        v = x[i]
        count += np.int64((v != 0.0) & (v == v))
    return count


@njit
def round_scalar(c, p, stream, state):
    """``c`` rounded as a one-element tensor (a constant of the program)."""
    x = np.full(1, np.float64(c))
    round_step(x, p, stream, state)
    return x[0]


# --- programs: one kernel per vector operation ------------------------------------------------------------------
# Each reads its inputs (float32 or float64, flat), rounds them into the format, runs its steps in
# the order the operation's definition evaluates them (left operand first), writes its results into
# ``outs`` (the format's value dtype) and counts their NaN/inf in ``state``.

_NONFINITE, _UNDERFLOWS = 2, 3
STATE_SIZE = 4
"""Length of a program's ``state``: saturations, stream used, NaN/inf results, values rounded to 0."""


@njit
def _r(t, p, stream, state):
    round_step(t, p, stream, state)
    return t


@njit
def _load(x, p, stream, state):
    return _r(x.astype(np.float64), p, stream, state)


@njit
def _store(v, out, state):
    nonfinite = 0
    for i in range(v.size):
        out[i] = v[i]
        nonfinite += np.int64(not np.isfinite(v[i]))
    state[_NONFINITE] += nonfinite


@njit
def _maximum(x, y):
    """``np.maximum``: NaN propagates; of two equal values (±0) the second."""
    return x if x > y or x != x else y


@njit
def _minimum(x, y):
    """``np.minimum``: NaN propagates; of two equal values (±0) the second."""
    return x if x < y or x != x else y


@njit
def relu(x, p, stream, state, out):
    x = _load(x, p, stream, state)
    for i in range(x.size):
        x[i] = _maximum(x[i], 0.0)
    _store(x, out, state)


@njit
def relu_grad(x, dy, p, stream, state, out):
    x, dy = _load(x, p, stream, state), _load(dy, p, stream, state)
    for i in range(x.size):  # a loop, not np.where: Numba's np.where took 2 ns an element here
        dy[i] = dy[i] if x[i] > 0.0 else 0.0
    _store(dy, out, state)


@njit
def load(x, p, stream, state):
    """The input rounded into the format (float64): the first step of ``tanh``, whose float64
    ``np.tanh`` is numpy's (libm's may differ in the last bit), between two kernels."""
    return _load(x, p, stream, state)


@njit
def store_rounded(t, p, stream, state, out):
    _store(_r(t, p, stream, state), out, state)


@njit
def tanh_grad(y, dy, p, stream, state, out):
    y, dy = _load(y, p, stream, state), _load(dy, p, stream, state)
    _store(_r(dy * _r(1.0 - _r(y * y, p, stream, state), p, stream, state), p, stream, state), out, state)


@njit
def add(x, y, p, stream, state, out):
    x, y = _load(x, p, stream, state), _load(y, p, stream, state)
    _store(_r(x + y, p, stream, state), out, state)


@njit
def mul(x, y, p, stream, state, out):
    x, y = _load(x, p, stream, state), _load(y, p, stream, state)
    _store(_r(x * y, p, stream, state), out, state)


@njit
def fma(x, y, z, p, stream, state, out):
    x, y, z = _load(x, p, stream, state), _load(y, p, stream, state), _load(z, p, stream, state)
    _store(_r(_r(x * y, p, stream, state) + z, p, stream, state), out, state)


@njit
def scale(x, factor, p, stream, state, out):
    x = _load(x, p, stream, state)
    _store(_r(x * round_scalar(factor, p, stream, state), p, stream, state), out, state)


@njit
def maximum(x, y, p, stream, state, out):
    x, y = _load(x, p, stream, state), _load(y, p, stream, state)
    for i in range(x.size):
        x[i] = _maximum(x[i], y[i])
    _store(x, out, state)


@njit
def minimum(x, y, p, stream, state, out):
    x, y = _load(x, p, stream, state), _load(y, p, stream, state)
    for i in range(x.size):
        x[i] = _minimum(x[i], y[i])
    _store(x, out, state)


@njit
def sum_rows(x, cols, p, stream, state, out):
    """Column sums of the row-major ``(x.size // cols, cols)`` matrix ``x``, row 0 first."""
    x = _load(x, p, stream, state)
    total = x[:cols].copy()
    for row in range(1, x.size // cols):
        total = _r(total + x[row * cols:(row + 1) * cols], p, stream, state)
    _store(total, out, state)


@njit
def huber(pred, target, delta, p, stream, state, loss_out, grad_out):
    pred, target = _load(pred, p, stream, state), _load(target, p, stream, state)
    d = _r(pred - target, p, stream, state)
    dlt = round_scalar(delta, p, stream, state)
    small = np.abs(d) <= dlt
    quadratic = _r(round_scalar(0.5, p, stream, state) * _r(d * d, p, stream, state), p, stream, state)
    half_delta = round_scalar(0.5 * dlt, p, stream, state)
    linear = _r(dlt * _r(np.abs(d) - half_delta, p, stream, state), p, stream, state)
    _store(np.where(small, quadratic, linear), loss_out, state)
    _store(_r(np.where(small, d, dlt * np.sign(d)) / d.size, p, stream, state), grad_out, state)


@njit
def mse(pred, target, p, stream, state, loss_out, grad_out):
    pred, target = _load(pred, p, stream, state), _load(target, p, stream, state)
    d = _r(pred - target, p, stream, state)
    _store(_r(d * d, p, stream, state), loss_out, state)
    _store(_r(_r(2.0 * d, p, stream, state) / d.size, p, stream, state), grad_out, state)


@njit
def sgd_momentum(w, g, v, lr, momentum, p, stream, state, w_out, v_out):
    w, g, v = _load(w, p, stream, state), _load(g, p, stream, state), _load(v, p, stream, state)
    v = _r(_r(round_scalar(momentum, p, stream, state) * v, p, stream, state) + g, p, stream, state)
    _store(_r(w - _r(round_scalar(lr, p, stream, state) * v, p, stream, state), p, stream, state), w_out, state)
    _store(v, v_out, state)


@njit
def adam(w, g, m, v, lr, beta1, beta2, eps, c1, c2, p, stream, state, w_out, m_out, v_out):
    w, g = _load(w, p, stream, state), _load(g, p, stream, state)
    m, v = _load(m, p, stream, state), _load(v, p, stream, state)
    b1, b2 = round_scalar(beta1, p, stream, state), round_scalar(beta2, p, stream, state)
    k1, k2 = round_scalar(1.0 - beta1, p, stream, state), round_scalar(1.0 - beta2, p, stream, state)
    m = _r(_r(b1 * m, p, stream, state) + _r(k1 * g, p, stream, state), p, stream, state)
    v = _r(_r(b2 * v, p, stream, state) + _r(k2 * _r(g * g, p, stream, state), p, stream, state), p, stream, state)
    root = _r(np.sqrt(_r(v / round_scalar(c2, p, stream, state), p, stream, state)), p, stream, state)
    denom = _r(root + round_scalar(eps, p, stream, state), p, stream, state)
    lr_r = round_scalar(lr, p, stream, state)
    step = _r(lr_r * _r(m / round_scalar(c1, p, stream, state), p, stream, state), p, stream, state)
    _store(_r(w - _r(step / denom, p, stream, state), p, stream, state), w_out, state)
    _store(m, m_out, state)
    _store(v, v_out, state)


@njit
def polyak(target, online, tau, p, stream, state, out):
    target, online = _load(target, p, stream, state), _load(online, p, stream, state)
    kept = _r(round_scalar(1.0 - tau, p, stream, state) * target, p, stream, state)
    _store(_r(kept + _r(round_scalar(tau, p, stream, state) * online, p, stream, state), p, stream, state), out, state)


# --- fused programs: float formats rounded to nearest ------------------------------------------------------------
# A float format rounded to nearest needs neither a tensor's peak nor random words, so every
# step of an element can follow the previous one at once: one pass, no temporaries. Each
# ``fused_*`` kernel runs the same steps, in the same order, as its staged program above, and
# returns ``(saturations, NaN/inf results)``.


@njit
def _rn(v, p):
    """``v`` rounded to nearest into the float format ``p``, and 1 if it lay beyond its range.

    fp32 is the CPU's own conversion (IEEE round to nearest even, subnormals, overflow to ±inf),
    except that an exact zero is +0.0, as ``round_into`` makes it.
    """
    if p[16]:  # fp32
        r = np.float64(np.float32(v))
        return (r if v != 0.0 else 0.0), np.int64(abs(v) > p[4])
    return _nearest_float(v, p), np.int64(abs(v) > p[4])


@njit
def _const(c, p):
    return _rn(np.float64(c), p)


@njit
def fused_relu(x, p, out):
    sat = bad = 0
    for i in range(x.size):
        a, s = _rn(np.float64(x[i]), p)
        r = _maximum(a, 0.0)
        out[i] = r
        sat += s
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_relu_grad(x, dy, p, out):
    sat = bad = 0
    for i in range(x.size):
        a, s0 = _rn(np.float64(x[i]), p)
        d, s1 = _rn(np.float64(dy[i]), p)
        r = d if a > 0.0 else 0.0
        out[i] = r
        sat += s0 + s1
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_load(x, p, out):
    """The input rounded into the format, as float64 (``tanh``'s first step)."""
    sat = 0
    for i in range(x.size):
        out[i], s = _rn(np.float64(x[i]), p)
        sat += s
    return sat, 0


@njit
def fused_store(t, p, out):
    sat = bad = 0
    for i in range(t.size):
        r, s = _rn(t[i], p)
        out[i] = r
        sat += s
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_tanh_grad(y, dy, p, out):
    sat = bad = 0
    for i in range(y.size):
        a, s0 = _rn(np.float64(y[i]), p)
        d, s1 = _rn(np.float64(dy[i]), p)
        sq, s2 = _rn(a * a, p)
        one_minus, s3 = _rn(1.0 - sq, p)
        r, s4 = _rn(d * one_minus, p)
        out[i] = r
        sat += s0 + s1 + s2 + s3 + s4
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_add(x, y, p, out):
    sat = bad = 0
    for i in range(x.size):
        a, s0 = _rn(np.float64(x[i]), p)
        b, s1 = _rn(np.float64(y[i]), p)
        r, s2 = _rn(a + b, p)
        out[i] = r
        sat += s0 + s1 + s2
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_mul(x, y, p, out):
    sat = bad = 0
    for i in range(x.size):
        a, s0 = _rn(np.float64(x[i]), p)
        b, s1 = _rn(np.float64(y[i]), p)
        r, s2 = _rn(a * b, p)
        out[i] = r
        sat += s0 + s1 + s2
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_maximum(x, y, p, out):
    sat = bad = 0
    for i in range(x.size):
        a, s0 = _rn(np.float64(x[i]), p)
        b, s1 = _rn(np.float64(y[i]), p)
        r = _maximum(a, b)
        out[i] = r
        sat += s0 + s1
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_minimum(x, y, p, out):
    sat = bad = 0
    for i in range(x.size):
        a, s0 = _rn(np.float64(x[i]), p)
        b, s1 = _rn(np.float64(y[i]), p)
        r = _minimum(a, b)
        out[i] = r
        sat += s0 + s1
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_fma(x, y, z, p, out):
    sat = bad = 0
    for i in range(x.size):
        a, s0 = _rn(np.float64(x[i]), p)
        b, s1 = _rn(np.float64(y[i]), p)
        c, s2 = _rn(np.float64(z[i]), p)
        prod, s3 = _rn(a * b, p)
        r, s4 = _rn(prod + c, p)
        out[i] = r
        sat += s0 + s1 + s2 + s3 + s4
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_scale(x, factor, p, out):
    f, sat = _const(factor, p)
    bad = 0
    for i in range(x.size):
        a, s0 = _rn(np.float64(x[i]), p)
        r, s1 = _rn(a * f, p)
        out[i] = r
        sat += s0 + s1
        bad += np.int64(not np.isfinite(r))
    return sat, bad


@njit
def fused_sum_rows(x, cols, p, out):
    """Column sums of the row-major ``(x.size // cols, cols)`` matrix ``x``, row 0 first (the rows in the
    outer loop: each add runs along a row, contiguous, and every column still adds its rows in order)."""
    sat = bad = 0
    totals = np.empty(cols)
    for j in range(cols):
        totals[j], s = _rn(np.float64(x[j]), p)
        sat += s
    for row in range(1, x.size // cols):
        xr = x[row * cols:(row + 1) * cols]
        for j in range(cols):
            v, s0 = _rn(np.float64(xr[j]), p)
            totals[j], s1 = _rn(totals[j] + v, p)
            sat += s0 + s1
    for j in range(cols):
        out[j] = totals[j]
        bad += np.int64(not np.isfinite(totals[j]))
    return sat, bad


@njit
def fused_huber(pred, target, delta, p, loss_out, grad_out):
    dlt, sat = _const(delta, p)
    half, s = _const(0.5, p)
    half_delta, s2 = _const(0.5 * dlt, p)
    sat += s + s2
    bad = 0
    n = pred.size
    for i in range(n):
        a, s0 = _rn(np.float64(pred[i]), p)
        b, s1 = _rn(np.float64(target[i]), p)
        d, s2 = _rn(a - b, p)
        sq, s3 = _rn(d * d, p)
        quadratic, s4 = _rn(half * sq, p)
        excess, s5 = _rn(abs(d) - half_delta, p)
        linear, s6 = _rn(dlt * excess, p)
        small = abs(d) <= dlt
        loss = quadratic if small else linear
        grad, s7 = _rn((d if small else dlt * np.sign(d)) / n, p)
        loss_out[i], grad_out[i] = loss, grad
        sat += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
        bad += np.int64(not np.isfinite(loss)) + np.int64(not np.isfinite(grad))
    return sat, bad


@njit
def fused_mse(pred, target, p, loss_out, grad_out):
    sat = bad = 0
    n = pred.size
    for i in range(n):
        a, s0 = _rn(np.float64(pred[i]), p)
        b, s1 = _rn(np.float64(target[i]), p)
        d, s2 = _rn(a - b, p)
        loss, s3 = _rn(d * d, p)
        twice, s4 = _rn(2.0 * d, p)
        grad, s5 = _rn(twice / n, p)
        loss_out[i], grad_out[i] = loss, grad
        sat += s0 + s1 + s2 + s3 + s4 + s5
        bad += np.int64(not np.isfinite(loss)) + np.int64(not np.isfinite(grad))
    return sat, bad


@njit
def fused_sgd_momentum(w, g, v, lr, momentum, p, w_out, v_out):
    mu, sat = _const(momentum, p)
    rate, s = _const(lr, p)
    sat += s
    bad = 0
    for i in range(w.size):
        a, s0 = _rn(np.float64(w[i]), p)
        b, s1 = _rn(np.float64(g[i]), p)
        c, s2 = _rn(np.float64(v[i]), p)
        kept, s3 = _rn(mu * c, p)
        vel, s4 = _rn(kept + b, p)
        delta, s5 = _rn(rate * vel, p)
        r, s6 = _rn(a - delta, p)
        w_out[i], v_out[i] = r, vel
        sat += s0 + s1 + s2 + s3 + s4 + s5 + s6
        bad += np.int64(not np.isfinite(r)) + np.int64(not np.isfinite(vel))
    return sat, bad


@njit
def fused_adam(w, g, m, v, lr, beta1, beta2, eps, c1, c2, p, w_out, m_out, v_out):
    b1, s0 = _const(beta1, p)
    b2, s1 = _const(beta2, p)
    k1, s2 = _const(1.0 - beta1, p)
    k2, s3 = _const(1.0 - beta2, p)
    r2, s4 = _const(c2, p)
    e, s5 = _const(eps, p)
    rate, s6 = _const(lr, p)
    r1, s7 = _const(c1, p)
    sat = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
    bad = 0
    for i in range(w.size):
        wi, t0 = _rn(np.float64(w[i]), p)
        gi, t1 = _rn(np.float64(g[i]), p)
        mi, t2 = _rn(np.float64(m[i]), p)
        vi, t3 = _rn(np.float64(v[i]), p)
        x0, t4 = _rn(b1 * mi, p)
        x1, t5 = _rn(k1 * gi, p)
        mi, t6 = _rn(x0 + x1, p)
        x2, t7 = _rn(b2 * vi, p)
        x3, t8 = _rn(gi * gi, p)
        x4, t9 = _rn(k2 * x3, p)
        vi, t10 = _rn(x2 + x4, p)
        x5, t11 = _rn(vi / r2, p)
        x6, t12 = _rn(np.sqrt(x5), p)
        denom, t13 = _rn(x6 + e, p)
        x7, t14 = _rn(mi / r1, p)
        step, t15 = _rn(rate * x7, p)
        x8, t16 = _rn(step / denom, p)
        wi, t17 = _rn(wi - x8, p)
        w_out[i], m_out[i], v_out[i] = wi, mi, vi
        sat += (t0 + t1 + t2 + t3 + t4 + t5 + t6 + t7 + t8 + t9 + t10 + t11 + t12 + t13 + t14 + t15 + t16
                + t17)
        bad += np.int64(not np.isfinite(wi)) + np.int64(not np.isfinite(mi)) + np.int64(not np.isfinite(vi))
    return sat, bad


@njit
def fused_polyak(target, online, tau, p, out):
    keep, sat = _const(1.0 - tau, p)
    take, s = _const(tau, p)
    sat += s
    bad = 0
    for i in range(target.size):
        a, s0 = _rn(np.float64(target[i]), p)
        b, s1 = _rn(np.float64(online[i]), p)
        x0, s2 = _rn(keep * a, p)
        x1, s3 = _rn(take * b, p)
        r, s4 = _rn(x0 + x1, p)
        out[i] = r
        sat += s0 + s1 + s2 + s3 + s4
        bad += np.int64(not np.isfinite(r))
    return sat, bad


# --- fp32 to nearest in float32 arithmetic ----------------------------------------------------------------------
# For fp32 values, +, −, ×, ÷ and √ computed in float32 are the float64 results rounded to fp32
# (innocuous double rounding, 53 ≥ 2·24 + 2), so the CPU's float32 instructions give the staged
# program's bits, eight lanes at a time, with two differences mended or avoided here: an exact
# zero result is +0.0 (``_plus_zero``: a sum's zero is always exact; a product's or quotient's
# is exact only when an operand makes it so, otherwise it is an underflow that keeps its sign),
# and a result of ±inf or ±FLT_MAX may come from a float64 value beyond the range, which
# ``round_into`` counts as a saturation: a run that meets one reports it, and the float64 kernel
# runs instead (with every value finite and below FLT_MAX, no step saturated).

_FLT_MAX = np.float32(np.finfo(np.float32).max)
_ZERO32 = np.float32(0.0)


@njit
def _plus_zero(r, exact_zero):
    return r + _ZERO32 if exact_zero else r  # a select: the loop stays branch-free


@njit
def _edge(r):
    """1 where ``|r|`` is FLT_MAX or inf (an integer, so the loop's reduction vectorises)."""
    return np.int64(abs(r) >= _FLT_MAX)


_SAMPLE_STRIDE = 7
"""``subnormal_heavy`` looks at every 7th value: a prime, so that no row width lines up with it."""


@njit
def subnormal_heavy(x):
    """Whether more than 1/16 of a sample of the float32 values of ``x`` (every ``_SAMPLE_STRIDE``-th)
    are subnormal. The CPU's float32 arithmetic on a subnormal operand takes a slow path (an 8-lane
    step whose lanes hold one costs ~30 times a normal one here), and Adam's first moment of a weight
    whose gradient stays 0 decays to fp32's smallest subnormal and stays there (0.9 · 2**-149 rounds
    back to 2**-149): float64 arithmetic, where those values are normal, is then the faster exact
    route. Only the speed depends on the answer, never the bits."""
    bits = x.view(np.int32)
    count = sampled = 0
    for i in range(0, bits.size, _SAMPLE_STRIDE):
        a = bits[i] & np.int32(0x7FFFFFFF)
        count += np.int64((a != 0) & (a < np.int32(0x00800000)))
        sampled += 1
    return count * 16 > sampled


@njit
def fused_adam_fp32(w, g, m, v, lr, beta1, beta2, eps, c1, c2, p, w_out, m_out, v_out):
    """``fused_adam`` for fp32 and float32 inputs; returns (saturations, NaN/inf, whether a value
    reached ±FLT_MAX or ±inf, in which case the float64 kernel must run instead)."""
    b1, s0 = _const(beta1, p)
    b2, s1 = _const(beta2, p)
    k1, s2 = _const(1.0 - beta1, p)
    k2, s3 = _const(1.0 - beta2, p)
    r2, s4 = _const(c2, p)
    e, s5 = _const(eps, p)
    rate, s6 = _const(lr, p)
    r1, s7 = _const(c1, p)
    sat = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
    b1, b2, k1, k2 = np.float32(b1), np.float32(b2), np.float32(k1), np.float32(k2)
    r1, r2, e, rate = np.float32(r1), np.float32(r2), np.float32(e), np.float32(rate)
    edge = _edge(b1) | _edge(b2) | _edge(k1) | _edge(k2) | _edge(r1) | _edge(r2) | _edge(e) | _edge(rate)
    # two passes, so that each loop touches few enough arrays for LLVM to prove them apart and vectorise
    for i in range(w.size):
        gi, mi, vi = g[i] + _ZERO32, m[i] + _ZERO32, v[i] + _ZERO32
        x0 = _plus_zero(b1 * mi, (b1 == 0) | (mi == 0))
        x1 = _plus_zero(k1 * gi, (k1 == 0) | (gi == 0))
        mi = (x0 + x1) + _ZERO32
        x2 = _plus_zero(b2 * vi, (b2 == 0) | (vi == 0))
        x3 = _plus_zero(gi * gi, gi == 0)
        x4 = _plus_zero(k2 * x3, (k2 == 0) | (x3 == 0))
        vi = (x2 + x4) + _ZERO32
        edge |= (_edge(gi) | _edge(v[i]) | _edge(x0) | _edge(x1) | _edge(mi) | _edge(x2) | _edge(x3) | _edge(x4)
                 | _edge(vi))
        m_out[i], v_out[i] = mi, vi
    for i in range(w.size):
        wi, mi, vi = w[i] + _ZERO32, m_out[i], v_out[i]
        x5 = _plus_zero(vi / r2, vi == 0)  # r2, r1 and denom are finite, or the run is refused
        x6 = np.sqrt(x5) + _ZERO32
        denom = (x6 + e) + _ZERO32
        x7 = _plus_zero(mi / r1, mi == 0)
        step = _plus_zero(rate * x7, (rate == 0) | (x7 == 0))
        x8 = _plus_zero(step / denom, step == 0)
        wi2 = (wi - x8) + _ZERO32
        edge |= _edge(wi) | _edge(x5) | _edge(x6) | _edge(denom) | _edge(x7) | _edge(step) | _edge(x8) | _edge(wi2)
        w_out[i] = wi2
    # every value below FLT_MAX: no inf; NaN is what remains to count
    bad = np.count_nonzero(w_out != w_out) + np.count_nonzero(m_out != m_out) + np.count_nonzero(v_out != v_out)
    return sat, bad, edge != 0


# --- float formats rounded stochastically: Adam in one pass -------------------------------------------------------
# Every rounding of a float format needs one word, and the words of a program lie in program order
# (``adam``'s: w, g, m, v, four constants, then its fourteen steps, two more constants among them),
# so each element's word of each step is at a fixed offset of the stream: the whole update runs
# element by element, a chunk of elements at a time with each step's words computed into a buffer.
# In the format's normal range (and at zero) the decision is branch-free on the bits, as in
# ``round_step``; a run that meets any other value (NaN, inf, the format's subnormal steps)
# reports it and the staged ``adam`` runs instead, which also finishes open decisions.


@njit
def _stochastic_bits(v, word, p):
    """(``v`` rounded stochastically with ``word``, 1 if beyond the range, 1 if outside the
    branch-free case or undecided by its first 32 bits) in a float format ``p``."""
    a = abs(v)
    drop = p[6]
    bits = np.float64(a).view(np.int64)
    rem = bits & ((np.int64(1) << drop) - 1)
    up, tie = word_below(word, rem, drop)
    r = np.int64((bits - rem) + (up << drop)).view(np.float64)
    r = (math.inf if p[5] else p[4]) if r > p[4] else r
    r = -r if v < 0.0 else r
    return r, np.int64(a > p[4]), np.int64(tie | (not (p[9] <= a < math.inf or a == 0.0)))


@njit
def _adam_moments(g, m, v, words, b1, k1, b2, k2, p, m_out, v_out):
    """Pass 1 of ``fused_adam_stochastic`` over a chunk: g, m, v rounded and the new m and v; row k of
    ``words`` (``CHUNK`` apart) holds step k's words. Returns (saturations, whether any value was slow)."""
    sat = slow = 0
    for j in range(g.size):
        gi, s0, f0 = _stochastic_bits(np.float64(g[j]), words[CHUNK + j], p)
        mi, s1, f1 = _stochastic_bits(np.float64(m[j]), words[2 * CHUNK + j], p)
        vi, s2, f2 = _stochastic_bits(np.float64(v[j]), words[3 * CHUNK + j], p)
        x0, s3, f3 = _stochastic_bits(b1 * mi, words[4 * CHUNK + j], p)
        x1, s4, f4 = _stochastic_bits(k1 * gi, words[5 * CHUNK + j], p)
        mi, s5, f5 = _stochastic_bits(x0 + x1, words[6 * CHUNK + j], p)
        x2, s6, f6 = _stochastic_bits(b2 * vi, words[7 * CHUNK + j], p)
        x3, s7, f7 = _stochastic_bits(gi * gi, words[8 * CHUNK + j], p)
        x4, s8, f8 = _stochastic_bits(k2 * x3, words[9 * CHUNK + j], p)
        vi, s9, f9 = _stochastic_bits(x2 + x4, words[10 * CHUNK + j], p)
        m_out[j], v_out[j] = mi, vi
        sat += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9
        slow |= f0 | f1 | f2 | f3 | f4 | f5 | f6 | f7 | f8 | f9
    return sat, slow


@njit
def _adam_weights(w, m, v, words, r2, e, r1, rate, p, w_out):
    """Pass 2 of ``fused_adam_stochastic`` over a chunk: w rounded and updated from the new m and v.
    Returns (saturations, whether any value was slow, NaN/inf among w, m and v)."""
    sat = slow = bad = 0
    for j in range(w.size):
        wi, s0, f0 = _stochastic_bits(np.float64(w[j]), words[j], p)
        mi, vi = np.float64(m[j]), np.float64(v[j])
        x5, s1, f1 = _stochastic_bits(vi / r2, words[11 * CHUNK + j], p)
        x6, s2, f2 = _stochastic_bits(np.sqrt(x5), words[12 * CHUNK + j], p)
        denom, s3, f3 = _stochastic_bits(x6 + e, words[13 * CHUNK + j], p)
        x7, s4, f4 = _stochastic_bits(mi / r1, words[14 * CHUNK + j], p)
        step, s5, f5 = _stochastic_bits(rate * x7, words[15 * CHUNK + j], p)
        x8, s6, f6 = _stochastic_bits(step / denom, words[16 * CHUNK + j], p)
        wi, s7, f7 = _stochastic_bits(wi - x8, words[17 * CHUNK + j], p)
        w_out[j] = wi
        sat += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
        slow |= f0 | f1 | f2 | f3 | f4 | f5 | f6 | f7
        bad += np.int64(not np.isfinite(wi)) + np.int64(not np.isfinite(mi)) + np.int64(not np.isfinite(vi))
    return sat, slow, bad


@njit
def fused_adam_stochastic(w, g, m, v, lr, beta1, beta2, eps, c1, c2, p, stream, state, w_out, m_out, v_out):
    """``adam`` for a float format rounded stochastically; returns False (state untouched) where
    the staged program must run instead."""
    n = w.size
    key, first = stream[0], stream[1] + _U64(state[_CURSOR])
    consts = (beta1, beta2, 1.0 - beta1, 1.0 - beta2, c2, eps, lr, c1)
    offsets = (4 * n, 4 * n + 1, 4 * n + 2, 4 * n + 3, 11 * n + 4, 13 * n + 5, 14 * n + 6, 14 * n + 7)
    rounded = np.empty(8)
    sat = 0
    for j in range(8):
        rounded[j], s, slow = _stochastic_bits(np.float64(consts[j]), main_word(key, first + _U64(offsets[j])), p)
        sat += s
        if slow:
            return False
    b1, b2, k1, k2, r2, e, rate, r1 = rounded
    # where each step's words start: w, g, m, v, the ten steps of m and v, then w's seven
    steps = (0, n, 2 * n, 3 * n, 4 * n + 4, 5 * n + 4, 6 * n + 4, 7 * n + 4, 8 * n + 4, 9 * n + 4, 10 * n + 4,
             11 * n + 5, 12 * n + 5, 13 * n + 6, 14 * n + 8, 15 * n + 8, 16 * n + 8, 17 * n + 8)
    words = np.empty(18 * CHUNK, np.uint64)  # step k's words of the chunk from k · CHUNK on
    bad = 0
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        for k in range(18):
            fill_words(key, first + _U64(steps[k] + start), words, k * CHUNK, stop - start)
        # two passes, each a kernel of its own over the chunk's views, so that LLVM vectorises each loop
        s1, slow1 = _adam_moments(g[start:stop], m[start:stop], v[start:stop], words, b1, k1, b2, k2, p,
                                  m_out[start:stop], v_out[start:stop])
        s2, slow2, bad2 = _adam_weights(w[start:stop], m_out[start:stop], v_out[start:stop], words, r2, e, r1, rate,
                                        p, w_out[start:stop])
        if slow1 | slow2:
            return False
        sat += s1 + s2
        bad += bad2
    state[_SATURATIONS] += sat
    state[_CURSOR] += 18 * n + 8
    state[_NONFINITE] += bad
    return True
