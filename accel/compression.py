"""Compressed storage: the codecs a chip may apply to the tensors it keeps in DRAM, with exact sizes.

A tensor on the chip is a sequence of *words*: the bit patterns of its values in their format (a
float's sign, exponent and mantissa fields; an integer format's two's-complement codes). Each scheme
below is a real, lossless code over those words, and :func:`compressed_bits` is the exact length of
its bit stream (``tests/accel/naive_compression.py`` writes every stream bit by bit, decodes it
back and holds this module to its length). The tensor's element count is known to both ends (its
shape travels with the descriptor), so no stream stores it.

- ``bitmask`` (zero-value compression): one bit per element (1: nonzero), then the nonzero words.
- ``rle`` (zero run-length coding, as Eyeriss: Chen et al., JSSC 52(1) 2017, 5-bit runs): a stream
  of (run, word) pairs, ``run`` the zeros before ``word`` in :data:`RUN_BITS` bits. A longer run
  of zeros is cut by a pair whose word is a zero; trailing zeros are pairs of a zero word.
- ``exp_top3`` (CNPU's experience compression, Kim et al. ISSCC 2019, as a third-party summary
  describes it): the three most frequent exponents of the tensor (ties: the smaller exponent first)
  in a table of 3 × E bits; each value keeps its sign and mantissa and codes its exponent in 2
  bits, the table index, or the escape code 3 followed by the raw E-bit exponent.
- ``exp_mean_delta`` (OmniDRL's exponent-mean-delta encoding, Lee et al., VLSI 2021 / JSSC 2022):
  blocks of :data:`MEAN_DELTA_BLOCK` values; each block stores the floor of the mean of its
  exponents (E bits); each value keeps its sign and mantissa and codes its exponent as the
  difference from the block's mean in :data:`MEAN_DELTA_BITS` bits two's complement, the most
  negative code reserved as an escape followed by the raw exponent. Block size and delta width are
  assumptions (the abstracts do not give them).
- ``huffman`` (Deep Compression's entropy coding: Han, Mao, Dally, ICLR 2016): a canonical Huffman
  code over the word values of the tensor. Payload: Σ count × code length; table: the number of
  distinct words (W + 1 bits), then per word its value (W bits) and its code length
  (:data:`HUFFMAN_LENGTH_BITS` bits), from which both ends build the canonical code. A tensor of
  one distinct word codes it in 1 bit.

A codec is worth its cost only when the code is shorter: a chip stores a tensor whose code would
be longer as it is (a per-tensor mode flag in the descriptor, not counted), so :func:`stored_bits`
never exceeds the raw size. Where a chip compresses is the hardware file's ``[compression]`` table
(``accel.config``); the planner counts DRAM bytes at the measured ratio (``accel.planner``).
"""

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from accel.jit import njit
from accel.numerics.formats import NumberFormat

RUN_BITS = 5
"""Width of an ``rle`` run field (Eyeriss's 5 bits): runs of up to 31 zeros per pair."""

EXPONENT_TABLE = 3
"""Exponents ``exp_top3`` codes in 2 bits (the fourth code is the escape)."""

MEAN_DELTA_BLOCK = 16
"""Values per ``exp_mean_delta`` block (assumed)."""

MEAN_DELTA_BITS = 3
"""Width of an ``exp_mean_delta`` delta code (assumed): deltas −3 … 3, code −4 the escape."""

HUFFMAN_LENGTH_BITS = 6
"""Width of a code length in a ``huffman`` table (lengths up to 63; a longer code needs more than
10¹³ elements)."""

RATIO_STEPS = 64
"""Resolution of a compression ratio handed to the planner: compressed size in 64ths of the raw
size, rounded up (so plans repeat while an agent's tensors change a little every step)."""

NONE = "none"
"""The scheme name of an uncompressed tensor."""


