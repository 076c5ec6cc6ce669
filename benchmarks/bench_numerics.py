"""Throughput of drlsim's exact numerics kernels against torch's casts, numpy's sgemm and torch's
elementwise operations and Adam, one thread each.

``quantize`` is timed per format against the nearest torch operation on the same float32 array
(floats: the round trip ``x.to(dtype).to(torch.float32)``); the GEMM kernels are timed in GMAC/s,
called as ``Accelerator.gemm`` calls them (float operands as float32 values of their formats,
integer codes of up to 25 bits as float32 integers, the int8 accumulators left as float32 codes;
the int64-code rows for comparison), against ``np.float32`` matmul of the same shape (single-threaded
OpenBLAS sgemm); the vector unit is timed through ``acc.vector`` on each preset (counting
included) against torch on the same float32 tensors, and ``acc.vector_counts`` alone. Every
figure is the best of ``--repeats`` timings after a warm-up, and every ratio divides two figures
measured in this run. Run::

    python benchmarks/bench_numerics.py [--elements 1000000] [--repeats 7]
"""

from __future__ import annotations

import os

# One thread for every library, set before numpy and torch load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from best_of import best_seconds  # noqa: E402

from accel import Accelerator, load_config  # noqa: E402
from accel.numerics import gemm_fixed, gemm_float, get_format, quantize, quantize_codes  # noqa: E402

torch.set_num_threads(1)

TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp8_e4m3": torch.float8_e4m3fn,
                "fp8_e5m2": torch.float8_e5m2}
GEMM_SHAPES = ((64, 256, 256), (256, 256, 256))  # (M, K, N)


def _torch_fixed_round_trip(x: torch.Tensor, fmt: str) -> torch.Tensor:
    """Round half to even onto the grid 2**-F and clamp: the nearest torch operation to a fixed cast."""
    f = get_format(fmt)
    return torch.round(x * 2.0**f.frac_bits).clamp_(f.min_code, f.max_code) * f.smallest_step


