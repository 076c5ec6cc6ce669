"""Wall time of one training step on the simulated chip, every value computed, against plain torch fp32.

Two steps, as the agents run them (``agents.DQN.train_step``, ``agents.TD3.train_step``), on every
preset chip, after a replay memory is filled with random transitions:

* DQN on CartPole's shapes: a 4-256-256-2 Q-network at batch 64 (the replay sample, the target
  network's forward pass and max, the online forward pass, the Huber loss, backward, gradient
  clipping at norm 10, Adam). The hard target copy happens every ``target_update_interval``
  environment steps, outside a gradient step, and is timed apart (``target copy``).
* TD3 on Pendulum's shapes: a 3-400-300-1 actor and twin 4-400-300-1 critics at batch 256; with
  the policy delay of 2 every other step also updates the actor and the three polyak targets, so
  the figure is the mean of one critic-only step and one full step.

The peer is the same step written directly in torch fp32 (SB3's update, without its callbacks and
logging), on one thread, timed in the same run: ``ratio`` is the chip's time over torch's (the
issue's aims: DQN ≤ 1.0×, TD3 ≤ 1.5× on edge-int8, edge-bf16 and edge-fp8; edge-fixed16 ≤ 2×).
Each figure is the median of ``--repeats`` timings after ``--warmup`` untimed steps (JIT
compilation and the plans' memo filled). ``--breakdown`` adds where a DQN step's time goes on each
preset: the chip's GEMMs (``Accelerator.gemm``), its vector operations (``VectorUnit``'s programs),
the working copies of the weights (``VectorUnit.quantize``) and the rest (autograd, the agent's
and optimizer's Python, the replay sample), timed around those entry points over the repeats; and
across all of them the time spent inside compiled code (every Numba kernel called from Python and
the BLAS products): the step's floor were all its Python fused away, against torch's whole step.
Run::

    python benchmarks/bench_step.py [--repeats 30] [--presets edge-int8,edge-bf16] [--breakdown]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib  # noqa: E402
import pkgutil  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from numba.core.registry import CPUDispatcher  # noqa: E402
from torch import nn  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import accel  # noqa: E402
from accel import Accelerator, list_presets, load_config  # noqa: E402
from accel.vector import VectorUnit  # noqa: E402
from agents import DQN, TD3  # noqa: E402
from agents.linear import mlp  # noqa: E402

torch.set_num_threads(1)
FILL = 2_000  # transitions in the replay memory before timing


def median_seconds(step: Callable[[], object], repeats: int, warmup: int) -> float:
    """Median wall-clock seconds of ``step`` over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def filled(agent, obs_dim: int, sample_action: Callable[[np.random.Generator], object], seed: int = 0):
    """``agent`` with ``FILL`` random transitions stored."""
    rng = np.random.default_rng(seed)
    for _ in range(FILL):
        agent.store(rng.standard_normal(obs_dim).astype(np.float32), sample_action(rng), float(rng.standard_normal()),
                    rng.standard_normal(obs_dim).astype(np.float32), bool(rng.random() < 0.05))
    return agent


def dqn_agent(accelerator: Accelerator | None) -> DQN:
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    return filled(DQN(space, gym.spaces.Discrete(2), accelerator=accelerator), 4, lambda rng: int(rng.integers(2)))


def td3_agent(accelerator: Accelerator | None) -> TD3:
    space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    return filled(TD3(space, action_space, accelerator=accelerator), 3,
                  lambda rng: rng.uniform(-2, 2, 1).astype(np.float32))


def torch_dqn_step() -> Callable[[], None]:
    """SB3's DQN gradient step in plain torch: sample, target max, Huber, clip at 10, Adam."""
    rng = np.random.default_rng(0)
    s, s2 = rng.standard_normal((FILL, 4)).astype(np.float32), rng.standard_normal((FILL, 4)).astype(np.float32)
    a, r = rng.integers(0, 2, (FILL, 1)), rng.standard_normal(FILL).astype(np.float32)
    d = (rng.random(FILL) < 0.05).astype(np.float32)
    q, q_target = mlp([4, 256, 256, 2]), mlp([4, 256, 256, 2])
    optimizer = torch.optim.Adam(q.parameters(), lr=2.3e-3)

    def step() -> None:
        i = rng.integers(0, FILL, 64)
        obs, nxt, act = torch.from_numpy(s[i]), torch.from_numpy(s2[i]), torch.from_numpy(a[i])
        rew, done = torch.from_numpy(r[i]), torch.from_numpy(d[i])
        with torch.no_grad():
            target = rew + 0.99 * (1 - done) * q_target(nxt).max(dim=1).values
        loss = nn.functional.smooth_l1_loss(q(obs).gather(1, act).squeeze(1), target)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(q.parameters(), 10)
        optimizer.step()
    return step


