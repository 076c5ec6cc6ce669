"""Energy per operation at the table's reference node and voltage, and the node factor, as pure functions.

Everything here is in picojoules at the reference (45 nm, 0.9 V for the built-in table); the model
(:mod:`energy.model`) scales dynamic energies by the node factor and ``(V / V_ref)²``.
"""

import math
from collections.abc import Sequence
from itertools import pairwise

from accel.config import Dataflow
from accel.numerics.formats import NumberFormat, get_format
from energy.tables import EnergyTable, datapath


def power_law(points: Sequence[tuple[float, float]], x: float, below: float, above: float) -> float:
    """Interpolates ``y(x)`` through ``points`` log-log; outside them extrapolates as a power law.

    Args:
        points: ``(x, y)`` pairs with increasing positive ``x`` and positive ``y``.
        x: Where to evaluate (positive).
        below: Exponent of the power law through the first point, for ``x`` below it.
        above: Exponent of the power law through the last point, for ``x`` above it.

    Returns:
        ``y`` at a point's ``x`` exactly; between two points, the power law through both.
    """
    for (x0, y0), (x1, y1) in pairwise(points):
        if x0 <= x <= x1:
            if x in (x0, x1):
                return y0 if x == x0 else y1
            return y0 * (y1 / y0) ** (math.log(x / x0) / math.log(x1 / x0))
    x0, y0 = points[0] if x < points[0][0] else points[-1]
    return y0 * (x / x0) ** (below if x < x0 else above)


def arithmetic_pj(table: EnergyTable, op: str, fmt: NumberFormat) -> float:
    """pJ per ``op`` (``"add"`` or ``"mult"``) in ``fmt`` at the reference node and voltage.

    The table's own entry if it has one for ``fmt``'s datapath (see :func:`energy.tables.datapath`);
    otherwise derived from the entries of the same family (fixed or float) by :func:`power_law` in the
    datapath width with the table's exponent (1 for adders, 2 for multipliers in the built-in table).
    """
    entries, exponent = (table.add_pj, table.add_exponent) if op == "add" else (table.mult_pj, table.mult_exponent)
    name, width = datapath(fmt)
    if name in entries:
        return entries[name]
    family = []
    for key, pj in entries.items():
        entry = _datapath_format(key)
        if entry.is_float == fmt.is_float:
            family.append((datapath(entry)[1], pj))
    return power_law(sorted(family), width, exponent, exponent)


def _datapath_format(name: str) -> NumberFormat:
    """The format of an ``[arithmetic]`` datapath name (``int12`` is ``fixed12_0``)."""
    return get_format(f"fixed{name[3:]}_0" if name.startswith("int") else name)


def parse_mac_kind(kind: str) -> tuple[NumberFormat, NumberFormat, NumberFormat]:
    """Returns the operand formats and the accumulator format of a MAC kind ``"a*b+acc"``.

    Raises:
        ValueError: ``kind`` is not of that form or names an unknown format.
    """
    operands, plus, accumulator = kind.partition("+")
    a, star, b = operands.partition("*")
    if not (plus and star and a and b and accumulator):
        raise ValueError(f"MAC kind {kind!r} is not of the form 'a*b+acc' (e.g. 'int8*int8+int32')")
    try:
        return get_format(a), get_format(b), get_format(accumulator)
    except ValueError as error:  # re-raised naming the kind
        raise ValueError(f"MAC kind {kind!r}: {error}") from error


def mac_arithmetic_pj(table: EnergyTable, kind: str) -> float:
    """pJ of the arithmetic of one MAC: a multiply of the operands and an add in the accumulator format.

    Mixed operand formats are priced at the dearer of the two formats' multipliers: the PE must hold
    the datapath of both.
    """
    a, b, accumulator = parse_mac_kind(kind)
    multiply = max(arithmetic_pj(table, "mult", a), arithmetic_pj(table, "mult", b))
    return multiply + arithmetic_pj(table, "add", accumulator)


