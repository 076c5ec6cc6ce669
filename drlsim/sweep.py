"""``drlsim sweep SWEEP.toml --out DIR``: many training runs (or workload prices) over hardware,
agent and environment settings, crash-safe and resumable.

The sweep directory holds ``sweep.toml`` (the file it was started with), ``results.csv`` (one row
per finished point, in the order they finished), ``points/<id>/`` (each training point's run
directory, ``drlsim train``'s files) and, for a ``[search]``, ``study.db`` (Optuna's SQLite
storage) and ``pareto.csv``. Rows are appended by one ``write`` of a whole line followed by
``fsync``: a kill -9 loses only the points in flight, never leaves a torn row, and ``--resume``
skips every point that has a row (a failed point's row carries its one-line error; delete the row
to try it again).
"""

import argparse
import csv
import io
import math
import os
import sys
from pathlib import Path

from drlsim.points import columns
from drlsim.runs import write_atomically
from drlsim.sweepfile import Point, SweepSpec, load_sweep


class Results:
    """``results.csv``: a header written once, then whole rows appended atomically."""

    def __init__(self, path: Path, header: tuple[str, ...]) -> None:
        self.path, self.header = path, header
        if not path.exists():
            write_atomically(path, csv_line(header))
        self._drop_torn_tail()
        with path.open(newline="") as f:
            found = next(csv.reader(f), [])
        if tuple(found) != header:
            raise ValueError(f"{path}: its columns are not this sweep's; was the sweep file changed?")

    def _drop_torn_tail(self) -> None:
        """A row cut short (a write the disk refused half-way) is removed, not read."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            os.truncate(self.path, data.rfind(b"\n") + 1)

    def rows(self) -> list[dict]:
        """Every row so far."""
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))

    def append(self, row: dict) -> None:
        """Appends ``row`` as one line with one ``write``, then ``fsync``."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, csv_line([csv_cell(row.get(key)) for key in self.header]).encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def csv_line(cells) -> str:
    """One CSV line (with its newline) of ``cells``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def csv_cell(value) -> str:
    """A value as results.csv writes it: empty for None, floats by ``repr`` (they read back equal)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def check_out_dir(out: Path, resume: bool) -> None:
    """Refuses a directory ``drlsim sweep`` must not write into (ValueError naming it)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory")
    is_sweep = (out / "sweep.toml").is_file()  # written first: a sweep killed before its results.csv is one
    if resume:
        if out.exists() and any(out.iterdir()) and not is_sweep:
            raise ValueError(f"--out {out} is not a drlsim sweep directory (no sweep.toml); nothing to resume")
    elif is_sweep:
        raise ValueError(f"--out {out} holds a sweep already; add --resume to continue it, or choose a new directory")
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {out} exists and is not a drlsim sweep; choose a new or empty directory")
    parent = out if out.exists() else next(p for p in out.absolute().parents if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: cannot write in {parent}")


def start(spec: SweepSpec, out: Path, resume: bool) -> Results:
    """Creates (or, resuming, re-opens) the sweep directory and its results file."""
    import tomllib

    check_out_dir(out, resume)
    kept = out / "sweep.toml"
    if kept.is_file():
        if tomllib.loads(kept.read_text(encoding="utf-8")) != tomllib.loads(spec.text):
            raise ValueError(f"the sweep file differs from {kept}, which {out} was started with; "
                             "resume with that file or start a new directory")
    else:
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_atomically(kept, spec.text)
        except OSError as error:
            raise ValueError(f"--out {out}: cannot write: {error.strerror or error}") from None
    return Results(out / "results.csv", columns(spec))


def run_points(backend, results: Results, points: list[Point], batch: int, label: str) -> list[dict]:
    """Runs the points that have no row yet, ``batch`` per task; appends each row as it comes; returns all rows."""
    from tqdm import tqdm

    done = {row["point"] for row in results.rows()}
    todo = [p for p in points if p.id not in done]
    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=label, unit="point", dynamic_ncols=True)
    try:
        for i in range(0, len(todo), batch):
            backend.submit(i, todo[i:i + batch])
        while backend.in_flight:
            _, rows = backend.next_done()
            for row in rows:
                results.append(row)
            failed = sum(row["status"] != "ok" for row in rows)
            bar.update(len(rows))
            if failed:
                bar.write(f"point {rows[0]['point']} failed: {rows[0]['error']}" if len(rows) == 1
                          else f"{failed} points failed (see results.csv)")
    finally:
        bar.close()
    ids = {p.id for p in points}
    return [row for row in results.rows() if row["point"] in ids]


def batch_size(spec: SweepSpec, points: int, workers: int) -> int:
    """Points per task: one learning run; workload prices (milliseconds each) in a few batches per worker."""
    return 1 if not spec.run.workload else max(1, math.ceil(points / (4 * workers)))


def number(row: dict, key: str) -> float | None:
    """A metric of a row as a float (None when empty)."""
    text = row.get(key, "")
    return float(text) if text not in ("", None) else None


def best_points(spec: SweepSpec, rows: list[dict], k: int) -> list[dict]:
    """The ``k`` best combinations of swept values: on the first objective of ``[search]``, else the
    lowest ``energy_j_per_train_step`` (workload) or ``energy_j_per_episode_mean`` (learning), averaged
    over seeds."""
    metric, direction = spec.search.objectives[0] if spec.search else (
        "energy_j_per_train_step" if spec.run.workload else "energy_j_per_episode_mean", "minimize")
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        value = number(row, metric)
        if row["status"] == "ok" and value is not None:
            groups.setdefault(tuple(row[key] for key in spec.keys), []).append(value)
    ranked = sorted(groups, key=lambda combo: (sum(groups[combo]) / len(groups[combo])) * (
        1 if direction == "minimize" else -1))
    by_combo = {tuple(row[key] for key in spec.keys): row for row in rows}
    return [by_combo[combo] for combo in ranked[:k]]


def typed_values(spec: SweepSpec, row: dict) -> tuple[tuple[str, object], ...]:
    """A row's swept values as the sweep file typed them (the CSV holds text)."""
    values = []
    for axis in spec.axes:
        text = row[axis.key]
        if isinstance(axis.values, tuple):
            values.append((axis.key, next(v for v in axis.values if csv_cell(v) == text)))
        else:
            values.append((axis.key, int(text) if axis.values.integer else float(text)))
    return tuple(values)


