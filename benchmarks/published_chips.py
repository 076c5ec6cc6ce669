"""The published DRL training chips against their presets: chip-level TFLOPS/W, factor by factor.

For each chip the published figures (peak efficiency; OmniDRL's also a TD3 training figure) are set
beside the preset's ``peak_tops_per_w`` (``drlsim presets --json``: the array at full utilisation at
its declared densities, chip energy) and the chip-level efficiency of a TD3 training step
(``drlsim workload --agent td3``'s ``chip_tops_per_w``: dense-equivalent operations over the chip's
energy, DRAM excluded, as the papers measure at the chip's supply). HalfCheetah's shapes (obs 17,
action 6; OmniDRL's benchmark), 400-300 networks, batch 256, the second step (weights on chip).

Then the techniques each preset switches on are switched off one by one, last first, so each row
shows what one technique (and one operating condition) moves: the product of the factors is the
whole change from the preset as it stood before issue 11 (one bank per buffer, no skipping, dense,
nothing compressed, the voltage and clock assumed then). Run::

    python benchmarks/published_chips.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from accel import load_config
from accel.config import with_overrides
from drlsim.cli import workload_rows
from energy import EnergyModel

PUBLISHED = {  # TFLOPS/W: (peak, TD3 training or None), source
    "omnidrl": (29.3, 7.42, "Lee et al., IEEE JSSC 57(4) 2022 (VLSI 2021: 7.16 on TD3)"),
    "cnpu2019": (2.1, None, "Kim et al., ISSCC 2019, paper 7.4"),
    "lnpu2019": (25.3, None, "Lee et al., ISSCC 2019, paper 7.7"),
}

TECHNIQUES = {  # each preset's techniques in the order they are switched on, with the values that switch them off
    "omnidrl": [
        ("SRAM in 16 KiB banks", {"sram.bank_bytes": 0}),
        ("compressed weights and activations (exponent-mean-delta, DRAM and SRAM)",
         {"compression.weight": "none", "compression.activation": "none", "compression.sram": False}),
        ("group-sparse weights skipped (declared density 0.125)",
         {"sparsity.weight_density": 1.0, "sparsity.skipping": "none"}),
    ],
    "cnpu2019": [
        ("SRAM in 16 KiB banks", {"sram.bank_bytes": 0}),
        ("experience compression (top-3 exponents)", {"compression.replay": "none"}),
        ("0.78 V, 50 MHz (PNPU's measuring point)", {"clock.voltage_v": 1.0, "clock.frequency_hz": 200e6}),
    ],
    "lnpu2019": [
        ("SRAM in 16 KiB banks", {"sram.bank_bytes": 0}),
        ("zero inputs skipped (declared density 0.1)",
         {"sparsity.activation_density": 1.0, "sparsity.skipping": "none"}),
        ("0.78 V, 50 MHz (PNPU's measuring point)", {"clock.voltage_v": 1.0, "clock.frequency_hz": 200e6}),
    ],
}


def figures(name: str, off: dict) -> tuple[float, float]:
    """(peak TOPS/W, chip-level TOPS/W of the TD3 HalfCheetah step) of preset ``name`` with ``off`` applied."""
    row = workload_rows([name], "td3", 17, 6, overrides=off)[0]
    return EnergyModel(with_overrides(load_config(name), off)).peak_tops_per_w(), row["chip_tops_per_w"]


def main() -> None:
    print("| chip | published peak / TD3 | modelled peak / TD3 | published / modelled |")
    print("|---|---:|---:|---:|")
    chains = {}
    for name, (peak_pub, td3_pub, _) in PUBLISHED.items():
        steps, off = [], {}
        for label, overrides in reversed(TECHNIQUES[name]):
            steps.append((label, figures(name, dict(off))))
            off.update(overrides)
        base = figures(name, off)
        chains[name] = (base, steps[::-1])
        peak, td3 = steps[0][1]
        td3_text = f"{td3_pub:g}" if td3_pub else "–"
        ratio = f"{peak_pub / peak:.2f}× / {td3_pub / td3:.2f}×" if td3_pub else f"{peak_pub / peak:.2f}× (peak)"
        print(f"| {name} | {peak_pub:g} / {td3_text} | {peak:.2f} / {td3:.2f} | {ratio} |")
    for name, (base, steps) in chains.items():
        print(f"\n{name} ({PUBLISHED[name][2]}): peak, TD3 step (TOPS/W), and the factor each step brings")
        print("| step | peak | × | TD3 step | × |")
        print("|---|---:|---:|---:|---:|")
        print(f"| none of them | {base[0]:.2f} | | {base[1]:.3f} | |")
        previous = base
        for label, now in steps:
            factors = f"{now[0] / previous[0]:.2f} | {now[1]:.3f} | {now[1] / previous[1]:.2f}"
            print(f"| + {label} | {now[0]:.2f} | {factors} |")
            previous = now


if __name__ == "__main__":
    main()
