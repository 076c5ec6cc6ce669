"""The chip's random source: Philox4x32-10, a counter-based generator computed inside the kernels.

A counter-based generator is a keyed bijection of a counter: the ``i``-th random word is a pure
function of ``(key, i)``, so a kernel computes the words it needs where it needs them, in any
order, and nothing is drawn ahead, stored or handed back. Philox4x32-10 (Salmon, Moraes, Dror and
Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the Random123 library) maps a
128-bit counter and a 64-bit key to 128 bits in ten rounds of two 32 × 32 → 64-bit multiplies.
It passes TestU01's BigCrush with rounds to spare (the paper finds 7 enough), and it is the
generator of cuRAND, JAX and torch's CUDA kernels; its multiplies vectorise on AVX2
(``vpmuludq``; the round function is inlined for that, ``accel.jit.njit_inline``): about 1 ns a
32-bit word here, four words per block. SplitMix64's finalizer would be about as fast, but keyed
use of it has no published crush results, so it was not chosen.

The stream (every word the chip uses is one of these):

* **main words**, 32 bits: word ``w`` (a 64-bit counter) is lane ``w mod 4`` of the Philox output
  for counter ``(w >> 2, 0)`` (the 64-bit block number in the first two 32-bit lanes, low lane
  first; lanes three and four 0). An operation that rounds ``n`` values stochastically uses words
  ``c … c + n − 1`` of the chip's counter ``c`` and advances it by ``n``, whatever the values.
  A main word is the first 32 bits of the uniform ``U`` a decision compares with: it decides
  every rounding that discards at most 32 bits (float32 into bf16/fp16/fp8, float64 into fp32,
  int32 accumulators into int8), and the others unless it ties with the discarded bits' leading
  32 (probability 2**-32).
* **further words** of a decision that its main word ``w`` left open: ``U``'s next bits, 64 at a
  time, from the blocks of counter ``(w, j)``, ``j = 1, 2, …`` (``w`` in lanes one and two, ``j``
  in lane three), two 64-bit words per block (lanes ``x0 · 2**32 + x1``, then ``x2 · 2**32 + x3``).
  Lane three tells them apart from main blocks, and the main counter never depends on the values.

``Generator`` users (``accel.numerics.quantize``) get a stream keyed by one 64-bit word drawn
from their generator (``rng.integers(0, 2**64, dtype=np.uint64)``), counter 0: the same
generator state gives the same bits, and every call draws a fresh key.
"""

import numpy as np

from accel.jit import njit, njit_inline

_U64 = np.uint64
_LOW = _U64(0xFFFFFFFF)
_M0, _M1 = _U64(0xD2511F53), _U64(0xCD9E8D57)  # Philox4x32's multipliers
_W0, _W1 = _U64(0x9E3779B9), _U64(0xBB67AE85)  # its key increments (golden ratio, sqrt(3) - 1)
_32 = _U64(32)


@njit_inline
def philox4x32(c0, c1, c2, c3, key):
    """Philox4x32-10 of the counter lanes ``c0 … c3`` (uint64 holding 32 bits) under the 64-bit
    ``key`` (low half first); returns the two 64-bit words ``(x0 · 2**32 + x1, x2 · 2**32 + x3)``."""
    k0, k1 = key & _LOW, key >> _32
    for _ in range(10):
        p0, p1 = _M0 * c0, _M1 * c2  # exact: 32 × 32 bits
        c0, c1, c2, c3 = (p1 >> _32) ^ c1 ^ k0, p1 & _LOW, (p0 >> _32) ^ c3 ^ k1, p0 & _LOW
        k0, k1 = (k0 + _W0) & _LOW, (k1 + _W1) & _LOW
    return (c0 << _32) | c1, (c2 << _32) | c3


@njit
def _lane(x, y, lane):
    """32-bit lane ``lane`` (0 … 3) of a block returned as ``(x0 · 2**32 + x1, x2 · 2**32 + x3)``."""
    word = x if lane < 2 else y
    return (word >> _32) if lane % 2 == 0 else (word & _LOW)