def confirm(spec: SweepSpec, out: Path, rows: list[dict], k: int, make) -> list[dict]:
    """Re-runs the ``k`` best points with real learning into ``out/confirm`` (a sweep directory of its own)."""
    from drlsim.points import confirm_spec

    learning = confirm_spec(spec)
    chosen = [typed_values(spec, row) for row in best_points(spec, rows, k)]
    points = [Point(values, seed) for values in chosen for seed in learning.run.seeds]
    target = out / "confirm"
    target.mkdir(exist_ok=True)
    if not (target / "sweep.toml").exists():
        write_atomically(target / "sweep.toml", spec.text)
    results = Results(target / "results.csv", columns(learning))
    backend = make(learning, str(target))
    try:
        return run_points(backend, results, points, 1, f"confirm {k} best")
    finally:
        backend.close()


def run(spec: SweepSpec, out: Path, workers: int, backend_name: str, address: str | None, resume: bool,
        confirm_k: int | None, echo=print) -> int:
    """Runs (or resumes) a sweep; returns the exit status (1 when no point succeeded)."""
    from drlsim.backends import check_backend, make_backend

    check_backend(backend_name, address)
    if confirm_k is not None and not spec.run.workload:
        raise ValueError("--confirm re-runs the best points of a workload sweep ([run] workload = ...) with learning")
    if spec.search:
        from drlsim.search import import_optuna

        import_optuna()
    results = start(spec, out, resume)

    def make(s: SweepSpec, target: str):
        return make_backend(s, target, backend_name, workers, address)

    backend = make(spec, str(out))
    try:
        if spec.search:
            from drlsim.search import search

            rows, front = search(spec, out, backend, results, workers)
            echo(f"Pareto front ({len(front)} trials) -> {out / 'pareto.csv'}")
            for line in front:
                echo("  " + line)
        else:
            points = spec.points()
            rows = run_points(backend, results, points, batch_size(spec, len(points), workers), "sweep")
    finally:
        backend.close()
    ok = sum(row["status"] == "ok" for row in rows)
    echo(f"{ok} of {len(rows)} points ok -> {out / 'results.csv'}")
    if confirm_k is not None:
        confirmed = confirm(spec, out, rows, confirm_k, make)
        echo(f"confirmed {sum(r['status'] == 'ok' for r in confirmed)} of {len(confirmed)} learning runs -> "
             f"{out / 'confirm' / 'results.csv'}")
    return 0 if ok or not rows else 1


def add_parser(verbs) -> None:
    """Registers ``drlsim sweep`` on the CLI's sub-parsers."""
    from drlsim.cli import _integer

    sweep = verbs.add_parser("sweep", help="many runs (or workload prices) over hardware and settings: a results.csv")
    sweep.add_argument("file", metavar="SWEEP.toml", help="the sweep file (docs/sweep.md)")
    sweep.add_argument("--out", required=True, help="the sweep directory")
    sweep.add_argument("--workers", type=_integer("--workers"), default=os.cpu_count() or 1,
                       help="points run at once (default: the CPU count)")
    sweep.add_argument("--backend", choices=["local", "ray"], default="local",
                       help="local worker processes (default) or Ray tasks (pip install 'drlsim[ray]')")
    sweep.add_argument("--address", default=None,
                       help="a Ray cluster's address (default with --backend ray: start a local one)")
    sweep.add_argument("--resume", action="store_true", help="continue the sweep in --out, skipping finished points")
    sweep.add_argument("--confirm", type=_integer("--confirm"), default=None, metavar="K",
                       help="after a workload sweep, re-run the K best points with real learning (into OUT/confirm)")
    sweep.set_defaults(run=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from drlsim.cli import BadInput

    try:
        spec = load_sweep(Path(args.file))
        return run(spec, Path(args.out), args.workers, args.backend, args.address, args.resume, args.confirm)
    except ValueError as error:
        raise BadInput(str(error)) from None
    except KeyboardInterrupt:  # rows already in results.csv are whole; --resume continues
        print(f"drlsim: sweep interrupted; finished points are in {args.out}/results.csv, "
              "add --resume to continue", file=sys.stderr)
        return 130

