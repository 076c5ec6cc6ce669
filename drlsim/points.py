"""Running one sweep point, in whatever process a backend gives it: a real training run through
``drlsim.runs`` (the ``drlsim train`` machinery), or the price of one training step of a workload.

Every point returns one row of ``results.csv`` (:data:`METRICS` plus its id, status and error). A
training point writes its run directory ``points/<id>/`` (``drlsim train``'s files) and, once
finished, ``points/<id>/row.json`` (atomically): a sweep killed after the run finished but before
its row reached ``results.csv`` takes the row from there when resumed.
"""

import contextlib
import dataclasses
import json
import shutil
import time
from pathlib import Path

from drlsim.runs import write_atomically
from drlsim.sweepfile import Point, RunSpec, SweepSpec
from energy.report import COMPONENTS

METRICS = ("eval_return_mean", "eval_return_std", "energy_j_per_episode_mean", "energy_j_per_train_step",
           "energy_j_total", "power_w", "tops_per_w", "macs", "cycles",
           *(f"energy_{c}_j" for c in COMPONENTS),
           "train_steps", "env_steps", "episodes", "saturations", "nonfinite", "wall_s", "run_dir")
"""Measured columns of results.csv. For a workload point the energy, cycles and MACs are those of one
training step (``energy_j_total`` = ``energy_j_per_train_step``); return and episodes are empty."""


def columns(spec: SweepSpec) -> tuple[str, ...]:
    """The header of a sweep's results.csv: id, status, error, every swept key, the seed, the metrics."""
    return ("point", "status", "error", *spec.keys, "seed", *METRICS)


def run_batch(spec: SweepSpec, out: str, points: list[Point]) -> list[dict]:
    """Runs ``points`` one after the other; returns their rows (a failed point's row carries its error)."""
    return [run_point(spec, Path(out), point) for point in points]


def run_point(spec: SweepSpec, out: Path, point: Point) -> dict:
    """Runs one point and returns its row; never raises for a problem of the point itself."""
    start = time.perf_counter()
    row = {"point": point.id, **dict(point.values), "seed": point.seed}
    try:
        metrics = _price(spec.run, point) if spec.run.workload else _train(spec.run, out, point)
    except Exception as error:  # a failing point is recorded in its row and the sweep goes on
        message = " ".join(f"{type(error).__name__}: {error}".split())
        return {**row, "status": "error", "error": message[:500], "wall_s": time.perf_counter() - start}
    return {**row, "status": "ok", "error": "", **metrics, "wall_s": time.perf_counter() - start}


def hardware(run: RunSpec, point: Point):
    """The chip of a point: the base chip with the point's hardware values, or None for ``fp32``."""
    from accel import load_config
    from accel.config import with_overrides
    from energy import EnergyModel

    if run.hw == "fp32":
        return None
    config = with_overrides(load_config(run.hw), point.of("hardware"))
    EnergyModel(config)  # refuses a node or table the energy model cannot price
    return config


def settings(run: RunSpec, point: Point):
    """The agent's settings of a point: ``[run] settings`` with the point's ``settings.*`` values."""
    from agents.settings import agent_settings
    from drlsim.sweepfile import setting_text

    changes = {k.removeprefix("settings."): setting_text(v) for k, v in point.of("settings").items()}
    return agent_settings(agent_of(run, point), {**dict(run.settings), **changes})


def agent_of(run: RunSpec, point: Point) -> str:
    """The agent of a point (``run.agent`` unless the grid sweeps ``agent``)."""
    return point.of("run").get("agent", run.agent)


def _report_metrics(config, counts) -> dict:
    from energy import EnergyModel

    report = EnergyModel(config).estimate(counts)
    return {"tops_per_w": report.tops_per_w, "macs": counts.macs, "cycles": counts.cycles,
            **{f"energy_{c}_j": report.breakdown_j[c] for c in COMPONENTS}}


