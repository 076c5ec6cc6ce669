"""Tests of the hardware description: presets, defaults, round trips, overrides and every validation error."""

import dataclasses
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import AcceleratorConfig, Dataflow, list_presets, load_config
from accel.config import (
    ArrayConfig,
    ClockConfig,
    DramConfig,
    EnergyConfig,
    FormatsConfig,
    SramConfig,
    VectorConfig,
    config_from_dict,
    config_to_dict,
    config_to_toml,
    with_overrides,
)

REQUIRED_PRESETS = ["cnpu2019", "edge-bf16", "edge-fixed16", "edge-fp8", "edge-int8", "omnidrl"]


def _formats(weight, activation, gradient, accumulator, scaling="tensor_pow2"):
    return {"name": "t", "formats": {"weight": weight, "activation": activation, "gradient": gradient,
                                     "accumulator": accumulator, "scaling": scaling}}


def test_required_presets_are_listed():
    assert set(REQUIRED_PRESETS) <= set(list_presets())


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_loads_and_round_trips(name):
    cfg = load_config(name)
    assert cfg.name == name
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_edge_int8_is_the_design_example():
    cfg = load_config("edge-int8")
    assert cfg.array == ArrayConfig(16, 16, Dataflow.WS, transposable=True)
    assert cfg.formats == FormatsConfig("int8", "int8", "int8", "int32", "tensor_pow2", "stochastic", "fp32")
    assert cfg.sram == SramConfig(65536, 65536, 32768, 0)
    assert cfg.dram == DramConfig(16.0, 100)
    assert cfg.clock == ClockConfig(200e6, 0.8)
    assert cfg.energy.node_nm == 28.0


def test_published_chip_presets():
    omni, cnpu = load_config("omnidrl"), load_config("cnpu2019")
    assert omni.energy.node_nm == 28 and omni.array.transposable
    assert cnpu.array.transposable and cnpu.array.rows * cnpu.array.cols == 256
    assert load_config("edge-fp8").formats.gradient == "fp8_e5m2"
    assert load_config("edge-fixed16").formats.weight == "int16"


def test_defaults_describe_a_small_edge_chip():
    cfg = config_from_dict({"name": "minimal"})
    assert cfg == AcceleratorConfig(name="minimal")
    assert cfg == dataclasses.replace(load_config("edge-int8"), name="minimal")
    assert (cfg.array.rows, cfg.array.cols, cfg.array.dataflow) == (16, 16, Dataflow.WS)
    assert cfg.formats.weight == "int8" and cfg.formats.accumulator == "int32"
    assert cfg.clock == ClockConfig(frequency_hz=200e6, voltage_v=0.8)
    assert cfg.energy == EnergyConfig(node_nm=28.0, table="")
    assert cfg.vector == VectorConfig(16)


def test_file_with_only_name_and_array(tmp_path):
    path = tmp_path / "chip.toml"
    path.write_text('name = "mini"\n[array]\nrows = 8\ncols = 4\ndataflow = "os"\ntransposable = false\n')
    cfg = load_config(path)
    assert cfg.array == ArrayConfig(8, 4, Dataflow.OS, transposable=False)
    assert cfg.sram == SramConfig()
    assert load_config(str(path)) == cfg


def test_ints_accepted_for_floats():
    cfg = config_from_dict({"name": "t", "clock": {"frequency_hz": 100_000_000, "voltage_v": 1}})
    assert cfg.clock.frequency_hz == 1e8 and isinstance(cfg.clock.voltage_v, float)


def test_toml_text_round_trips(tmp_path):
    for name in list_presets():
        cfg = load_config(name)
        path = tmp_path / f"{name}.toml"
        path.write_text(config_to_toml(cfg))
        assert load_config(path) == cfg


def test_toml_text_escapes_the_name():
    cfg = config_from_dict({"name": 'chip "β" \\ 🙂\tv2'})
    assert config_from_dict(tomllib.loads(config_to_toml(cfg))) == cfg


def test_overrides():
    base = load_config("edge-int8")
    cfg = with_overrides(base, {"array.rows": 32, "formats.weight": "bf16", "formats.accumulator": "fp32",
                                "array.dataflow": "os", "name": "variant"})
    assert (cfg.array.rows, cfg.formats.weight, cfg.array.dataflow, cfg.name) == (32, "bf16", Dataflow.OS,
                                                                                   "variant")
    assert cfg.sram == base.sram and base.array.rows == 16


