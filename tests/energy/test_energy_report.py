"""Tests of EnergyReport (sums, derived figures, JSON) and of the worked example in docs/energy.md."""

import json

import pytest

from accel import load_config
from accel.config import with_overrides
from accel.counts import EventCounts
from energy import COMPONENTS, EnergyModel, EnergyReport

# docs/energy.md's worked example: a 64×256×256 int8 GEMM on edge-int8's 16×16 weight-stationary array
GEMM_COUNTS = EventCounts(
    cycles=28160, compute_cycles=28160, macs=4194304, macs_by_kind={"int8*int8+int32": 4194304},
    sram_read_bytes={"weight": 65536, "activation": 262144, "output": 1048576},
    sram_write_bytes={"weight": 65536, "activation": 16384, "output": 1048576},
    dram_read_bytes=81920, dram_write_bytes=16384,
    vector_ops={"max_abs:int32": 16384, "quantize:int8": 16384}, gemms=1, folds=256,
)


def _report(mac=1.0, sram=(1.0, 2.0, 3.0, 0.0), dram=4.0, vector=5.0, leakage=6.0, time_s=1.0, ops=10, float_ops=0):
    return EnergyReport(
        breakdown_j={"mac": mac, "sram": sum(sram), "dram": dram, "vector": vector, "leakage": leakage},
        sram_breakdown_j=dict(zip(("weight", "activation", "output", "replay"), sram, strict=True)),
        time_s=time_s, ops=ops, float_ops=float_ops,
    )


def test_empty_report_is_zero():
    empty = EnergyReport()
    assert empty.energy_j == 0.0 and empty.power_w == 0.0 and empty.ops_per_j == 0.0 and empty.tops_per_w == 0.0
    assert empty + _report() == _report()


def test_reports_add_up_into_an_episode():
    steps = [_report(time_s=0.5, ops=4), _report(time_s=1.5, ops=6, float_ops=6)]
    episode = sum(steps, EnergyReport())
    assert episode.energy_j == pytest.approx(2 * _report().energy_j)
    assert episode.breakdown_j["sram"] == pytest.approx(12.0)
    assert episode.sram_breakdown_j["output"] == pytest.approx(6.0)
    assert (episode.time_s, episode.ops, episode.float_ops) == (2.0, 10, 6)
    assert episode.power_w == pytest.approx(episode.energy_j / 2.0)


def test_derived_figures():
    report = _report(ops=2 * 10**12, float_ops=2 * 10**12)
    assert report.energy_j == 22.0
    assert report.ops_per_j == pytest.approx(2e12 / 22)
    assert report.tops_per_w == pytest.approx(2 / 22)
    assert report.ops_unit == "TFLOPS/W" and _report().ops_unit == "TOPS/W"


def test_to_dict_is_json():
    data = json.loads(json.dumps(_report().to_dict()))
    assert set(data["breakdown_j"]) == set(COMPONENTS)
    assert data["energy_j"] == 22.0 and data["power_w"] == 22.0 and data["tops_per_w"] == pytest.approx(10 / 22e12)


def test_report_is_immutable_and_checks_its_keys():
    report = _report()
    with pytest.raises(AttributeError):
        report.time_s = 2.0
    with pytest.raises(TypeError):
        report.breakdown_j["mac"] = 2.0
    with pytest.raises(ValueError, match="breakdown_j"):
        EnergyReport(breakdown_j={"mac": 1.0})


@pytest.mark.parametrize(("overrides", "expected_uj"), [
    ({"energy.node_nm": 45, "clock.voltage_v": 0.9},
     {"mac": 2.600468, "sram": 6.655723, "dram": 6.291456, "vector": 0.002130, "leakage": 0.047579,
      "weight": 0.452110, "activation": 0.960733, "output": 5.242880, "total": 15.597357}),
    ({},  # the preset itself: 28 nm, 0.8 V
     {"mac": 0.973459, "sram": 2.491503, "dram": 6.291456, "vector": 0.000797, "leakage": 0.019025,
      "weight": 0.169243, "activation": 0.359641, "output": 1.962619, "total": 9.776240}),
])
def test_worked_example_of_the_docs(overrides, expected_uj):
    report = EnergyModel(with_overrides(load_config("edge-int8"), overrides)).estimate(GEMM_COUNTS)
    for key in COMPONENTS:
        assert report.breakdown_j[key] * 1e6 == pytest.approx(expected_uj[key], abs=1e-6)
    for key in ("weight", "activation", "output"):
        assert report.sram_breakdown_j[key] * 1e6 == pytest.approx(expected_uj[key], abs=1e-6)
    assert report.energy_j * 1e6 == pytest.approx(expected_uj["total"], abs=1e-6)
    assert report.time_s == pytest.approx(140.8e-6)


def test_chip_power_leaves_dram_out_and_system_power_keeps_it():
    report = EnergyReport(breakdown_j={"mac": 1.0, "sram": 2.0, "dram": 4.0, "vector": 0.5, "leakage": 0.5},
                          time_s=2.0)
    assert report.chip_energy_j == 4.0 and report.energy_j == 8.0
    assert report.chip_power_w == 2.0 and report.power_w == 4.0
    assert report.to_dict()["chip_power_w"] == 2.0
