"""Metrics of continual learning, computed from a run's own records (``drlsim train``'s files).

Drifting tasks (``episodes.csv``, its ``phase`` column): at each change of dynamics, the return
before it, the dip after it, the env steps to recover to 90 % of the return before it, and, when a
phase comes back, what was forgotten of it. Sensor node (``trace.csv``): the node's day, per
one-day episode.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class Episode:
    """One row of ``episodes.csv``: where it ended, its return, its phase (``"A>B"``: it changed during it)."""

    env_steps: int
    episode_return: float
    phase: str


def read_episodes(path: Path) -> list[Episode]:
    """The episodes of a run's ``episodes.csv``."""
    with path.open() as f:
        return [Episode(int(r["env_steps"]), float(r["return"]), r["phase"]) for r in csv.DictReader(f)]


@dataclass(frozen=True, slots=True)
class Change:
    """What one change of dynamics did to the learner (returns are means of ``window`` episodes).

    Attributes:
        old, new: The phases before and after.
        step: Env steps at the end of the episode during which the change came (or of the old phase's
            last episode, when it came between two): the recovery is counted from there.
        phase_steps: Env steps the new phase lasted in the run (from ``step`` to its last episode's end).
        before: Mean return of the old phase's last ``window`` episodes.
        best_before: Highest mean return of ``window`` consecutive episodes in the old phase.
        after: Mean return of the new phase's first ``window`` episodes: the dip.
        lowest: Lowest mean return of ``window`` consecutive episodes in the new phase.
        recover_steps: Env steps from ``step`` to the end of the first ``window`` episodes of the new
            phase whose mean reaches ``target`` × ``before``; None if that never happened in the phase.
        earlier: For a phase seen before, the mean return of its last ``window`` episodes then; else None.
    """

    old: str
    new: str
    step: int
    phase_steps: int
    before: float
    best_before: float
    after: float
    lowest: float
    recover_steps: int | None
    earlier: float | None

    @property
    def forgotten(self) -> float | None:
        """Return lost on a phase that comes back: its return at the end of its last visit less ``after``."""
        return None if self.earlier is None else self.earlier - self.after


def phase_segments(episodes: list[Episode]) -> list[tuple[str, list[Episode], int]]:
    """Consecutive episodes of one phase, as ``(phase, episodes, start_step)``; an episode during which
    the phase changed belongs to none, and the next segment starts at its end."""
    segments: list[tuple[str, list[Episode], int]] = []
    start, previous = 0, None  # where a new segment would start; the phase of the episode before
    for e in episodes:
        if ">" not in e.phase:
            if e.phase == previous:
                segments[-1][1].append(e)
            else:
                segments.append((e.phase, [e], start))
        previous, start = (None if ">" in e.phase else e.phase), e.env_steps
    return segments


def _window_means(returns: list[float], window: int) -> np.ndarray:
    """Means of every ``window`` consecutive returns (of all of them when there are fewer)."""
    values = np.asarray(returns, dtype=float)
    if len(values) <= window:
        return np.array([values.mean()])
    return np.convolve(values, np.ones(window) / window, mode="valid")


def changes(episodes: list[Episode], window: int = 10, target: float = 0.9) -> list[Change]:
    """Every change of phase in a run, measured from its episodes.

    Args:
        episodes: The run's episodes in order (``read_episodes``).
        window: Episodes averaged for each return.
        target: Fraction of the return before the change that counts as recovered.

    Raises:
        ValueError: If ``window`` is not positive or ``target`` not in (0, 1].
    """
    if window < 1:
        raise ValueError(f"window must be a positive number of episodes, got {window}")
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be a fraction in (0, 1], got {target}")
    segments = phase_segments(episodes)
    found = []
    for k in range(1, len(segments)):
        (old, previous, _), (new, current, step) = segments[k - 1], segments[k]
        before = float(np.mean([e.episode_return for e in previous[-window:]]))
        best = float(_window_means([e.episode_return for e in previous], window).max())
        means = _window_means([e.episode_return for e in current], window)
        reached = np.flatnonzero(means >= target * before)
        recovered = current[min(int(reached[0]) + window, len(current)) - 1] if reached.size else None
        recover = None if recovered is None else recovered.env_steps - step
        earlier = next((float(np.mean([e.episode_return for e in seg[-window:]]))
                        for phase, seg, _ in reversed(segments[:k - 1]) if phase == new), None)
        found.append(Change(old, new, step, current[-1].env_steps - step, before, best, float(means[0]),
                            float(means.min()), recover, earlier))
    return found


@dataclass(frozen=True, slots=True)
class Day:
    """One simulated day (a one-day episode) of the sensor node."""

    day_return: float
    delivered: int
    lost: int
    brownouts: int
    learner_j: float
    harvest_j: float
    stored_end_j: float
    stored_min_j: float


def days(trace: dict[str, np.ndarray]) -> list[Day]:
    """The node's days from its trace: columns ``episode``, ``reward``, ``delivered``, ``lost``,
    ``brownout``, ``learner_j``, ``harvest_j``, ``stored_j`` (one value per env step, as ``trace.csv``)."""
    out = []
    for day in np.unique(trace["episode"]):
        at = trace["episode"] == day
        stored = trace["stored_j"][at]
        out.append(Day(float(trace["reward"][at].sum()), int(trace["delivered"][at].sum()),
                       int(trace["lost"][at].sum()), int(trace["brownout"][at].sum()),
                       float(trace["learner_j"][at].sum()), float(trace["harvest_j"][at].sum()),
                       float(stored[-1]), float(stored.min())))
    return out


def read_trace(path: Path) -> dict[str, np.ndarray]:
    """A run's ``trace.csv`` as one float array per column."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}