@njit
def fill_words(key, first, out, at, n):
    """Writes main words ``first … first + n − 1`` of the stream ``key`` into ``out[at:at + n]``, one
    Philox block for every four words. (The slice is taken here: a contiguous array and an offset
    from the caller keep the loop vectorised, where a slice passed in may not be.)"""
    if n == 0:
        return
    chunk = out[at:at + n]  # a new name: rebinding ``out`` would type it as any-layout, which does not vectorise
    i = 0
    while (first + _U64(i)) & _U64(3) and i < n:  # the first block's later lanes
        w = first + _U64(i)
        x, y = philox4x32((w >> _U64(2)) & _LOW, w >> _U64(34), _U64(0), _U64(0), key)
        chunk[i] = _lane(x, y, np.int64(w & _U64(3)))
        i += 1
    block = (first + _U64(i)) >> _U64(2)
    for p in range((n - i) // 4):
        b = block + _U64(p)
        x, y = philox4x32(b & _LOW, b >> _32, _U64(0), _U64(0), key)
        j = i + 4 * p
        chunk[j], chunk[j + 1], chunk[j + 2], chunk[j + 3] = x >> _32, x & _LOW, y >> _32, y & _LOW
    for j in range(i + 4 * ((n - i) // 4), n):  # the last block's first lanes
        w = first + _U64(j)
        x, y = philox4x32((w >> _U64(2)) & _LOW, w >> _U64(34), _U64(0), _U64(0), key)
        chunk[j] = _lane(x, y, np.int64(w & _U64(3)))


@njit
def main_word(key, w):
    """Main word ``w`` of the stream ``key`` (32 bits, as a uint64)."""
    x, y = philox4x32((w >> _U64(2)) & _LOW, w >> _U64(34), _U64(0), _U64(0), key)
    return _lane(x, y, np.int64(w & _U64(3)))


@njit
def further_word(key, w, t):
    """Further word ``t`` (from 0; 64 bits) of the open decision whose main word is ``w``."""
    x, y = philox4x32(w & _LOW, w >> _32, _U64(t // 2 + 1), _U64(0), key)
    return y if t % 2 else x


CHUNK = 256
"""Words a kernel computes at a time into a small buffer that stays in L1 (a multiple of 4)."""


@njit
def chunk_words(key, first, start, n, words, stochastic):
    """For a kernel that rounds ``n`` elements a chunk at a time, element ``i`` with main word
    ``first + i``: writes the words of the chunk from ``start`` into ``words`` (``CHUNK`` long;
    element ``i``'s at ``i − start``; nothing without ``stochastic``) and returns the chunk's end."""
    stop = min(start + CHUNK, n)
    if stochastic:
        fill_words(key, first + _U64(start), words, 0, stop - start)
    return stop


class RandomStream:
    """A Philox4x32-10 stream at a position: the chip's random source (``Accelerator.rng``).

    Args:
        key: The 64-bit key.
        counter: The next main word.
    """

    __slots__ = ("counter", "key")

    def __init__(self, key: int, counter: int = 0) -> None:
        self.key = int(key) & 0xFFFFFFFFFFFFFFFF
        self.counter = int(counter) & 0xFFFFFFFFFFFFFFFF

    @classmethod
    def from_seed(cls, seed: int) -> "RandomStream":
        """The stream of a chip's seed: the key is NumPy's ``SeedSequence(seed)``'s first 64-bit word
        (nearby seeds give unrelated keys), counter 0."""
        return cls(int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]))

    @classmethod
    def from_generator(cls, rng: np.random.Generator) -> "RandomStream":
        """A fresh stream keyed by the next 64-bit word of ``rng``, counter 0."""
        return cls(int(rng.integers(0, 2**64, dtype=np.uint64)))

    def take(self, n: int) -> tuple[np.uint64, np.uint64]:
        """Reserves the next ``n`` main words; returns ``(key, first word)`` as a kernel takes them."""
        first = self.counter
        self.counter = (first + n) & 0xFFFFFFFFFFFFFFFF
        return _U64(self.key), _U64(first)

    def state(self) -> tuple[int, int]:
        """``(key, counter)``: everything the stream remembers."""
        return self.key, self.counter

    def __repr__(self) -> str:
        return f"RandomStream(key={self.key:#x}, counter={self.counter})"
