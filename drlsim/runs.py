"""A training run and its directory (``drlsim train``).

``DIR/config.toml`` holds everything resolved (run options, the agent's settings, the hardware
file); ``DIR/episodes.csv`` one row per finished episode and ``DIR/steps.csv`` one per gradient
step, each row flushed as the run goes, so a crash loses seconds, not the run; ``DIR/summary.json``
is written last and atomically (a temporary file renamed over it), also when the run diverges or is
interrupted (Ctrl-C), with ``finished`` false and ``stopped`` saying why: a directory with a summary
is a run that ended and is never written into again. With the ``tensorboard`` package installed
(the ``tensorboard`` extra), ``DIR/tb/`` gets the return and energy of every episode and the
energy, power and saturations of every gradient step as TensorBoard scalars. With ``trace`` keys
(``drlsim train --trace``), ``DIR/trace.csv`` holds one row per env step: its reward and those keys
of the env's ``info``. The same options and seed give the same files bit for bit, except ``wall_s``.
"""

import csv
import dataclasses
import json
import math
import numbers
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RUN_FILES = ("config.toml", "episodes.csv", "steps.csv", "summary.json", "trace.csv")
EPISODE_COLUMNS = ("episode", "env_steps", "return", "length", "train_steps", "cycles", "energy_j",
                   "energy_inference_j", "energy_training_j", "saturations", "nonfinite", "battery_j", "phase")
