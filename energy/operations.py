"""Energy per operation at the table's reference node and voltage, and the node factor, as pure functions.

Everything here is in picojoules at the reference (45 nm, 0.9 V for the built-in table); the model
(:mod:`energy.model`) scales dynamic energies by Stillmaker–Baas's energy at the chip's node and
voltage over the reference's, and finds the highest frequency a voltage allows from their delay.
"""

import math
from collections.abc import Mapping, Sequence
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


def _polynomial(coefficients: Sequence[float], x: float) -> float:
    """``c_n·x^n + … + c_0`` with the coefficients highest power first."""
    value = 0.0
    for c in coefficients:
        value = value * x + c
    return value


def _slope(coefficients: Sequence[float], x: float) -> float:
    """The derivative of ``_polynomial(coefficients, ·)`` at ``x``."""
    n = len(coefficients) - 1
    return _polynomial([c * (n - i) for i, c in enumerate(coefficients[:-1])], x)


def _across_nodes(table: EnergyTable, polynomials: Mapping, node_nm: float, voltage_v: float, what: str) -> float:
    """A Stillmaker–Baas polynomial of ``polynomials`` at ``voltage_v``, interpolated log-log between the
    table's nodes around ``node_nm``.

    Raises:
        ValueError: ``node_nm`` outside the table's nodes, a voltage outside the table's
            ``voltage_range_v``, or one where a bracketing node's model does not hold (energy not
            rising or delay not falling with the voltage, or either not positive).
    """
    nodes = sorted(polynomials)
    if not nodes[0] <= node_nm <= nodes[-1]:
        raise ValueError(f"energy.node_nm = {node_nm:g} is outside the Stillmaker–Baas table's range "
                         f"{nodes[0]:g}-{nodes[-1]:g} nm")
    low, high = table.voltage_range_v
    if not low <= voltage_v <= high:
        raise ValueError(f"clock.voltage_v = {voltage_v:g} is outside the range where the Stillmaker–Baas models "
                         f"are used, {low:g}-{high:g} V")
    below, above = max(n for n in nodes if n <= node_nm), min(n for n in nodes if n >= node_nm)
    rising = what == "energy"
    points = []
    for node in sorted({below, above}):
        value, slope = _polynomial(polynomials[node], voltage_v), _slope(polynomials[node], voltage_v)
        if value <= 0 or (slope <= 0 if rising else slope >= 0):
            raise ValueError(f"clock.voltage_v = {voltage_v:g} is outside the range where the Stillmaker–Baas "
                             f"{what} model of {node:g} nm holds ({what} {'rising' if rising else 'falling'} "
                             "with the voltage)")
        points.append((node, value))
    return power_law(points, node_nm, 1.0, 1.0)


def node_energy(table: EnergyTable, node_nm: float, voltage_v: float) -> float:
    """Stillmaker–Baas's energy factor of ``node_nm`` at ``voltage_v`` (the table's units)."""
    return _across_nodes(table, table.node_coefficients, node_nm, voltage_v, "energy")


def node_delay_ps(table: EnergyTable, node_nm: float, voltage_v: float) -> float:
    """Stillmaker–Baas's FO4 delay of ``node_nm`` at ``voltage_v``, in picoseconds."""
    return _across_nodes(table, table.node_delay, node_nm, voltage_v, "delay")


def max_frequency_hz(table: EnergyTable, node_nm: float, voltage_v: float, logic_depth_fo4: float) -> float:
    """The highest clock frequency ``voltage_v`` allows: one cycle is ``logic_depth_fo4`` FO4 delays."""
    return 1.0 / (logic_depth_fo4 * node_delay_ps(table, node_nm, voltage_v) * 1e-12)


def dynamic_factor(table: EnergyTable, node_nm: float, voltage_v: float) -> float:
    """Dynamic energy of ``node_nm`` at ``voltage_v`` relative to the table's node and voltage."""
    return node_energy(table, node_nm, voltage_v) / node_energy(table, table.reference_node_nm,
                                                                 table.reference_voltage_v)


def node_factor(table: EnergyTable, node_nm: float) -> float:
    """Dynamic energy at ``node_nm`` relative to the reference node, both at the reference voltage.

    Stillmaker–Baas energy polynomials evaluated at the reference voltage; between the table's nodes
    the factor interpolates log-log. Exactly 1 at the reference node.

    Raises:
        ValueError: ``node_nm`` outside the table's range of nodes.
    """
    return dynamic_factor(table, node_nm, table.reference_voltage_v)