def mac_register_pj(table: EnergyTable, kind: str, dataflow: Dataflow) -> float:
    """pJ of the register traffic of one MAC: bits latched in PE registers and moved one hop.

    Weight or input stationary: the moving operand and the partial sum are each latched and moved one
    hop per MAC; the stationary operand stays (its load is SRAM traffic). The moving operand's width is
    the mean of the two operand widths (the kind does not say which one is stationary). Output
    stationary: both operands are latched and moved, the sum is latched in place.
    """
    a, b, accumulator = parse_mac_kind(kind)
    if dataflow is Dataflow.OS:
        latched, moved = a.width_bits + b.width_bits + accumulator.width_bits, a.width_bits + b.width_bits
    else:
        latched = moved = (a.width_bits + b.width_bits) / 2 + accumulator.width_bits
    return latched * table.register_pj_per_bit + moved * table.transfer_pj_per_bit


def parse_vector_kind(table: EnergyTable, kind: str) -> tuple[str, NumberFormat]:
    """Returns the operation and the format of a vector kind ``"op:format"``.

    Raises:
        ValueError: Not of that form, an operation the table does not price (the message lists the
            known ones), or an unknown format.
    """
    op, colon, name = kind.partition(":")
    if not (colon and op and name):
        raise ValueError(f"vector kind {kind!r} is not of the form 'op:format' (e.g. 'relu:int8')")
    if op not in table.vector_ops:
        raise ValueError(f"vector kind {kind!r}: unknown vector operation {op!r}; known: "
                         f"{', '.join(table.vector_ops)}")
    try:
        return op, get_format(name)
    except ValueError as error:  # re-raised naming the kind
        raise ValueError(f"vector kind {kind!r}: {error}") from error


def vector_op_pj(table: EnergyTable, kind: str) -> float:
    """pJ per element of a vector operation ``"op:format"``: its primitive operations in the format."""
    op, fmt = parse_vector_kind(table, kind)
    add, mult = arithmetic_pj(table, "add", fmt), arithmetic_pj(table, "mult", fmt)
    exp_like = table.exp_like["mult"] * mult + table.exp_like["add"] * add
    counts = table.vector_ops[op]
    return (counts["add"] + counts["compare"]) * add + counts["mult"] * mult + counts["exp_like"] * exp_like


def sram_access_pj(table: EnergyTable, capacity_bytes: float) -> float:
    """pJ per ``table.sram_access_bits``-bit access to an SRAM of ``capacity_bytes``.

    Log-log interpolation between the table's points; outside them, the nearest segment's power law.
    """
    points = list(zip(table.sram_capacity_bytes, table.sram_access_pj, strict=True))
    (c0, e0), (c1, e1) = points[:2]
    (c2, e2), (c3, e3) = points[-2:]
    below, above = math.log(e1 / e0) / math.log(c1 / c0), math.log(e3 / e2) / math.log(c3 / c2)
    return power_law(points, capacity_bytes, below, above)


def node_factor(table: EnergyTable, node_nm: float) -> float:
    """Dynamic energy at ``node_nm`` relative to the reference node, both at the reference voltage.

    Stillmaker–Baas energy polynomials evaluated at the reference voltage; between the table's nodes
    the factor interpolates log-log. Exactly 1 at the reference node.

    Raises:
        ValueError: ``node_nm`` outside the table's range of nodes.
    """
    nodes = sorted(table.node_coefficients)
    if not nodes[0] <= node_nm <= nodes[-1]:
        raise ValueError(f"energy.node_nm = {node_nm:g} is outside the Stillmaker–Baas table's range "
                         f"{nodes[0]:g}-{nodes[-1]:g} nm")
    voltage = table.reference_voltage_v

    def energy(node: float) -> float:
        c2, c1, c0 = table.node_coefficients[node]
        return c2 * voltage**2 + c1 * voltage + c0

    points = [(node, energy(node)) for node in nodes]
    # both nodes are within the table's range, so power_law never extrapolates: its exponents are moot
    return power_law(points, node_nm, 1.0, 1.0) / power_law(points, table.reference_node_nm, 1.0, 1.0)
