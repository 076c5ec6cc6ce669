"""Smoke runs of every CLI verb, through the console script, and its handling of bad input."""

import json
import math
import subprocess
import sys

import pytest

from accel import list_presets


def drlsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drlsim.cli", *args], capture_output=True, text=True, timeout=300)


def test_gemm_json_has_the_contract_fields_and_a_consistent_energy():
    p = drlsim("gemm", "--hw", "edge-int8", "64", "64", "64", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["macs"] == 64**3 and d["cycles"] == d["compute_cycles"] + d["stall_cycles"] + d["vector_cycles"]
    assert set(d["sram_reads"]) == {"weight", "activation", "output", "replay"}
    assert math.isclose(sum(d["energy_breakdown_j"].values()), d["energy_j"], rel_tol=1e-12)
    assert math.isclose(d["power_w"], d["energy_j"] / (d["cycles"] / 200e6), rel_tol=1e-12)
    assert 0 < d["utilization"] <= 1


def test_gemm_fidelities_agree_and_human_output_reads():
    fast = json.loads(drlsim("gemm", "--hw", "edge-bf16", "20", "30", "17", "--json").stdout)
    cycle = json.loads(drlsim("gemm", "--hw", "edge-bf16", "20", "30", "17", "--json", "--fidelity", "cycle").stdout)
    assert {k: v for k, v in fast.items() if k != "fidelity"} == {k: v for k, v in cycle.items() if k != "fidelity"}
    text = drlsim("gemm", "--hw", "edge-bf16", "20", "30", "17").stdout
    assert "cycles" in text and "µJ" in text and "mW" in text


def test_workload_prices_a_step_on_every_preset():
    p = drlsim("workload", "--agent", "td3", "--obs", "3", "--actions", "1", "--hidden", "32,32", "--batch", "16",
               "--json")
    rows = json.loads(p.stdout)
    assert p.returncode == 0 and [r["hw"] for r in rows] == list_presets()
    assert all(r["energy_j"] > 0 and r["cycles"] > 0 for r in rows)
    assert "edge-int8" in drlsim("workload").stdout


def test_workload_density_sets_the_declared_densities_of_every_chip(tmp_path):
    hw = tmp_path / "sparse.toml"
    hw.write_text('name = "sparse"\n[array]\nzero_gating = true\n[sparsity]\nskipping = "group"\ngroup = 4\n')
    dense, sparse = (json.loads(drlsim("workload", "--hw", str(hw), "--json", *density).stdout)[0]
                     for density in ((), ("--density", "weight=0.25,activation=0.5")))
    assert dense["skipped_macs"] == dense["zero_macs"] == 0 and dense["macs"] == sparse["macs"]
    assert 0 < sparse["skipped_macs"] < sparse["zero_macs"] < sparse["macs"]
    assert sparse["cycles"] < dense["cycles"] and sparse["saved_cycles"] > 0
    assert sparse["energy_breakdown_j"]["mac"] < dense["energy_breakdown_j"]["mac"]
    assert sparse["ops"] == dense["ops"] and sparse["executed_ops"] < dense["executed_ops"]


def test_presets_lists_them_all():
    out = drlsim("presets").stdout
    assert all(name in out for name in ("edge-int8", "edge-bf16", "edge-fp8", "edge-fixed16", "omnidrl", "cnpu2019"))


@pytest.mark.parametrize("args, message", [
    (("gemm", "--hw", "edge-int8", "0", "4", "4"), "M must be a positive integer"),
    (("gemm", "--hw", "nope", "4", "4", "4"), "unknown preset 'nope'"),
    (("gemm", "--hw", "edge-int8", "4", "4"), "the following arguments are required"),
    (("workload", "--hidden", "64,x"), "--hidden"),
    (("workload", "--density", "weight=0"), "--density weight must be a density in (0, 1]"),
    (("workload", "--density", "weight=0.5,bias=0.5"), "ROLE one of weight, activation, gradient"),
    (("workload", "--density", "activation=x"), "--density activation"),
    (("workload", "--compression-ratio", "replay=0"), "--compression-ratio replay must be a ratio in (0, 1]"),
    (("workload", "--compression-ratio", "bias=0.5"), "CLASS one of weight, activation, gradient, replay"),
    (("frobnicate",), "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    p = drlsim(*args)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().count("\n") == 0 and message in p.stderr


def test_bad_hardware_files_are_one_line_and_exit_2(tmp_path):
    node = tmp_path / "tiny.toml"
    node.write_text('name = "tiny"\n[energy]\nnode_nm = 3\n')
    key = tmp_path / "typo.toml"
    key.write_text('name = "typo"\n[array]\nrowz = 8\n')
    for path, message in ((node, "node"), (key, "array.rowz")):
        p = drlsim("gemm", "--hw", str(path), "8", "8", "8")
        assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and message in p.stderr, p.stderr
