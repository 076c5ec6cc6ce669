"""Immutable event counts: what the chip did, never what it cost (``energy`` prices them).

An ``Accelerator`` keeps one ``EventCounts`` since construction; snapshots subtract, so a caller
measures exactly one training step as ``after - before``. Counts add up (steps → episode → run).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from operator import itemgetter
from types import MappingProxyType

SRAM_BUFFERS = ("weight", "activation", "output", "replay")
"""SRAM buffers by role; every ``sram_*`` mapping has exactly these keys."""


def _frozen(mapping: Mapping[str, int] | None = None) -> Mapping[str, int]:
    return MappingProxyType(dict(sorted((mapping or {}).items())))


def _combine(a: Mapping[str, int], b: Mapping[str, int], sign: int) -> Mapping[str, int]:
    if a is b and sign < 0:  # a mapping that did not change between two snapshots of a chip
        return _ZERO_SRAM if SRAM_BUFFERS[0] in a else _EMPTY
    if a.keys() == b.keys():  # the usual case (snapshots of one chip): a's keys are sorted already
        return MappingProxyType({k: v for k in a if (v := a[k] + sign * b[k]) != 0 or k in SRAM_BUFFERS})
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + sign * value
    return _frozen({k: v for k, v in out.items() if v != 0 or k in SRAM_BUFFERS})


def mac_kind(a_fmt: str, b_fmt: str, acc_fmt: str) -> str:
    """Key of ``EventCounts.macs_by_kind``: the two operand formats and the accumulator, ``"int8*int8+int32"``."""
    first, second = sorted((a_fmt, b_fmt))
    return f"{first}*{second}+{acc_fmt}"


def vector_kind(op: str, fmt: str) -> str:
    """Key of ``EventCounts.vector_ops``: the operation and the format it computes in, ``"relu:int8"``."""
    return f"{op}:{fmt}"


@dataclass(frozen=True, slots=True)
class EventCounts:
    """Events of the simulated chip, counted since some start. All counts are integers.

    Attributes:
        cycles: Clock cycles elapsed: compute + stall + vector cycles.
        compute_cycles: Cycles the MAC array was busy (SCALE-Sim's stall-free cycle count).
        stall_cycles: Cycles the array waited for DRAM (transfers that prefetch could not hide).
        vector_cycles: Cycles the vector unit was busy (not overlapped with the array).
        macs: Multiply-accumulates performed (useful ones: M·K·N per GEMM).
        zero_macs: Of ``macs``, those with a zero operand (a zero-gating PE skips their multiply).
        macs_by_kind: MACs per ``mac_kind`` (operand formats and accumulator format).
        zero_macs_by_kind: Zero-operand MACs per ``mac_kind``.
        sram_reads: Words read per SRAM buffer (``SRAM_BUFFERS``).
        sram_writes: Words written per SRAM buffer.
        sram_read_bytes: Bytes read per SRAM buffer (words × the width of their format).
        sram_write_bytes: Bytes written per SRAM buffer.
        dram_read_bytes: Bytes read from DRAM.
        dram_write_bytes: Bytes written to DRAM.
        vector_ops: Elements processed by the vector unit per ``vector_kind`` (operation and format).
        saturations: Results that left their format's range (fixed point clipped, floats overflowed).
        nonfinite: NaN or ±inf values produced (GEMM outputs and vector results).
        underflows: Nonzero values the chip's rounding turned into 0: in fixed point (GEMM
            operands and outputs, vector results, working copies) the small values a large one
            starves of bits under a per-tensor scale; in a float format (GEMM operands and
            outputs, working copies; not the vector unit's float results) those below its
            smallest subnormal, which fp8's gradients reach.
        gemms: GEMMs executed.
        folds: Array folds executed (tiles mapped onto the PEs, one after another).
        skipped_macs: Of ``macs``, those a skipping array never executed: the k-groups it compacted
            away (``[sparsity] skipping = "group"``); each has a zero operand, so they are also in
            ``zero_macs``.
        skipped_macs_by_kind: Skipped MACs per ``mac_kind``.
        saved_cycles: Cycles the skipping saved: the same GEMMs' cycles without skipping less theirs.
        zero_checks: Words the skipping array's zero detection examined, per number format.
    """

    cycles: int = 0
    compute_cycles: int = 0
    stall_cycles: int = 0
    vector_cycles: int = 0
    macs: int = 0
    zero_macs: int = 0
    macs_by_kind: Mapping[str, int] = field(default_factory=_frozen)
    zero_macs_by_kind: Mapping[str, int] = field(default_factory=_frozen)
    sram_reads: Mapping[str, int] = field(default_factory=lambda: _frozen(dict.fromkeys(SRAM_BUFFERS, 0)))
    sram_writes: Mapping[str, int] = field(default_factory=lambda: _frozen(dict.fromkeys(SRAM_BUFFERS, 0)))
    sram_read_bytes: Mapping[str, int] = field(default_factory=lambda: _frozen(dict.fromkeys(SRAM_BUFFERS, 0)))
    sram_write_bytes: Mapping[str, int] = field(default_factory=lambda: _frozen(dict.fromkeys(SRAM_BUFFERS, 0)))
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    vector_ops: Mapping[str, int] = field(default_factory=_frozen)
    saturations: int = 0
    nonfinite: int = 0
    underflows: int = 0
    gemms: int = 0
    folds: int = 0
    skipped_macs: int = 0
    skipped_macs_by_kind: Mapping[str, int] = field(default_factory=_frozen)
    saved_cycles: int = 0
    zero_checks: Mapping[str, int] = field(default_factory=_frozen)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                if f.name.startswith("sram_"):
                    unknown = set(value) - set(SRAM_BUFFERS)
                    if unknown:
                        raise ValueError(f"EventCounts.{f.name}: unknown buffers {sorted(unknown)}; "
                                         f"buffers are {', '.join(SRAM_BUFFERS)}")
                    value = {**dict.fromkeys(SRAM_BUFFERS, 0), **value}
                object.__setattr__(self, f.name, _frozen(value))

    @classmethod
    def _of_totals(cls, scalars: dict, mappings: dict) -> "EventCounts":
        """Counts from a ``Tally``'s totals: the integer fields of ``scalars``, the mapping fields of ``mappings``
        (frozen and checked already: sums of valid counts), with no second pass."""
        counts = object.__new__(cls)
        for name in _SCALAR_FIELDS:
            _set(counts, name, scalars[name])
        for name in _MAPPING_ORDER:
            _set(counts, name, mappings[name])
        return counts

    def _merge(self, other: "EventCounts", sign: int) -> "EventCounts":
        if not isinstance(other, EventCounts):
            return NotImplemented
        counts = object.__new__(EventCounts)
        for name in _SCALAR_FIELDS:
            _set(counts, name, getattr(self, name) + sign * getattr(other, name))
        for name in _MAPPING_ORDER:
            _set(counts, name, _combine(getattr(self, name), getattr(other, name), sign))
        return counts

    def __add__(self, other: "EventCounts") -> "EventCounts":
        return self._merge(other, 1)

    def __sub__(self, other: "EventCounts") -> "EventCounts":
        return self._merge(other, -1)

    def to_dict(self) -> dict:
        """Plain-JSON form (mappings as dicts)."""
        return {f.name: dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v for f in fields(self)}


_FIELDS = tuple(f.name for f in fields(EventCounts))
_EMPTY = _frozen()
_ZERO_SRAM = _frozen(dict.fromkeys(SRAM_BUFFERS, 0))
_NONE = EventCounts()
_MAPPING_FIELDS = frozenset(name for name in _FIELDS if isinstance(getattr(EventCounts(), name), Mapping))
_MAPPING_ORDER = tuple(name for name in _FIELDS if name in _MAPPING_FIELDS)
_SRAM_FIELDS = frozenset(name for name in _MAPPING_FIELDS if name.startswith("sram_"))
_SCALAR_FIELDS = tuple(name for name in _FIELDS if name not in _MAPPING_FIELDS)
_set = object.__setattr__  # a frozen dataclass's fields are set once, as it sets them itself
_times = itemgetter(1)  # of a pending ``[delta, times applied]``
_MERGED_MEMO = 64
"""Combined deltas a ``Tally`` keeps: one per sequence of operations repeated between reads of the counts."""


class Tally:
    """Running totals behind an ``Accelerator``'s counts: added to in place, frozen when read.

    Adding a frozen ``EventCounts`` per operation rebuilds every mapping; a simulator that counts
    thousands of operations per training step adds here and freezes only when asked.
    """

    def __init__(self, start: EventCounts | None = None) -> None:
        start = _NONE if start is None else start
        self._totals: dict[str, object] = {
            f.name: dict(getattr(start, f.name)) if f.name in _MAPPING_FIELDS else getattr(start, f.name)
            for f in fields(EventCounts)}
        self._frozen: EventCounts | None = start
        self._frozen_mappings = {name: getattr(start, name) for name in _MAPPING_FIELDS}
        self._dirty: set[str] = set()  # mapping fields changed since they were last frozen
        self._sizes = {name: -1 for name in _MAPPING_FIELDS}  # keys of each total when last sorted
        self._pending: dict[int, list] = {}  # id(delta) -> [delta, times applied]; the list keeps it alive
        # (id, times) of each pending delta -> (their sum as one delta, the deltas: alive, so no id is reused)
        self._merged: dict[tuple, tuple[CountsDelta, list]] = {}

    def add(self, **counts) -> None:
        """Adds counts given as ``EventCounts`` fields (mappings merge key by key)."""
        for name, value in counts.items():
            if name not in self._totals:
                raise ValueError(f"unknown count {name!r}; counts are the fields of EventCounts")
            if name in _MAPPING_FIELDS:
                total = self._totals[name]
                for key, n in value.items():
                    total[key] = total.get(key, 0) + n
                self._dirty.add(name)
            else:
                self._totals[name] += value
        self._frozen = None

    def add_value_counts(self, kind: str, zero_macs: int, saturations: int, nonfinite: int, skipped: int = 0) -> None:
        """Adds what a GEMM's values decided: its zero-operand MACs (of ``mac_kind`` ``kind``), of
        those the ones an element-skipping array skipped, the values that left their format's range
        and the NaN/inf values."""
        totals = self._totals
        totals["zero_macs"] += zero_macs
        by_kind = totals["zero_macs_by_kind"]
        by_kind[kind] = by_kind.get(kind, 0) + zero_macs
        self._dirty.add("zero_macs_by_kind")
        if skipped:
            totals["skipped_macs"] += skipped
            by_kind = totals["skipped_macs_by_kind"]
            by_kind[kind] = by_kind.get(kind, 0) + skipped
            self._dirty.add("skipped_macs_by_kind")
        totals["saturations"] += saturations
        totals["nonfinite"] += nonfinite
        self._frozen = None

    def apply(self, delta: "CountsDelta") -> None:
        """Adds a prepared ``CountsDelta`` (a planned operation's counts). A planned operation repeats
        many times between two reads of the counts, so it is only counted here and added up once
        when the counts are read."""
        pending = self._pending.get(id(delta))
        if pending is None:
            self._pending[id(delta)] = [delta, 1]
        else:
            pending[1] += 1
        self._frozen = None

    def _settle(self) -> None:
        """Adds the pending deltas, each times how often it was applied: as one combined delta, kept
        for the next time the same operations were applied as often (an agent's step repeats them)."""
        pending = self._pending
        if not pending:
            return
        signature = tuple(zip(pending, map(_times, pending.values()), strict=True))
        merged = self._merged.get(signature)
        if merged is None:
            if len(self._merged) >= _MERGED_MEMO:
                del self._merged[next(iter(self._merged))]  # the oldest
            merged = self._merged[signature] = (CountsDelta.sum(pending.values()), [d for d, _ in pending.values()])
        delta, totals = merged[0], self._totals
        for name, value in delta.scalars:
            totals[name] += value
        for name, items in delta.by_field:
            mapping = totals[name]
            for key, value in items:
                mapping[key] = mapping.get(key, 0) + value
        self._dirty.update(delta.mapping_fields)
        pending.clear()

    def freeze(self) -> EventCounts:
        """The totals as an immutable ``EventCounts`` (cached until the next ``add``; a mapping is
        frozen again only when it changed)."""
        if self._frozen is None:
            self._settle()
            mappings, sizes = self._frozen_mappings, self._sizes
            for name in self._dirty:
                total = self._totals[name]
                if len(total) != sizes[name]:  # keys are only ever added: a new one changes the length
                    total = self._totals[name] = dict(sorted(total.items()))  # kept in key order
                    sizes[name] = len(total)
                mappings[name] = MappingProxyType(total.copy() if name in _SRAM_FIELDS or 0 not in total.values()
                                                  else {k: v for k, v in total.items() if v})
            self._dirty.clear()
            self._frozen = EventCounts._of_totals(self._totals, mappings)
        return self._frozen


@dataclass(frozen=True, slots=True)
class CountsDelta:
    """Counts an operation adds, flattened for ``Tally.apply``: a planned operation is applied many times.

    Attributes:
        scalars: (field, value) pairs of the integer fields.
        entries: (field, key, value) triples of the mapping fields.
        mapping_fields: The mapping fields ``entries`` touch.
    """

    scalars: tuple[tuple[str, int], ...]
    entries: tuple[tuple[str, str, int], ...]
    mapping_fields: frozenset[str] = field(init=False, compare=False)
    by_field: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = field(init=False, compare=False)
    """``entries`` grouped by field: ``(field, ((key, value), ...))``."""

    def __post_init__(self) -> None:
        grouped: dict[str, list[tuple[str, int]]] = {}
        for name, key, value in self.entries:
            grouped.setdefault(name, []).append((key, value))
        object.__setattr__(self, "mapping_fields", frozenset(grouped))
        object.__setattr__(self, "by_field", tuple((name, tuple(items)) for name, items in grouped.items()))

    @classmethod
    def sum(cls, terms) -> "CountsDelta":
        """The delta of ``(delta, times)`` pairs applied together, each ``times`` times."""
        scalars: dict[str, int] = {}
        entries: dict[tuple[str, str], int] = {}
        for delta, times in terms:
            for name, value in delta.scalars:
                scalars[name] = scalars.get(name, 0) + value * times
            for name, key, value in delta.entries:
                entries[name, key] = entries.get((name, key), 0) + value * times
        return cls(tuple(scalars.items()), tuple((name, key, value) for (name, key), value in entries.items()))

    @classmethod
    def of(cls, counts: Mapping) -> "CountsDelta":
        """From ``EventCounts`` fields given as a mapping (mappings for the per-key fields).

        Raises:
            ValueError: An unknown field.
        """
        unknown = set(counts) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown counts {sorted(unknown)}; counts are the fields of EventCounts")
        entries = tuple((name, key, value) for name, value in counts.items() if name in _MAPPING_FIELDS
                        for key, value in value.items())
        return cls(tuple((name, value) for name, value in counts.items() if name not in _MAPPING_FIELDS), entries)
