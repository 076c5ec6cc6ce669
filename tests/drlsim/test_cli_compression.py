"""``drlsim workload --compression-ratio`` and a hardware file with an unknown scheme (the flag's own bad
input is in test_cli.py)."""

import json
import subprocess
import sys


def drlsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drlsim.cli", *args], capture_output=True, text=True, timeout=300)


def test_compression_ratio_sets_the_declared_ratios_of_every_chip():
    shape = ("--agent", "dqn", "--hidden", "512,512", "--batch", "256", "--json")  # activations overflow the buffer
    full, half = (json.loads(drlsim("workload", "--hw", "omnidrl", *shape, "--compression-ratio", ratios).stdout)[0]
                  for ratios in ("weight=1,activation=1", "weight=0.5,activation=0.5"))
    assert half["dram_read_bytes"] < full["dram_read_bytes"] and half["energy_j"] < full["energy_j"]
    assert half["macs"] == full["macs"] and half["compute_cycles"] == full["compute_cycles"]


def test_an_unknown_scheme_in_a_hardware_file_is_one_line_and_exit_2(tmp_path):
    hw = tmp_path / "zip.toml"
    hw.write_text('name = "zip"\n[compression]\nweight = "zip"\n')
    p = drlsim("gemm", "--hw", str(hw), "8", "8", "8")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0, p.stderr
    assert "compression.weight must be one of 'none', 'bitmask', 'rle', 'exp_top3', 'exp_mean_delta', 'huffman'" \
        in p.stderr
