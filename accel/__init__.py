"""The simulated chip: hardware description, number formats, kernels and the cycle-level array."""

from accel.config import AcceleratorConfig, Dataflow, list_presets, load_config

__all__ = ["AcceleratorConfig", "Dataflow", "list_presets", "load_config"]
