"""The sweep file (``drlsim sweep SWEEP.toml``): what every point runs and which values it takes.

```toml
[run]                        # what each point runs: drlsim train's options
agent = "dqn"                # dqn | td3 | ddpg
env = "CartPole-v1"
hw = "edge-int8"             # the base chip (a preset or a hardware file); hardware keys override it
steps = 20000
seeds = [0, 1, 2]
eval_episodes = 5
settings = { batch_size = 32 }   # agent settings (agents/settings.py) for every point

[grid]                       # key -> list of values: the cartesian product
"array.rows" = [8, 16, 32]            # a dotted hardware key
"formats.weight" = ["int8", "bf16"]
"settings.hidden" = ["64,64", "256,256"]   # an agent setting
"clock.voltage_v" = { low = 0.6, high = 0.9 }   # a range: only with [sample] or [search]

[sample]                     # instead of the whole product: points drawn at random (deterministic)
points = 20
seed = 0

[search]                     # instead of the product: Optuna's NSGA-II over the [grid] keys and ranges
sampler = "nsga2"
trials = 40
minimize = "energy_j_per_episode_mean"
maximize = "eval_return_mean"
```

A workload sweep prices one training step at every point without learning: ``[run] workload =
"dqn"`` (or ``"td3"``, ``"ddpg"``) with the shape options ``obs``, ``actions``, ``hidden``,
``batch`` (default: the sizes of ``env``'s spaces and the agent's settings); its ``env``, ``steps``,
``seeds`` are what ``--confirm K`` re-runs the best points with.

Everything is checked when the file is read: every value of a hardware key through
``accel.config.with_overrides`` and the energy model, every agent setting through
``agents.settings.agent_settings``; each problem is a one-line ``ValueError`` naming the key.
"""

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RUN_KEYS = {"agent", "env", "hw", "steps", "seeds", "eval_episodes", "settings", "workload", "obs", "actions",
            "hidden", "batch"}
AGENTS = ("dqn", "td3", "ddpg")
DEFAULT_ENV = {"dqn": "CartPole-v1", "td3": "Pendulum-v1", "ddpg": "Pendulum-v1"}
RUN_LEVEL_AXES = ("agent", "env")
"""Grid keys that are not hardware keys nor ``settings.<field>``: the agent and the environment."""
OBJECTIVES = ("eval_return_mean", "energy_j_per_episode_mean", "energy_j_per_train_step", "power_w", "tops_per_w")
"""Metrics a ``[search]`` may minimise or maximise (columns of results.csv)."""
LEARNING_ONLY = ("eval_return_mean", "energy_j_per_episode_mean")
"""Metrics a workload sweep does not measure (it learns nothing and has no episodes)."""


@dataclass(frozen=True, slots=True)
class Range:
    """A numeric range of a ``[sample]`` or ``[search]`` axis: uniform in ``[low, high]`` (integers if both are)."""

    low: float
    high: float
    log: bool = False
    """Draw uniformly in log space (both bounds > 0)."""

    @property
    def integer(self) -> bool:
        """Whether the axis takes integers."""
        return isinstance(self.low, int) and isinstance(self.high, int)


@dataclass(frozen=True, slots=True)
class Axis:
    """One swept key: a list of values, or a numeric ``Range``."""

    key: str
    values: tuple | Range

    @property
    def kind(self) -> str:
        """``"hardware"``, ``"settings"`` or ``"run"``."""
        if self.key in RUN_LEVEL_AXES:
            return "run"
        return "settings" if self.key.startswith("settings.") else "hardware"


@dataclass(frozen=True, slots=True)
class RunSpec:
    """The ``[run]`` table: what each point runs."""

    agent: str
    """``dqn``, ``td3`` or ``ddpg`` (for a workload sweep: the workload's agent)."""
    env: str
    """Gymnasium id."""
    hw: str
    """The base chip: a preset, a hardware file (resolved to an absolute path) or ``fp32``."""
    steps: int | None
    """Environment steps of learning (None: the agent's ``learning_starts`` + 500, as ``drlsim train``)."""
    seeds: tuple[int, ...]
    """Seeds every combination runs with."""
    eval_episodes: int
    """Episodes of the deterministic policy after learning."""
    settings: tuple[tuple[str, str], ...]
    """Agent settings for every point, as ``--set`` texts."""
    workload: bool
    """Price one training step per point instead of learning."""
    obs: int | None
    """Workload: observation size (None: from ``env``)."""
    actions: int | None
    """Workload: actions (dqn) or action size (td3) (None: from ``env``)."""


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """The ``[search]`` table."""

    trials: int
    """Trials in all (``--resume`` continues up to this many)."""
    objectives: tuple[tuple[str, str], ...]
    """(metric, ``"minimize"`` | ``"maximize"``) in order."""
    seed: int
    """Seeds the sampler."""
    population: int
    """NSGA-II population size."""


