"""Which tensors the value-dependent counts came from: saturations, NaN/inf and values rounded to 0
per tensor name, so a run that clips can say where (``Accelerator.counts_by_tensor``).

``EventCounts`` holds the totals the energy model prices; these are the same events, kept apart per
tensor for diagnosis and never priced. A tensor is named as the agents name it (``net.y1``,
``net.W0``: ``accel.workload``'s names); an unnamed one by the operation and role that produced it
(``gemm C (activation)``, ``relu (activation)``).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class ValueCounts:
    """What the values of one tensor did, counted since the chip was built.

    Attributes:
        saturations: Values that left the tensor's format's range (fixed point clipped, floats overflowed).
        nonfinite: NaN or ±inf values among it.
        underflows: Nonzero values its rounding turned into 0 (``EventCounts.underflows``).
    """

    saturations: int = 0
    nonfinite: int = 0
    underflows: int = 0


class ByTensor:
    """Running ``ValueCounts`` per tensor name, added to in place by an ``Accelerator``."""

    def __init__(self, start: Mapping[str, ValueCounts] | None = None) -> None:
        self._counts: dict[str, list[int]] = {
            name: [c.saturations, c.nonfinite, c.underflows] for name, c in (start or {}).items()}

    def add(self, name: str, saturations: int = 0, nonfinite: int = 0, underflows: int = 0) -> None:
        """Adds one operation's counts for the tensor ``name`` (nothing when all are 0)."""
        if saturations or nonfinite or underflows:
            counts = self._counts.get(name)
            if counts is None:
                counts = self._counts[name] = [0, 0, 0]
            counts[0] += saturations
            counts[1] += nonfinite
            counts[2] += underflows

    def freeze(self) -> Mapping[str, ValueCounts]:
        """The counts per tensor, most saturations and NaN/inf first, then most values rounded to 0,
        then by name."""
        order = sorted(self._counts.items(), key=lambda item: (-(item[1][0] + item[1][1]), -item[1][2], item[0]))
        return MappingProxyType({name: ValueCounts(*counts) for name, counts in order})


def since(after: Mapping[str, ValueCounts], before: Mapping[str, ValueCounts]) -> dict[str, ValueCounts]:
    """The counts per tensor between two readings of ``Accelerator.counts_by_tensor``."""
    zero = ValueCounts()
    out = {}
    for name, a in after.items():
        b = before.get(name, zero)
        diff = ValueCounts(a.saturations - b.saturations, a.nonfinite - b.nonfinite, a.underflows - b.underflows)
        if diff != zero:
            out[name] = diff
    return out


def top(by_tensor: Mapping[str, ValueCounts], field: str, n: int = 10) -> dict[str, int]:
    """The ``n`` tensors with the most ``field`` (``saturations``, ``nonfinite``, ``underflows``),
    most first, those with none left out."""
    ranked = sorted(((name, getattr(c, field)) for name, c in by_tensor.items()), key=lambda item: (-item[1], item[0]))
    return {name: count for name, count in ranked[:n] if count}