def float_words(values: np.ndarray, fmt: NumberFormat) -> np.ndarray:
    """The bit patterns (uint64) of float ``values`` already representable in the float format ``fmt``
    (sign, E exponent bits, M mantissa bits; subnormals, ±0, ±inf kept; NaN as the all-ones exponent
    with the top mantissa bit, or the all-ones pattern of a format without infinities).

    fp32 and bf16 from float32 values are their float32 bits (bf16: the upper half), fp16 a cast:
    exact for representable values; other formats are built from the value's binary exponent."""
    x = np.asarray(values).ravel()
    fast = {"fp32": 0, "bf16": 16}.get(fmt.name) if x.dtype == np.float32 else None
    if fast is not None or fmt.name == "fp16":
        words = (x.view(np.uint32) >> np.uint32(fast) if fast is not None
                 else x.astype(np.float16).view(np.uint16)).astype(np.uint64)
        nan = np.isnan(x)
        if nan.any():
            words[nan] = ((1 << fmt.exponent_bits) - 1) << fmt.mantissa_bits | 1 << (fmt.mantissa_bits - 1)
        return words
    return _float_words(x.astype(np.float64), fmt)


def _float_words(x: np.ndarray, fmt: NumberFormat) -> np.ndarray:
    e_bits, m_bits = fmt.exponent_bits, fmt.mantissa_bits
    bias = 1 - fmt.min_exponent
    top = (1 << e_bits) - 1
    mag = np.abs(x)
    finite = np.isfinite(x)
    mant, ex = np.frexp(np.where(finite, mag, 0.0))  # mag = mant · 2**ex, mant in [0.5, 1)
    biased = ex.astype(np.int64) - 1 + bias
    normal = finite & (mag > 0) & (biased >= 1)
    exp_field = np.where(normal, biased, 0)
    frac = np.where(normal, np.ldexp(mant * 2 - 1, m_bits), mag / fmt.smallest_step)
    frac = np.where(finite, frac, 0).astype(np.int64)
    nan = np.isnan(x)
    exp_field = np.where(finite, exp_field, top)
    frac = np.where(nan, (1 << m_bits) - 1 if not fmt.has_inf else 1 << (m_bits - 1), frac)
    sign = np.signbit(x).astype(np.int64) & ~nan
    return ((sign << (e_bits + m_bits)) | (exp_field << m_bits) | frac).astype(np.uint64)


def code_words(codes: np.ndarray, fmt: NumberFormat) -> np.ndarray:
    """The two's-complement words (uint64) of an integer format's codes (int64 or integral floats)."""
    c = np.asarray(codes).ravel().astype(np.int64)
    return (c & ((1 << fmt.width_bits) - 1)).astype(np.uint64)


def tensor_words(data: np.ndarray, fmt: NumberFormat) -> np.ndarray:
    """The words of a tensor as the chip holds it: float values, or integer codes (``Operand.data``)."""
    return float_words(data, fmt) if fmt.is_float else code_words(data, fmt)


def value_words(values: np.ndarray, fmt: NumberFormat) -> np.ndarray:
    """Words of a tensor given by its values alone, for sizing: a float format's bit patterns; for an
    integer format the values' own float bits, an injective map that keeps zero at zero, which is all
    the sizes of the schemes open to integer formats depend on (which words are zero, which are equal)."""
    if fmt.is_float:
        return float_words(values, fmt)
    x = np.asarray(values).ravel()
    x = x + x.dtype.type(0)  # −0.0 → +0.0
    return x.view(np.uint32 if x.dtype == np.float32 else np.uint64).astype(np.uint64)


def _exponents(words: np.ndarray, fmt: NumberFormat) -> np.ndarray:
    return ((words >> np.uint64(fmt.mantissa_bits)) & np.uint64((1 << fmt.exponent_bits) - 1)).astype(np.int64)


def _bitmask_bits(words: np.ndarray, fmt: NumberFormat) -> int:
    return words.size + int(np.count_nonzero(words)) * fmt.width_bits