@dataclass(frozen=True, slots=True)
class Point:
    """One thing to run: values of the swept keys and a seed."""

    values: tuple[tuple[str, object], ...]
    seed: int

    @property
    def id(self) -> str:
        """A stable name of the point (a hash of its values and seed): its run directory and CSV key."""
        text = json.dumps([[k, v] for k, v in self.values] + [self.seed], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def of(self, kind: str) -> dict[str, object]:
        """The values of the axes of ``kind`` (``"hardware"``, ``"settings"``, ``"run"``), keys as in the grid."""
        return {k: v for k, v in self.values if Axis(k, ()).kind == kind}


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """A whole sweep file, checked."""

    run: RunSpec
    axes: tuple[Axis, ...]
    sample: tuple[int, int] | None
    """``(points, seed)`` of ``[sample]``, or None."""
    search: SearchSpec | None
    text: str
    """The file's text, kept in the sweep directory."""

    @property
    def keys(self) -> tuple[str, ...]:
        """The swept keys, in the file's order (the CSV's columns)."""
        return tuple(axis.key for axis in self.axes)

    def points(self) -> list[Point]:
        """Every point of a grid or of a ``[sample]``, each combination crossed with every seed."""
        combos = _sample(self.axes, *self.sample) if self.sample else itertools.product(
            *(axis.values for axis in self.axes))
        return [Point(tuple(zip(self.keys, combo, strict=True)), seed) for combo in combos for seed in self.run.seeds]


def _sample(axes: tuple[Axis, ...], points: int, seed: int) -> list[tuple]:
    """``points`` combinations drawn at random: distinct ones from the product when every axis is a list."""
    rng = np.random.default_rng(seed)
    if all(not isinstance(axis.values, Range) for axis in axes):
        product = list(itertools.product(*(axis.values for axis in axes)))
        picks = rng.choice(len(product), size=min(points, len(product)), replace=False)
        return [product[i] for i in sorted(picks)]
    return [tuple(_draw(axis.values, rng) for axis in axes) for _ in range(points)]


def _draw(values: tuple | Range, rng: np.random.Generator) -> object:
    if not isinstance(values, Range):
        return values[int(rng.integers(len(values)))]
    if values.log:
        x = math.exp(rng.uniform(math.log(values.low), math.log(values.high)))
    else:
        x = rng.uniform(values.low, values.high)
    return min(max(round(x), values.low), values.high) if values.integer else float(x)


def load_sweep(path: Path) -> SweepSpec:
    """Reads and checks a sweep file.

    Raises:
        ValueError: A missing or malformed file (with the line), an unknown table or key, an empty
            grid, a key that is not in the hardware schema or the agent's settings, or a value their
            validation refuses; the message names the file and the key.
    """
    if not path.is_file():
        raise ValueError(f"sweep file {str(path)!r} not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
    return parse_sweep(data, str(path), path.resolve().parent, text)


def parse_sweep(data: dict, source: str, base_dir: Path, text: str = "") -> SweepSpec:
    """Checks a parsed sweep file (see :func:`load_sweep`); relative hardware paths resolve against ``base_dir``."""
    unknown = sorted(set(data) - {"run", "grid", "sample", "search"})
    if unknown:
        raise ValueError(f"{source}: unknown table [{unknown[0]}]; allowed: [run], [grid], [sample], [search]")
    for table in ("run", "grid", "sample", "search"):
        if not isinstance(data.get(table, {}), dict):
            raise ValueError(f"{source}: {table} must be a table [{table}]")
    run = _run(data.get("run", {}), source, base_dir)
    grid = data.get("grid", {})
    if not grid:
        raise ValueError(f"{source}: [grid] is empty; give at least one key, e.g. \"array.rows\" = [8, 16]")
    axes = tuple(_axis(key, values, run, source) for key, values in grid.items())
    _check_hardware(axes, run, source)
    if data.get("sample") and data.get("search"):
        raise ValueError(f"{source}: [sample] and [search] exclude each other; keep one")
    sample = _sample_spec(data["sample"], source) if "sample" in data else None
    search = _search_spec(data["search"], run, source) if "search" in data else None
    ranged = [axis.key for axis in axes if isinstance(axis.values, Range)]
    if ranged and not (sample or search):
        raise ValueError(f"{source}: grid.{ranged[0]} is a range; a range needs [sample] or [search] "
                         "(a grid takes lists of values)")
    return SweepSpec(run, axes, sample, search, text)


def _run(table: dict, source: str, base_dir: Path) -> RunSpec:
    unknown = sorted(set(table) - RUN_KEYS)
    if unknown:
        raise ValueError(f"{source}: unknown key run.{unknown[0]}; allowed: {', '.join(sorted(RUN_KEYS))}")
    workload = "workload" in table
    agent = table.get("workload" if workload else "agent", "dqn")
    if workload and "agent" in table:
        raise ValueError(f"{source}: run.workload names the agent; drop run.agent")
    if agent not in AGENTS:
        raise ValueError(f"{source}: run.{'workload' if workload else 'agent'} must be one of "
                         f"{', '.join(AGENTS)}, got {agent!r}")
    env = _typed(table, "env", str, DEFAULT_ENV[agent], source)
    hw = _typed(table, "hw", str, "edge-int8", source)
    if hw.endswith(".toml") or "/" in hw:
        hw = str((base_dir / hw).resolve())
    seeds = table.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) for s in seeds) or len(set(seeds)) < len(seeds):
        raise ValueError(f"{source}: run.seeds must be a non-empty list of distinct integers, got {seeds!r}")
    settings = table.get("settings", {})
    if not isinstance(settings, dict):
        raise ValueError(f"{source}: run.settings must be a table of agent settings, got {settings!r}")
    texts = {key: setting_text(value) for key, value in settings.items()}
    for key, option in (("hidden", "hidden"), ("batch", "batch_size")):
        if key in table:
            if not workload:
                raise ValueError(f"{source}: run.{key} is a workload option; use run.settings.{option}")
            texts[option] = setting_text(table[key])
    for key in ("obs", "actions"):
        if key in table and not workload:
            raise ValueError(f"{source}: run.{key} is a workload option (with run.workload)")
    spec = RunSpec(agent, env, hw, _positive_or_none(table, "steps", source), tuple(seeds),
                   _positive_or_none(table, "eval_episodes", source) or 5, tuple(texts.items()), workload,
                   _positive_or_none(table, "obs", source), _positive_or_none(table, "actions", source))
    _check_settings(spec, {}, source, "run.settings")
    if hw != "fp32":
        _hardware(hw, {}, source, "run.hw")
    elif workload:
        raise ValueError(f"{source}: run.hw = 'fp32' has no chip to price a workload on; name a preset or a file")
    return spec


