"""What a run of the chip cost: joules per component, time, power and operations. Reports add up."""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from accel.counts import SRAM_BUFFERS

COMPONENTS = ("mac", "sram", "dram", "vector", "leakage")
"""Keys of ``EnergyReport.breakdown_j``."""


def _zeros(keys: tuple[str, ...]) -> Mapping[str, float]:
    return MappingProxyType(dict.fromkeys(keys, 0.0))


@dataclass(frozen=True, slots=True)
class EnergyReport:
    """Energy of some span of the chip's work (a GEMM, a training step, an episode, a run).

    ``EnergyReport()`` is the empty report; ``a + b`` is the report of both spans, so
    ``sum(reports, EnergyReport())`` totals steps into an episode and episodes into a run.

    Attributes:
        breakdown_j: Joules per component (:data:`COMPONENTS`): ``mac`` (array arithmetic and PE
            register traffic), ``sram`` (all buffers), ``dram``, ``vector`` (vector unit), ``leakage``.
        sram_breakdown_j: Joules per SRAM buffer (``accel.counts.SRAM_BUFFERS``); sums to ``breakdown_j["sram"]``.
        time_s: Seconds elapsed (cycles over the clock frequency).
        ops: Operations of the array, 2 per MAC (a multiply and an add), skipped and gated ones
            included: the dense-equivalent work published efficiencies quote (OmniDRL and LNPU count
            skipped operations).
        float_ops: Of ``ops``, those of MACs with a float operand (FLOPs).
        executed_ops: Of ``ops``, those whose arithmetic ran: neither skipped nor zero-gated.
    """

    breakdown_j: Mapping[str, float] = field(default_factory=lambda: _zeros(COMPONENTS))
    sram_breakdown_j: Mapping[str, float] = field(default_factory=lambda: _zeros(SRAM_BUFFERS))
    time_s: float = 0.0
    ops: int = 0
    float_ops: int = 0
    executed_ops: int = 0

    def __post_init__(self) -> None:
        for name, keys in (("breakdown_j", COMPONENTS), ("sram_breakdown_j", SRAM_BUFFERS)):
            mapping = getattr(self, name)
            if set(mapping) != set(keys):
                raise ValueError(f"EnergyReport.{name} must have exactly the keys {', '.join(keys)}, "
                                 f"got {', '.join(mapping)}")
            object.__setattr__(self, name, MappingProxyType({key: float(mapping[key]) for key in keys}))

    @property
    def energy_j(self) -> float:
        """Total joules: the sum of ``breakdown_j``."""
        return math.fsum(self.breakdown_j.values())

    @property
    def power_w(self) -> float:
        """Average power of the system in watts, DRAM included: ``energy_j / time_s`` (0 when no time
        elapsed)."""
        return self.energy_j / self.time_s if self.time_s > 0 else 0.0

    @property
    def chip_energy_j(self) -> float:
        """Joules of the chip alone: every component but DRAM (a separate die), as published chip
        efficiencies are measured at the chip's supply."""
        return math.fsum(v for key, v in self.breakdown_j.items() if key != "dram")

    @property
    def chip_power_w(self) -> float:
        """Average power of the chip alone in watts: ``chip_energy_j / time_s``."""
        return self.chip_energy_j / self.time_s if self.time_s > 0 else 0.0

    @property
    def ops_per_j(self) -> float:
        """Operations per joule (0 when no energy was spent)."""
        energy_j = self.energy_j
        return self.ops / energy_j if energy_j > 0 else 0.0

    @property
    def tops_per_w(self) -> float:
        """Tera-operations per second per watt (= ``ops_per_j / 1e12``); TFLOPS/W when ``ops_unit`` says so."""
        return self.ops_per_j / 1e12

    @property
    def chip_tops_per_w(self) -> float:
        """``ops`` per joule of the chip alone (``chip_energy_j``), in tera: the figure published chips quote."""
        chip_j = self.chip_energy_j
        return self.ops / chip_j / 1e12 if chip_j > 0 else 0.0

    @property
    def executed_tops_per_w(self) -> float:
        """``executed_ops`` per joule of the whole system, in tera: the efficiency of the arithmetic that ran."""
        energy_j = self.energy_j
        return self.executed_ops / energy_j / 1e12 if energy_j > 0 else 0.0

    @property
    def ops_unit(self) -> str:
        """``"TFLOPS/W"`` when every MAC had a float operand, else ``"TOPS/W"``: the unit of ``tops_per_w``."""
        return "TFLOPS/W" if self.ops > 0 and self.float_ops == self.ops else "TOPS/W"

    def __add__(self, other: "EnergyReport") -> "EnergyReport":
        if not isinstance(other, EnergyReport):
            return NotImplemented
        return EnergyReport(
            breakdown_j={key: self.breakdown_j[key] + other.breakdown_j[key] for key in COMPONENTS},
            sram_breakdown_j={key: self.sram_breakdown_j[key] + other.sram_breakdown_j[key] for key in SRAM_BUFFERS},
            time_s=self.time_s + other.time_s,
            ops=self.ops + other.ops,
            float_ops=self.float_ops + other.float_ops,
            executed_ops=self.executed_ops + other.executed_ops,
        )

    def to_dict(self) -> dict:
        """Plain-JSON form, derived figures included."""
        return {
            "energy_j": self.energy_j,
            "breakdown_j": dict(self.breakdown_j),
            "sram_breakdown_j": dict(self.sram_breakdown_j),
            "time_s": self.time_s,
            "power_w": self.power_w,
            "chip_energy_j": self.chip_energy_j,
            "chip_power_w": self.chip_power_w,
            "ops": self.ops,
            "float_ops": self.float_ops,
            "ops_per_j": self.ops_per_j,
            "tops_per_w": self.tops_per_w,
            "ops_unit": self.ops_unit,
            "executed_ops": self.executed_ops,
            "executed_tops_per_w": self.executed_tops_per_w,
            "chip_tops_per_w": self.chip_tops_per_w,
        }
