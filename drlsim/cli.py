"""The ``drlsim`` command line: ``train``, ``gemm``, ``workload``, ``presets``, ``sweep``, ``compare``.

Exit status: 0 on success, 2 on bad input (one line on stderr naming the problem, no traceback),
1 on anything else.
"""

import argparse
import json
import os
import sys

import numpy as np


class BadInput(Exception):
    """A problem with what the user asked for (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every bad input
        raise BadInput(f"{self.prog}: {message}")


def _integer(name: str, lowest: int = 1):
    """An argparse type: an integer ≥ ``lowest``, else a one-line ``BadInput`` naming ``name``."""
    what = "a positive integer" if lowest == 1 else f"an integer ≥ {lowest}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise BadInput(f"{name} must be {what}, got {text!r}") from None
        if value < lowest:
            raise BadInput(f"{name} must be {what}, got {value}")
        return value
    return parse


def preset_rows() -> list[dict]:
    """Every preset as ``drlsim presets --json`` prints it: its resolved hardware file, its clock
    (``frequency_hz`` resolved, ``max_frequency_hz`` the highest its voltage allows) and its peak
    efficiency (``peak_tops_per_w``: the MAC array at full utilisation at the declared densities,
    two dense-equivalent operations per MAC, chip energy only: arithmetic and PE registers, less what
    skipping and gating save, as ``EnergyModel.peak_tops_per_w`` and docs/energy.md define it)."""
    from accel.config import config_to_dict, list_presets
    from energy import EnergyModel

    rows = []
    for name in list_presets():
        cfg = load_hw(name)
        model = EnergyModel(cfg)
        rows.append({**config_to_dict(cfg), "name": name, "peak_tops_per_w": model.peak_tops_per_w(),
                     "frequency_hz": model.frequency_hz, "max_frequency_hz": model.max_frequency_hz})
    return rows


def _cmd_presets(args: argparse.Namespace) -> None:
    rows = preset_rows()
    if args.json:
        print(json.dumps(rows))
        return
    for row in rows:
        array, f, clock, sram = row["array"], row["formats"], row["clock"], row["sram"]
        formats = f"w={f['weight']} a={f['activation']} g={f['gradient']} acc={f['accumulator']}"
        buffers = "+".join(f"{sram[k] / 1024:g}" for k in ("weight_bytes", "activation_bytes", "output_bytes"))
        replay = f" replay {sram['replay_bytes'] / 1024:g}" if sram["replay_bytes"] else ""
        print(f"{row['name']:14} {array['rows']}x{array['cols']} {array['dataflow']:2}  {formats:44} "
              f"SRAM {buffers}{replay} KiB, DRAM {row['dram']['bandwidth_bytes_per_cycle']:g} B/cycle  "
              f"{row['frequency_hz'] / 1e6:g} MHz (≤ {row['max_frequency_hz'] / 1e6:.0f}) {clock['voltage_v']:g} V "
              f"{row['energy']['node_nm']:g} nm  "
              f"peak {row['peak_tops_per_w']:.2f} TOPS/W")


def load_hw(hw: str, changes: dict[str, object] | None = None):
    """The hardware description named on the command line (a preset or a TOML file), with
    ``changes`` (dotted keys, ``--hw-set``) applied, checked by the energy model too (node range,
    override table); bad ones are ``BadInput``."""
    from accel import load_config
    from accel.config import with_overrides
    from energy import EnergyModel

    try:
        config = load_config(hw)
        if changes:
            config = with_overrides(config, changes)
        EnergyModel(config)
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise BadInput(str(error)) from None
    return config


def _values_bytes(m: int, k: int, n: int) -> int:
    """Memory the values of a GEMM take at once: float32 operands and result, their int64 codes or
    float64 copies, and the accumulators (float64 or int64)."""
    return 12 * (m * k + k * n) + 20 * m * n


def _available_bytes() -> int:
    """Physical memory of this machine (a GEMM with values may take at most half of it)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gemm_report(config, m: int, k: int, n: int, fidelity: str = "fast", seed: int = 0,
                counts_only: bool = False) -> dict:
    """Runs one GEMM with random operands on a chip (or, ``counts_only``, plans and counts it
    without values) and returns the ``drlsim gemm --json`` object."""
    from accel import Accelerator
    from energy import EnergyModel

    acc = Accelerator(config, fidelity=fidelity, seed=seed)
    if counts_only:
        acc.gemm_counts(m, k, n)
    else:
        need, have = _values_bytes(m, k, n), _available_bytes()
        if need > have // 2:
            raise BadInput(f"the values of a {m}x{k}x{n} GEMM need about {need / 2**30:,.1f} GiB, more than half "
                           f"of this machine's {have / 2**30:,.1f} GiB; drlsim gemm --counts-only prices it "
                           "without values")
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
        acc.gemm(a, b)
    counts = acc.counts
    report = EnergyModel(config).estimate(counts)
    return {
        "hw": config.name, "m": m, "k": k, "n": n, "fidelity": fidelity, "seed": seed, "counts_only": counts_only,
        "dataflow": config.array.dataflow.value, "array": [config.array.rows, config.array.cols],
        "cycles": counts.cycles, "compute_cycles": counts.compute_cycles, "stall_cycles": counts.stall_cycles,
        "vector_cycles": counts.vector_cycles, "macs": counts.macs, "zero_macs": counts.zero_macs,
        "skipped_macs": counts.skipped_macs, "saved_cycles": counts.saved_cycles,
        "utilization": acc.utilization(), "folds": counts.folds,
        "sram_reads": dict(counts.sram_reads), "sram_writes": dict(counts.sram_writes),
        "dram_read_bytes": counts.dram_read_bytes, "dram_write_bytes": counts.dram_write_bytes,
        "saturations": counts.saturations, "nonfinite": counts.nonfinite,
        "time_s": report.time_s, "energy_j": report.energy_j, "energy_breakdown_j": dict(report.breakdown_j),
        "power_w": report.power_w, "chip_energy_j": report.chip_energy_j, "chip_power_w": report.chip_power_w,
    }