@pytest.mark.parametrize(("overrides", "key"), [
    ({"array.banana": 1}, "array.banana"),
    ({"cache.size": 1}, "cache.size"),
    ({"array.rows": 0}, "array.rows"),
    ({"formats.weight": "bf16"}, "formats.accumulator"),  # bf16 x int8 into int32: needs a float accumulator
])
def test_overrides_are_validated(overrides, key):
    with pytest.raises(ValueError, match=key):
        with_overrides(load_config("edge-int8"), overrides)


@pytest.mark.parametrize(("data", "key"), [
    ({"name": "t", "bogus": {}}, "bogus"),
    ({"name": "t", "array": {"depth": 3}}, "array.depth"),
    ({"name": "t", "array": 5}, "array"),
    ({"array": {}}, "name"),
    ({"name": ""}, "name"),
    ({"name": "t", "array": {"rows": 0}}, "array.rows"),
    ({"name": "t", "array": {"cols": -3}}, "array.cols"),
    ({"name": "t", "array": {"rows": True}}, "array.rows"),
    ({"name": "t", "array": {"rows": 16.0}}, "array.rows"),
    ({"name": "t", "array": {"dataflow": "rs"}}, "array.dataflow"),
    ({"name": "t", "array": {"transposable": 1}}, "array.transposable"),
    ({"name": "t", "array": {"zero_gating": "yes"}}, "array.zero_gating"),
    ({"name": "t", "formats": {"weight": "int7x"}}, "formats.weight"),
    ({"name": "t", "formats": {"activation": 8}}, "formats.activation"),
    ({"name": "t", "formats": {"scaling": "channel"}}, "formats.scaling"),
    ({"name": "t", "formats": {"rounding": "up"}}, "formats.rounding"),
    ({"name": "t", "formats": {"master_rounding": "even"}}, "formats.master_rounding"),
    ({"name": "t", "formats": {"weight_rounding": "even"}}, "formats.weight_rounding"),
    ({"name": "t", "formats": {"gradient_rounding": 1}}, "formats.gradient_rounding"),
    ({"name": "t", "formats": {"master_weight": "int32"}}, "formats.master_weight"),
    ({"name": "t", "formats": {"master_weight": "fp64"}}, "formats.master_weight"),
    ({"name": "t", "sram": {"weight_bytes": 0}}, "sram.weight_bytes"),
    ({"name": "t", "sram": {"replay_bytes": -1}}, "sram.replay_bytes"),
    ({"name": "t", "sram": {"output_bytes": 1.5}}, "sram.output_bytes"),
    ({"name": "t", "dram": {"bandwidth_bytes_per_cycle": 0}}, "dram.bandwidth_bytes_per_cycle"),
    ({"name": "t", "dram": {"bandwidth_bytes_per_cycle": float("inf")}}, "dram.bandwidth_bytes_per_cycle"),
    ({"name": "t", "dram": {"latency_cycles": -1}}, "dram.latency_cycles"),
    ({"name": "t", "vector": {"lanes": 0}}, "vector.lanes"),
    ({"name": "t", "clock": {"frequency_hz": -1e6}}, "clock.frequency_hz"),
    ({"name": "t", "clock": {"voltage_v": 0}}, "clock.voltage_v"),
    ({"name": "t", "clock": {"voltage_v": True}}, "clock.voltage_v"),
    ({"name": "t", "energy": {"node_nm": "28"}}, "energy.node_nm"),
    ({"name": "t", "energy": {"table": "no/such/table.toml"}}, "energy.table"),
])
def test_validation_errors_name_the_key(data, key):
    with pytest.raises(ValueError, match=key) as error:
        config_from_dict(data, source="chip.toml")
    message = str(error.value)
    assert "\n" not in message and message.startswith("chip.toml: ")


def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ValueError, match=r"array\.depth.*rows, cols, dataflow, transposable"):
        config_from_dict({"name": "t", "array": {"depth": 3}})


def test_unknown_format_lists_valid_formats():
    with pytest.raises(ValueError, match=r"formats\.gradient.*fp8_e4m3.*fixed<W>_<F>"):
        config_from_dict({"name": "t", "formats": {"gradient": "fp4"}})


def test_error_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\n[vector]\nlanes = 0\n')
    with pytest.raises(ValueError, match=r"bad\.toml: vector\.lanes"):
        load_config(path)


def test_malformed_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(ValueError, match=r"broken\.toml"):
        load_config(path)


def test_unknown_preset_lists_presets():
    with pytest.raises(ValueError, match=r"unknown preset 'edge-int4'.*edge-int8.*omnidrl"):
        load_config("edge-int4")


def test_missing_file():
    with pytest.raises(ValueError, match="not found"):
        load_config("nowhere/chip.toml")


