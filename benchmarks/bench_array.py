"""Simulation wall time of one MLP training step's GEMMs on the array, against SCALE-Sim v3 in the same run.

The nine GEMMs of one training step of a 4-64-64-2 MLP at batch 64 (for each layer ``in → out``:
forward ``Y = X·W`` (64 × in × out), input gradient ``dX = dY·Wᵀ`` (64 × out × in, W read as stored
by the transposable array) and weight gradient ``dW = Xᵀ·dY`` (in × 64 × out)) run on an
``edge-int8`` chip of 8×8, 16×16 and 32×32 PEs in each dataflow, with ``Accelerator`` at both
fidelities (the exact values and every count, on one chip per case that keeps running: the steady
state of an agent that repeats its shapes, whose plans the planner memoizes) and
with SCALE-Sim (``scalesim``, the ``peers`` extra; the nine GEMMs as one topology of nine layers,
counts only, no traces). After one untimed run of each case (JIT compilation excluded), the cases
are timed round-robin and the best of ``--repeats`` (SCALE-Sim: ``--scalesim-repeats``) is kept.
The ratio is SCALE-Sim's time over ours. The stall-free compute cycles of the nine GEMMs are
printed for both to show they agree (SCALE-Sim's last-cycle index + 1 per GEMM); the run stops
with an error if any of ours (fast, cycle-stepped, counts only, closed form) differs. "Counts only"
is ``Accelerator.gemm_counts``: every count, no values, which is all SCALE-Sim computes. Run::

    python benchmarks/bench_array.py [--repeats 20] [--scalesim-repeats 3]
"""

from __future__ import annotations

import os

# One thread for every library, set before numpy loads its thread pool.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from accel import Accelerator, load_config  # noqa: E402
from accel.config import with_overrides  # noqa: E402
from accel.counts import EventCounts  # noqa: E402
from accel.timing import plan_gemm  # noqa: E402

LAYERS = ((4, 64), (64, 64), (64, 2))  # (in, out) of the 4-64-64-2 MLP
BATCH = 64
ARRAYS = (8, 16, 32)
DATAFLOWS = ("ws", "os", "is")
TARGET_FAST, TARGET_COUNTS = 2_000, 10_000  # aims at 16×16: SCALE-Sim time over ours


def best_seconds_interleaved(calls: dict[str, Callable[[], object]], repeats: dict[str, int]) -> dict[str, float]:
    """Best wall-clock timing of each call, its ``repeats`` timings spread over the whole run.

    The calls are timed round-robin (one timing each per round) rather than back to back, so that
    a burst of load from other processes on a shared machine spoils one timing of many cases, not
    every timing of one case. Warm up (JIT compilation) before calling this.
    """
    best = dict.fromkeys(calls, float("inf"))
    for round_ in tqdm(range(max(repeats.values())), desc="timing rounds", file=sys.stderr, leave=False):
        for key, call in calls.items():
            if round_ < repeats[key]:
                start = time.perf_counter()
                call()
                best[key] = min(best[key], time.perf_counter() - start)
    return best


def training_step_gemms() -> list[tuple[str, np.ndarray, np.ndarray, tuple[str, str], str, bool]]:
    """``(label, A, B, roles, out_role, transpose_b)`` of the nine GEMMs, with random operands."""
    rng = np.random.default_rng(0)
    gemms = []
    for i, (fan_in, fan_out) in enumerate(LAYERS):
        x = rng.standard_normal((BATCH, fan_in)).astype(np.float32)
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        dy = rng.standard_normal((BATCH, fan_out)).astype(np.float32)
        gemms += [(f"L{i} forward", x, w, ("activation", "weight"), "activation", False),
                  (f"L{i} input gradient", dy, w, ("gradient", "weight"), "gradient", True),
                  (f"L{i} weight gradient", np.ascontiguousarray(x.T), dy, ("activation", "gradient"), "gradient",
                   False)]
    return gemms


def gemm_shape(a: np.ndarray, b: np.ndarray, transpose_b: bool) -> tuple[int, int, int]:
    """``(m, k, n)`` of ``A · B`` (``B`` stored transposed when ``transpose_b``)."""
    return a.shape[0], a.shape[1], b.shape[0] if transpose_b else b.shape[1]


def run_ours(acc: Accelerator, gemms) -> EventCounts:
    """The nine GEMMs on ``acc``; returns the counts they added."""
    before = acc.counts
    for _, a, b, roles, out_role, transpose_b in gemms:
        acc.gemm(a, b, roles=roles, out_role=out_role, transpose_b=transpose_b)
    return acc.counts - before


def count_ours(acc: Accelerator, requests) -> EventCounts:
    """The counts of the GEMMs ``((m, k, n), roles, out_role, transpose_b)`` without their values
    (``Accelerator.gemm_counts``, as SCALE-Sim computes no values; it too is handed the shapes)."""
    before = acc.counts
    for shape, roles, out_role, transpose_b in requests:
        acc.gemm_counts(*shape, roles=roles, out_role=out_role, transpose_b=transpose_b)
    return acc.counts - before