def _cmd_gemm(args: argparse.Namespace) -> None:
    d = gemm_report(load_hw(args.hw), args.M, args.K, args.N, args.fidelity, args.seed, args.counts_only)
    if args.json:
        print(json.dumps(d))
        return
    print(f"{d['hw']}: C[{d['m']},{d['n']}] = A[{d['m']},{d['k']}] · B[{d['k']},{d['n']}] on "
          f"{d['array'][0]}x{d['array'][1]} {d['dataflow']} "
          f"({'counts only, no values' if d['counts_only'] else d['fidelity']})")
    print(f"  cycles {d['cycles']:,} = compute {d['compute_cycles']:,} + stall {d['stall_cycles']:,} "
          f"+ vector {d['vector_cycles']:,}; {d['folds']} folds, utilization {d['utilization']:.1%}")
    skipped = f", {d['skipped_macs']:,} skipped saving {d['saved_cycles']:,} cycles" if d["skipped_macs"] else ""
    print(f"  MACs {d['macs']:,} ({d['zero_macs']:,} with a zero operand{skipped}); "
          f"DRAM read {d['dram_read_bytes']:,} B, written {d['dram_write_bytes']:,} B")
    print("  SRAM words read  " + ", ".join(f"{k} {v:,}" for k, v in d["sram_reads"].items()))
    print("  SRAM words write " + ", ".join(f"{k} {v:,}" for k, v in d["sram_writes"].items()))
    print(f"  energy {d['energy_j'] * 1e6:.3f} µJ in {d['time_s'] * 1e6:.2f} µs = {d['power_w'] * 1e3:.2f} mW "
          f"with DRAM, chip alone {d['chip_power_w'] * 1e3:.2f} mW: "
          + ", ".join(f"{k} {v * 1e6:.3f} µJ" for k, v in d["energy_breakdown_j"].items()))
    if d["saturations"] or d["nonfinite"]:
        print(f"  numerical trouble: {d['saturations']} saturations, {d['nonfinite']} NaN/inf values")