def test_energy_table_relative_to_the_file(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "mine.toml").write_text("")
    path = tmp_path / "chip.toml"
    path.write_text('name = "t"\n[energy]\ntable = "tables/mine.toml"\n')
    cfg = load_config(path)
    assert Path(cfg.energy.table) == (tmp_path / "tables" / "mine.toml").resolve()
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize(("operands", "accumulator", "scaling", "ok"), [
    (("int8", "int8", "int8"), "int16", "tensor_pow2", True),  # (-128)² = 2**14 fits
    (("int8", "int8", "int8"), "fixed15_0", "tensor_pow2", False),
    (("int8", "int8", "int8"), "fixed17_0", "tensor_pow2", True),
    (("int8", "int8", "int8"), "int32", "tensor_pow2", True),
    (("int8", "int8", "int8"), "fp16", "tensor_pow2", False),  # needs 14 significand bits, has 11
    (("int8", "int8", "int8"), "fp32", "tensor_pow2", True),
    (("int16", "int16", "int16"), "int32", "tensor_pow2", True),
    (("int16", "int16", "int16"), "fixed31_0", "tensor_pow2", False),
    (("int16", "int16", "int16"), "fixed48_0", "tensor_pow2", True),
    (("int16", "int16", "int16"), "fp32", "tensor_pow2", False),  # 30 significand bits needed
    (("int8", "int8", "int16"), "fixed25_0", "tensor_pow2", True),
    (("int8", "int8", "int16"), "fixed23_0", "tensor_pow2", False),  # gradient x weight needs 24 bits
    (("bf16", "bf16", "bf16"), "fp16", "tensor_pow2", False),
    (("bf16", "bf16", "bf16"), "fp32", "tensor_pow2", True),
    (("bf16", "bf16", "bf16"), "int32", "tensor_pow2", False),
    (("fp8_e4m3", "fp8_e4m3", "fp8_e5m2"), "fp16", "tensor_pow2", True),  # 4 + 4 ≤ 11
    (("fp8_e4m3", "fp8_e4m3", "fp8_e5m2"), "bf16", "tensor_pow2", True),  # 4 + 4 ≤ 8
    (("fp16", "fp16", "fp16"), "bf16", "tensor_pow2", False),
    (("int8", "bf16", "int8"), "fp32", "tensor_pow2", True),  # mixed: a float takes part
    (("int8", "bf16", "int8"), "int32", "tensor_pow2", False),
    (("fixed16_8", "fixed16_8", "fixed16_8"), "fixed40_16", "none", True),
    (("fixed16_8", "fixed16_8", "fixed16_8"), "fixed32_16", "none", True),  # 16 integer bits suffice
    (("fixed16_8", "fixed16_8", "fixed16_8"), "fixed31_16", "none", False),
    (("fixed16_8", "fixed16_8", "fixed16_8"), "int32", "none", False),  # no fraction bits
    (("fixed16_8", "fixed16_8", "fixed16_8"), "fixed40_30", "none", False),  # 10 integer bits < 17
    (("fixed16_8", "fixed16_8", "fixed16_8"), "fixed48_0", "tensor_pow2", True),  # codes multiply
    (("fixed12_4", "fixed12_4", "fixed12_4"), "fixed32_8", "none", True),  # 8 fraction, 24 integer bits
    (("fixed12_4", "fixed12_4", "fixed12_4"), "fixed30_16", "none", False),  # 14 integer bits < 16
    (("int8", "int8", "int8"), "int32", "none", True),
])
def test_accumulator_rule(operands, accumulator, scaling, ok):
    data = _formats(*operands, accumulator, scaling)
    if ok:
        assert config_from_dict(data).formats.accumulator == accumulator
    else:
        with pytest.raises(ValueError, match=r"formats\.accumulator.*GEMM.*needs"):
            config_from_dict(data)


def test_accumulator_message_names_pair_and_fix():
    pattern = r"'fixed15_0'.*forward.*activation int8 × weight int8.*≥ 16 bits.*int16"
    with pytest.raises(ValueError, match=pattern):
        config_from_dict(_formats("int8", "int8", "int8", "fixed15_0"))


@pytest.mark.parametrize(("key", "minimum"), [
    ("weight_bytes", 16 * 16 * 2),  # widest operand is bf16 (2 bytes)
    ("activation_bytes", 16 * 2 * 2),
    ("output_bytes", 16 * 4 * 2),
])
def test_sram_holds_one_tile(key, minimum):
    base = {"name": "t", "formats": {"weight": "bf16", "activation": "bf16", "gradient": "bf16",
                                     "accumulator": "fp32"}}
    assert config_from_dict({**base, "sram": {key: minimum}}).sram == SramConfig(**{key: minimum})
    with pytest.raises(ValueError, match=rf"sram\.{key} = {minimum - 1} .*≥ {minimum} bytes"):
        config_from_dict({**base, "sram": {key: minimum - 1}})