def torch_td3_step() -> Callable[[], None]:
    """SB3's TD3 gradient steps in plain torch, a critic-only step and a full step alternating."""
    rng = np.random.default_rng(0)
    s, s2 = rng.standard_normal((FILL, 3)).astype(np.float32), rng.standard_normal((FILL, 3)).astype(np.float32)
    a, r = rng.uniform(-1, 1, (FILL, 1)).astype(np.float32), rng.standard_normal(FILL).astype(np.float32)
    d = (rng.random(FILL) < 0.05).astype(np.float32)
    actor, actor_target = mlp([3, 400, 300, 1], "tanh"), mlp([3, 400, 300, 1], "tanh")
    critics = [mlp([4, 400, 300, 1]) for _ in range(2)]
    critic_targets = [mlp([4, 400, 300, 1]) for _ in range(2)]
    actor_opt = torch.optim.Adam(actor.parameters(), lr=1e-3)
    critic_opt = torch.optim.Adam([p for c in critics for p in c.parameters()], lr=1e-3)
    steps = [0]

    def step() -> None:
        i = rng.integers(0, FILL, 256)
        obs, nxt, act = torch.from_numpy(s[i]), torch.from_numpy(s2[i]), torch.from_numpy(a[i])
        rew, done = torch.from_numpy(r[i]), torch.from_numpy(d[i])
        with torch.no_grad():
            noise = (torch.randn_like(act) * 0.2).clamp(-0.5, 0.5)
            next_a = (actor_target(nxt) + noise).clamp(-1, 1)
            next_in = torch.cat([nxt, next_a], 1)
            next_q = torch.min(*(t(next_in)[:, 0] for t in critic_targets))
            target = rew + 0.98 * (1 - done) * next_q
        sa = torch.cat([obs, act], 1)
        loss = sum(nn.functional.mse_loss(c(sa)[:, 0], target) for c in critics)
        critic_opt.zero_grad()
        loss.backward()
        critic_opt.step()
        steps[0] += 1
        if steps[0] % 2 == 0:
            actor_loss = -critics[0](torch.cat([obs, actor(obs)], 1)).mean()
            actor_opt.zero_grad()
            actor_loss.backward()
            actor_opt.step()
            with torch.no_grad():
                for target_net, online in (*zip(critic_targets, critics, strict=True), (actor_target, actor)):
                    for tp, op in zip(target_net.parameters(), online.parameters(), strict=True):
                        tp.mul_(1 - 0.005).add_(op, alpha=0.005)
    return step


PARTS = {"GEMMs": (Accelerator, "gemm"), "vector operations": (VectorUnit, "_run"),
         "working copies": (VectorUnit, "quantize")}
"""The chip's entry points a step's time is split by (none calls another)."""


BLAS = ("_sgemm", "_dgemm")
"""The functions of ``accel.numerics.gemm`` through which the integer routes call a BLAS product."""


def compiled_entry_points() -> list[tuple[object, str]]:
    """``(module, name)`` of every compiled kernel a module of ``accel`` holds (Numba dispatchers,
    under every name they are imported as) and of the BLAS products."""
    points = []
    for info in pkgutil.walk_packages(accel.__path__, "accel."):
        module = importlib.import_module(info.name)
        points += [(module, name) for name, value in vars(module).items()
                   if isinstance(value, CPUDispatcher) or (info.name == "accel.numerics.gemm" and name in BLAS)]
    return points