def _axis(key: str, values: object, run: RunSpec, source: str) -> Axis:
    where = f"grid.{key}"
    if isinstance(values, dict):
        values = _range(values, where, source)
        probes = (values.low, values.high)
    elif isinstance(values, list) and values:
        values = tuple(values)
        probes = values
        if len(set(map(repr, values))) < len(values):
            raise ValueError(f"{source}: {where} repeats a value: {list(values)!r}")
    else:
        raise ValueError(f"{source}: {where} must be a non-empty list of values or a range "
                         f"{{ low = ..., high = ... }}, got {values!r}")
    axis = Axis(key, values)
    for value in probes:
        if axis.kind == "hardware" and run.hw == "fp32":
            raise ValueError(f"{source}: {where} is a hardware key but run.hw = 'fp32' has no chip")
        if axis.kind == "run":
            if key == "agent" and (run.workload or value not in AGENTS):
                raise ValueError(f"{source}: {where} must list agents ({', '.join(AGENTS)}) and needs "
                                 f"run.agent, got {value!r}")
            if not isinstance(value, str):
                raise ValueError(f"{source}: {where} must list strings, got {value!r}")
        elif axis.kind == "settings":
            _check_settings(run, {key.removeprefix("settings."): setting_text(value)}, source, where)
    return axis


COMBINATIONS_CHECKED = 4096
"""At most this many combinations of the other hardware axes are tried for a value refused on its own."""


def _check_hardware(axes: tuple[Axis, ...], run: RunSpec, source: str) -> None:
    """Refuses an unknown hardware key, and a value that its own check refuses (the error names the
    swept key: ``array.rows = 0``, ``formats.weight = "int7"``) unless some combination of the grid
    makes it valid (a small ``sram.weight_bytes`` with a smaller array). A value refused only by
    another field's check (bf16 weights and the base's int32 accumulator; a voltage too low for the
    base's clock) is kept: those combinations fail as points, each with its one-line error."""
    from accel import load_config
    from accel.config import config_to_dict, with_overrides
    from energy import EnergyModel

    hw_axes = [axis for axis in axes if axis.kind == "hardware"]
    if not hw_axes:
        return
    base = load_config(run.hw)
    schema = config_to_dict(base)

    def problem(overrides: dict) -> str | None:
        try:
            EnergyModel(with_overrides(base, overrides))
        except ValueError as error:
            return str(error)
        return None

    def probes(axis: Axis) -> tuple:
        return (axis.values.low, axis.values.high) if isinstance(axis.values, Range) else axis.values

    for axis in hw_axes:
        section, _, key = axis.key.partition(".")
        if not isinstance(schema.get(section), dict) or key not in schema[section]:
            _hardware(run.hw, {axis.key: probes(axis)[0]}, source, f"grid.{axis.key}")  # names the allowed keys
        others = [a for a in hw_axes if a is not axis]
        for value in probes(axis):
            error = problem({axis.key: value})
            if error is None or f": {axis.key} " not in error:
                continue
            combos = itertools.islice(itertools.product(*map(probes, others)), COMBINATIONS_CHECKED)
            if not any(problem({axis.key: value, **{a.key: v for a, v in zip(others, combo, strict=True)}}) is None
                       for combo in combos):
                raise ValueError(f"{source}: grid.{axis.key}: {error}")


