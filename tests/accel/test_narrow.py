"""The float32-lane kernels (``accel.numerics.narrow``) against the float64 ``fused_*`` kernels, bit for bit.

Wherever a lane kernel reports that it produced the results, they must be the float64 kernel's,
which must then have counted no saturation and no NaN/inf; on the values it leaves (beyond the
range, NaN, tiny bf16 products) it must decline. The inputs aim at the edges of each format:
ties between two neighbours, the subnormal boundary, the largest value, overflow, ±0 and NaN.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_quantize import same_bits

from accel.numerics import elementwise as ew
from accel.numerics import get_format, narrow

FORMATS = ["bf16", "fp16", "fp8_e4m3", "fp8_e5m2"]
OPS = {  # name: (lane kernel, float64 kernel, tensors read, constant)
    "relu": (narrow.relu, ew.fused_relu, 1, None), "relu_grad": (narrow.relu_grad, ew.fused_relu_grad, 2, None),
    "add": (narrow.add, ew.fused_add, 2, None), "mul": (narrow.mul, ew.fused_mul, 2, None),
    "fma": (narrow.fma, ew.fused_fma, 3, None), "scale": (narrow.scale, ew.fused_scale, 1, "factor"),
    "maximum": (narrow.maximum, ew.fused_maximum, 2, None), "minimum": (narrow.minimum, ew.fused_minimum, 2, None),
    "tanh_grad": (narrow.tanh_grad, ew.fused_tanh_grad, 2, None), "sum_rows": (narrow.sum_rows, ew.fused_sum_rows, 1,
                                                                              "cols"),
}


def _edges(name: str) -> list[float]:
    """Values at the edges of the format: its smallest steps, the subnormal boundary, the largest
    value and the ties around each, zeros and the non-finite values."""
    f = get_format(name)
    normal, step, top = 2.0**f.min_exponent, f.smallest_step, f.max_value
    ulp_top = 2.0 ** (np.floor(np.log2(top)) - f.mantissa_bits)
    return [0.0, -0.0, step, step / 2, 1.5 * step, normal, normal - step / 2, normal + step / 2, normal - step,
            top, top + ulp_top / 2, top - ulp_top / 2, top + ulp_top, 1.0, 1.0 + 2.0**-f.mantissa_bits / 2,
            np.inf, -np.inf, np.nan, float(np.finfo(np.float32).max), 2.0**-149, 2.0**-126]


@st.composite
def values(draw, name: str) -> float:
    """A float32 value near the format's grid: a format value, a tie between two, an edge, or a tiny value."""
    f = get_format(name)
    kind = draw(st.sampled_from(["grid", "tie", "near", "edge", "small"]))
    if kind == "edge":
        v = draw(st.sampled_from(_edges(name)))
    elif kind == "small":  # products of two of these fall below float32's normal range, or to zero in it
        v = draw(st.integers(1, 255)) * 2.0 ** -draw(st.integers(40, 100))
    else:
        exponent = draw(st.integers(f.min_exponent - 1, int(np.log2(f.max_value))))
        sig = draw(st.integers(1 << f.mantissa_bits, (2 << f.mantissa_bits) - 1))
        quantum = 2.0 ** (max(exponent, f.min_exponent) - f.mantissa_bits)
        v = sig * quantum * 2.0 ** (exponent - max(exponent, f.min_exponent))
        v += {"grid": 0.0, "tie": quantum / 2, "near": quantum / 2 + quantum / 1024}[kind]
    with np.errstate(over="ignore"):  # beyond float32: inf
        return float(np.float32(-v if draw(st.booleans()) else v))


@st.composite
def cases(draw):
    name = draw(st.sampled_from(FORMATS))
    op = draw(st.sampled_from(sorted(OPS)))
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 9))
    ordinary = draw(st.booleans())  # only grid values and ties: the lane kernel must take most of these
    element = values(name).filter(lambda v: not ordinary or abs(v) < 0.5 * get_format(name).max_value)
    tensors = [np.array(draw(st.lists(element, min_size=rows * cols, max_size=rows * cols)), np.float32)
               for _ in range(OPS[op][2])]
    return name, op, tensors, cols, draw(values(name))


def _run_both(name: str, op: str, tensors: list[np.ndarray], cols: int, factor: float):
    lanes, fused, _, const = OPS[op]
    fmt = get_format(name)
    params, lane_params = ew.format_params(fmt, False, False), narrow.lane_params(fmt)
    consts = {"factor": (factor,), "cols": (cols,), None: ()}[const]
    size = cols if op == "sum_rows" else tensors[0].size
    want, got = np.empty(size, np.float32), np.empty(size, np.float32)
    with np.errstate(all="ignore"):
        saturations, nonfinite = fused(*tensors, *consts, params, want)
        taken = lanes(*tensors, *consts, params, lane_params, got)
    return bool(taken), got, want, saturations, nonfinite


@settings(max_examples=600, deadline=None)
@given(case=cases())
def test_lane_kernels_equal_the_float64_kernels_where_they_apply(case):
    taken, got, want, saturations, nonfinite = _run_both(*case)
    if taken:
        assert same_bits(got, want), (case, got, want)
        assert saturations == 0 and nonfinite == 0


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("op", sorted(OPS))
def test_ordinary_values_take_the_lanes_and_edges_leave_them(name, op):
    rng = np.random.default_rng(7)
    tensors = [rng.standard_normal(48).astype(np.float32) for _ in range(OPS[op][2])]
    taken, got, want, _, _ = _run_both(name, op, tensors, 6, 0.3)
    assert taken and same_bits(got, want)
    top = np.float32(get_format(name).max_value)
    for special in (np.nan, top, -np.inf):  # a saturation or a NaN to count: the float64 kernel counts it
        edged = [t.copy() for t in tensors]
        edged[0][5] = special
        assert not _run_both(name, op, edged, 6, 0.3)[0]


def test_a_product_below_float32s_normal_range_leaves_the_lanes():
    x = np.array([2.0**-70, 1.0, -(2.0**-64)], np.float32)  # products of 2**-134 and below: bf16 rounds them
    y = np.array([2.0**-64, 1.0, 2.0**-70], np.float32)
    for op in ("mul", "fma"):
        assert not _run_both("bf16", op, [x, y, y][:OPS[op][2]], 3, 0.3)[0]


def test_lane_params_only_for_narrow_float_formats():
    assert narrow.lane_params(get_format("fp32")) is None and narrow.lane_params(get_format("int8")) is None
    assert all(narrow.lane_params(get_format(name)) is not None for name in FORMATS)
