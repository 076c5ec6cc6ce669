"""Prices GEMMs with ZigZag (``zigzag-dse``, the ``peers`` extra, with ``six``) using drlsim's per-access energies.

ZigZag (KU Leuven MICAS) is an analytical DNN-accelerator cost model that *searches* the spatial and
temporal mapping of a layer onto a memory hierarchy. Here it gets a hardware description that is
drlsim's chip, priced by drlsim's ``EnergyModel``:

- an operational array of ``rows × cols`` MACs (D1 = rows = the reduction dimension C, D2 = cols =
  the output dimension K, unrolled as drlsim's weight-stationary array does), each MAC priced at
  ``EnergyModel.mac_energy_j`` of the GEMM's MAC kind (arithmetic + PE register traffic, as ours);
- a weight register per PE (free: a stationary operand's load is SRAM traffic in drlsim too);
- the three SRAM buffers, one per operand (weight → W, activation → I, output → O, partial sums in
  the accumulator format), each of the chip's capacity and priced per byte at
  ``EnergyModel.sram_access_energy_j(buffer, 8)``, reads and writes alike;
- DRAM for all operands, priced per byte at ``EnergyModel.dram_energy_j_per_byte``.

ZigZag then picks the loop order and tiling that minimise energy; drlsim runs a fixed dataflow.
``compare`` returns both breakdowns per component. Leakage and the vector unit (quantizing the
outputs) are drlsim's only; ZigZag prices neither. ZigZag models neither declared sparsity nor
compression, so both price the chip as ``comparable`` leaves it: dense declared operands, no zero
skipping (nor its zero detection), nothing compressed (omnidrl's group skipping and coded SRAM off;
its banks, formats and energies kept). Use::

    python benchmarks/zigzag_adapter.py [--hw omnidrl edge-int8] [--shape M K N]...
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from accel import Accelerator, load_config
from accel.config import COMPRESSION_CLASSES, DENSITY_ROLES, AcceleratorConfig, with_overrides
from accel.counts import mac_kind
from accel.numerics.formats import get_format
from energy import EnergyModel

PJ = 1e-12
_SRAM_PORT_BITS = 8  # ZigZag counts accesses of bandwidth_min bits: one byte, so energy is per byte as ours
_OPERANDS = {"weight": ("I2", "W"), "activation": ("I1", "I"), "output": ("O", "O")}  # buffer -> (memory, layer)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One GEMM priced by drlsim and by ZigZag on the same chip, joules per component.

    Attributes:
        shape: ``(m, k, n)``.
        drlsim_j: ``mac``, ``sram_weight``, ``sram_activation``, ``sram_output``, ``dram`` (and
            ``vector``, ``leakage``, which ZigZag does not model) from ``EnergyModel.estimate``.
        zigzag_j: The same keys from ZigZag's best (minimum-energy) mapping; 0 for what it does not model.
        zigzag_mapping: ZigZag's temporal mapping of the minimum-energy point, as it prints it.
    """

    shape: tuple[int, int, int]
    drlsim_j: dict[str, float]
    zigzag_j: dict[str, float]
    zigzag_mapping: str


def _bits(fmt_name: str) -> int:
    return get_format(fmt_name).width_bits


def _port(name: str, kind: str, bw_max: int, allocation: list[str], bw_min: int = _SRAM_PORT_BITS) -> dict:
    return {"name": name, "type": kind, "bandwidth_min": bw_min, "bandwidth_max": bw_max, "allocation": allocation}


