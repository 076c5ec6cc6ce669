"""What one small chip operation costs: the per-call overhead an agent pays on every step.

A training step is ~40 vector operations and ~11 GEMMs, and acting is a batch-1 forward pass on
every environment step, so the Python around each call matters as much as the kernels. For each
preset this times, in steady state (plans memoised, JIT compiled, inputs already in the chip's
formats as the chip hands them on), the calls the speed issue sets aims for:

* vector operations on 64×256 elements (aim ≤ 15 µs), against torch on the same float32 tensors;
* Adam on one 256×256 tensor (aim ≤ 2× ``torch.optim.Adam.step``);
* small GEMMs (1×4×256 acting, 64×4×256, 64×256×2): the chip's time less ``torch.mm``'s on the
  same shape, i.e. what the chip adds beyond a BLAS kernel (aim ≤ 25 µs);
* ``gemm_counts`` (aim ≤ 10 µs), ``acc.counts`` and ``EnergyModel.estimate`` of a step's counts
  (aim ≤ 20 µs each).

Everything on one thread; each figure is the best of ``--repeats`` calls after one untimed call.
Run::

    python benchmarks/bench_ops.py [--repeats 300] [--presets edge-int8,edge-bf16]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from best_of import best_seconds  # noqa: E402

from accel import Accelerator, load_config  # noqa: E402
from energy import EnergyModel  # noqa: E402

torch.set_num_threads(1)
PRESETS = ("edge-int8", "edge-bf16", "edge-fp8", "edge-fixed16")
SHAPE = (64, 256)
GEMMS = ((1, 4, 256), (64, 4, 256), (64, 256, 2))


def _peers(repeats: int) -> dict[str, float]:
    """torch's seconds for each case's peer, float32, one thread."""
    rng = np.random.default_rng(0)
    x, y = (torch.from_numpy(rng.standard_normal(SHAPE).astype(np.float32)) for _ in range(2))
    peers = {"relu": best_seconds(lambda: torch.relu(x), repeats),
             "add": best_seconds(lambda: x + y, repeats),
             "mul": best_seconds(lambda: x * y, repeats),
             "relu_grad": best_seconds(lambda: torch.ops.aten.threshold_backward(y, x, 0.0), repeats),
             "sum_rows": best_seconds(lambda: x.sum(0), repeats)}
    param = torch.nn.Parameter(torch.from_numpy(rng.standard_normal((256, 256)).astype(np.float32) * 0.1))
    param.grad = torch.from_numpy(rng.standard_normal((256, 256)).astype(np.float32) * 1e-2)
    opt = torch.optim.Adam([param], lr=1e-3)
    peers["adam"] = best_seconds(opt.step, repeats)
    for m, k, n in GEMMS:
        a, b = torch.randn(m, k), torch.randn(k, n)
        peers[f"gemm {m}×{k}×{n}"] = best_seconds(lambda a=a, b=b: torch.mm(a, b), repeats)
    return peers


def _cases(acc: Accelerator) -> list[tuple[str, Callable[[], object]]]:
    """The timed calls on one chip, inputs in its formats."""
    rng = np.random.default_rng(1)
    v = acc.vector
    x = v.quantize(rng.standard_normal(SHAPE).astype(np.float32), "activation")
    y = v.quantize(rng.standard_normal(SHAPE).astype(np.float32), "activation")
    g = v.quantize(rng.standard_normal(SHAPE).astype(np.float32) * 0.1, "gradient")
    w, grad, m = (rng.standard_normal((256, 256)).astype(np.float32) * s for s in (0.1, 1e-2, 1e-3))
    second = np.abs(rng.standard_normal((256, 256)).astype(np.float32)) * 1e-5
    cases: list[tuple[str, Callable[[], object]]] = [
        ("relu", lambda: v.relu(x)), ("add", lambda: v.add(x, y)), ("mul", lambda: v.mul(x, y)),
        ("relu_grad", lambda: v.relu_grad(x, g)), ("sum_rows", lambda: v.sum_rows(g)),
        ("adam", lambda: v.adam(w, grad, m, second, step=3, lr=1e-3))]
    for mm, k, n in GEMMS:
        a = v.quantize(rng.standard_normal((mm, k)).astype(np.float32), "activation")
        b = v.quantize(rng.standard_normal((k, n)).astype(np.float32) * 0.1, "weight")
        b.setflags(write=False)  # a layer's weights, as the agents hand them over
        cases.append((f"gemm {mm}×{k}×{n}", lambda a=a, b=b: acc.gemm(a, b)))
    cases.append(("gemm_counts 64×256×256", lambda: acc.gemm_counts(64, 256, 256)))
    cases.append(("acc.counts", lambda: acc.counts))
    model, before = EnergyModel(acc.config), acc.counts
    acc.gemm(x, v.quantize(rng.standard_normal((256, 256)).astype(np.float32) * 0.1, "weight"))
    v.relu(x)
    step = acc.counts - before
    cases.append(("EnergyModel.estimate", lambda: model.estimate(step)))
    return cases


AIMS = {"relu": "≤ 15 µs", "add": "≤ 15 µs", "mul": "≤ 15 µs", "relu_grad": "≤ 15 µs", "sum_rows": "≤ 15 µs",
        "adam": "≤ 2× torch", "gemm_counts 64×256×256": "≤ 10 µs", "acc.counts": "≤ 20 µs",
        "EnergyModel.estimate": "≤ 20 µs", **{f"gemm {m}×{k}×{n}": "≤ 25 µs beyond torch.mm" for m, k, n in GEMMS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300, help="timings per case; the best is kept")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    args = parser.parse_args()
    peers = _peers(args.repeats)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, numpy "
          f"{np.__version__}, torch {torch.__version__}; one thread; best of {args.repeats}\n")
    print("| preset | call | drlsim µs | torch µs | drlsim − torch µs | drlsim / torch | aim |")
    print("|---|---|---:|---:|---:|---:|---|")
    for preset in args.presets.split(","):
        acc = Accelerator(load_config(preset))
        for name, call in _cases(acc):
            ours = best_seconds(call, args.repeats if name != "adam" else max(3, args.repeats // 10)) * 1e6
            peer = peers.get(name)
            cells = (f"{peer * 1e6:.1f} | {ours - peer * 1e6:.1f} | {ours / (peer * 1e6):.2f}×" if peer
                     else " | | ")
            print(f"| {preset} | {name} | {ours:.1f} | {cells} | {AIMS[name]} |")


if __name__ == "__main__":
    main()
