"""``drlsim compare DIR... [--plot FILE.png]``: run and sweep directories side by side.

A run directory (``drlsim train``: ``summary.json``) is one entry; a sweep directory (``drlsim
sweep``: ``results.csv``) gives one entry per combination of swept values, its seeds averaged
(return: the mean and standard deviation over seeds of each run's evaluation mean). The table
has the return, energy per episode, energy per training step, average power and TOPS/W; the
figure has energy per episode over episodes, return against cumulative energy, the Pareto front
of return against energy per episode (for workload sweeps: TOPS/W against energy per training
step), and each entry's energy by component.
"""

import argparse
import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

from energy.report import COMPONENTS

MAX_CURVES = 12
"""Entries drawn as curves in the per-episode panels (the first ones; the table has them all)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the table: a run, or a combination of a sweep's swept values over its seeds."""

    label: str
    short: str
    """The label without the swept keys' names (for the figure)."""
    return_mean: float | None
    return_std: float | None
    energy_j_per_episode: float | None
    energy_j_per_train_step: float | None
    power_w: float | None
    tops_per_w: float | None
    breakdown_j: tuple[tuple[str, float], ...]
    """Joules per component (empty when the directory does not record them)."""
    run_dirs: tuple[Path, ...]
    """Run directories whose ``episodes.csv`` the per-episode panels read (one per seed)."""


def _float(value) -> float | None:
    if value in (None, ""):
        return None
    return float(value)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _std(values: list[float]) -> float:
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def load(directory: Path) -> tuple[list[Entry], int]:
    """The entries of a run or sweep directory and how many failed sweep points were left out.

    Raises:
        ValueError: ``directory`` is neither a finished run nor a sweep.
    """
    if (directory / "summary.json").is_file():
        return [_run_entry(directory)], 0
    if (directory / "results.csv").is_file():
        return _sweep_entries(directory)
    if (directory / "config.toml").is_file():
        raise ValueError(f"{directory} is an unfinished run (no summary.json)")
    raise ValueError(f"{directory} is neither a drlsim run (summary.json) nor a sweep (results.csv)")


def _run_entry(directory: Path) -> Entry:
    s = json.loads((directory / "summary.json").read_text())
    breakdown = s.get("energy_breakdown_j") or {}
    tops = s.get("tops_per_w")
    return Entry(directory.name, directory.name, s.get("eval_return_mean"), s.get("eval_return_std"),
                 s.get("energy_j_per_episode_mean"), s.get("energy_j_per_train_step_mean"), s.get("power_w"),
                 tops, tuple((c, breakdown[c]) for c in COMPONENTS if c in breakdown), (directory,))