@njit
def _rle_pairs(words, max_run):
    """Pairs of the ``rle`` stream: one per nonzero word, one per cut of a long zero run, and the
    pairs of zero words that cover the trailing zeros."""
    pairs = 0
    zeros = 0
    for i in range(words.size):
        if words[i] == 0:
            zeros += 1
        else:
            pairs += zeros // (max_run + 1) + 1
            zeros = 0
    return pairs + (zeros + max_run) // (max_run + 1)


def _rle_bits(words: np.ndarray, fmt: NumberFormat) -> int:
    return int(_rle_pairs(words, (1 << RUN_BITS) - 1)) * (RUN_BITS + fmt.width_bits)


def _top_exponents(exponents: np.ndarray) -> np.ndarray:
    """The ``EXPONENT_TABLE`` most frequent exponents (ties: the smaller first); fewer if fewer occur."""
    values, counts = np.unique(exponents, return_counts=True)
    order = np.lexsort((values, -counts))  # by count descending, then value ascending
    return values[order[:EXPONENT_TABLE]]


def _exp_top3_bits(words: np.ndarray, fmt: NumberFormat) -> int:
    e = fmt.exponent_bits
    exponents = _exponents(words, fmt)
    escapes = words.size - int(np.isin(exponents, _top_exponents(exponents)).sum())
    return EXPONENT_TABLE * e + words.size * (1 + fmt.mantissa_bits + 2) + escapes * e


@njit
def _mean_delta_counts(words, m_bits, e_mask, block, reach):
    """(blocks, escapes) of ``exp_mean_delta``: each block's floor-mean exponent, and the values whose
    exponent is more than ``reach`` from it."""
    n = words.size
    exponents = np.empty(block, np.int64)
    escapes = 0
    for start in range(0, n, block):
        size = min(block, n - start)
        total = 0
        for j in range(size):
            e = np.int64((words[start + j] >> m_bits) & e_mask)
            exponents[j] = e
            total += e
        mean = total // size
        for j in range(size):
            escapes += np.int64(abs(exponents[j] - mean) > reach)
    return (n + block - 1) // block, escapes


def _exp_mean_delta_bits(words: np.ndarray, fmt: NumberFormat) -> int:
    e = fmt.exponent_bits
    blocks, escapes = _mean_delta_counts(words, np.uint64(fmt.mantissa_bits), np.uint64((1 << e) - 1),
                                         MEAN_DELTA_BLOCK, (1 << (MEAN_DELTA_BITS - 1)) - 1)
    return int(blocks) * e + words.size * (1 + fmt.mantissa_bits + MEAN_DELTA_BITS) + int(escapes) * e


