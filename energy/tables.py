"""The energy table: energy per action at a reference node and voltage, read from TOML and validated once.

The built-in table is ``energy/data/default.toml``; every figure in it names its source. A hardware
file's ``[energy] table`` points at a TOML file shaped like it whose entries replace the built-in
ones: the same tables and keys, plus ``[arithmetic]`` entries for formats the built-in table derives
(``int12_mult_pj``, ``bf16_add_pj``, ...). Unknown tables or keys, negative or non-finite energies
and malformed lists are one-line ``ValueError``s naming the file and the entry.
"""

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from accel.numerics.formats import FORMAT_NAMES, NumberFormat, get_format

DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "default.toml"
"""The built-in table."""

PRIMITIVES = ("add", "mult", "compare", "exp_like")
"""Primitive operations a vector operation is counted in (``compare`` is priced as an add)."""

FLOAT_FORMATS = tuple(name for name in FORMAT_NAMES if "<" not in name and get_format(name).is_float)
"""Float formats an ``[arithmetic]`` key may name."""

_ARITHMETIC_KEY = re.compile(r"(?P<format>.+)_(?P<op>add|mult)_pj")
_FIXED_KEY = re.compile(r"int(?P<width>\d+)")


@dataclass(frozen=True, slots=True)
class EnergyTable:
    """Energy per action at the reference node and voltage (the contents of the TOML tables).

    Attributes:
        source: The file(s) the table was read from.
        reference_node_nm: Node of the figures, in nanometres (``[reference] node_nm``).
        reference_voltage_v: Supply voltage of the figures, in volts (``[reference] voltage_v``).
        add_pj: pJ per add by datapath (``"int<W>"`` for fixed point of width W, or a float format name).
        mult_pj: pJ per multiply by datapath, keyed like ``add_pj``.
        add_exponent: Exponent of the width in the power law that derives adders.
        mult_exponent: Exponent of the width in the power law that derives multipliers.
        register_pj_per_bit: pJ per bit latched in a PE register.
        transfer_pj_per_bit: pJ per bit moved one hop from a PE to its neighbour.
        pe_leakage_w: Leakage power of one PE, in watts.
        sram_access_bits: Word width of the SRAM access energies, in bits.
        sram_capacity_bytes: Capacities of the SRAM points, increasing.
        sram_access_pj: pJ per ``sram_access_bits`` access at each capacity.
        sram_leakage_w_per_byte: Leakage power per byte of SRAM, in watts.
        dram_pj_per_bit: pJ per bit read from or written to DRAM (not scaled with the chip's node).
        exp_like: Primitive operations (``mult``, ``add``) of one exp-like operation.
        vector_ops: Primitive operations per element of each vector operation, by operation name.
        node_coefficients: Stillmaker–Baas energy polynomial ``(c2, c1, c0)`` per node in nanometres.
        node_delay: Stillmaker–Baas delay polynomial ``(d3, d2, d1, d0)`` (FO4 picoseconds) per node.
        voltage_range_v: Supply voltages over which the node polynomials are used, ``(low, high)``.
    """

    source: str
    reference_node_nm: float
    reference_voltage_v: float
    add_pj: Mapping[str, float]
    mult_pj: Mapping[str, float]
    add_exponent: float
    mult_exponent: float
    register_pj_per_bit: float
    transfer_pj_per_bit: float
    pe_leakage_w: float
    sram_access_bits: int
    sram_capacity_bytes: tuple[float, ...]
    sram_access_pj: tuple[float, ...]
    sram_leakage_w_per_byte: float
    dram_pj_per_bit: float
    exp_like: Mapping[str, float]
    vector_ops: Mapping[str, Mapping[str, float]]
    node_coefficients: Mapping[float, tuple[float, float, float]]
    node_delay: Mapping[float, tuple[float, float, float, float]]
    voltage_range_v: tuple[float, float]


def datapath(fmt: NumberFormat) -> tuple[str, int]:
    """Returns the ``[arithmetic]`` name of ``fmt``'s datapath and its width for the derivation rules.

    Fixed point of width W is the integer datapath ``"int<W>"`` of width W (the binary point costs
    nothing); a float format is its own datapath, of width its significand bits (mantissa + hidden bit).
    """
    if fmt.is_float:
        return fmt.name, fmt.significand_bits
    return f"int{fmt.width_bits}", fmt.width_bits


