"""``drlsim presets``: every preset with its figures, as text and as JSON."""

import json

from accel import list_presets, load_config
from accel.counts import mac_kind
from drlsim.cli import main
from energy import EnergyModel


def test_presets_json_lists_every_preset_with_its_peak(capsys):
    assert main(["presets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list_presets()
    for row in rows:
        cfg = load_config(row["name"])
        assert row["array"]["rows"] == cfg.array.rows and row["formats"]["weight"] == cfg.formats.weight
        assert row["clock"]["frequency_hz"] == cfg.clock.frequency_hz and row["energy"]["node_nm"] == cfg.energy.node_nm
        f, sparsity, model = cfg.formats, cfg.sparsity, EnergyModel(cfg)
        kind = mac_kind(f.weight, f.activation, f.accumulator)
        both = sparsity.weight_density * sparsity.activation_density  # MACs with two non-zero operands
        executed = {"group": sparsity.weight_density, "element": both}.get(sparsity.skipping, 1.0)  # skipped: free
        computed = min(both, executed) if cfg.array.zero_gating else executed
        mac_pj = (executed * model.mac_register_energy_j(kind) + computed * model.mac_arithmetic_energy_j(kind)) * 1e12
        assert abs(row["peak_tops_per_w"] * mac_pj - 2.0) < 1e-9  # 2 dense-equivalent operations per MAC-energy


def test_presets_text_has_one_line_per_preset(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(list_presets()) and all("TOPS/W" in line for line in lines)