def breakdown(step: Callable[[], object], repeats: int, warmup: int) -> dict[str, tuple[float, float]]:
    """Seconds per step and calls per step in each of ``PARTS`` over ``repeats`` steps (after
    ``warmup``), the whole step (``"step"``), the rest (``"rest"``) and, across the parts, the time
    inside compiled code (``"kernels"``: the outermost call of each ``compiled_entry_points``), timers
    around the entry points (put back afterwards)."""
    for _ in range(warmup):
        step()
    spent = {part: [0.0, 0] for part in (*PARTS, "kernels")}
    originals = {part: getattr(cls, name) for part, (cls, name) in PARTS.items()}
    kernels = {(module, name): getattr(module, name) for module, name in compiled_entry_points()}
    inside = [False]  # a kernel's timer runs: a kernel it calls through Python is not timed twice

    def timed(part, method):
        def call(*args, **kwargs):
            if inside[0]:
                return method(*args, **kwargs)
            inside[0] = part == "kernels"
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[part][0] += time.perf_counter() - start
                spent[part][1] += 1
                inside[0] = False
        return call

    wrapped = {id(kernel): timed("kernels", kernel) for kernel in kernels.values()}
    for part, (cls, name) in PARTS.items():
        setattr(cls, name, timed(part, originals[part]))
    for (module, name), kernel in kernels.items():
        setattr(module, name, wrapped[id(kernel)])
    try:
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        total = time.perf_counter() - start
    finally:
        for part, (cls, name) in PARTS.items():
            setattr(cls, name, originals[part])
        for (module, name), kernel in kernels.items():
            setattr(module, name, kernel)
    out = {part: (seconds / repeats, calls / repeats) for part, (seconds, calls) in spent.items()}
    return {"step": (total / repeats, 1.0), **out,
            "rest": ((total - sum(spent[part][0] for part in PARTS)) / repeats, 0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per case (median kept)")
    parser.add_argument("--warmup", type=int, default=4, help="untimed steps per case first")
    parser.add_argument("--presets", default=",".join(list_presets()), help="comma-separated preset names")
    parser.add_argument("--breakdown", action="store_true", help="also split each preset's DQN step by the "
                        "chip's entry points")
    args = parser.parse_args()
    presets = args.presets.split(",")

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; python "
          f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}; one thread")
    torch_dqn = median_seconds(torch_dqn_step(), args.repeats, args.warmup)
    torch_td3 = median_seconds(torch_td3_step(), 2 * args.repeats, 2 * args.warmup)  # critic-only and full, mixed
    rows = []
    for preset in tqdm(presets, desc="presets", file=sys.stderr, leave=False):
        dqn = dqn_agent(Accelerator(load_config(preset)))
        td3 = td3_agent(Accelerator(load_config(preset)))
        rows.append((preset, median_seconds(dqn.train_step, args.repeats, args.warmup),
                     median_seconds(td3.train_step, 2 * args.repeats, 2 * args.warmup),
                     median_seconds(dqn.update_target, args.repeats, 1)))
    print(f"\ntorch fp32, one thread: DQN step {torch_dqn * 1e3:.2f} ms, TD3 step {torch_td3 * 1e3:.2f} ms "
          f"(mean of a critic-only and a full step)\n")
    print("| preset | DQN step ms | DQN vs torch | TD3 step ms | TD3 vs torch | DQN target copy ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for preset, dqn_s, td3_s, copy_s in rows:
        print(f"| {preset} | {dqn_s * 1e3:.2f} | {dqn_s / torch_dqn:.2f}× | {td3_s * 1e3:.2f} | "
              f"{td3_s / torch_td3:.2f}× | {copy_s * 1e3:.2f} |")
    if args.breakdown:
        print("\nWhere a DQN step goes, ms per step (calls per step), timers around the chip's entry points "
              "(the mean over the repeats, so above the median); compiled kernels: the time inside Numba "
              "kernels and BLAS products across all parts, against torch's whole step:\n")
        print("| preset | step | " + " | ".join(PARTS) + " | rest | compiled kernels | kernels vs torch step |")
        print("|---|" + "---:|" * (len(PARTS) + 4))
        for preset in presets:
            parts = breakdown(dqn_agent(Accelerator(load_config(preset))).train_step, args.repeats, args.warmup)
            cells = [f"{parts[part][0] * 1e3:.2f} ({parts[part][1]:.0f})" for part in (*PARTS, "kernels")]
            print(f"| {preset} | {parts['step'][0] * 1e3:.2f} | " + " | ".join(cells[:-1])
                  + f" | {parts['rest'][0] * 1e3:.2f} | {cells[-1]} | {parts['kernels'][0] / torch_dqn:.2f}× |")


if __name__ == "__main__":
    main()
