"""``drlsim gemm``: counts only at any size, and the bad input that used to escape as a traceback."""

import json

from drlsim.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_counts_only_equals_the_counts_of_the_gemm_with_values(capsys):
    _, with_values, _ = run(capsys, "gemm", "--hw", "edge-bf16", "48", "200", "72", "--json")
    _, counts_only, _ = run(capsys, "gemm", "--hw", "edge-bf16", "48", "200", "72", "--json", "--counts-only")
    a, b = json.loads(with_values), json.loads(counts_only)
    for key in ("cycles", "compute_cycles", "stall_cycles", "macs", "sram_reads", "sram_writes", "dram_read_bytes",
                "dram_write_bytes", "folds"):
        assert a[key] == b[key], key
    assert b["counts_only"] and b["zero_macs"] == 0
    assert abs(a["chip_power_w"] * a["time_s"] - (a["energy_j"] - a["energy_breakdown_j"]["dram"])) < 1e-15
    assert a["chip_power_w"] < a["power_w"]


def test_a_gemm_too_large_for_memory_points_to_counts_only(capsys):
    status, out, err = run(capsys, "gemm", "--hw", "edge-int8", "100000", "100000", "100000")
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "GiB" in err and "--counts-only" in err
    status, out, _ = run(capsys, "gemm", "--hw", "edge-int8", "100000", "100000", "100000", "--counts-only", "--json")
    assert status == 0 and json.loads(out)["macs"] == 10**15


def test_a_negative_seed_is_one_line(capsys):
    status, out, err = run(capsys, "gemm", "--hw", "edge-int8", "4", "4", "4", "--seed", "-1")
    assert status == 2 and out == "" and err.strip() == "drlsim: error: --seed must be an integer ≥ 0, got -1"