def test_sram_minimum_grows_with_the_array():
    with pytest.raises(ValueError, match=r"sram\.weight_bytes.*≥ 131072 bytes"):
        with_overrides(load_config("edge-int8"), {"array.rows": 256, "array.cols": 512})


_FORMAT_NAMES = ["int8", "int16", "fixed16_8", "fixed12_4", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "fp32"]
_ACCUMULATORS = ["int16", "int32", "fixed48_0", "fixed32_16", "fp16", "bf16", "fp32"]


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 64), cols=st.integers(1, 64), dataflow=st.sampled_from(["ws", "os", "is"]),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    operands=st.tuples(*[st.sampled_from(_FORMAT_NAMES)] * 3), accumulator=st.sampled_from(_ACCUMULATORS),
    scaling=st.sampled_from(["tensor_pow2", "block_pow2", "none"]), block=st.tuples(st.integers(1, 64),
                                                                                    st.integers(0, 20)),
    rounding=st.sampled_from(["nearest", "stochastic"]),
    master=st.sampled_from(["none", "fp32", "bf16"]), master_rounding=st.sampled_from(["nearest", "stochastic"]),
    role_roundings=st.tuples(*[st.sampled_from(["", "nearest", "stochastic"])] * 3),
    sram=st.tuples(*[st.integers(0, 1 << 20)] * 4),
    dram=st.tuples(st.floats(0.125, 512), st.integers(0, 1000)), lanes=st.integers(1, 256),
    clock=st.tuples(st.floats(1e3, 5e9), st.floats(0.3, 1.5)), node=st.sampled_from([7, 22, 28, 45, 65]),
)
def test_random_configs_round_trip_or_fail_cleanly(
        rows, cols, dataflow, flags, operands, accumulator, scaling, block, rounding, master, master_rounding,
        role_roundings, sram, dram, lanes, clock, node):
    data = {
        "name": "random",
        "array": {"rows": rows, "cols": cols, "dataflow": dataflow, "transposable": flags[0],
                  "zero_gating": flags[1], "double_buffered_weights": flags[2]},
        "formats": {"weight": operands[0], "activation": operands[1], "gradient": operands[2],
                    "accumulator": accumulator, "scaling": scaling, "rounding": rounding,
                    "master_weight": master, "master_rounding": master_rounding,
                    **{f"{role}_rounding": r
                       for role, r in zip(("weight", "activation", "gradient"), role_roundings, strict=True)},
                    "block": block[0], "block_span": block[1]},
        "sram": {"weight_bytes": rows * cols * 4 + sram[0], "activation_bytes": rows * 8 + sram[1],
                 "output_bytes": cols * 16 + sram[2], "replay_bytes": sram[3], "bank_bytes": sram[0] // 4},
        "dram": {"bandwidth_bytes_per_cycle": dram[0], "latency_cycles": dram[1]},
        "vector": {"lanes": lanes},
        "clock": {"frequency_hz": clock[0], "voltage_v": clock[1]},
        "energy": {"node_nm": node},
    }
    try:
        cfg = config_from_dict(data)
    except ValueError as error:  # only the accumulator rule can reject these
        assert "formats.accumulator" in str(error)
        return
    assert config_to_dict(cfg) == {**data, "dram": {k: float(v) if k.startswith("band") else v
                                                    for k, v in data["dram"].items()},
                                   "clock": {**{k: float(v) for k, v in data["clock"].items()},
                                             "logic_depth_fo4": 40.0},
                                   "energy": {"node_nm": float(node), "table": ""},
                                   "compression": config_to_dict(AcceleratorConfig("defaults"))["compression"],
                                   "sparsity": config_to_dict(AcceleratorConfig("defaults"))["sparsity"]}
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert config_from_dict(tomllib.loads(config_to_toml(cfg))) == cfg


def test_frequency_may_follow_the_voltage():
    cfg = with_overrides(load_config("edge-int8"), {"clock.frequency_hz": "max", "clock.voltage_v": 0.6})
    assert cfg.clock.frequency_hz == "max"
    assert config_from_dict(tomllib.loads(config_to_toml(cfg))) == cfg
    with pytest.raises(ValueError, match=r'clock.frequency_hz must be a finite positive number or "max", got \'fast\''):
        with_overrides(cfg, {"clock.frequency_hz": "fast"})
