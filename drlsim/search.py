"""A sweep's ``[search]``: Optuna's NSGA-II over the ``[grid]`` keys (lists are categorical, ranges
numeric), each trial's objectives the means over its seeds' points.

The study lives in ``study.db`` (Optuna's SQLite storage) in the sweep directory; trials are asked
and told by the driver while their points run on the backend, so ``--resume`` continues the study:
trials left running by a kill are run again (their finished points come from results.csv) and new
ones are asked until ``trials`` exist. Optuna is an optional extra (``pip install 'drlsim[optuna]'``).
"""

from pathlib import Path

from drlsim.runs import write_atomically
from drlsim.sweepfile import Axis, Point, Range, SweepSpec

STUDY = "drlsim-sweep"
"""The study's name in ``study.db``."""


def import_optuna():
    """Optuna, or a ValueError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ValueError("a [search] needs Optuna: pip install 'drlsim[optuna]' (or pip install optuna)") from None
    return optuna


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _distribution(optuna, axis: Axis):
    values = axis.values
    if isinstance(values, Range):
        cls = optuna.distributions.IntDistribution if values.integer else optuna.distributions.FloatDistribution
        return cls(values.low, values.high, log=values.log)
    choices = values if all(map(_scalar, values)) else tuple(range(len(values)))  # lists by their index
    return optuna.distributions.CategoricalDistribution(choices)


def _values(spec: SweepSpec, params: dict) -> tuple[tuple[str, object], ...]:
    out = []
    for axis in spec.axes:
        value = params[axis.key]
        if isinstance(axis.values, tuple) and not all(map(_scalar, axis.values)):
            value = axis.values[value]
        out.append((axis.key, value))
    return tuple(out)


def _objectives(spec: SweepSpec, rows: list[dict]) -> list[float] | None:
    """The trial's objective values (means over its seeds), or None if a point failed or lacks one."""
    from drlsim.sweep import number

    values = []
    for metric, _ in spec.search.objectives:
        numbers = [number(row, metric) for row in rows]
        if any(row["status"] != "ok" for row in rows) or None in numbers:
            return None
        values.append(sum(numbers) / len(numbers))
    return values


def search(spec: SweepSpec, out: Path, backend, results, workers: int) -> tuple[list[dict], list[str]]:
    """Runs (or continues) the study; returns every row and the Pareto front's lines (also in pareto.csv)."""
    from tqdm import tqdm

    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = spec.search
    study = optuna.create_study(
        study_name=STUDY, storage=f"sqlite:///{out.resolve() / 'study.db'}", load_if_exists=True,
        directions=[direction for _, direction in s.objectives],
        sampler=optuna.samplers.NSGAIISampler(population_size=s.population, seed=s.seed))
    distributions = {axis.key: _distribution(optuna, axis) for axis in spec.axes}
    have = {row["point"]: row for row in results.rows()}
    running: set[str] = set()  # points submitted and not back (two trials may share one)
    waiting: dict[int, dict] = {}  # trial number -> {point id: row or None}
    bar = tqdm(total=s.trials, desc="search", unit="trial", dynamic_ncols=True)

    def begin(number: int, params: dict) -> None:
        points = [Point(_values(spec, params), seed) for seed in spec.run.seeds]
        waiting[number] = {p.id: have.get(p.id) for p in points}
        todo = [p for p in points if p.id not in have and p.id not in running]
        running.update(p.id for p in todo)
        batches = [todo] if spec.run.workload else [[p] for p in todo]
        for batch in filter(None, batches):
            backend.submit(number, batch)
        finish_if_done(number)

    def finish_if_done(number: int) -> None:
        rows = waiting[number]
        if None in rows.values():
            return
        values = _objectives(spec, list(rows.values()))
        if values is None:
            study.tell(number, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(number, values)
        del waiting[number]
        bar.update(1)

    def arrived(row: dict) -> None:
        results.append(row)
        have[row["point"]] = row
        running.discard(row["point"])
        for number in [n for n, rows in waiting.items() if row["point"] in rows]:
            waiting[number][row["point"]] = row
            finish_if_done(number)

    try:
        finished = [t for t in study.trials if t.state.is_finished()]
        bar.update(len(finished))
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            begin(trial.number, trial.params)  # left running by a kill: its points again
        while len(study.trials) < s.trials or waiting:
            while len(study.trials) < s.trials and len(waiting) < workers:
                trial = study.ask(distributions)
                begin(trial.number, trial.params)
            if not waiting:
                continue
            _, rows = backend.next_done()
            for row in rows:
                arrived(row)
    finally:
        bar.close()
    return results.rows(), pareto(spec, study, out)


def pareto(spec: SweepSpec, study, out: Path) -> list[str]:
    """Writes ``pareto.csv`` (trial, swept values, objectives) and returns one line per point of the front
    (trials that proposed the same values appear once)."""
    from drlsim.sweep import csv_cell, csv_line

    names = [metric for metric, _ in spec.search.objectives]
    header = ["trial", *spec.keys, *names]
    lines, text, seen = [], csv_line(header), set()
    for trial in sorted(study.best_trials, key=lambda t: t.values):
        values = dict(_values(spec, trial.params))
        combo = tuple(csv_cell(values[k]) for k in spec.keys)
        if combo in seen:  # the sampler proposed these values again: the same point
            continue
        seen.add(combo)
        text += csv_line([trial.number, *combo, *map(csv_cell, trial.values)])
        lines.append(f"trial {trial.number}: " + ", ".join(f"{k}={_short(values[k])}" for k in spec.keys) + "  "
                     + ", ".join(f"{n} {v:.4g}" for n, v in zip(names, trial.values, strict=True)))
    write_atomically(out / "pareto.csv", text)
    return lines


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
