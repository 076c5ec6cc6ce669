"""Tests of the energy table: the built-in figures, their sources, overrides and every rejected override."""

import ast
import tomllib

import pytest

from accel import load_config
from accel.config import with_overrides
from energy import EnergyModel
from energy.tables import DEFAULT_TABLE, load_table

HOROWITZ_PJ = {  # Horowitz, ISSCC 2014, 45 nm, 0.9 V
    ("add", "int8"): 0.03, ("add", "int16"): 0.05, ("add", "int32"): 0.1,
    ("mult", "int8"): 0.2, ("mult", "int32"): 3.1,
    ("add", "fp16"): 0.4, ("mult", "fp16"): 1.1, ("add", "fp32"): 0.9, ("mult", "fp32"): 3.7,
}


def _write(tmp_path, text, name="override.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _model_with_table(path):
    return EnergyModel(with_overrides(load_config("edge-int8"), {"energy.table": path}))


def test_default_table_holds_horowitz_figures():
    table = load_table()
    assert (table.reference_node_nm, table.reference_voltage_v) == (45.0, 0.9)
    for (op, name), pj in HOROWITZ_PJ.items():
        assert (table.add_pj if op == "add" else table.mult_pj)[name] == pj
    assert table.sram_capacity_bytes == (8192.0, 32768.0, 1048576.0)
    assert table.sram_access_pj == (10.0, 20.0, 100.0)
    assert table.sram_access_bits == 64


def test_every_table_of_the_data_file_names_its_source():
    data = tomllib.loads(DEFAULT_TABLE.read_text(encoding="utf-8"))
    for section, entries in data.items():
        assert isinstance(entries.get("source"), str) and entries["source"], section


def test_data_file_ships_inside_the_package():
    assert DEFAULT_TABLE.parent.name == "data" and DEFAULT_TABLE.parent.parent.name == "energy"


def test_override_replaces_an_entry(tmp_path):
    base = _model_with_table("")
    model = _model_with_table(_write(tmp_path, "[arithmetic]\nint8_mult_pj = 0.4\n"))
    kind = "int8*int8+int32"
    scale = model.dynamic_scale * 1e-12
    assert model.mac_arithmetic_energy_j(kind) - base.mac_arithmetic_energy_j(kind) == pytest.approx(0.2 * scale)
    assert model.add_energy_j("int32") == base.add_energy_j("int32")


def test_override_may_pin_a_derived_format(tmp_path):
    model = _model_with_table(_write(tmp_path, "[arithmetic]\nbf16_mult_pj = 0.5\nint12_add_pj = 0.07\n"))
    assert model.mult_energy_j("bf16") == pytest.approx(0.5e-12 * model.dynamic_scale)
    assert model.add_energy_j("fixed12_4") == pytest.approx(0.07e-12 * model.dynamic_scale)


def test_override_of_sram_dram_vector_and_leakage(tmp_path):
    text = """
[sram]
capacity_bytes = [1024, 1048576]
access_pj = [5.0, 50.0]
[dram]
pj_per_bit = 20.0
[pe]
leakage_w = 0.0
[vector_ops]
relu = { add = 2 }
"""
    model = _model_with_table(_write(tmp_path, text))
    assert model.dram_energy_j_per_byte == pytest.approx(160e-12)
    assert model.vector_op_energy_j("relu:int8") == pytest.approx(2 * model.add_energy_j("int8"))
    assert model.leakage_power_w == pytest.approx(
        model.table.sram_leakage_w_per_byte * (65536 + 65536 + 32768) * model.leakage_scale)
    assert model.table.sram_capacity_bytes == (1024.0, 1048576.0)


def test_hardware_file_points_at_its_own_table(tmp_path):
    _write(tmp_path, "[dram]\npj_per_bit = 4.0\n", "mine.toml")
    hw = _write(tmp_path, 'name = "t"\n[energy]\nnode_nm = 45\ntable = "mine.toml"\n', "hw.toml")
    assert EnergyModel(load_config(hw)).dram_energy_j_per_byte == pytest.approx(32e-12)


@pytest.mark.parametrize(("text", "entry"), [
    ("[arithmetc]\nint8_add_pj = 1.0\n", r"\[arithmetc\]"),
    ("[arithmetic]\nint8_sub_pj = 1.0\n", "arithmetic.int8_sub_pj"),
    ("[arithmetic]\nfp64_add_pj = 1.0\n", "arithmetic.fp64_add_pj"),
    ("[arithmetic]\nint99_add_pj = 1.0\n", "arithmetic.int99_add_pj"),
    ("[arithmetic]\nint8_add_pj = -0.03\n", "arithmetic.int8_add_pj"),
    ("[arithmetic]\nint8_add_pj = 0.0\n", "arithmetic.int8_add_pj"),
    ("[arithmetic]\nint8_add_pj = \"cheap\"\n", "arithmetic.int8_add_pj"),
    ("[arithmetic]\nint8_add_pj = nan\n", "arithmetic.int8_add_pj"),
    ("[pe]\nregister_pj_per_bit = -1.0\n", "pe.register_pj_per_bit"),
    ("[pe]\nleakage_w = true\n", "pe.leakage_w"),
    ("[pe]\nwire_pj = 1.0\n", "pe.wire_pj"),
    ("[dram]\npj_per_bit = -8.0\n", "dram.pj_per_bit"),
    ("[sram]\naccess_pj = [10.0, 20.0]\n", "sram.access_pj"),
    ("[sram]\naccess_pj = [10.0, -20.0, 100.0]\n", "sram.access_pj"),
    ("[sram]\ncapacity_bytes = [32768, 8192, 1048576]\n", "sram.capacity_bytes"),
    ("[sram]\naccess_bits = 0\n", "sram.access_bits"),
    ("[vector_ops]\nrelu = { sqrt = 1 }\n", "vector_ops.relu.sqrt"),
    ("[vector_ops]\nrelu = { add = -1 }\n", "vector_ops.relu.add"),
    ("[vector_ops]\nsoftmax = { add = 1 }\n", "vector_ops.softmax"),
    ("[vector_ops]\nrelu = 1\n", "vector_ops.relu"),
    ("[node_scaling]\n28 = [1.0, 0.0, 0.0]\n", "node_scaling.28"),
    ("[node_scaling]\n45 = [1.0, 0.0]\n", "node_scaling.45"),
    ("[node_scaling]\n45 = [0.0, 0.0, -1.0]\n", "node_scaling.45"),
    ("[reference]\nnode_nm = 3\n", "reference.node_nm"),
    ("[reference]\nvoltage_v = 0\n", "reference.voltage_v"),
    ("[dram]\nsource = 3\n", "dram.source"),
    ("dram = 3\n", "dram"),
])
def test_bad_override_is_rejected_naming_the_entry(tmp_path, text, entry):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=entry) as error:
        load_table(path)
    assert path in str(error.value) and "\n" not in str(error.value)


def test_missing_or_malformed_override_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_table(str(tmp_path / "absent.toml"))
    with pytest.raises(ValueError, match="not valid TOML"):
        load_table(_write(tmp_path, "[dram\n"))


def test_energy_imports_only_accel_config_counts_and_formats():
    allowed = {"accel.config", "accel.counts", "accel.numerics.formats"}
    for path in (DEFAULT_TABLE.parent.parent).glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in {"accel", "agents", "envs", "drlsim", "torch"} or name in allowed, (path.name, name)