def _range(table: dict, where: str, source: str) -> Range:
    unknown = sorted(set(table) - {"low", "high", "log"})
    if unknown or "low" not in table or "high" not in table:
        raise ValueError(f"{source}: {where} as a range takes low, high and optionally log, got {table!r}")
    low, high, log = table["low"], table["high"], table.get("log", False)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
        raise ValueError(f"{source}: {where} low and high must be finite numbers, got {low!r}, {high!r}")
    if not low < high or (log and low <= 0) or not isinstance(log, bool):
        raise ValueError(f"{source}: {where} needs low < high (and low > 0 with log = true), got {table!r}")
    return Range(low, high, log)


def _sample_spec(table: dict, source: str) -> tuple[int, int]:
    unknown = sorted(set(table) - {"points", "seed"})
    if unknown:
        raise ValueError(f"{source}: unknown key sample.{unknown[0]}; allowed: points, seed")
    points, seed = table.get("points"), table.get("seed", 0)
    if not _is_int(points) or points < 1:
        raise ValueError(f"{source}: sample.points must be a positive integer, got {points!r}")
    if not _is_int(seed):
        raise ValueError(f"{source}: sample.seed must be an integer, got {seed!r}")
    return points, seed


def _search_spec(table: dict, run: RunSpec, source: str) -> SearchSpec:
    allowed = {"sampler", "trials", "minimize", "maximize", "seed", "population"}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"{source}: unknown key search.{unknown[0]}; allowed: {', '.join(sorted(allowed))}")
    if table.get("sampler", "nsga2") != "nsga2":
        raise ValueError(f"{source}: search.sampler must be 'nsga2', got {table['sampler']!r}")
    objectives = []
    for direction in ("minimize", "maximize"):
        names = table.get(direction, [])
        for name in [names] if isinstance(names, str) else names:
            if name not in OBJECTIVES:
                raise ValueError(f"{source}: search.{direction} = {name!r} is not a metric; metrics: "
                                 f"{', '.join(OBJECTIVES)}")
            if run.workload and name in LEARNING_ONLY:
                raise ValueError(f"{source}: search.{direction} = {name!r} needs learning; a workload sweep "
                                 "measures energy_j_per_train_step, power_w, tops_per_w")
            objectives.append((name, direction))
    if not objectives:
        raise ValueError(f"{source}: [search] needs minimize and/or maximize, e.g. minimize = "
                         "\"energy_j_per_episode_mean\"")
    trials, seed, population = table.get("trials", 20), table.get("seed", 0), table.get("population", 8)
    for key, value in (("trials", trials), ("population", population)):
        if not _is_int(value) or value < 1 + (key == "population"):
            raise ValueError(f"{source}: search.{key} must be an integer ≥ {1 + (key == 'population')}, got {value!r}")
    if not _is_int(seed):
        raise ValueError(f"{source}: search.seed must be an integer, got {seed!r}")
    return SearchSpec(trials, tuple(objectives), seed, population)


def _hardware(hw: str, overrides: dict, source: str, where: str):
    """The base chip with ``overrides``, checked by the config and the energy model."""
    from accel import load_config
    from accel.config import with_overrides
    from energy import EnergyModel

    try:
        config = with_overrides(load_config(hw), overrides)
        EnergyModel(config)
    except ValueError as error:
        raise ValueError(f"{source}: {where}: {error}") from None
    return config


def _check_settings(run: RunSpec, extra: dict[str, str], source: str, where: str) -> None:
    from agents.settings import agent_settings

    try:
        agent_settings(run.agent, {**dict(run.settings), **extra})
    except ValueError as error:
        raise ValueError(f"{source}: {where}: {error}") from None


def setting_text(value: object) -> str:
    """A TOML value as ``drlsim train --set`` text (lists comma-separated, booleans lower case)."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _typed(table: dict, key: str, kind: type, default, source: str):
    value = table.get(key, default)
    if not isinstance(value, kind):
        raise ValueError(f"{source}: run.{key} must be a {kind.__name__}, got {value!r}")
    return value


def _positive_or_none(table: dict, key: str, source: str) -> int | None:
    value = table.get(key)
    if value is not None and (not _is_int(value) or value < 1):
        raise ValueError(f"{source}: run.{key} must be a positive integer, got {value!r}")
    return value
