"""Number formats, exact quantization and exact multiply-accumulate arithmetic."""

from accel.numerics.formats import FORMAT_NAMES, NumberFormat, get_format
from accel.numerics.gemm import GemmResult, gemm_fixed, gemm_float
from accel.numerics.quantize import ROUNDING_MODES, quantize, quantize_codes

__all__ = [
    "FORMAT_NAMES",
    "ROUNDING_MODES",
    "GemmResult",
    "NumberFormat",
    "gemm_fixed",
    "gemm_float",
    "get_format",
    "quantize",
    "quantize_codes",
]
