"""Slow, obvious codecs: each scheme of ``accel.compression`` written out bit by bit and decoded back.

An encoder returns the stream as a string of '0' and '1'; ``accel.compression.compressed_bits`` must
equal its length, and the decoder (told the element count, as the chip's descriptor tells it) must
give back every word.
"""

from collections import Counter

from accel.compression import EXPONENT_TABLE, HUFFMAN_LENGTH_BITS, MEAN_DELTA_BITS, MEAN_DELTA_BLOCK, RUN_BITS


def bits_of(value: int, width: int) -> str:
    assert 0 <= value < 1 << width, (value, width)
    return format(value, f"0{width}b") if width else ""


class Reader:
    def __init__(self, stream: str) -> None:
        self.stream, self.at = stream, 0

    def take(self, width: int) -> int:
        field = self.stream[self.at:self.at + width]
        assert len(field) == width, "stream ended early"
        self.at += width
        return int(field, 2) if width else 0


def split(word: int, fmt) -> tuple[int, int, int]:
    """(sign, exponent field, mantissa field) of a float word."""
    m, e = fmt.mantissa_bits, fmt.exponent_bits
    return word >> (e + m), (word >> m) & ((1 << e) - 1), word & ((1 << m) - 1)


def join(sign: int, exponent: int, mantissa: int, fmt) -> int:
    return (sign << (fmt.exponent_bits + fmt.mantissa_bits)) | (exponent << fmt.mantissa_bits) | mantissa


# --- bitmask ---------------------------------------------------------------------------------------


def bitmask_encode(words: list[int], fmt) -> str:
    mask = "".join("1" if w else "0" for w in words)
    return mask + "".join(bits_of(w, fmt.width_bits) for w in words if w)


def bitmask_decode(stream: str, n: int, fmt) -> list[int]:
    r = Reader(stream)
    mask = [r.take(1) for _ in range(n)]
    return [r.take(fmt.width_bits) if bit else 0 for bit in mask]


# --- rle -------------------------------------------------------------------------------------------


def rle_encode(words: list[int], fmt) -> str:
    max_run = (1 << RUN_BITS) - 1
    out, zeros = [], 0
    for w in words:
        if w == 0:
            zeros += 1
            continue
        while zeros > max_run:  # a pair of a zero word cuts the run
            out.append(bits_of(max_run, RUN_BITS) + bits_of(0, fmt.width_bits))
            zeros -= max_run + 1
        out.append(bits_of(zeros, RUN_BITS) + bits_of(w, fmt.width_bits))
        zeros = 0
    while zeros > 0:  # trailing zeros
        covered = min(zeros, max_run + 1)
        out.append(bits_of(covered - 1, RUN_BITS) + bits_of(0, fmt.width_bits))
        zeros -= covered
    return "".join(out)


def rle_decode(stream: str, n: int, fmt) -> list[int]:
    r, out = Reader(stream), []
    while len(out) < n:
        out += [0] * r.take(RUN_BITS)
        out.append(r.take(fmt.width_bits))
    assert r.at == len(stream)
    return out


# --- exp_top3 --------------------------------------------------------------------------------------


def exp_top3_encode(words: list[int], fmt) -> str:
    e = fmt.exponent_bits
    counts = Counter(split(w, fmt)[1] for w in words)
    table = sorted(counts, key=lambda x: (-counts[x], x))[:EXPONENT_TABLE]
    padded = table + [0] * (EXPONENT_TABLE - len(table))
    out = [bits_of(x, e) for x in padded]
    for w in words:
        sign, exponent, mantissa = split(w, fmt)
        code = bits_of(table.index(exponent), 2) if exponent in table else bits_of(3, 2) + bits_of(exponent, e)
        out.append(bits_of(sign, 1) + code + bits_of(mantissa, fmt.mantissa_bits))
    return "".join(out)


def exp_top3_decode(stream: str, n: int, fmt) -> list[int]:
    r, e = Reader(stream), fmt.exponent_bits
    table = [r.take(e) for _ in range(EXPONENT_TABLE)]
    out = []
    for _ in range(n):
        sign, code = r.take(1), r.take(2)
        exponent = r.take(e) if code == 3 else table[code]
        out.append(join(sign, exponent, r.take(fmt.mantissa_bits), fmt))
    return out