def _sweep_entries(directory: Path) -> tuple[list[Entry], int]:
    with (directory / "results.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = reader.fieldnames or []
    keys = header[header.index("error") + 1:header.index("seed")]
    groups: dict[tuple, list[dict]] = {}
    failed = 0
    for row in rows:
        if row["status"] != "ok":
            failed += 1
            continue
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    entries = []
    for combo, members in sorted(groups.items(), key=lambda item: [_sort_key(v) for v in item[0]]):
        returns = [_float(r["eval_return_mean"]) for r in members]
        known = [r for r in returns if r is not None]
        if len(known) > 1:
            ret, std = sum(known) / len(known), _std(known)
        else:
            ret, std = (known[0], _float(members[0]["eval_return_std"])) if known else (None, None)

        def avg(column: str, members=members) -> float | None:
            return _mean([_float(r.get(column)) for r in members])

        breakdown = tuple((c, avg(f"energy_{c}_j")) for c in COMPONENTS if avg(f"energy_{c}_j") is not None)
        shown = [_short(v) for v in combo]
        label = " ".join(f"{k}={v}" for k, v in zip(keys, shown, strict=True))
        short = f"{directory.name}: {' '.join(shown)}"
        entries.append(Entry(f"{directory.name}: {label}", short, ret, std, avg("energy_j_per_episode_mean"),
                             avg("energy_j_per_train_step"), avg("power_w"), avg("tops_per_w"), breakdown,
                             tuple(directory / r["run_dir"] for r in members if r["run_dir"])))
    return entries, failed


def _short(text: str) -> str:
    """A swept value for a label: a float from a range to 4 significant digits."""
    try:
        return text if len(text) <= 6 else f"{float(text):.4g}"
    except ValueError:
        return text


def _sort_key(text: str) -> tuple:
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def si(value: float | None, unit: str) -> str:
    """``value`` with an SI prefix (``2.3e-6, "J"`` -> ``2.3 µJ``); ``—`` when unknown."""
    if value is None:
        return "—"
    if value == 0:
        return f"0 {unit}"
    for factor, prefix in ((1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= factor:
            return f"{value / factor:.4g} {prefix}{unit}"
    return f"{value / 1e-15:.4g} f{unit}"


def table(entries: list[Entry]) -> str:
    """The comparison as aligned text."""
    head = ("", "return", "energy/episode", "energy/train step", "power", "TOPS/W")
    lines = [head]
    for e in entries:
        ret = "—" if e.return_mean is None else f"{e.return_mean:.1f} ± {e.return_std or 0.0:.1f}"
        lines.append((e.label, ret, si(e.energy_j_per_episode, "J"), si(e.energy_j_per_train_step, "J"),
                      si(e.power_w, "W"), "—" if e.tops_per_w is None else f"{e.tops_per_w:.3g}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(line[0].ljust(widths[0]) + "".join(f"  {cell:>{w}}" for cell, w in zip(line[1:], widths[1:],
                                                                                                strict=True))
                     for line in lines)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both (lower x, higher y), sorted by x."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def _episodes(run_dir: Path) -> tuple[list[float], list[float]]:
    """(returns, energies) per episode of a run; empty when it has no chip energy."""
    path = run_dir / "episodes.csv"
    if not path.is_file():
        return [], []
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["energy_j"] not in ("", None)]
    return [float(r["return"]) for r in rows], [float(r["energy_j"]) for r in rows]


def plot(entries: list[Entry], path: Path) -> None:
    """Writes the four panels to ``path`` (PNG)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 9), layout="constrained")
    per_episode, vs_energy, front_ax, parts = fig.subplots(2, 2).flat
    for n, e in enumerate(entries[:MAX_CURVES]):
        label = e.short  # on the first seed's curve only; the seeds share the entry's colour
        for run_dir in e.run_dirs:
            returns, energies = _episodes(run_dir)
            if not energies:
                continue
            style = {"color": f"C{n % 10}", "lw": 1, "ms": 3, "label": label}
            per_episode.plot(range(1, len(energies) + 1), energies, ".-", **style)
            cumulative = [sum(energies[:i + 1]) for i in range(len(energies))]
            vs_energy.plot(cumulative, returns, ".-", **style)
            label = None
    per_episode.set(title="Energy per episode", xlabel="episode", ylabel="energy (J)", yscale="log")
    vs_energy.set(title="Return against cumulative energy", xlabel="cumulative energy (J)", ylabel="episode return",
                  xscale="log")
    if per_episode.get_legend_handles_labels()[0]:
        per_episode.legend(fontsize="x-small")

    learned = [(e.energy_j_per_episode, e.return_mean) for e in entries
               if e.energy_j_per_episode is not None and e.return_mean is not None]
    priced = [(e.energy_j_per_train_step, e.tops_per_w) for e in entries
              if e.energy_j_per_train_step is not None and e.tops_per_w is not None]
    points, xlabel, ylabel = (learned, "energy per episode (J)", "eval return") if learned else (
        priced, "energy per training step (J)", "TOPS/W")
    if points:
        front_ax.scatter(*zip(*points, strict=True), s=14, color="0.6", label="points")
        front_ax.plot(*zip(*pareto_front(points), strict=True), "o-", color="C3", label="Pareto front")
        front_ax.legend(fontsize="x-small")
    front_ax.set(title=f"Pareto front: {ylabel} against {xlabel.split(' (')[0]}", xlabel=xlabel, ylabel=ylabel,
                 xscale="log")
    front_ax.minorticks_off()  # a narrow log range labels its minor ticks on top of each other

    shown = [e for e in entries if e.breakdown_j][:MAX_CURVES * 2]
    left = [0.0] * len(shown)
    for c in COMPONENTS:
        shares = [dict(e.breakdown_j).get(c, 0.0) / (sum(v for _, v in e.breakdown_j) or 1.0) for e in shown]
        parts.barh(range(len(shown)), shares, left=left, label=c)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    parts.set_yticks(range(len(shown)), [e.short for e in shown], fontsize="x-small")
    parts.set(title="Energy by component", xlabel="share of energy", xlim=(0, 1))
    parts.invert_yaxis()  # the first entry on top, as in the table
    if shown:
        parts.legend(fontsize="x-small", ncols=len(COMPONENTS), loc="lower center", bbox_to_anchor=(0.5, 1.06))
    fig.savefig(path, dpi=110)


def add_parser(verbs) -> None:
    """Registers ``drlsim compare`` on the CLI's sub-parsers."""
    compare = verbs.add_parser("compare", help="a table (and plots) of run and sweep directories")
    compare.add_argument("dirs", nargs="+", metavar="DIR", help="run directories (drlsim train) or sweeps")
    compare.add_argument("--plot", default=None, metavar="FILE.png", help="also write the figures to FILE.png")
    compare.set_defaults(run=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> None:
    from drlsim.cli import BadInput

    if args.plot is not None and not args.plot.endswith(".png"):
        raise BadInput(f"--plot must name a .png file, got {args.plot!r}")
    if args.plot is not None and not Path(args.plot).absolute().parent.is_dir():
        raise BadInput(f"--plot {args.plot}: no directory {str(Path(args.plot).absolute().parent)!r}")
    entries, failed = [], 0
    for name in args.dirs:
        try:
            found, left_out = load(Path(name))
        except ValueError as error:
            raise BadInput(str(error)) from None
        entries += found
        failed += left_out
    print(table(entries))
    if failed:
        print(f"({failed} failed sweep points left out; their errors are in results.csv)")
    if args.plot is not None:
        try:
            plot(entries, Path(args.plot))
        except OSError as error:
            raise BadInput(f"--plot {args.plot}: {error.strerror or error}") from None
        print(f"figures -> {args.plot}")
