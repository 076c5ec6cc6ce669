"""The energy model: a chip's config and event counts in, joules per component out.

``EnergyModel(config).estimate(counts)`` is a sum of count × energy per action (Accelergy's idea):
each table energy at the reference node and voltage is scaled to the chip by Stillmaker–Baas's energy
model at the chip's node and voltage (dynamic energy), leakage by the node factor and ``V / V_ref``;
their delay model gives the highest frequency the voltage allows (a faster clock is refused). DRAM is its
own die and is not scaled. See docs/energy.md for the tables, the rules and a worked example.
"""

import math
from dataclasses import dataclass, field

from accel.config import MAX_FREQUENCY, AcceleratorConfig
from accel.counts import SRAM_BUFFERS, EventCounts, mac_kind
from accel.numerics.formats import get_format
from energy.operations import (
    arithmetic_pj,
    dynamic_factor,
    mac_arithmetic_pj,
    mac_register_pj,
    max_frequency_hz,
    node_factor,
    parse_mac_kind,
    sram_access_pj,
    vector_op_pj,
)
from energy.report import EnergyReport
from energy.tables import EnergyTable, load_table

_PJ = 1e-12  # joules per picojoule


@dataclass(frozen=True, slots=True)
class EnergyModel:
    """Prices the event counts of one chip.

    Attributes:
        config: The chip.
        table: The energy table (built in, with ``config.energy.table``'s entries replacing its own).
        dynamic_scale: Factor from the table's dynamic energies to the chip's: Stillmaker–Baas's
            energy at the chip's node and voltage over the table's (close to node factor × (V / V_ref)²
            near the reference voltage, above it at low voltage).
        leakage_scale: Factor from the table's leakage powers to the chip's: node factor × V / V_ref.
        max_frequency_hz: The highest clock frequency the chip's voltage allows at its node
            (``clock.logic_depth_fo4`` Stillmaker–Baas FO4 delays per cycle).
        frequency_hz: The chip's clock: ``clock.frequency_hz``, or ``max_frequency_hz`` for ``"max"``.
    """

    config: AcceleratorConfig
    table: EnergyTable = field(init=False, repr=False, compare=False)
    dynamic_scale: float = field(init=False, compare=False)
    leakage_scale: float = field(init=False, compare=False)
    max_frequency_hz: float = field(init=False, compare=False)
    frequency_hz: float = field(init=False, compare=False)
    _prices: dict = field(init=False, repr=False, compare=False)
    """Energies per action already looked up (pure functions of the config): an estimate per training
    step prices the same few kinds again and again."""

    def __post_init__(self) -> None:
        clock, node_nm, name = self.config.clock, self.config.energy.node_nm, self.config.name
        maximum = clock.frequency_hz == MAX_FREQUENCY
        for dotted, value in (("clock.voltage_v", clock.voltage_v),
                              ("clock.frequency_hz", 1.0 if maximum else clock.frequency_hz)):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: {dotted} must be a finite positive number, got {value!r}")
        table = load_table(self.config.energy.table)
        try:
            dynamic = dynamic_factor(table, node_nm, clock.voltage_v)
            fastest = max_frequency_hz(table, node_nm, clock.voltage_v, clock.logic_depth_fo4)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
        if not maximum and clock.frequency_hz > fastest * (1 + 1e-12):
            raise ValueError(f"{name}: clock.frequency_hz = {clock.frequency_hz:.4g} is above the "
                             f"{fastest:.4g} Hz that clock.voltage_v = {clock.voltage_v:g} allows at {node_nm:g} nm "
                             f"({clock.logic_depth_fo4:g} FO4 per cycle); lower it, raise the voltage, or "
                             'set clock.frequency_hz = "max"')
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "dynamic_scale", dynamic)
        object.__setattr__(self, "leakage_scale", node_factor(table, node_nm) * clock.voltage_v
                           / table.reference_voltage_v)
        object.__setattr__(self, "max_frequency_hz", fastest)
        object.__setattr__(self, "frequency_hz", fastest if maximum else clock.frequency_hz)
        object.__setattr__(self, "_prices", {})

    def _price(self, key: tuple, compute) -> float:
        """``compute()``, remembered under ``key``."""
        found = self._prices.get(key)
        if found is None:
            found = self._prices[key] = compute()
        return found

    def add_energy_j(self, fmt: str) -> float:
        """Joules per add (or compare) in format ``fmt``."""
        return arithmetic_pj(self.table, "add", get_format(fmt)) * self.dynamic_scale * _PJ

    def mult_energy_j(self, fmt: str) -> float:
        """Joules per multiply in format ``fmt``."""
        return arithmetic_pj(self.table, "mult", get_format(fmt)) * self.dynamic_scale * _PJ

    def mac_energy_j(self, kind: str) -> float:
        """Joules per MAC of kind ``"a*b+acc"`` with nonzero operands: multiply + add + register traffic."""
        return self.mac_arithmetic_energy_j(kind) + self.mac_register_energy_j(kind)

    def mac_arithmetic_energy_j(self, kind: str) -> float:
        """Joules of one MAC's multiply and accumulate (what zero gating saves)."""
        return mac_arithmetic_pj(self.table, kind) * self.dynamic_scale * _PJ

    def mac_register_energy_j(self, kind: str) -> float:
        """Joules of one MAC's PE register traffic (all a zero-gated MAC costs)."""
        return mac_register_pj(self.table, kind, self.config.array.dataflow) * self.dynamic_scale * _PJ

    def vector_op_energy_j(self, kind: str) -> float:
        """Joules per element of a vector operation ``"op:format"`` (e.g. ``"relu:int8"``).

        Raises:
            ValueError: An operation the table does not price (the message lists the known ones).
        """
        return vector_op_pj(self.table, kind) * self.dynamic_scale * _PJ

    def sram_access_energy_j(self, buffer: str, word_bits: int = 64) -> float:
        """Joules per access of ``word_bits`` bits to ``buffer`` (one of ``SRAM_BUFFERS``).

        The table's access energy at the capacity of the bank an access reaches (the buffer's, or
        ``sram.bank_bytes`` when the buffer is built of smaller banks), scaled linearly from its
        word width.

        Raises:
            ValueError: An unknown buffer, or the replay buffer of a chip without one.
        """
        if buffer not in SRAM_BUFFERS:
            raise ValueError(f"unknown SRAM buffer {buffer!r}; buffers: {', '.join(SRAM_BUFFERS)}")
        capacity = getattr(self.config.sram, f"{buffer}_bytes")
        if capacity == 0:
            raise ValueError(f"{self.config.name}: sram.{buffer}_bytes = 0: the chip has no {buffer} buffer")
        bank = self.config.sram.bank_bytes
        word_pj = sram_access_pj(self.table, min(capacity, bank) if bank else capacity) * word_bits \
            / self.table.sram_access_bits
        return word_pj * self.dynamic_scale * _PJ

    @property
    def dram_energy_j_per_byte(self) -> float:
        """Joules per byte read from or written to DRAM (not scaled with the chip's node or voltage)."""
        return self.table.dram_pj_per_bit * 8 * _PJ

    @property
    def leakage_power_w(self) -> float:
        """Leakage power of the chip in watts: per-PE leakage × PEs + per-byte leakage × SRAM bytes."""
        sram, array = self.config.sram, self.config.array
        sram_bytes = sram.weight_bytes + sram.activation_bytes + sram.output_bytes + sram.replay_bytes
        watts = self.table.pe_leakage_w * array.rows * array.cols + self.table.sram_leakage_w_per_byte * sram_bytes
        return watts * self.leakage_scale

    def estimate(self, counts: EventCounts) -> EnergyReport:
        """Prices ``counts``.

        Args:
            counts: Events of this chip over some span (e.g. ``after - before`` around a training step).

        Returns:
            Joules per component and per SRAM buffer, seconds, operations.

        Raises:
            ValueError: Negative or inconsistent counts, an unknown MAC or vector kind, or SRAM traffic
                to a replay buffer the chip does not have; the message names the entry.
        """
        _check_counts(counts)
        gating = self.config.array.zero_gating
        mac_j = 0.0
        float_macs = executed_macs = 0
        for kind, macs in counts.macs_by_kind.items():
            skipped = counts.skipped_macs_by_kind.get(kind, 0)  # no arithmetic, no register traffic
            executed = macs - skipped
            gated = counts.zero_macs_by_kind.get(kind, 0) - skipped if gating else 0  # skipped MACs are zero ones
            arithmetic, register, is_float = self._price(("mac", kind), lambda k=kind: (
                self.mac_arithmetic_energy_j(k), self.mac_register_energy_j(k),
                any(f.is_float for f in parse_mac_kind(k)[:2])))
            mac_j += (executed - gated) * arithmetic + executed * register
            float_macs += macs if is_float else 0
            executed_macs += executed - gated
        for fmt, words in counts.zero_checks.items():  # the skipping array's zero detection: a compare per word
            mac_j += words * self._price(("check", fmt), lambda f=fmt: self.add_energy_j(f))
        sram_j = {}
        for buffer in SRAM_BUFFERS:
            accessed = counts.sram_read_bytes[buffer] + counts.sram_write_bytes[buffer]
            sram_j[buffer] = accessed * self._price(("sram", buffer), lambda b=buffer: self.sram_access_energy_j(
                b, 8)) if accessed else 0.0
        time_s = counts.cycles / self.frequency_hz
        breakdown = {
            "mac": mac_j,
            "sram": math.fsum(sram_j.values()),
            "dram": (counts.dram_read_bytes + counts.dram_write_bytes) * self.dram_energy_j_per_byte,
            "vector": math.fsum(n * self._price(("vector", kind), lambda k=kind: self.vector_op_energy_j(k))
                                for kind, n in counts.vector_ops.items()),
            "leakage": self.leakage_power_w * time_s,
        }
        return EnergyReport(breakdown_j=breakdown, sram_breakdown_j=sram_j, time_s=time_s,
                            ops=2 * counts.macs, float_ops=2 * float_macs, executed_ops=2 * executed_macs)

    def peak_tops_per_w(self) -> float:
        """The array's peak efficiency: tera-operations per second per watt at full utilisation and
        the declared densities (``[sparsity]``), chip energy of the MACs only.

        A forward GEMM's MAC (activations × weights) costs on average: PE register traffic unless
        skipped (a group-skipping array skips ``1 − weight_density`` of them, pruned in whole groups;
        an element-skipping one every MAC with a zero operand, all but ``activation_density ×
        weight_density``), and arithmetic unless skipped or zero-gated (a gating array runs it for
        ``activation_density × weight_density``). Operations are dense-equivalent (two per MAC,
        skipped ones included), as published peaks count them; the zero detection, one compare per
        operand word, is shared by the MACs that word feeds and left out (it vanishes at full
        utilisation).
        """
        f, sparsity = self.config.formats, self.config.sparsity
        kind = mac_kind(f.activation, f.weight, f.accumulator)
        both_nonzero = sparsity.activation_density * sparsity.weight_density
        executed = {"group": sparsity.weight_density, "element": both_nonzero}.get(sparsity.skipping, 1.0)
        computed = min(executed, both_nonzero) if self.config.array.zero_gating else executed
        mac_j = executed * self.mac_register_energy_j(kind) + computed * self.mac_arithmetic_energy_j(kind)
        return 2 / mac_j / 1e12


