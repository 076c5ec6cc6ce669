"""Chips for the agents' tests."""

from accel import Accelerator, load_config
from accel.config import with_overrides

FP32 = {"formats.weight": "fp32", "formats.activation": "fp32", "formats.gradient": "fp32",
        "formats.accumulator": "fp32", "formats.rounding": "nearest", "formats.master_weight": "fp32"}
FIXED16_8 = {"formats.weight": "fixed16_8", "formats.activation": "fixed16_8", "formats.gradient": "fixed16_8",
             "formats.accumulator": "fixed32_16", "formats.scaling": "none", "formats.rounding": "nearest",
             "formats.master_weight": "fp32"}


def chip(preset: str = "edge-bf16", seed: int = 0, **formats) -> Accelerator:
    """A preset chip with some ``[formats]`` replaced (dotted keys as ``with_overrides`` takes them)."""
    return Accelerator(with_overrides(load_config(preset), formats), seed=seed)


def fp32_chip() -> Accelerator:
    """A chip whose every format is fp32: its values must equal torch's to float32 rounding."""
    return chip(**FP32)