TRACE_COLUMNS = ("env_step", "episode", "reward")
"""The first columns of ``trace.csv``; the traced ``info`` keys follow."""
STEP_COLUMNS = ("train_step", "env_step", "loss", "cycles", "energy_j", "power_w", "saturations", "nonfinite")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What ``drlsim train`` was asked to run."""

    agent: str
    """``dqn``, ``td3`` or ``ddpg``."""
    env: str
    """A Gymnasium id (``drlsim/...`` ids included)."""
    hw: str
    """A preset, a hardware file, or ``fp32`` (plain torch, no chip)."""
    steps: int
    """Environment steps of learning."""
    seed: int
    """Seeds the chip, the agent and the environments."""
    out: Path
    """The run directory."""
    eval_episodes: int
    """Episodes of the deterministic policy after learning (on the chip)."""
    energy_budget: str | None
    """None; ``"store"`` (the learner draws from the env's own store); or a battery's joules."""
    settings: object
    """The agent's settings (``agents.settings``)."""
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    """Keyword arguments of ``gymnasium.make`` for the training and evaluation envs (e.g. ``period_steps``)."""
    trace: tuple[str, ...] = ()
    """Keys of the env's ``info`` written per env step to ``DIR/trace.csv``; empty: no trace."""


def check_out_dir(out: Path) -> None:
    """Refuses a directory that holds a run already (ValueError naming it); an empty or new one is fine."""
    if (out / "summary.json").exists():
        ended = "stopped before its end" if not json.loads((out / "summary.json").read_text()).get(
            "finished", True) else "finished"
        raise ValueError(f"--out {out} is already a run that {ended}; choose a new directory")
    present = [name for name in RUN_FILES if (out / name).exists()]
    if present:
        raise ValueError(f"--out {out} holds an unfinished run ({', '.join(present)}); choose a new directory")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A run ready to start: every input checked, nothing written yet."""

    options: RunOptions
    agent: object
    env: object
    eval_env: object
    accelerator: object
    hw_config: object


def prepare(options: RunOptions, hw_config) -> Prepared:
    """Builds the chip, the environments and the agent. Bad input raises ValueError (or a
    ``gymnasium.error.Error`` for an unknown env id) before anything is written."""
    import gymnasium as gym
    import torch

    from accel import Accelerator
    from agents import DQN, TD3

    torch.set_num_threads(1)  # the same arithmetic on every machine, and the chip's simulation is single-threaded
    try:
        env, eval_env = _training_env(options), gym.make(options.env, **options.env_kwargs)
    except TypeError as error:  # an argument the env's constructor does not take
        raise ValueError(f"--env-kwarg: {error}") from None
    _check_trace(options)
    accelerator = None if hw_config is None else Accelerator(hw_config, seed=options.seed)
    replay_limit = hw_config.sram.replay_bytes if hw_config is not None and hw_config.sram.replay_bytes else None
    if options.agent == "dqn":  # its ε schedule is a fraction of the run
        agent = DQN(env.observation_space, env.action_space, options.settings, accelerator, seed=options.seed,
                    total_steps=options.steps, replay_limit_bytes=replay_limit)
    else:
        agent = TD3(env.observation_space, env.action_space, options.settings, accelerator, seed=options.seed,
                    replay_limit_bytes=replay_limit)
    return Prepared(options, agent, env, eval_env, accelerator, hw_config)


def _training_env(options: RunOptions):
    """The env learning runs in, wrapped in ``envs.EnergyBudget`` when learning pays for itself."""
    import gymnasium as gym

    import envs  # registers the drlsim/ ids

    env = gym.make(options.env, **options.env_kwargs)
    if options.energy_budget is None:
        return env
    if options.energy_budget == "store":
        return envs.EnergyBudget(env)
    return envs.EnergyBudget(env, capacity_j=float(options.energy_budget))


def _check_trace(options: RunOptions) -> None:
    """Refuses a traced key that the env's ``info`` does not carry (one step of a throwaway copy shows them)."""
    if not options.trace:
        return
    env = _training_env(options)
    env.reset(seed=options.seed)
    env.action_space.seed(options.seed)
    _, _, _, _, info = env.step(env.action_space.sample())
    unknown = [key for key in options.trace if key not in info]
    if unknown:
        raise ValueError(f"--trace: {options.env}'s info has no {unknown[0]!r}; it has {', '.join(sorted(info))}")


def _toml_value(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def config_toml(p: Prepared) -> str:
    """The resolved configuration as TOML: ``[run]``, ``[settings]`` and the hardware file under ``[hardware]``."""
    from accel.config import config_to_dict

    o = p.options
    run = {"agent": o.agent, "env": o.env, "hw": o.hw, "steps": o.steps, "seed": o.seed,
           "eval_episodes": o.eval_episodes, "energy_budget": o.energy_budget or "", "env_kwargs": o.env_kwargs,
           "trace": o.trace}
    lines = ["[run]", *(f"{k} = {_toml_value(v)}" for k, v in run.items()), "", "[settings]"]
    lines += [f"{f.name} = {_toml_value(getattr(o.settings, f.name))}" for f in dataclasses.fields(o.settings)]
    if p.hw_config is not None:
        hw = config_to_dict(p.hw_config)
        lines += ["", "[hardware]", f"name = {_toml_value(hw.pop('name'))}"]
        for section, values in hw.items():
            lines += ["", f"[hardware.{section}]", *(f"{k} = {_toml_value(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


class _Table:
    """A CSV file written row by row, each row flushed."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self._file = path.open("w", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(columns)
        self._file.flush()

    def write(self, row: list) -> None:
        self._writer.writerow(["" if v is None else v for v in row])
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _fmt(x: float | None) -> str | None:
    return None if x is None else repr(float(x))


def _cell(value) -> object:
    """A traced ``info`` value as a CSV cell: flags as 0/1, numbers as ``repr``, anything else as text."""
    if isinstance(value, bool | np.bool_ | numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _fmt(value)
    return value


def write_atomically(path: Path, text: str) -> None:
    """Writes ``path`` whole or not at all: a temporary file of this process, flushed to disk, renamed
    over it; readers see the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


class _Scalars:
    """TensorBoard scalars in ``DIR/tb`` when the ``tensorboard`` package is installed, else nothing."""

    def __init__(self, out: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # the optional extra is not installed: the CSV files carry everything
            self._writer = None
        else:
            self._writer = SummaryWriter(str(out / "tb"))

    def add(self, step: int, **values) -> None:
        if self._writer is not None:
            for tag, value in values.items():
                if value is not None:
                    self._writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def execute(p: Prepared, echo=print) -> dict:
    """Runs ``p``, writing the run directory as it goes; returns the summary (also written).

    ``echo`` prints a line (per episode: return and energy; the summary line at the end).
    Raises ``agents.loop.Diverged`` after writing the summary of a run that diverged, and
    ``KeyboardInterrupt`` after writing the summary of one interrupted (both marked unfinished).
    """
    from tqdm import tqdm

    from accel.by_tensor import since, top
    from agents.loop import Diverged, Meter, evaluate, learn, mean_std

    o, chip = p.options, p.accelerator is not None
    o.out.mkdir(parents=True, exist_ok=True)
    (o.out / "config.toml").write_text(config_toml(p))
    episodes, steps = _Table(o.out / "episodes.csv", EPISODE_COLUMNS), _Table(o.out / "steps.csv", STEP_COLUMNS)
    trace = _Table(o.out / "trace.csv", TRACE_COLUMNS + o.trace) if o.trace else None
    scalars = _Scalars(o.out)
    meter, start = Meter(p.accelerator), time.perf_counter()
    built = meter.now()  # the agent's construction (its initial weights rounded onto the chip) is not the run's
    built_by_tensor = p.accelerator.counts_by_tensor if chip else {}
    episode_j: list[float] = []
    step_j: list[float] = []
    last = {"return": math.nan, "env_steps": 0, "episode": 1}
    bar = tqdm(total=o.steps, desc=f"{o.agent} {o.env} {o.hw}", unit="step", dynamic_ncols=True, mininterval=0.5)

    def on_train_step(r) -> None:
        c = r.counts
        step_j.append(r.report.energy_j)
        steps.write([r.train_step, r.env_step, _fmt(r.loss), *(
            [c.cycles, _fmt(r.report.energy_j), _fmt(r.report.power_w), c.saturations, c.nonfinite] if chip
            else [None] * 5)])
        if chip:
            scalars.add(r.train_step, **{"train_step/energy_j": r.report.energy_j, "train_step/power_w":
                                         r.report.power_w, "train_step/chip_power_w": r.report.chip_power_w,
                                         "train_step/saturations": c.saturations, "train_step/loss": r.loss})

    def on_episode(r) -> None:
        report, counts = r.inference_report + r.training_report, r.inference + r.training
        episode_j.append(report.energy_j)
        last["return"] = r.episode_return
        episodes.write([r.episode, r.env_steps, _fmt(r.episode_return), r.length, r.train_steps, *(
            [counts.cycles, _fmt(report.energy_j), _fmt(r.inference_report.energy_j),
             _fmt(r.training_report.energy_j), counts.saturations, counts.nonfinite] if chip else [None] * 6),
            _fmt(_stored_j(p.env)), r.phase])
        scalars.add(r.episode, **{"episode/return": r.episode_return,
                                  "episode/energy_j": report.energy_j if chip else None,
                                  "episode/energy_training_j": r.training_report.energy_j if chip else None})
        line = f"episode {r.episode:4d}  return {r.episode_return:9.2f}  length {r.length:4d}"
        if chip:
            line += (f"  energy {report.energy_j * 1e3:10.4g} mJ (inference {r.inference_report.energy_j * 1e3:.4g}, "
                     f"training {r.training_report.energy_j * 1e3:.4g})")
        bar.write(line)

    def on_env_step(n: int, reward: float, info: dict) -> None:
        last["env_steps"] = n
        if trace is not None:
            trace.write([n, last["episode"], _fmt(reward), *(_cell(info[key]) for key in o.trace)])
        last["episode"] = len(episode_j) + 1
        if n % 50 == 0 or n == o.steps:
            parts = {"ep": len(episode_j), "ret": f"{last['return']:.1f}"}
            if chip:
                counts = meter.now()
                parts |= {"E/ep": f"{episode_j[-1] * 1e3 if episode_j else 0.0:.3g}mJ",
                          "P": f"{meter.price(counts).power_w * 1e3:.3g}mW",
                          "sat": counts.saturations, "nan": counts.nonfinite, "to0": counts.underflows}
            bar.set_postfix(parts, refresh=False)
        bar.update(1)

    stopped, totals, interrupted = None, None, False
    try:
        totals = learn(p.agent, p.env, o.steps, o.seed, meter, on_train_step, on_episode, on_env_step)
    except Diverged as error:
        stopped = str(error)
    except KeyboardInterrupt:
        stopped, interrupted = "interrupted (Ctrl-C)", True
    finally:
        bar.close()
        episodes.close()
        steps.close()
        if trace is not None:
            trace.close()
        scalars.close()
    learned = meter.now() - built
    by_tensor = since(p.accelerator.counts_by_tensor, built_by_tensor) if chip else {}
    returns, eval_report = ([], None) if stopped else evaluate(p.agent, p.eval_env, o.eval_episodes,
                                                               o.seed + 10_000, meter)
    mean, std = mean_std(returns)
    run = meter.price(learned)

    def chip_only(value):
        return value if chip else None

    summary = {
        "agent": o.agent, "env": o.env, "hw": o.hw, "seed": o.seed,
        "eval_return_mean": mean if returns else None, "eval_return_std": std if returns else None,
        "eval_returns": returns,
        "energy_j_total": chip_only(run.energy_j),
        "energy_j_inference": chip_only(totals and meter.price(totals.inference).energy_j),
        "energy_j_training": chip_only(totals and meter.price(totals.training).energy_j),
        "energy_j_per_episode_mean": chip_only(sum(episode_j) / len(episode_j) if episode_j else None),
        "energy_j_per_train_step_mean": chip_only(sum(step_j) / len(step_j) if step_j else None),
        "energy_j_eval": chip_only(eval_report and eval_report.energy_j),
        "power_w": chip_only(run.power_w), "chip_power_w": chip_only(run.chip_power_w),
        "energy_breakdown_j": chip_only(dict(run.breakdown_j)), "macs": chip_only(learned.macs),
        "tops_per_w": chip_only(run.tops_per_w), "cycles": chip_only(learned.cycles),
        "saturations": chip_only(learned.saturations), "nonfinite": chip_only(learned.nonfinite),
        "underflows": chip_only(learned.underflows),
        **{f"{field}_by_tensor": chip_only(top(by_tensor, field))
           for field in ("saturations", "nonfinite", "underflows")},
        "train_steps": p.agent.train_steps, "env_steps": last["env_steps"], "episodes": len(episode_j),
        "finished": stopped is None, "stopped": stopped,
        "diverged": None if interrupted else stopped, "wall_s": time.perf_counter() - start,
    }
    write_atomically(o.out / "summary.json", json.dumps(summary, indent=1) + "\n")
    if interrupted:
        raise KeyboardInterrupt(f"interrupted; the run so far is kept in {o.out}, marked unfinished")
    if stopped:
        raise Diverged(f"{stopped}; logs kept in {o.out}")
    echo(summary_line(summary, o.out))
    return summary


def summary_line(s: dict, out: Path) -> str:
    """One line: the run's eval return, energy and power, saturations, wall time."""
    line = (f"{s['agent']} on {s['env']} ({s['hw']}, seed {s['seed']}): {s['env_steps']} env steps, "
            f"{s['train_steps']} gradient steps, {s['episodes']} episodes; eval return {s['eval_return_mean']:.1f} "
            f"± {s['eval_return_std']:.1f} over {len(s['eval_returns'])} episodes")
    if s["energy_j_total"] is not None:
        per_episode = s["energy_j_per_episode_mean"]
        line += (f"; energy {s['energy_j_total'] * 1e3:.4g} mJ (inference {s['energy_j_inference'] * 1e3:.4g}, "
                 f"training {s['energy_j_training'] * 1e3:.4g}), "
                 + (f"{per_episode * 1e3:.4g} mJ per episode, " if per_episode is not None else "")
                 + f"power {s['power_w'] * 1e3:.4g} mW; {s['saturations']} saturations{_most(s, 'saturations')}, "
                 f"{s['nonfinite']} NaN/inf{_most(s, 'nonfinite')}, {s['underflows']} rounded to 0"
                 f"{_most(s, 'underflows')}")
    return line + f"; {s['wall_s']:.0f} s -> {out}"


def _most(s: dict, field: str) -> str:
    """`` (most in NAME: N)`` for the tensor with the most ``field`` in a summary, or nothing."""
    by_tensor = s.get(f"{field}_by_tensor") or {}
    name = next(iter(by_tensor), None)
    return f" (most in {name}: {by_tensor[name]})" if name is not None else ""


def _stored_j(env) -> float | None:
    """Energy left in the device's battery or store, when learning pays from one."""
    from envs import EnergyBudget, find_wrapper

    try:
        return find_wrapper(env, EnergyBudget).battery_j
    except ValueError:
        return None