@cache
def load_table(override: str = "") -> EnergyTable:
    """Returns the built-in table with the entries of ``override`` (a TOML file path) replacing its own.

    Args:
        override: Path to an override table, or ``""`` for the built-in table alone. Tables are
            cached per path: a file is read once per process.

    Raises:
        ValueError: Unreadable TOML, an unknown table or key, or an invalid value; the message names
            the file and the entry.
    """
    data = _read(DEFAULT_TABLE)
    if not override:
        return _build(data, str(DEFAULT_TABLE))
    return _build(_merge(data, _read(Path(override)), override), override)


def _read(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"energy table {str(path)!r} not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"energy table {path}: not valid TOML: {error}") from error


def _merge(base: dict, override: dict, label: str) -> dict:
    merged = {section: dict(table) for section, table in base.items()}
    for section, table in override.items():
        if section not in base:
            raise ValueError(f"energy table {label}: unknown table [{section}]; tables: "
                             f"{', '.join(f'[{s}]' for s in base)}")
        if not isinstance(table, Mapping):
            raise ValueError(f"energy table {label}: {section} must be a table [{section}], got {table!r}")
        for key, value in table.items():
            if key not in base[section] and not (section == "arithmetic" and _arithmetic_key(key)):
                raise ValueError(f"energy table {label}: unknown entry {section}.{key}; "
                                 f"{_allowed(section, base[section])}")
            merged[section][key] = value
    return merged


def _allowed(section: str, table: Mapping) -> str:
    if section == "arithmetic":
        return ("entries of [arithmetic] are int<W>_add_pj, int<W>_mult_pj (2 ≤ W ≤ 64) and "
                f"<format>_add_pj, <format>_mult_pj for format one of {', '.join(FLOAT_FORMATS)}")
    return f"entries of [{section}]: {', '.join(table)}"


def _arithmetic_key(key: str) -> tuple[str, str] | None:
    """Returns ``(datapath, op)`` for a valid ``[arithmetic]`` key, else None."""
    match = _ARITHMETIC_KEY.fullmatch(key)
    if not match:
        return None
    name, op = match.group("format"), match.group("op")
    fixed = _FIXED_KEY.fullmatch(name)
    if fixed and 2 <= int(fixed.group("width")) <= 64:
        return name, op
    return (name, op) if name in FLOAT_FORMATS else None


def _number(label: str, dotted: str, value: object, *, positive: bool = False) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value < 0 or (positive and value == 0):
        what = "a finite positive number" if positive else "a finite number ≥ 0"
        raise ValueError(f"energy table {label}: {dotted} must be {what}, got {value!r}")
    return float(value)


def _numbers(label: str, dotted: str, value: object, *, length: int | None = None) -> tuple[float, ...]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        what = f"a list of {length} numbers" if length else "a list of numbers"
        raise ValueError(f"energy table {label}: {dotted} must be {what}, got {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise ValueError(f"energy table {label}: {dotted} must hold finite numbers, got {item!r}")
    return tuple(float(item) for item in value)


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


def _sources(label: str, data: Mapping) -> None:
    for section, table in data.items():
        if "source" in table and not isinstance(table["source"], str):
            raise ValueError(f"energy table {label}: {section}.source must be a string, got {table['source']!r}")


def _build(data: Mapping, label: str) -> EnergyTable:
    _sources(label, data)
    ref, sram, pe = data["reference"], data["sram"], data["pe"]
    arithmetic = {"add": {}, "mult": {}}
    for key, value in data["arithmetic"].items():
        if key != "source":
            name, op = _arithmetic_key(key)
            arithmetic[op][name] = _number(label, f"arithmetic.{key}", value, positive=True)
    capacities = _numbers(label, "sram.capacity_bytes", sram["capacity_bytes"])
    access = _numbers(label, "sram.access_pj", sram["access_pj"], length=len(capacities))
    if len(capacities) < 2 or any(c <= 0 for c in capacities) or list(capacities) != sorted(set(capacities)):
        raise ValueError(f"energy table {label}: sram.capacity_bytes must be ≥ 2 positive capacities in "
                         f"increasing order, got {sram['capacity_bytes']!r}")
    for energy in access:
        _number(label, "sram.access_pj", energy, positive=True)
    access_bits = sram["access_bits"]
    if isinstance(access_bits, bool) or not isinstance(access_bits, int) or access_bits <= 0:
        raise ValueError(f"energy table {label}: sram.access_bits must be a positive integer, got {access_bits!r}")
    voltage_v = _number(label, "reference.voltage_v", ref["voltage_v"], positive=True)
    table = EnergyTable(
        source=label,
        reference_node_nm=_number(label, "reference.node_nm", ref["node_nm"], positive=True),
        reference_voltage_v=voltage_v,
        add_pj=_frozen(arithmetic["add"]),
        mult_pj=_frozen(arithmetic["mult"]),
        add_exponent=_number(label, "derivation.add_exponent", data["derivation"]["add_exponent"]),
        mult_exponent=_number(label, "derivation.mult_exponent", data["derivation"]["mult_exponent"]),
        register_pj_per_bit=_number(label, "pe.register_pj_per_bit", pe["register_pj_per_bit"]),
        transfer_pj_per_bit=_number(label, "pe.transfer_pj_per_bit", pe["transfer_pj_per_bit"]),
        pe_leakage_w=_number(label, "pe.leakage_w", pe["leakage_w"]),
        sram_access_bits=access_bits,
        sram_capacity_bytes=capacities,
        sram_access_pj=access,
        sram_leakage_w_per_byte=_number(label, "sram.leakage_w_per_byte", sram["leakage_w_per_byte"]),
        dram_pj_per_bit=_number(label, "dram.pj_per_bit", data["dram"]["pj_per_bit"]),
        exp_like=_frozen({key: _number(label, f"vector_exp_like.{key}", value)
                          for key, value in data["vector_exp_like"].items() if key != "source"}),
        vector_ops=_frozen({op: _vector_op(label, op, counts)
                            for op, counts in data["vector_ops"].items() if op != "source"}),
        node_coefficients=_frozen(_node_coefficients(label, data["node_scaling"], voltage_v)),
        voltage_range_v=_numbers(label, "node_scaling.voltage_range_v", data["node_scaling"]["voltage_range_v"],
                                 length=2),
        node_delay=_frozen({float(key): _numbers(label, f"node_delay.{key}", value, length=4)
                            for key, value in data["node_delay"].items() if key != "source"}),
    )
    if set(table.node_delay) != set(table.node_coefficients):
        raise ValueError(f"energy table {label}: node_delay must have the nodes of node_scaling, "
                         f"{', '.join(f'{n:g}' for n in sorted(table.node_coefficients))}")
    nodes = sorted(table.node_coefficients)
    if not nodes[0] <= table.reference_node_nm <= nodes[-1]:
        raise ValueError(f"energy table {label}: reference.node_nm = {table.reference_node_nm:g} is outside "
                         f"the node_scaling table's range {nodes[0]:g}-{nodes[-1]:g} nm")
    return table


def _vector_op(label: str, op: str, counts: object) -> Mapping[str, float]:
    if not isinstance(counts, Mapping):
        raise ValueError(f"energy table {label}: vector_ops.{op} must be a table like {{ add = 1 }}, got {counts!r}")
    for key in counts:
        if key not in PRIMITIVES:
            raise ValueError(f"energy table {label}: unknown entry vector_ops.{op}.{key}; "
                             f"primitives: {', '.join(PRIMITIVES)}")
    return _frozen({key: _number(label, f"vector_ops.{op}.{key}", counts.get(key, 0)) for key in PRIMITIVES})


def _node_coefficients(label: str, table: Mapping, voltage_v: float) -> dict[float, tuple[float, float, float]]:
    out = {}
    for key, value in table.items():
        if key in ("source", "voltage_range_v"):
            continue
        coefficients = _numbers(label, f"node_scaling.{key}", value, length=3)
        c2, c1, c0 = coefficients
        if c2 * voltage_v**2 + c1 * voltage_v + c0 <= 0:
            raise ValueError(f"energy table {label}: node_scaling.{key} gives a non-positive energy factor "
                             f"at the reference voltage {voltage_v} V")
        out[float(key)] = coefficients
    return out