def _layers(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise BadInput(f"--hidden must be comma-separated positive integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise BadInput(f"--hidden must be comma-separated positive integers, got {text!r}")
    return sizes


def step_workload(agent: str, obs: int, actions: int, hidden: tuple[int, ...] | None, batch: int | None,
                  master_weights: bool = True):
    """The workload of one training step of ``agent`` (``dqn``, ``td3``, ``ddpg``) with its default
    settings (``agents.settings``), the network widths and batch replaced where given; TD3's is a
    step that also updates the actor and the targets. ``master_weights``: the chip keeps master
    weights (each update then rounds a working copy into the weight format)."""
    import dataclasses

    from agents.settings import agent_settings
    from agents.workloads import dqn_workloads, td3_workloads

    settings = agent_settings(agent)
    settings = dataclasses.replace(settings, hidden=hidden or settings.hidden,
                                   batch_size=batch or settings.batch_size)
    if agent == "dqn":
        return dqn_workloads(settings, obs, actions, master_weights)["train_step"]
    return td3_workloads(settings, obs, actions, master_weights)["actor_step"]


def _fractions(flag: str, classes: str, key: str, name: str, noun: str):
    """An argparse type for ``flag``: ``NAME=F`` pairs, NAME one of ``accel.config``'s tuple ``classes``
    and F in (0, 1], as the hardware overrides ``key.format(NAME)``; anything else a one-line ``BadInput``."""
    def parse(text: str) -> dict[str, float]:
        from accel import config

        allowed = getattr(config, classes)
        overrides = {}
        for pair in text.split(","):
            cls, sep, value = pair.partition("=")
            cls = cls.strip()
            if not sep or cls not in allowed:
                raise BadInput(f"{flag} takes {name}={noun[0].upper()} pairs with {name} one of {', '.join(allowed)}, "
                               f"got {pair!r}")
            try:
                fraction = float(value)
            except ValueError:
                fraction = float("nan")
            if not 0 < fraction <= 1:
                raise BadInput(f"{flag} {cls} must be a {noun} in (0, 1], got {value.strip()!r}")
            overrides[key.format(cls)] = fraction
        return overrides
    return parse


def workload_rows(hws: list[str], agent: str, obs: int, actions: int, hidden: tuple[int, ...] | None = None,
                  batch: int | None = None, overrides: dict[str, float] | None = None) -> list[dict]:
    """Prices one training step of ``agent`` on each chip: the rows of ``drlsim workload``.
    ``overrides``: hardware overrides applied to every chip (``--density``'s ``[sparsity]`` densities,
    ``--compression-ratio``'s ``[compression]`` ratios)."""
    from accel import Accelerator
    from accel.config import with_overrides
    from accel.workload import run_counts
    from energy import EnergyModel

    rows = []
    for hw in hws:
        config = load_hw(hw)
        if overrides:
            config = with_overrides(config, overrides)
        try:
            workload = step_workload(agent, obs, actions, hidden, batch, config.formats.master_weight != "none")
        except ValueError as error:
            raise BadInput(str(error)) from None
        acc = Accelerator(config)
        run_counts(acc, workload)  # a first step brings the weights on chip
        counts = run_counts(acc, workload)
        report = EnergyModel(config).estimate(counts)
        rows.append({
            "hw": config.name, "workload": workload.name, "macs": counts.macs, "cycles": counts.cycles,
            "compute_cycles": counts.compute_cycles, "stall_cycles": counts.stall_cycles,
            "vector_cycles": counts.vector_cycles, "utilization": acc.utilization(counts),
            "dram_read_bytes": counts.dram_read_bytes, "dram_write_bytes": counts.dram_write_bytes,
            "time_s": report.time_s, "energy_j": report.energy_j, "energy_breakdown_j": dict(report.breakdown_j),
            "power_w": report.power_w, "chip_power_w": report.chip_power_w, "ops_per_j": report.ops_per_j,
            "zero_macs": counts.zero_macs, "skipped_macs": counts.skipped_macs, "saved_cycles": counts.saved_cycles,
            "ops": report.ops, "executed_ops": report.executed_ops, "chip_tops_per_w": report.chip_tops_per_w,
        })
    return rows


def _cmd_workload(args: argparse.Namespace) -> None:
    from accel.config import list_presets

    hws = list_presets() if args.hw == ["all"] else args.hw
    rows = workload_rows(hws, args.agent, args.obs, args.actions, args.hidden, args.batch,
                         {**(args.density or {}), **(args.compression_ratio or {})})
    if args.json:
        print(json.dumps(rows))
        return
    print(f"one training step (the second: weights already on chip) of {rows[0]['workload']}, {rows[0]['macs']:,} MACs")
    print(f"{'chip':14} {'cycles':>10} {'stall':>8} {'vector':>8} {'util':>5} {'time µs':>9} {'energy µJ':>10} "
          f"{'system mW':>9} {'chip mW':>8} {'GOPS/W':>8}   energy: mac / sram / dram / vector / leakage µJ")
    for r in rows:
        parts = " / ".join(f"{v * 1e6:.2f}" for v in r["energy_breakdown_j"].values())
        print(f"{r['hw']:14} {r['cycles']:>10,} {r['stall_cycles']:>8,} {r['vector_cycles']:>8,} "
              f"{r['utilization']:>5.2f} {r['time_s'] * 1e6:>9.1f} {r['energy_j'] * 1e6:>10.2f} "
              f"{r['power_w'] * 1e3:>9.2f} {r['chip_power_w'] * 1e3:>8.2f} {r['ops_per_j'] / 1e9:>8.1f}   {parts}")


DEFAULT_ENV = {"dqn": "CartPole-v1", "td3": "Pendulum-v1", "ddpg": "Pendulum-v1"}
SHORT_RUN_STEPS = 2000
"""Environment steps of learning in a default run, after the agent's ``learning_starts``."""


def _settings_overrides(pairs: list[str], flag: str = "--set") -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{flag} takes KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def _typed_pairs(pairs: list[str], flag: str, parse, errors) -> dict[str, object]:
    """``KEY=VALUE`` pairs of ``flag`` with each VALUE ``parse``d, or kept as a string where ``parse``
    raises one of ``errors``."""
    typed: dict[str, object] = {}
    for key, value in _settings_overrides(pairs, flag).items():
        try:
            typed[key] = parse(value)
        except errors:
            typed[key] = value
    return typed


def env_kwargs(pairs: list[str]) -> dict[str, object]:
    """``--env-kwarg KEY=VALUE`` pairs as ``gymnasium.make`` keyword arguments; a VALUE that reads as a
    Python literal (``25000``, ``0.5``, ``True``, ``(0.1, 0.2)``) is that value, anything else a string."""
    import ast

    return _typed_pairs(pairs, "--env-kwarg", ast.literal_eval, (ValueError, SyntaxError))


def hw_changes(pairs: list[str]) -> dict[str, object]:
    """``--hw-set KEY=VALUE`` pairs as hardware-file fields (dotted keys, as a sweep's grid overrides
    them: ``formats.scaling=channel_pow2``, ``array.rows=32``); a VALUE that reads as a TOML value
    (``32``, ``0.5``, ``true``) is that value, anything else a string."""
    import tomllib

    return _typed_pairs(pairs, "--hw-set", lambda value: tomllib.loads(f"v = {value}")["v"], tomllib.TOMLDecodeError)


def _energy_budget(text: str) -> str:
    if text == "store":
        return text
    try:
        joules = float(text)
    except ValueError:
        raise BadInput(f"--energy-budget must be 'store' or a battery capacity in joules, got {text!r}") from None
    if not joules > 0 or joules == float("inf"):
        raise BadInput(f"--energy-budget must be a positive finite energy in joules, got {text!r}")
    return text


def _cmd_train(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import gymnasium as gym

    from agents.loop import Diverged
    from agents.settings import agent_settings
    from drlsim import runs

    try:
        settings = agent_settings(args.agent, _settings_overrides(args.set))
    except ValueError as error:
        raise BadInput(str(error)) from None
    env_id = args.env or DEFAULT_ENV[args.agent]
    steps = args.steps or settings.learning_starts + SHORT_RUN_STEPS
    out = Path(args.out or f"runs/{env_id.replace('/', '-')}__{args.agent}__{Path(args.hw).stem}__{args.seed}__"
                          f"{int(time.time())}")
    changes = hw_changes(args.hw_set)
    if changes and args.hw == "fp32":
        raise BadInput("--hw-set changes a chip's hardware file; --hw fp32 has none")
    hw_config = None if args.hw == "fp32" else load_hw(args.hw, changes)
    hw = f"{args.hw} ({', '.join(args.hw_set)})" if args.hw_set else args.hw
    trace = tuple(key.strip() for key in args.trace.split(",")) if args.trace else ()
    options = runs.RunOptions(args.agent, env_id, hw, steps, args.seed, out, args.eval_episodes,
                              args.energy_budget, settings, env_kwargs(args.env_kwarg), trace)
    try:
        runs.check_out_dir(out)
        prepared = runs.prepare(options, hw_config)
    except (ValueError, gym.error.Error) as error:
        raise BadInput(f"{error}") from None
    try:
        runs.execute(prepared)
    except KeyboardInterrupt as error:
        print(f"drlsim: {error}", file=sys.stderr)
        return 130
    except Diverged as error:
        print(f"drlsim: {error}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``drlsim``."""
    parser = _Parser(prog="drlsim", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    train = verbs.add_parser("train", help="an agent learning on a chip (or on plain torch fp32): a run directory")
    train.add_argument("--agent", choices=["dqn", "td3", "ddpg"], default="dqn")
    train.add_argument("--env", default=None, help="Gymnasium id (default: CartPole-v1 for dqn, Pendulum-v1 else)")
    train.add_argument("--hw", required=True, help="preset, hardware file (TOML), or fp32 for plain torch")
    train.add_argument("--steps", type=_integer("--steps"), default=None,
                       help=f"environment steps (default: the agent's learning_starts + {SHORT_RUN_STEPS})")
    train.add_argument("--seed", type=_integer("--seed", 0), default=0)
    train.add_argument("--out", default=None, help="run directory (default: runs/ENV__AGENT__HW__SEED__TIME)")
    train.add_argument("--eval-episodes", type=_integer("--eval-episodes"), default=5,
                       help="episodes of the deterministic policy after learning (default 5)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="an agent setting (agents/settings.py), e.g. --set batch_size=32 --set hidden=64,64")
    train.add_argument("--hw-set", action="append", default=[], metavar="KEY=VALUE",
                       help="a field of the hardware file, e.g. --hw-set formats.scaling=channel_pow2")
    train.add_argument("--energy-budget", type=_energy_budget, default=None, metavar="store|JOULES",
                       help="learning pays from the env's own store (store) or a battery of JOULES")
    train.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                       help="a gymnasium.make keyword argument of the env, e.g. --env-kwarg period_steps=25000")
    train.add_argument("--trace", default=None, metavar="KEY,...",
                       help="write DIR/trace.csv: per env step its reward and these keys of the env's info, "
                            "e.g. stored_j,delivered")
    train.set_defaults(run=_cmd_train)
    gemm = verbs.add_parser("gemm", help="one GEMM C[M,N] = A[M,K] @ B[K,N] on a chip, with random operands")
    gemm.add_argument("--hw", required=True, help="hardware file (TOML) or preset name")
    gemm.add_argument("M", type=_integer("M"))
    gemm.add_argument("K", type=_integer("K"))
    gemm.add_argument("N", type=_integer("N"))
    gemm.add_argument("--json", action="store_true", help="print one JSON object")
    gemm.add_argument("--fidelity", choices=["fast", "cycle"], default="fast")
    gemm.add_argument("--counts-only", action="store_true",
                      help="plan and count the GEMM without computing values (any size, in milliseconds)")
    gemm.add_argument("--seed", type=_integer("--seed", 0), default=0)
    gemm.set_defaults(run=_cmd_gemm)
    work = verbs.add_parser("workload", help="price one training step of an agent on chips, without learning")
    work.add_argument("--hw", nargs="+", default=["all"], help="hardware files or presets (default: all presets)")
    work.add_argument("--agent", choices=["dqn", "td3", "ddpg"], default="dqn",
                      help="dqn: one update; td3, ddpg: one critic and actor update with target updates")
    work.add_argument("--obs", type=_integer("--obs"), default=4, help="observation size (CartPole: 4)")
    work.add_argument("--actions", type=_integer("--actions"), default=2,
                      help="discrete actions (dqn) or action size (td3)")
    work.add_argument("--hidden", type=_layers, default=None,
                      help="hidden widths, e.g. 256,256 (default: the agent's settings)")
    work.add_argument("--batch", type=_integer("--batch"), default=None, help="batch size (default: the agent's)")
    work.add_argument("--density", default=None, metavar="ROLE=D,...",
                      type=_fractions("--density", "DENSITY_ROLES", "sparsity.{}_density", "ROLE", "density"),
                      help="declared densities of weights, activations, gradients in (0, 1], e.g. "
                           "weight=0.3,activation=0.5 (default: each chip's [sparsity])")
    work.add_argument("--compression-ratio", default=None, metavar="CLASS=R,...",
                      type=_fractions("--compression-ratio", "COMPRESSION_CLASSES", "compression.{}_ratio", "CLASS",
                                      "ratio"),
                      help="declared stored/raw size of the classes a chip compresses, in (0, 1], e.g. "
                           "weight=0.6,replay=0.8 (default: each chip's [compression] ratios)")
    work.add_argument("--json", action="store_true", help="print a JSON list, one object per chip")
    work.set_defaults(run=_cmd_workload)
    presets = verbs.add_parser("presets", help="list the preset chips")
    presets.add_argument("--json", action="store_true", help="print a list of objects")
    presets.set_defaults(run=_cmd_presets)
    from drlsim import compare, sweep

    sweep.add_parser(verbs)
    compare.add_parser(verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``drlsim`` console script; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        status = args.run(args)
    except BadInput as error:
        print(f"drlsim: error: {error}".replace("\n", " "), file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
