"""Cross-check with ZigZag (``zigzag-dse``, the ``peers`` extra) on the same GEMMs with the same per-access energies.

On the 64×256×256 GEMM, whose operands fit every preset's buffers (edge-int8 and omnidrl): MAC energy
agrees to rounding (same MAC count × same energy per MAC); DRAM agrees (both move each operand and the
result once); the weight and activation buffers agree; the output buffer differs by exactly ZigZag's
write of the final (rounded) output back into it before it leaves, which drlsim sends from the
accumulators through the vector unit straight out. On omnidrl's 256×400×300, whose activations
(200 KiB) overflow the 128 KiB activation buffer: MAC energy agrees, drlsim's cut into row blocks of
A moves exactly the compulsory DRAM traffic (every operand once), and ZigZag's searched mapping
(``lpf_limit=4`` here, for speed) moves no less. Neither mapping is taken as optimal elsewhere: on
some larger GEMMs drlsim moves less DRAM traffic than ZigZag's limited search finds. See docs/energy.md.
"""

import sys
from pathlib import Path

import pytest

pytest.importorskip("zigzag")
pytest.importorskip("six")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import zigzag_adapter as adapter

from accel import load_config


@pytest.fixture(scope="module", params=["edge-int8", "omnidrl"])
def fitting(request):
    """The 64×256×256 GEMM (operands fit every preset's buffers) priced by both."""
    config = load_config(request.param)
    return config, adapter.compare(config, 64, 256, 256, lpf_limit=4)


def test_mac_energy_agrees(fitting):
    _, c = fitting
    assert c.zigzag_j["mac"] == pytest.approx(c.drlsim_j["mac"], rel=1e-9)


def test_dram_energy_agrees_when_operands_fit(fitting):
    _, c = fitting
    assert c.zigzag_j["dram"] == pytest.approx(c.drlsim_j["dram"], rel=1e-9)


def test_weight_and_activation_sram_agree_when_operands_fit(fitting):
    _, c = fitting
    for key in ("sram_weight", "sram_activation"):
        assert c.zigzag_j[key] == pytest.approx(c.drlsim_j[key], rel=1e-9), key


def test_output_sram_differs_by_the_final_write_back(fitting):
    config, c = fitting
    from energy import EnergyModel

    m, _, n = c.shape
    out_bits = adapter.gemm_layer(config, *c.shape)[0]["operand_precision"]["O_final"]
    write_back_j = m * n * out_bits / 8 * EnergyModel(config).sram_access_energy_j("output", 8)
    assert c.zigzag_j["sram_output"] - c.drlsim_j["sram_output"] == pytest.approx(write_back_j, rel=1e-6)


def test_both_mappings_move_at_least_the_compulsory_dram_traffic():
    # activations (256×400 bf16 = 200 KiB) exceed omnidrl's 128 KiB activation buffer: drlsim cuts
    # the GEMM into blocks of rows of A that fit, so every operand crosses DRAM exactly once
    c = adapter.compare(load_config("omnidrl"), 256, 400, 300, lpf_limit=4)
    assert c.zigzag_j["mac"] == pytest.approx(c.drlsim_j["mac"], rel=1e-9)
    compulsory_j = (256 * 400 + 400 * 300 + 256 * 300) * 2 * 64e-12
    assert c.drlsim_j["dram"] == pytest.approx(compulsory_j, rel=1e-9)
    assert c.zigzag_j["dram"] >= compulsory_j * (1 - 1e-9)
