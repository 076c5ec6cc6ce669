"""Number formats of the simulated chip: a registry of floating- and fixed-point formats.

Every format knows its width, its range and its smallest step. Float formats are described by
their exponent and stored-mantissa widths (IEEE-like, subnormals kept); fixed-point formats
``fixed<W>_<F>`` are signed two's complement integers of ``W`` bits scaled by ``2**-F``.
"""

import math
import re
from dataclasses import dataclass
from functools import cache

_FIXED = re.compile(r"fixed(\d+)_(\d+)")
_FLOAT_SPECS = {  # name: (exponent bits, stored mantissa bits, has infinities)
    "fp32": (8, 23, True),
    "bf16": (8, 7, True),
    "fp16": (5, 10, True),
    "fp8_e4m3": (4, 3, False),  # OCP E4M3FN: no infinities, S.1111.111 is NaN, max 448
    "fp8_e5m2": (5, 2, True),
}
_INTEGER_ALIASES = {"int8": "fixed8_0", "int16": "fixed16_0", "int32": "fixed32_0"}
FORMAT_NAMES = (*_FLOAT_SPECS, *_INTEGER_ALIASES, "fixed<W>_<F>")
"""Valid format names; ``fixed<W>_<F>`` stands for every 2 ≤ W ≤ 64, 0 ≤ F ≤ W."""


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """A number format of the chip.

    Attributes:
        name: The registry name (``"int8"`` keeps its alias name).
        is_float: True for floating point, False for fixed point.
        width_bits: Storage width in bits.
        mantissa_bits: Stored fraction bits of a float (0 for fixed point).
        exponent_bits: Exponent bits of a float (0 for fixed point).
        frac_bits: Fractional bits ``F`` of a fixed-point format (0 for floats).
        min_exponent: Exponent of the smallest normal float (``1 - bias``); for fixed point ``-F``.
        max_value: Largest finite value.
        min_value: Most negative finite value.
        smallest_step: Smallest positive value (the smallest subnormal for floats, ``2**-F`` for fixed).
        has_inf: Whether the format has infinities (otherwise overflow saturates at ``max_value``).
    """

    name: str
    is_float: bool
    width_bits: int
    mantissa_bits: int
    exponent_bits: int
    frac_bits: int
    min_exponent: int
    max_value: float
    min_value: float
    smallest_step: float
    has_inf: bool

    @property
    def significand_bits(self) -> int:
        """Bits of magnitude a value may carry: mantissa + hidden bit, or ``W - 1`` for fixed point."""
        return self.mantissa_bits + 1 if self.is_float else self.width_bits - 1

    @property
    def max_code(self) -> int:
        """Largest integer code of a fixed-point format."""
        return (1 << (self.width_bits - 1)) - 1

    @property
    def min_code(self) -> int:
        """Most negative integer code of a fixed-point format."""
        return -(1 << (self.width_bits - 1))

    @property
    def value_dtype(self) -> str:
        """NumPy dtype that holds every value exactly: float32, or float64 for fixed wider than 24 bits."""
        return "float32" if self.is_float or self.width_bits <= 24 else "float64"


def _float_format(name: str, exponent_bits: int, mantissa_bits: int, has_inf: bool) -> NumberFormat:
    bias = (1 << (exponent_bits - 1)) - 1
    if has_inf:  # IEEE: the all-ones exponent is reserved for inf/NaN
        max_value = (2.0 - 2.0**-mantissa_bits) * 2.0**bias
    else:  # E4M3FN: the all-ones exponent holds numbers, only S.1111.111 is NaN
        max_value = (2.0 - 2.0 ** (1 - mantissa_bits)) * 2.0 ** (bias + 1)
    return NumberFormat(
        name=name, is_float=True, width_bits=1 + exponent_bits + mantissa_bits,
        mantissa_bits=mantissa_bits, exponent_bits=exponent_bits, frac_bits=0,
        min_exponent=1 - bias, max_value=max_value, min_value=-max_value,
        smallest_step=2.0 ** (1 - bias - mantissa_bits), has_inf=has_inf,
    )


def _fixed_format(name: str, width: int, frac: int) -> NumberFormat:
    if not 2 <= width <= 64:
        raise ValueError(f"number format {name!r}: width W={width} must satisfy 2 ≤ W ≤ 64")
    if frac > width:
        raise ValueError(f"number format {name!r}: fraction bits F={frac} must satisfy 0 ≤ F ≤ W={width}")
    step = math.ldexp(1.0, -frac)
    return NumberFormat(
        name=name, is_float=False, width_bits=width, mantissa_bits=0, exponent_bits=0, frac_bits=frac,
        min_exponent=-frac, max_value=((1 << (width - 1)) - 1) * step,
        min_value=-(1 << (width - 1)) * step, smallest_step=step, has_inf=False,
    )


@cache
def get_format(name: str) -> NumberFormat:
    """Returns the format called ``name``.

    Raises:
        ValueError: The name is unknown (the message lists the valid names) or a malformed
            ``fixed<W>_<F>`` (the message says which part is wrong).
    """
    if not isinstance(name, str):
        raise TypeError(f"number format must be a str, got {type(name).__name__}")
    if name in _FLOAT_SPECS:
        return _float_format(name, *_FLOAT_SPECS[name])
    fixed = _FIXED.fullmatch(_INTEGER_ALIASES.get(name, name))
    if fixed:
        return _fixed_format(name, int(fixed.group(1)), int(fixed.group(2)))
    raise ValueError(f"unknown number format {name!r}; valid formats: {', '.join(FORMAT_NAMES)}")