# --- exp_mean_delta --------------------------------------------------------------------------------


def exp_mean_delta_encode(words: list[int], fmt) -> str:
    e, d = fmt.exponent_bits, MEAN_DELTA_BITS
    reach, escape = (1 << (d - 1)) - 1, 1 << (d - 1)  # escape: the most negative code, −2**(d−1)
    out = []
    for start in range(0, len(words), MEAN_DELTA_BLOCK):
        block = [split(w, fmt) for w in words[start:start + MEAN_DELTA_BLOCK]]
        mean = sum(x for _, x, _ in block) // len(block)
        out.append(bits_of(mean, e))
        for sign, exponent, mantissa in block:
            delta = exponent - mean
            code = bits_of(delta % (1 << d), d) if abs(delta) <= reach else bits_of(escape, d) + bits_of(exponent, e)
            out.append(bits_of(sign, 1) + code + bits_of(mantissa, fmt.mantissa_bits))
    return "".join(out)


def exp_mean_delta_decode(stream: str, n: int, fmt) -> list[int]:
    r, e, d = Reader(stream), fmt.exponent_bits, MEAN_DELTA_BITS
    out = []
    while len(out) < n:
        mean = r.take(e)
        for _ in range(min(MEAN_DELTA_BLOCK, n - len(out))):
            sign, code = r.take(1), r.take(d)
            if code == 1 << (d - 1):
                exponent = r.take(e)
            else:
                exponent = mean + (code - (1 << d) if code >= 1 << (d - 1) else code)
            out.append(join(sign, exponent, r.take(fmt.mantissa_bits), fmt))
    return out


# --- huffman ---------------------------------------------------------------------------------------


def huffman_code_lengths(counts: dict[int, int]) -> dict[int, int]:
    """Huffman code lengths by repeatedly merging the two lightest groups (ties: the older group)."""
    if len(counts) == 1:
        return dict.fromkeys(counts, 1)
    groups = [(c, i, [s]) for i, (s, c) in enumerate(sorted(counts.items()))]
    lengths = dict.fromkeys(counts, 0)
    made = len(groups)
    while len(groups) > 1:
        groups.sort(key=lambda g: (g[0], g[1]))
        (c1, _, s1), (c2, _, s2) = groups[0], groups[1]
        for s in s1 + s2:
            lengths[s] += 1
        groups = [*groups[2:], (c1 + c2, made, s1 + s2)]
        made += 1
    return lengths


def canonical_codes(lengths: dict[int, int]) -> dict[int, str]:
    code, previous, out = 0, 0, {}
    for symbol, length in sorted(lengths.items(), key=lambda x: (x[1], x[0])):
        code <<= length - previous
        out[symbol] = bits_of(code, length)
        code, previous = code + 1, length
    return out


def huffman_encode(words: list[int], fmt) -> str:
    w = fmt.width_bits
    lengths = huffman_code_lengths(Counter(words))
    codes = canonical_codes(lengths)
    table = bits_of(len(lengths), w + 1) + "".join(bits_of(s, w) + bits_of(lengths[s], HUFFMAN_LENGTH_BITS)
                                                   for s in sorted(lengths))
    return table + "".join(codes[x] for x in words)


def huffman_decode(stream: str, n: int, fmt) -> list[int]:
    r, w = Reader(stream), fmt.width_bits
    lengths = {}
    for _ in range(r.take(w + 1)):
        symbol = r.take(w)
        lengths[symbol] = r.take(HUFFMAN_LENGTH_BITS)
    by_code = {code: symbol for symbol, code in canonical_codes(lengths).items()}
    out, code = [], ""
    while len(out) < n:
        code += str(r.take(1))
        if code in by_code:
            out.append(by_code[code])
            code = ""
    assert r.at == len(stream)
    return out


CODECS = {
    "bitmask": (bitmask_encode, bitmask_decode),
    "rle": (rle_encode, rle_decode),
    "exp_top3": (exp_top3_encode, exp_top3_decode),
    "exp_mean_delta": (exp_mean_delta_encode, exp_mean_delta_decode),
    "huffman": (huffman_encode, huffman_decode),
}
