"""The simulated chip: hardware description, number formats, kernels and the cycle-level array."""

from accel.accelerator import Accelerator
from accel.config import AcceleratorConfig, Dataflow, list_presets, load_config
from accel.counts import EventCounts

__all__ = ["Accelerator", "AcceleratorConfig", "Dataflow", "EventCounts", "list_presets", "load_config"]