def hardware_description(config: AcceleratorConfig) -> dict:
    """ZigZag's accelerator description (a YAML-ready dict) of ``config``, priced by ``EnergyModel(config)``."""
    model = EnergyModel(config)
    rows, cols = config.array.rows, config.array.cols
    f = config.formats
    kind = mac_kind(f.activation, f.weight, f.accumulator)
    memories: dict[str, dict] = {
        "w_reg": {  # the stationary weight of each PE
            "size": _bits(f.weight), "r_cost": 0.0, "w_cost": 0.0, "area": 0.0, "latency": 1, "operands": ["I2"],
            "ports": [_port("r_port_1", "read", _bits(f.weight), ["I2, tl"], _bits(f.weight)),
                      _port("w_port_1", "write", _bits(f.weight), ["I2, fh"], _bits(f.weight))],
            "served_dimensions": [],
        },
    }
    for buffer, (operand, _) in _OPERANDS.items():
        width = 64 * max(rows, cols)  # wide enough never to limit; energy is per byte regardless
        byte_pj = model.sram_access_energy_j(buffer, 8) / PJ
        cost = byte_pj * width / _SRAM_PORT_BITS  # ZigZag's cost is per access of bandwidth_max bits
        allocation = [f"{operand}, tl", f"{operand}, fh"]
        if operand == "O":
            allocation += ["O, fl", "O, th"]
        memories[f"{buffer}_sram"] = {
            "size": 8 * getattr(config.sram, f"{buffer}_bytes"), "r_cost": cost, "w_cost": cost, "area": 0.0,
            "latency": 1, "operands": [operand],
            "ports": [_port("rw_port_1", "read_write", width, allocation)],
            "served_dimensions": ["D1", "D2"],
        }
    dram_width = int(8 * config.dram.bandwidth_bytes_per_cycle)
    dram_cost = model.dram_energy_j_per_byte / PJ * dram_width / _SRAM_PORT_BITS
    memories["dram"] = {
        "size": 8 * 2**34, "r_cost": dram_cost, "w_cost": dram_cost, "area": 0.0, "latency": 1,
        "operands": ["I1", "I2", "O"],
        "ports": [_port("rw_port_1", "read_write", dram_width,
                        ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"])],
        "served_dimensions": ["D1", "D2"],
    }
    return {
        "name": config.name,
        "memories": memories,
        "operational_array": {
            "unit_energy": model.mac_energy_j(kind) / PJ, "unit_area": 1.0, "dimensions": ["D1", "D2"],
            "sizes": [rows, cols], "input_precision": [_bits(f.activation), _bits(f.weight)],
        },
    }


def gemm_layer(config: AcceleratorConfig, m: int, k: int, n: int) -> list[dict]:
    """ZigZag's workload: ``O[b][k] += I[b][c] · W[c][k]`` with B = m, C = k, K = n, in the chip's formats."""
    f = config.formats
    return [{
        "id": 0, "name": f"gemm_{m}x{k}x{n}", "operator_type": "Gemm", "equation": "O[b][k]+=I[b][c]*W[c][k]",
        "dimension_relations": [], "loop_dims": ["B", "C", "K"], "loop_sizes": [m, k, n],
        "operand_precision": {"I": _bits(f.activation), "W": _bits(f.weight), "O": _bits(f.accumulator),
                              "O_final": _bits(f.activation)},
        "operand_source": {"I": 0, "W": 0},
    }]


def mapping(config: AcceleratorConfig) -> list[dict]:
    """The spatial unrolling of drlsim's weight-stationary array: C (reduction) on rows, K (outputs) on columns."""
    return [{"name": "default",
             "spatial_mapping": {"D1": [f"C, {config.array.rows}"], "D2": [f"K, {config.array.cols}"]},
             "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]


def zigzag_energy(config: AcceleratorConfig, m: int, k: int, n: int, lpf_limit: int = 6) -> tuple[dict, str]:
    """Runs ZigZag (minimum energy) on one GEMM; returns joules per component and the chosen temporal mapping."""
    import yaml
    from zigzag.api import get_hardware_performance_zigzag

    logging.getLogger("zigzag").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, data in (("hw", hardware_description(config)), ("workload", gemm_layer(config, m, k, n)),
                           ("mapping", mapping(config))):
            paths[name] = str(Path(tmp) / f"{name}.yaml")
            Path(paths[name]).write_text(yaml.safe_dump(data, sort_keys=False))
        _, _, cmes = get_hardware_performance_zigzag(
            paths["workload"], paths["hw"], paths["mapping"], opt="energy", dump_folder=tmp,
            pickle_filename=str(Path(tmp) / "cmes.pickle"), lpf_limit=lpf_limit, loma_show_progress_bar=False)
    cme = cmes[0][1][0][0]  # the best point of the (only) layer
    energy = {"mac": cme.mac_energy * PJ, "dram": 0.0, "vector": 0.0, "leakage": 0.0}
    for layer_op, per_level in cme.mem_energy_breakdown.items():
        levels = cme.accelerator.memory_hierarchy.get_memory_levels(cme.memory_operand_links.layer_to_mem_op(layer_op))
        for level, joules_pj in zip(levels, per_level, strict=True):
            name = level.memory_instance.name
            key = "dram" if name == "dram" else f"sram_{name.removesuffix('_sram')}" if name.endswith("_sram") else None
            if key is not None:
                energy[key] = energy.get(key, 0.0) + joules_pj * PJ
    return energy, str(cme.temporal_mapping)


def drlsim_energy(config: AcceleratorConfig, m: int, k: int, n: int) -> dict:
    """drlsim's joules per component for one GEMM (counts only; operands and output in DRAM)."""
    acc = Accelerator(config)
    acc.gemm_counts(m, k, n)
    report = EnergyModel(config).estimate(acc.counts)
    energy = {key: report.breakdown_j[key] for key in ("mac", "dram", "vector", "leakage")}
    energy.update({f"sram_{buf}": report.sram_breakdown_j[buf] for buf in _OPERANDS})
    return energy


def comparable(config: AcceleratorConfig) -> AcceleratorConfig:
    """``config`` as ZigZag can model it: every operand declared dense, no skipping, nothing compressed."""
    return with_overrides(config, {**{f"sparsity.{role}_density": 1.0 for role in DENSITY_ROLES},
                                   "sparsity.skipping": "none",
                                   **{f"compression.{c}": "none" for c in COMPRESSION_CLASSES},
                                   "compression.sram": False})


def compare(config: AcceleratorConfig, m: int, k: int, n: int, lpf_limit: int = 6) -> Comparison:
    """drlsim's and ZigZag's joules for ``C[m,n] = A[m,k] · B[k,n]`` on ``comparable(config)``."""
    config = comparable(config)
    zz, temporal = zigzag_energy(config, m, k, n, lpf_limit)
    ours = drlsim_energy(config, m, k, n)
    zz = {key: zz.get(key, 0.0) for key in ours}
    return Comparison((m, k, n), ours, zz, temporal)


def format_table(rows: list[tuple[str, Comparison]]) -> str:
    """A Markdown table: per chip and GEMM, µJ per component, drlsim / ZigZag."""
    keys = ("mac", "sram_weight", "sram_activation", "sram_output", "dram")
    lines = ["| chip | GEMM m×k×n | " + " | ".join(f"{k} µJ (drlsim / ZigZag)" for k in keys) + " |",
             "| --- | --- |" + " --- |" * len(keys)]
    for chip, c in rows:
        cells = [f"{c.drlsim_j[k] * 1e6:.4g} / {c.zigzag_j[k] * 1e6:.4g}" for k in keys]
        lines.append(f"| {chip} | {'×'.join(map(str, c.shape))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", nargs="+", default=["omnidrl", "edge-int8"])
    parser.add_argument("--shape", nargs=3, type=int, action="append", metavar=("M", "K", "N"),
                        help="a GEMM to compare (repeatable; default: the golden GEMM and TD3's largest ones)")
    args = parser.parse_args(argv)
    default = [(64, 256, 256), (256, 400, 300), (256, 300, 400), (400, 256, 300)]
    shapes = [tuple(shape) for shape in args.shape] if args.shape else default
    rows = []
    for hw in args.hw:
        config = load_config(hw)
        for m, k, n in shapes:
            comparison = compare(config, m, k, n)
            rows.append((config.name, comparison))
            print(f"{config.name} {m}x{k}x{n}: ZigZag temporal mapping\n{comparison.zigzag_mapping}", file=sys.stderr)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
