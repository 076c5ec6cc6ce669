"""The energy model: prices the chip's event counts in joules (``EnergyModel(config).estimate(counts)``)."""

from energy.model import EnergyModel
from energy.report import COMPONENTS, EnergyReport

__all__ = ["COMPONENTS", "EnergyModel", "EnergyReport"]