def _torch_bf16_stochastic(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The usual stochastic bf16 trick: add 16 random low bits to the float32 pattern, then truncate."""
    noise = torch.randint(0, 1 << 16, x.shape, dtype=torch.int32, generator=gen)
    return ((x.view(torch.int32) + noise) & -65536).view(torch.float32)


def quantize_rows(n: int, repeats: int) -> list[tuple[str, float, str, float]]:
    """``(case, drlsim ns/element, peer, peer ns/element)`` for every format."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * 4.0).astype(np.float32)  # activations-like: mostly normal values
    xt = torch.from_numpy(x)
    rows = []
    for fmt, dtype in TORCH_DTYPES.items():
        ours = best_seconds(lambda f=fmt: quantize(x, f), repeats)
        peer = best_seconds(lambda d=dtype: xt.to(d).to(torch.float32), repeats)
        rows.append((f"quantize {fmt}", ours, f"torch .to({str(dtype)[6:]}).to(float32)", peer))
    for fmt in ("int8", "fixed16_8"):
        ours = best_seconds(lambda f=fmt: quantize(x, f), repeats)
        peer = best_seconds(lambda f=fmt: _torch_fixed_round_trip(xt, f), repeats)
        rows.append((f"quantize {fmt}", ours, "torch round·clamp·scale", peer))
    ours = best_seconds(lambda: quantize_codes(x, "int8"), repeats)
    peer = best_seconds(lambda: torch.round(xt).clamp_(-128, 127).to(torch.int64), repeats)
    rows.append(("quantize_codes int8", ours, "torch round·clamp·to(int64)", peer))
    gen, srng = torch.Generator().manual_seed(0), np.random.default_rng(0)
    ours = best_seconds(lambda: quantize(x, "bf16", "stochastic", srng), repeats)
    peer = best_seconds(lambda: _torch_bf16_stochastic(xt, gen), repeats)
    rows.append(("quantize bf16 stochastic", ours, "torch randint + mask (bf16 SR)", peer))
    ours = best_seconds(lambda: quantize(x, "int8", "stochastic", srng), repeats)
    rows.append(("quantize int8 stochastic", ours, "torch randint + mask (bf16 SR)", peer))
    return [(case, o / n * 1e9, p_name, p / n * 1e9) for case, o, p_name, p in rows]


def _gemm_cases(m: int, k: int, n: int) -> list[tuple[str, Callable[[], object]]]:
    """``(name, call)`` for every GEMM route on an (m, k) × (k, n) problem."""
    rng = np.random.default_rng(1)

    def values(shape, fmt):  # float32, as quantize returns them and the accelerator passes them
        return quantize(rng.standard_normal(shape).astype(np.float32), fmt)

    a_32, b_32 = values((m, k), "fp32"), values((k, n), "fp32")
    a_bf, b_bf = values((m, k), "bf16"), values((k, n), "bf16")
    a_16, b_16 = values((m, k), "fp16"), values((k, n), "fp16")
    a_f8, b_f8 = values((m, k), "fp8_e4m3"), values((k, n), "fp8_e5m2")
    a_i8, b_i8 = rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n))
    f_i8, g_i8 = a_i8.astype(np.float32), b_i8.astype(np.float32)  # quantize_codes(..., dtype=np.float32)
    a_i16, b_i16 = rng.integers(-32768, 32768, (m, k)), rng.integers(-32768, 32768, (k, n))
    f_i16, g_i16 = a_i16.astype(np.float32), b_i16.astype(np.float32)
    return [
        ("fp32×fp32→fp32", lambda: gemm_float(a_32, b_32, "fp32", "fp32", "fp32")),
        ("bf16×bf16→fp32", lambda: gemm_float(a_bf, b_bf, "bf16", "bf16", "fp32")),
        ("fp16×fp16→fp32", lambda: gemm_float(a_16, b_16, "fp16", "fp16", "fp32")),
        ("fp8×fp8→fp32", lambda: gemm_float(a_f8, b_f8, "fp8_e4m3", "fp8_e5m2", "fp32")),
        ("fp8×fp8→bf16", lambda: gemm_float(a_f8, b_f8, "fp8_e4m3", "fp8_e5m2", "bf16")),
        ("fp8×fp8→fp16", lambda: gemm_float(a_f8, b_f8, "fp8_e4m3", "fp8_e5m2", "fp16")),
        ("int8×int8→int32, int64 codes", lambda: gemm_fixed(a_i8, b_i8, "int32")),
        ("int8×int8→int32", lambda: gemm_fixed(f_i8, g_i8, "int32", float32_codes=True)),
        ("int16×int16→fixed48 (edge-fixed16), int64 codes", lambda: gemm_fixed(a_i16, b_i16, "fixed48_0")),
        ("int16×int16→fixed48 (edge-fixed16)", lambda: gemm_fixed(f_i16, g_i16, "fixed48_0")),
    ]


def gemm_rows(repeats: int) -> list[tuple[str, str, str, float, float]]:
    """``(shape, case, route, drlsim GMAC/s, sgemm GMAC/s)`` for every GEMM route and shape."""
    rows = []
    for m, k, n in GEMM_SHAPES:
        macs = m * k * n
        rng = np.random.default_rng(2)
        a32, b32 = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
        sgemm = macs / best_seconds(lambda a=a32, b=b32: a @ b, max(repeats, 20)) / 1e9
        for name, call in _gemm_cases(m, k, n):
            start = time.perf_counter()
            route = call().route
            slow = time.perf_counter() - start > 0.05  # a sequential route: a few timings suffice
            rate = macs / best_seconds(call, 3 if slow else repeats) / 1e9
            rows.append((f"{m}×{k}×{n}", name, route, rate, sgemm))
    return rows


VECTOR_PRESETS = ("edge-int8", "edge-bf16", "edge-fp8", "edge-fixed16")
VECTOR_SHAPE = (64, 256)
ADAM_SHAPE = (256, 256)


