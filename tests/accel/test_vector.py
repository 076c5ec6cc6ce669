"""The vector unit's jitted programs against its step-by-step definition, bit for bit.

Values, every count (saturations and NaN/inf included) and the chip's random stream after
the operation must equal what ``vector_reference.ReferenceVectorUnit`` (each step rounded by
``Accelerator.round_into``) gives, on the formats of every preset, both roundings, both scalings.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import philox_words, stochastic_ref
from test_quantize import same_bits
from vector_reference import ReferenceVectorUnit

from accel import Accelerator, list_presets, load_config
from accel.config import with_overrides
from accel.numerics import elementwise as ew
from accel.numerics import get_format, quantize
from accel.numerics.philox import RandomStream
from accel.numerics.requantize import round_pairs

PRESETS = list_presets()
OPS = ["relu", "relu_grad", "tanh", "tanh_grad", "add", "mul", "fma", "scale", "maximum", "minimum", "sum_rows",
       "huber", "mse", "sgd_momentum", "adam", "polyak"]
SPECIALS = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -3e-39, 1e-8, 65504.0, 448.0, 3e38, 2.0**-133, 0.5, 1.5]


def _config(preset: str, rounding: str, scaling: str, master: str, block: int = 32):
    """``preset`` with ``rounding`` everywhere, the master-weight format's arithmetic included (a
    ``block_pow2`` chip with a wide enough accumulator)."""
    overrides = {"formats.rounding": rounding, "formats.master_rounding": rounding, "formats.scaling": scaling,
                 "formats.master_weight": master, "formats.block": block}
    if scaling == "block_pow2" and not get_format(load_config(preset).formats.accumulator).is_float:
        overrides["formats.accumulator"] = "fixed64_0"
    return with_overrides(load_config(preset), overrides)


def _call(unit, op: str, xs: list[np.ndarray], step: int):
    x, y, z, v = xs
    calls = {
        "relu": lambda: unit.relu(x), "relu_grad": lambda: unit.relu_grad(x, y), "tanh": lambda: unit.tanh(x),
        "tanh_grad": lambda: unit.tanh_grad(x, y), "add": lambda: unit.add(x, y), "mul": lambda: unit.mul(x, y),
        "fma": lambda: unit.fma(x, y, z), "scale": lambda: unit.scale(x, 0.3), "maximum": lambda: unit.maximum(x, y),
        "minimum": lambda: unit.minimum(x, y), "sum_rows": lambda: unit.sum_rows(x),
        "huber": lambda: unit.huber(x, y, delta=0.75), "mse": lambda: unit.mse(x, y),
        "sgd_momentum": lambda: unit.sgd_momentum(x, y, z, lr=0.01, momentum=0.9),
        "adam": lambda: unit.adam(x, y, z, np.abs(v), step=step, lr=1e-3),
        "polyak": lambda: unit.polyak(x, y, tau=0.005),
    }
    out = calls[op]()
    return out if isinstance(out, tuple) else (out,)


def assert_same_as_reference(cfg, op: str, xs: list[np.ndarray], step: int = 1, seed: int = 0) -> None:
    chip, ref = Accelerator(cfg, seed=seed), Accelerator(cfg, seed=seed)
    with np.errstate(all="ignore"):  # the reference's numpy steps warn on inf and NaN
        got, want = _call(chip.vector, op, xs, step), _call(ReferenceVectorUnit(ref), op, xs, step)
    for g, w in zip(got, want, strict=True):
        if isinstance(w, float):  # a mean loss
            assert g == w or (np.isnan(g) and np.isnan(w))
        else:
            assert same_bits(g, w), (op, g, w)
    assert chip.counts == ref.counts
    assert chip.rng.state() == ref.rng.state()


@st.composite
def tensors(draw):
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(4):
        scale = draw(st.sampled_from([1e-30, 1e-6, 1e-2, 1.0, 30.0, 1e4, 1e30]))
        x = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
        special = rng.random((rows, cols)) < draw(st.sampled_from([0.0, 0.2]))
        x[special] = rng.choice(SPECIALS, int(special.sum()))
        out.append(x)
    return out


@settings(max_examples=250, deadline=None)
@given(op=st.sampled_from(OPS), preset=st.sampled_from(PRESETS), rounding=st.sampled_from(["nearest", "stochastic"]),
       scaling=st.sampled_from(["tensor_pow2", "block_pow2", "none"]), block=st.sampled_from([1, 2, 5, 32]),
       master=st.sampled_from(["fp32", "none"]), xs=tensors(), step=st.integers(1, 3), seed=st.integers(0, 3))
def test_property_programs_equal_the_step_by_step_definition(op, preset, rounding, scaling, block, master, xs, step,
                                                             seed):
    assert_same_as_reference(_config(preset, rounding, scaling, master, block), op, xs, step, seed)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_every_operation_on_every_preset_with_special_values(preset, rounding):
    rng = np.random.default_rng(len(preset))
    xs = [(rng.standard_normal((5, 7)) * 4).astype(np.float32) for _ in range(4)]
    for i, x in enumerate(xs):
        x.ravel()[i::4][:len(SPECIALS)] = SPECIALS[:len(x.ravel()[i::4])]
    for op in OPS:
        assert_same_as_reference(_config(preset, rounding, "tensor_pow2", "fp32"), op, xs, step=2)


def test_float64_inputs_and_wide_fixed_point_outputs():
    cfg = with_overrides(load_config("edge-fixed16"), {"formats.activation": "fixed32_16",
                                                       "formats.accumulator": "fixed64_0"})
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((3, 4)) * 100 for _ in range(4)]  # float64, as a caller may pass them
    for op in ["relu", "add", "fma", "scale", "maximum"]:
        assert_same_as_reference(cfg, op, xs)
    assert Accelerator(cfg).vector.add(xs[0], xs[1]).dtype == np.float64


def _tied_word(key: int) -> tuple[int, int]:
    """A main word ``w`` of the stream ``key`` and its value."""
    w = 1000 + key
    return w, int(philox_words(key, w, 1)[0])


@pytest.mark.parametrize("fmt, step", [("fp32", 2.0**-149), ("bf16", 2.0**-133), ("int8", 1.0)])
@pytest.mark.parametrize("key", [1, 2, 3])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_open_stochastic_decisions_read_their_further_words(fmt, step, key, sign):
    # a value below the format's step whose first 32 bits (in units of the step) are its main word:
    # the decision goes on with the further words of that word (round_step and round_pairs both)
    f = get_format(fmt)
    w, word = _tied_word(key)
    tied = sign * (2 * word + 1) * 2.0**-33 * step  # 33 bits: exact in float64
    x = np.array([tied, 1.0 + 2.0**-30, -tied, tied])
    want = stochastic_ref(x, fmt, key, w).astype(np.float64)
    params = ew.format_params(f, False, True)
    state = np.zeros(ew.STATE_SIZE, np.int64)
    got = x.copy()
    ew.round_step(got, params, np.array([key, w], np.uint64), state)
    assert same_bits(got, want) and int(state[1]) == x.size
    sig, exp = np.frexp(x)
    pairs = round_pairs(np.ldexp(sig, 53).astype(np.int64), exp.astype(np.int64) - 53, f, RandomStream(key, w))
    assert same_bits(pairs * (1.0 if f.is_float else step), want)


@pytest.mark.parametrize("fmt", ["fp32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "int8", "fixed16_8"])
@pytest.mark.parametrize("stochastic", [False, True])
@pytest.mark.parametrize("special", [None, -0.0, np.nan, np.inf, 1e6, 1e-42])
def test_a_tensor_already_in_the_format_rounds_to_itself(fmt, stochastic, special):
    # the shortcut for tensors already in the format (two passes, no words) against round_pairs, with one
    # special value that the shortcut must leave to the full rounding (or, −0, turn into +0)
    f = get_format(fmt)
    x = quantize((np.random.default_rng(4).standard_normal(600) * 3).astype(np.float32), fmt).astype(np.float64)
    x[[5, 17]] = [f.smallest_step, -f.smallest_step]  # the smallest subnormal (floats), one code (fixed point)
    if special is not None:
        x[300] = special
    key, w = 77, 1234
    state = np.zeros(ew.STATE_SIZE, np.int64)
    got = x.copy()
    ew.round_step(got, ew.format_params(f, False, stochastic), np.array([key, w], np.uint64), state)
    finite = np.isfinite(x)
    sig, exp = np.frexp(np.where(finite, x, 0.0))
    want = round_pairs(np.ldexp(sig, 53).astype(np.int64), exp.astype(np.int64) - 53, f,
                       RandomStream(key, w) if stochastic else None, 0 if f.is_float else -f.frac_bits)
    want = want * (1.0 if f.is_float else f.smallest_step)
    if not finite.all():  # round_into's specials: NaN stays (fixed point: 0), inf saturates where the format has none
        want[300] = (x[300] if f.has_inf else np.nan) if f.is_float else 0.0
        if np.isinf(x[300]):
            want[300] = x[300] if f.has_inf else (f.max_value if f.is_float else f.max_code * f.smallest_step)
    assert same_bits(got, want.astype(np.float64)) and int(state[1]) == (x.size if stochastic else 0)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("preset", ["edge-int8", "edge-fp8"])
def test_an_operation_uses_the_same_words_whatever_its_values(op, preset):
    # one word per rounded element of every step and per rounded constant: a count fixed by the operation
    cfg = _config(preset, "stochastic", "tensor_pow2", "fp32")
    used = set()
    for scale in (1e-3, 1.0, 1e30):
        chip = Accelerator(cfg)
        xs = [(np.random.default_rng(i).standard_normal((3, 5)) * scale).astype(np.float32) for i in range(4)]
        with np.errstate(all="ignore"):
            _call(chip.vector, op, xs, step=2)
        used.add(chip.rng.counter)
    assert len(used) == 1 and used.pop() > 0


@pytest.mark.parametrize("master", ["fp32", "none"])
def test_master_rounding_applies_to_the_master_formats_arithmetic_only(master):
    # stochastic chip, default master_rounding "nearest": with fp32 masters Adam rounds half to even (no words,
    # the nearest-rounding values) while the master copy's rounding into int8 stays stochastic; without
    # masters the update computes in int8 and rounds as ``rounding`` says
    cfg = with_overrides(load_config("edge-int8"), {"formats.master_weight": master})
    assert cfg.formats.rounding == "stochastic" and cfg.formats.master_rounding == "nearest"
    nearest = with_overrides(cfg, {"formats.rounding": "nearest"})
    xs = [np.random.default_rng(i).standard_normal((8, 16)).astype(np.float32) for i in range(4)]
    chip, reference = Accelerator(cfg), Accelerator(nearest)
    got, want = chip.vector.adam(*xs, step=2, lr=1e-3), reference.vector.adam(*xs, step=2, lr=1e-3)
    if master == "fp32":
        assert chip.rng.counter == 0 and all(same_bits(g, w) for g, w in zip(got, want, strict=True))
        chip.vector.quantize(xs[0], "weight")
        assert chip.rng.counter == xs[0].size
    else:
        assert chip.rng.counter > 0 and not all(same_bits(g, w) for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize("preset, fmt", [("edge-bf16", "bf16"), ("edge-bf16", "fp32")])
def test_a_sum_that_rounds_to_the_largest_value_still_counts_a_saturation(preset, fmt):
    # max + a little rounds to max in the format, but round_into saw a value beyond the range
    top = np.float32(get_format(fmt).max_value)
    x = np.array([[top, -top, 1.0, -0.0]], np.float32)
    y = np.array([[np.float32(2.0**100), -np.float32(2.0**100), -1.0, -0.0]], np.float32)
    cfg = _config(preset, "nearest", "tensor_pow2", "fp32")
    role_cfg = with_overrides(cfg, {"formats.activation": fmt})
    for op in ("add", "mul", "relu", "maximum"):
        assert_same_as_reference(role_cfg, op, [x, y, x, y])
    chip = Accelerator(role_cfg)
    got = chip.vector.add(x, y)
    assert got[0, :2].tolist() == [top, -top] and chip.counts.saturations == 2
    assert got[0, 2] == 0.0 and not np.signbit(got[0, 2:]).any()  # exact zero sums are +0.0


@pytest.mark.parametrize("preset", ["edge-int8", "edge-fp8"])
def test_stochastic_adam_in_one_pass_equals_the_definition(preset):
    rng = np.random.default_rng(11)
    xs = [(rng.standard_normal((16, 33)) * s).astype(np.float32) for s in (0.1, 1e-2, 1e-3, 1e-4)]
    cfg = _config(preset, "stochastic", "tensor_pow2", "fp32")
    params = ew.format_params(get_format("fp32"), True, True)
    outs = [np.empty(xs[0].size, np.float32) for _ in range(3)]
    flat = [x.reshape(-1) for x in xs]
    flat[3] = np.abs(flat[3])
    assert ew.fused_adam_stochastic(*flat, 1e-3, 0.9, 0.999, 1e-8, 0.271, 0.003, params, np.array([5, 3], np.uint64),
                                    np.zeros(ew.STATE_SIZE, np.int64), *outs)  # the one-pass kernel applies
    assert_same_as_reference(cfg, "adam", xs, step=3, seed=2)


def _pow2_int8(x: np.ndarray) -> np.ndarray:
    """int8 under tensor_pow2, rounded to nearest even: the smallest power-of-two step whose 127 codes hold max |x|."""
    step = 2.0 ** np.ceil(np.log2(np.max(np.abs(x.astype(np.float64))) / 127))
    return (np.clip(np.round(x / step), -128, 127) * step).astype(np.float32)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_quantize_rounds_once_into_the_role_format(preset, rounding):
    cfg = _config(preset, rounding, "tensor_pow2", "fp32")
    chip, ref = Accelerator(cfg, seed=3), Accelerator(cfg, seed=3)
    x = (np.random.default_rng(len(preset)).standard_normal((5, 7)) * 3).astype(np.float32)
    fmt = chip.format_of("weight")
    got = chip.vector.quantize(x)
    assert same_bits(got, ref.round_into(x, fmt).astype(fmt.value_dtype))
    assert chip.rng.state() == ref.rng.state()
    assert chip.counts.vector_ops[f"quantize:{fmt.name}"] == x.size
    if rounding == "stochastic":  # one of the two neighbours on the format's grid, not always the nearer
        assert not np.array_equal(got, Accelerator(with_overrides(cfg, {"formats.rounding": "nearest"})).vector
                                  .quantize(x))
    else:
        assert not np.array_equal(got, x)  # it did round
    again = chip.vector.quantize(got)
    assert same_bits(again, got)  # already in the format: unchanged, whatever the rounding
    assert chip.counts.vector_ops[f"quantize:{fmt.name}"] == 2 * x.size
    special = np.array([[1e6, -np.inf, np.nan, 0.3]], np.float32)  # beyond every narrow format, and specials
    ref.round_into(got, fmt)
    assert same_bits(chip.vector.quantize(special), ref.round_into(special, fmt).astype(fmt.value_dtype))
    assert chip.rng.state() == ref.rng.state() and chip.counts.saturations == ref.counts.saturations


def test_quantize_equals_numpy_int8_and_counts_saturations_and_nonfinite():
    chip = Accelerator(_config("edge-int8", "nearest", "tensor_pow2", "fp32"))
    x = (np.random.default_rng(0).standard_normal((4, 6)) * 0.4).astype(np.float32)
    assert same_bits(chip.vector.quantize(x), _pow2_int8(x))
    fp8 = Accelerator(_config("edge-fp8", "nearest", "tensor_pow2", "fp32"))
    before = fp8.counts
    out = fp8.vector.quantize(np.array([1.0, 1000.0, np.nan], np.float32))
    spent = fp8.counts - before
    assert out[0] == 1.0 and out[1] == 448.0 and np.isnan(out[2])
    assert spent.saturations == 1 and spent.nonfinite == 1


@pytest.mark.parametrize("preset", ["edge-bf16", "edge-int8"])
def test_adam_with_subnormal_moments_takes_the_float64_route_with_the_same_bits(preset):
    # Adam's first moment of a weight whose gradient stays 0 decays to fp32's smallest subnormal and stays
    # there; with more than 1/16 of a moment subnormal the update runs in float64 arithmetic, where those
    # values are normal: the same bits and counts as the definition, and as the float32 kernel
    rng = np.random.default_rng(5)
    w, g, m = (rng.standard_normal((16, 32)).astype(np.float32) * s for s in (1.0, 1e-3, 1e-4))
    v = np.abs(rng.standard_normal((16, 32)).astype(np.float32)) * np.float32(1e-6)
    g[:4] = 0.0
    m[:4] = np.float32(2.0**-149) * rng.integers(1, 5, (4, 32)).astype(np.float32)  # 1/4 of m subnormal
    assert ew.subnormal_heavy(m.reshape(-1)) and not ew.subnormal_heavy(m[4:].reshape(-1))
    assert_same_as_reference(_config(preset, "nearest", "tensor_pow2", "fp32"), "adam", [w, g, m, v], step=7)
    params = ew.format_params(get_format("fp32"), False, False)
    consts = (1e-3, 0.9, 0.999, 1e-8, 1 - 0.9**7, 1 - 0.999**7, params)
    routes = []
    for kernel in (ew.fused_adam, ew.fused_adam_fp32):
        outs = [np.empty(w.size, np.float32) for _ in range(3)]
        counts = kernel(*(x.reshape(-1) for x in (w, g, m, v)), *consts, *outs)
        routes.append((outs, counts[:2]))
    (outs64, counts64), (outs32, counts32) = routes
    assert counts64 == counts32 and all(same_bits(a, b) for a, b in zip(outs64, outs32, strict=True))