def bench(repeats: int, scalesim_repeats: int) -> list[dict]:
    """One row per (array size, dataflow): wall times, ratios and cycle totals."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scalesim_adapter import run_scalesim_gemms

    gemms = training_step_gemms()
    requests = [(gemm_shape(a, b, t), roles, out_role, t) for _, a, b, roles, out_role, t in gemms]
    shapes = [shape for shape, *_ in requests]
    base = load_config("edge-int8")
    rows, calls, counts = [], {}, {}
    for size in ARRAYS:
        for dataflow in DATAFLOWS:
            config = with_overrides(base, {"name": f"edge-int8-{size}x{size}-{dataflow}", "array.rows": size,
                                           "array.cols": size, "array.dataflow": dataflow})
            case = (size, dataflow)
            for fidelity in ("fast", "cycle"):  # these runs also warm up (compile) the kernels
                acc = Accelerator(config, fidelity=fidelity)
                counts[case, fidelity] = run_ours(acc, gemms)
                calls[case, fidelity] = partial(run_ours, acc, gemms)
            acc = Accelerator(config)
            counts[case, "counts"] = count_ours(acc, requests)
            calls[case, "counts"] = partial(count_ours, acc, requests)
            counts[case, "scalesim"] = run_scalesim_gemms(shapes, size, size, dataflow)
            calls[case, "scalesim"] = partial(run_scalesim_gemms, shapes, size, size, dataflow)
            planned = sum(plan_gemm(m, k, n, size, size, config.array.dataflow).compute_cycles for m, k, n in shapes)
            rows.append({"array": f"{size}×{size}", "dataflow": dataflow, "case": case, "planned_cycles": planned})
    seconds = best_seconds_interleaved(calls, {key: scalesim_repeats if key[1] == "scalesim" else repeats
                                               for key in calls})
    for row in rows:
        case = row.pop("case")
        peer = counts[case, "scalesim"]
        row.update(fast_s=seconds[case, "fast"], cycle_s=seconds[case, "cycle"],
                   counts_s=seconds[case, "counts"], scalesim_s=seconds[case, "scalesim"],
                   fast_cycles=counts[case, "fast"].compute_cycles, cycle_cycles=counts[case, "cycle"].compute_cycles,
                   counts_cycles=counts[case, "counts"].compute_cycles,
                   scalesim_cycles=sum(r.compute_cycles for r in peer),
                   scalesim_stalls=sum(r.stall_cycles for r in peer))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timings of our fidelities; the best is kept")
    parser.add_argument("--scalesim-repeats", type=int, default=3, help="timings of SCALE-Sim; the best is kept")
    args = parser.parse_args()
    try:
        import scalesim  # noqa: F401
    except ImportError:
        sys.exit("bench_array needs SCALE-Sim: pip install -e '.[peers]' (or pip install scalesim)")
    from importlib.metadata import version

    rows = bench(args.repeats, args.scalesim_repeats)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, numpy "
          f"{np.__version__}, scalesim {version('scalesim')}; one thread; ours best of {args.repeats}, "
          f"SCALE-Sim best of {args.scalesim_repeats}")
    print(f"\nNine GEMMs of one training step of a 4-64-64-2 MLP at batch {BATCH}, edge-int8 chip\n")
    print("| array | dataflow | fast ms | cycle ms | counts only ms | SCALE-Sim ms | SCALE-Sim / fast "
          "| SCALE-Sim / cycle | SCALE-Sim / counts only | compute cycles: ours | SCALE-Sim (+1) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    mismatches = []
    for r in rows:
        print(f"| {r['array']} | {r['dataflow']} | {r['fast_s'] * 1e3:.2f} | {r['cycle_s'] * 1e3:.2f} "
              f"| {r['counts_s'] * 1e3:.2f} | {r['scalesim_s'] * 1e3:,.0f} | {r['scalesim_s'] / r['fast_s']:,.0f}× "
              f"| {r['scalesim_s'] / r['cycle_s']:,.0f}× | {r['scalesim_s'] / r['counts_s']:,.0f}× "
              f"| {r['fast_cycles']:,} | {r['scalesim_cycles']:,} |")
        ours = {r["fast_cycles"], r["cycle_cycles"], r["counts_cycles"], r["planned_cycles"]}
        if ours != {r["scalesim_cycles"]} or r["scalesim_stalls"] != 0:
            mismatches.append(f"{r['array']} {r['dataflow']}")
    at16 = [r for r in rows if r["array"] == "16×16"]
    fast_min = min(r["scalesim_s"] / r["fast_s"] for r in at16)
    counts_min = min(r["scalesim_s"] / r["counts_s"] for r in at16)
    print(f"\nSmallest ratio at 16×16: fast {fast_min:,.0f}× (aim ≥ {TARGET_FAST:,}×), "
          f"counts only {counts_min:,.0f}× (aim ≥ {TARGET_COUNTS:,}×)")
    if mismatches:
        sys.exit(f"compute cycles differ from SCALE-Sim's on: {', '.join(mismatches)}")


if __name__ == "__main__":
    main()