def _price(run: RunSpec, point: Point) -> dict:
    """One training step of the point's workload, the second (the weights already on chip), priced."""
    from accel import Accelerator
    from accel.workload import run_counts
    from energy import EnergyModel

    config = hardware(run, point)
    workload = step_workload(run, point, master_weights=config.formats.master_weight != "none")
    acc = Accelerator(config)
    run_counts(acc, workload)
    counts = run_counts(acc, workload)
    report = EnergyModel(config).estimate(counts)
    return {"energy_j_per_train_step": report.energy_j, "energy_j_total": report.energy_j,
            "power_w": report.power_w, "train_steps": 1, **_report_metrics(config, counts)}


def step_workload(run: RunSpec, point: Point, master_weights: bool = True):
    """The workload of one training step of a point's agent (TD3, DDPG: with the actor update), sized
    by ``[run] obs`` and ``actions`` or else by the environment's spaces; ``master_weights``: the chip
    keeps master weights (each update then rounds a working copy into the weight format)."""
    from agents.workloads import dqn_workloads, td3_workloads

    agent, obs, actions = agent_of(run, point), run.obs, run.actions
    if obs is None or actions is None:
        env_obs, env_actions = _space_sizes(point.of("run").get("env", run.env))
        obs, actions = obs or env_obs, actions or env_actions
    if agent == "dqn":
        return dqn_workloads(settings(run, point), obs, actions, master_weights)["train_step"]
    return td3_workloads(settings(run, point), obs, actions, master_weights)["actor_step"]


def _space_sizes(env_id: str) -> tuple[int, int]:
    import gymnasium as gym
    import numpy as np

    import envs  # noqa: F401 — registers the drlsim/ ids

    env = gym.make(env_id)
    space = env.action_space
    actions = int(space.n) if isinstance(space, gym.spaces.Discrete) else int(np.prod(space.shape))
    obs = int(np.prod(env.observation_space.shape))
    env.close()
    return obs, actions


def _train(run: RunSpec, out: Path, point: Point) -> dict:
    """A real training run in ``out/points/<id>``; its stdout and stderr go to ``out/points/<id>.log``."""
    from drlsim import runs

    run_dir = out / "points" / point.id
    finished = run_dir / "row.json"
    if finished.is_file():  # finished before a kill took the sweep: its row never reached results.csv
        return json.loads(finished.read_text())
    if run_dir.exists():  # in flight when the sweep was killed: start it again
        shutil.rmtree(run_dir)
    agent, hw_config, agent_settings = agent_of(run, point), hardware(run, point), settings(run, point)
    steps = run.steps or agent_settings.learning_starts + 500
    options = runs.RunOptions(agent=agent, env=point.of("run").get("env", run.env), hw=run.hw, steps=steps,
                              seed=point.seed, out=run_dir, eval_episodes=run.eval_episodes, energy_budget=None,
                              settings=agent_settings)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with (out / "points" / f"{point.id}.log").open("w") as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        prepared = runs.prepare(options, hw_config)
        summary = runs.execute(prepared)
    metrics = {key: summary.get(key) for key in ("eval_return_mean", "eval_return_std", "energy_j_per_episode_mean",
                                                 "energy_j_total", "power_w", "train_steps", "env_steps",
                                                 "episodes", "saturations", "nonfinite")}
    metrics["energy_j_per_train_step"] = summary.get("energy_j_per_train_step_mean")
    if prepared.accelerator is not None:
        metrics |= _report_metrics(hw_config, prepared.accelerator.counts)
    metrics["run_dir"] = str(Path("points") / point.id)
    write_atomically(finished, json.dumps(metrics))
    return metrics


def confirm_spec(spec: SweepSpec) -> SweepSpec:
    """A workload sweep's ``[run]`` as learning runs (``--confirm``): same agent, env, steps and seeds."""
    return dataclasses.replace(spec, run=dataclasses.replace(spec.run, workload=False), search=None, sample=None)