def vector_rows(repeats: int) -> list[tuple[str, str, float, str, float]]:
    """``(preset, case, drlsim µs, peer, peer µs)`` for ``relu``, ``add``, the counting call and Adam."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(VECTOR_SHAPE).astype(np.float32)
    y = rng.standard_normal(VECTOR_SHAPE).astype(np.float32)
    w, g, m = (rng.standard_normal(ADAM_SHAPE).astype(np.float32) * s for s in (0.1, 1e-2, 1e-3))
    v = np.abs(rng.standard_normal(ADAM_SHAPE).astype(np.float32)) * 1e-5
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    param = torch.nn.Parameter(torch.from_numpy(w.copy()))
    param.grad = torch.from_numpy(g.copy())
    opt = torch.optim.Adam([param], lr=1e-3)
    adam_peer = best_seconds(opt.step, max(repeats, 20))
    relu_peer, add_peer = best_seconds(lambda: torch.relu(xt), repeats), best_seconds(lambda: xt + yt, repeats)
    elements = x.size
    rows = []
    for preset in VECTOR_PRESETS:
        acc = Accelerator(load_config(preset))
        xs, ys = acc.vector.relu(x), acc.vector.add(y, y)  # in the chip's formats, as the chip hands them on
        rows.append((preset, "relu 64×256", best_seconds(lambda a=acc, t=xs: a.vector.relu(t), repeats),
                     "torch.relu", relu_peer))
        rows.append((preset, "add 64×256", best_seconds(lambda a=acc, s=xs, t=ys: a.vector.add(s, t), repeats),
                     "torch add", add_peer))
        rows.append((preset, "vector_counts (relu 64×256)",
                     best_seconds(lambda a=acc: a.vector_counts("relu", "activation", elements, out_elements=elements),
                                  repeats), "", float("nan")))
        rows.append((preset, "adam 256×256", best_seconds(lambda a=acc: a.vector.adam(w, g, m, v, step=3, lr=1e-3),
                                                          max(3, repeats // 3)), "torch.optim.Adam.step", adam_peer))
    return [(p, case, ours * 1e6, peer, peer_s * 1e6) for p, case, ours, peer, peer_s in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=1_000_000, help="array size for quantize")
    parser.add_argument("--repeats", type=int, default=7, help="timings per case; the best is kept")
    args = parser.parse_args()

    limit = contextlib.nullcontext()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(1)
    with limit:
        q_rows = quantize_rows(args.elements, args.repeats)
        g_rows = gemm_rows(args.repeats)
        v_rows = vector_rows(args.repeats)

    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, numpy "
          f"{np.__version__}, torch {torch.__version__}; one thread; best of {args.repeats}")
    print(f"\n{args.elements:,} float32 elements (standard normal × 4)\n")
    print("| case | drlsim ns/elem | peer | peer ns/elem | speed vs peer |")
    print("|---|---:|---|---:|---:|")
    for case, ours, peer_name, peer in q_rows:
        print(f"| {case} | {ours:.2f} | {peer_name} | {peer:.2f} | {peer / ours:.2f}× |")
    print("\n| M×K×N | GEMM | route | drlsim GMAC/s | sgemm GMAC/s | vs sgemm |")
    print("|---|---|---|---:|---:|---:|")
    for shape, name, route, rate, sgemm in g_rows:
        print(f"| {shape} | {name} | {route} | {rate:.3g} | {sgemm:.3g} | {rate / sgemm:.3f}× |")
    print("\n| preset | vector operation | drlsim µs | peer | peer µs | drlsim / peer |")
    print("|---|---|---:|---|---:|---:|")
    for preset, case, ours, peer, peer_us in v_rows:
        ratio = f"{ours / peer_us:.2f}×" if peer else ""
        print(f"| {preset} | {case} | {ours:.1f} | {peer} | {peer_us:.1f} | {ratio} |".replace("| nan |", "| |"))


if __name__ == "__main__":
    main()