def huffman_lengths(counts: np.ndarray) -> np.ndarray:
    """Code lengths of a Huffman code for symbols with these counts (all > 0), merging the two
    lightest subtrees first (ties: the subtree made first, symbols in their order); one symbol: 1."""
    n = counts.size
    if n == 1:
        return np.ones(1, np.int64)
    heap = [(int(c), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    parent = np.zeros(2 * n - 1, np.int64)
    made = n
    while len(heap) > 1:
        c1, first = heapq.heappop(heap)
        c2, second = heapq.heappop(heap)
        parent[first] = parent[second] = made
        heapq.heappush(heap, (c1 + c2, made))
        made += 1
    depth = np.zeros(2 * n - 1, np.int64)
    for node in range(2 * n - 3, -1, -1):  # parents are made after their children: root last
        depth[node] = depth[parent[node]] + 1
    return depth[:n]


def _huffman_bits(words: np.ndarray, fmt: NumberFormat) -> int:
    _, counts = np.unique(words, return_counts=True)
    lengths = huffman_lengths(counts)
    if lengths.max() >= 1 << HUFFMAN_LENGTH_BITS:
        raise ValueError(f"huffman: a code of {int(lengths.max())} bits does not fit the table's "
                         f"{HUFFMAN_LENGTH_BITS}-bit length field")
    table = fmt.width_bits + 1 + counts.size * (fmt.width_bits + HUFFMAN_LENGTH_BITS)
    return table + int(np.dot(counts, lengths))


@dataclass(frozen=True, slots=True)
class Scheme:
    """A compression scheme.

    Attributes:
        name: Its registry name.
        floats_only: It codes float exponents (an integer format cannot use it).
        bits: The exact length in bits of the code of a tensor's words in a format.
        description: One line for users.
    """

    name: str
    floats_only: bool
    bits: Callable[[np.ndarray, NumberFormat], int]
    description: str


SCHEMES = {s.name: s for s in (
    Scheme("bitmask", False, _bitmask_bits, "zero-value bitmask: 1 bit per element + the nonzero words"),
    Scheme("rle", False, _rle_bits, f"zero run-length: ({RUN_BITS}-bit run, word) pairs"),
    Scheme("exp_top3", True, _exp_top3_bits, "CNPU: the 3 most frequent exponents in 2 bits, others escaped"),
    Scheme("exp_mean_delta", True, _exp_mean_delta_bits,
           f"OmniDRL: exponents as {MEAN_DELTA_BITS}-bit deltas from each {MEAN_DELTA_BLOCK}-value block's mean"),
    Scheme("huffman", False, _huffman_bits, "Deep Compression: canonical Huffman code over the words"),
)}
"""Every compression scheme by name (``"none"`` is no scheme)."""

SCHEME_NAMES = (NONE, *SCHEMES)
"""What a ``[compression]`` key may say."""


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name``.

    Raises:
        ValueError: An unknown name (the message lists the schemes).
    """
    if name not in SCHEMES:
        raise ValueError(f"unknown compression scheme {name!r}; schemes: {', '.join(SCHEME_NAMES)}")
    return SCHEMES[name]


def compressed_bits(scheme: str, words: np.ndarray, fmt: NumberFormat) -> int:
    """Exact length in bits of ``scheme``'s code of ``words`` (uint64 words of ``fmt``).

    Raises:
        ValueError: An unknown scheme, or an exponent scheme on an integer format.
    """
    spec = get_scheme(scheme)
    if spec.floats_only and not fmt.is_float:
        raise ValueError(f"compression scheme {scheme!r} codes float exponents; {fmt.name} is not a float format")
    return spec.bits(np.asarray(words, np.uint64).ravel(), fmt)


def stored_bits(scheme: str, words: np.ndarray, fmt: NumberFormat) -> int:
    """Bits the tensor takes stored: its code, or the raw words when the code would be longer."""
    raw = np.size(words) * fmt.width_bits
    return raw if scheme == NONE else min(raw, compressed_bits(scheme, words, fmt))


def ratio_steps(scheme: str, words, fmt: NumberFormat) -> int:
    """The stored size in ``RATIO_STEPS``-ths of the raw size, rounded up (``RATIO_STEPS``: uncompressed),
    of one tensor's words or of a list of tensors' words, each coded on its own."""
    parts = words if isinstance(words, list) else [words]
    raw = sum(np.size(w) for w in parts) * fmt.width_bits
    if scheme == NONE or raw == 0:
        return RATIO_STEPS
    return steps_of(sum(stored_bits(scheme, w, fmt) for w in parts), raw)


def steps_of(stored: int, raw: int) -> int:
    """``stored`` bits of ``raw`` in ``RATIO_STEPS``-ths, rounded up (``RATIO_STEPS`` when ``raw`` is 0)."""
    return -(-stored * RATIO_STEPS // raw) if raw else RATIO_STEPS


def nominal_ratio(scheme: str, fmt: NumberFormat) -> float:
    """The ratio a workload assumes when none is declared: the scheme's on a dense tensor whose
    exponents are all coded without escape (``bitmask`` and ``rle`` then store it raw; ``huffman``
    assumes nothing about the distribution: 1). ``"none"``: 1."""
    w = fmt.width_bits
    if scheme in (NONE, "bitmask", "rle", "huffman"):
        return 1.0
    get_scheme(scheme)
    per_value = 1 + fmt.mantissa_bits + (2 if scheme == "exp_top3" else
                                          MEAN_DELTA_BITS + fmt.exponent_bits / MEAN_DELTA_BLOCK)
    return min(1.0, per_value / w)
