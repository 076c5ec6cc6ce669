"""Golden (chip, workload) → (cycles, joules): the current figures against tests/energy/golden/golden.json.

The file is written only by ``python scripts/regenerate_golden.py``; this test never writes it.
"""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "python scripts/regenerate_golden.py"


def _script():
    spec = importlib.util.spec_from_file_location("regenerate_golden", ROOT / "scripts" / "regenerate_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden = _script()
EXPECTED = json.loads(golden.GOLDEN_PATH.read_text())["table"]
CASES = [(preset, name) for preset, rows in EXPECTED.items() for name in rows]


def test_golden_file_covers_every_preset_and_workload():
    from accel import list_presets

    assert sorted(EXPECTED) == sorted(list_presets()), f"presets changed: run {REGENERATE} if this is intended"
    for preset, rows in EXPECTED.items():
        assert sorted(rows) == sorted(golden.workloads()), f"{preset}: workloads changed: run {REGENERATE}"


@pytest.mark.parametrize(("preset", "workload"), CASES)
def test_cycles_and_joules_match_the_golden_table(preset, workload):
    expected = EXPECTED[preset][workload]
    actual = golden.figures(preset, golden.workloads()[workload])
    hint = f"{preset} / {workload} moved: run {REGENERATE} if this change is intended"
    for key in golden.CYCLE_KEYS:
        assert actual[key] == expected[key], f"{key}: {expected[key]} -> {actual[key]}; {hint}"
    assert actual["energy_j"] == pytest.approx(expected["energy_j"], rel=1e-9), hint
    for table in ("breakdown_j", "sram_breakdown_j"):
        assert actual[table].keys() == expected[table].keys(), hint
        for key, joules in expected[table].items():
            assert actual[table][key] == pytest.approx(joules, rel=1e-9, abs=0.0), f"{table}[{key}]; {hint}"


def test_golden_breakdowns_sum_to_the_total():
    for rows in EXPECTED.values():
        for row in rows.values():
            assert sum(row["breakdown_j"].values()) == pytest.approx(row["energy_j"], rel=1e-12)
            assert sum(row["sram_breakdown_j"].values()) == pytest.approx(row["breakdown_j"]["sram"], rel=1e-12)