def _check_counts(counts: EventCounts) -> None:
    """Raises unless every count is ≥ 0 and the per-kind MAC counts agree with the totals."""
    for name in ("cycles", "macs", "zero_macs", "skipped_macs", "dram_read_bytes", "dram_write_bytes"):
        if getattr(counts, name) < 0:
            raise ValueError(f"EventCounts.{name} = {getattr(counts, name)} is negative")
    for name in ("macs_by_kind", "zero_macs_by_kind", "skipped_macs_by_kind", "sram_read_bytes", "sram_write_bytes",
                 "vector_ops", "zero_checks"):
        for key, value in getattr(counts, name).items():
            if value < 0:
                raise ValueError(f"EventCounts.{name}[{key!r}] = {value} is negative")
    for total, by_kind in (("macs", "macs_by_kind"), ("zero_macs", "zero_macs_by_kind"),
                           ("skipped_macs", "skipped_macs_by_kind")):
        kinds_sum = sum(getattr(counts, by_kind).values())
        if kinds_sum != getattr(counts, total):
            raise ValueError(f"EventCounts.{by_kind} sums to {kinds_sum} but {total} = {getattr(counts, total)}")
    for kind, zero in counts.zero_macs_by_kind.items():
        if zero > counts.macs_by_kind.get(kind, 0):
            raise ValueError(f"EventCounts.zero_macs_by_kind[{kind!r}] = {zero} exceeds macs_by_kind "
                             f"({counts.macs_by_kind.get(kind, 0)})")
    for kind, skipped in counts.skipped_macs_by_kind.items():
        if skipped > counts.zero_macs_by_kind.get(kind, 0):
            raise ValueError(f"EventCounts.skipped_macs_by_kind[{kind!r}] = {skipped} exceeds zero_macs_by_kind "
                             f"({counts.zero_macs_by_kind.get(kind, 0)}): a skipped MAC has a zero operand")
