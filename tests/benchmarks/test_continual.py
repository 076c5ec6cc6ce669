"""benchmarks/continual_metrics.py on synthetic records (a dip, a recovery, forgetting) and tiny-budget
smoke runs of benchmarks/bench_continual.py's two scenarios."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from continual_metrics import Episode, changes, days, phase_segments  # noqa: E402


def run(phase: str, start: int, returns: list[float], length: int = 10) -> list[Episode]:
    """Episodes of ``length`` steps each from env step ``start``."""
    return [Episode(start + length * (i + 1), r, phase) for i, r in enumerate(returns)]


def drifting_run() -> list[Episode]:
    """A at 100, a change during an episode, B dips to 10 and climbs back, A returns at 40."""
    a = run("A", 0, [50.0] * 5 + [100.0] * 10)                     # ends at step 150
    mixed = [Episode(160, 70.0, "A>B")]
    b = run("B", 160, [10.0] * 10 + [95.0] * 10)                    # ends at 360
    a2 = run("A", 370, [40.0] * 10 + [100.0] * 10)                  # 360-370: the change between two episodes
    return a + mixed + b + [Episode(370, 90.0, "B")] + a2


def test_segments_leave_out_the_episode_the_change_came_in():
    segments = phase_segments(drifting_run())
    assert [(phase, len(episodes), start) for phase, episodes, start in segments] == [
        ("A", 15, 0), ("B", 21, 160), ("A", 20, 370)]


def test_a_dip_a_recovery_and_forgetting():
    first, second = changes(drifting_run(), window=5, target=0.9)
    assert (first.old, first.new, first.step) == ("A", "B", 160)
    assert first.before == first.best_before == 100.0 and first.earlier is None
    assert first.after == first.lowest == 10.0
    # the first 5 B episodes with a mean >= 90 are episodes 11-15 of B: ending at 160 + 150
    assert first.recover_steps == 150 and first.phase_steps == 210
    assert (second.old, second.new, second.step) == ("B", "A", 370)
    assert second.before == pytest.approx((4 * 95.0 + 90.0) / 5) and second.best_before == 95.0
    assert second.earlier == 100.0 and second.after == 40.0 and second.forgotten == 60.0
    assert second.recover_steps == 140  # episodes 10-14 of A: (40 + 4 x 100) / 5 = 88 >= 0.9 x 94


def test_no_recovery_is_none():
    episodes = run("A", 0, [100.0] * 5) + run("B", 50, [10.0] * 5)
    (change,) = changes(episodes, window=3)
    assert change.recover_steps is None and change.step == 50 and change.after == 10.0


@pytest.mark.parametrize("window, target", [(0, 0.9), (3, 0.0), (3, 1.5)])
def test_bad_window_or_target(window, target):
    with pytest.raises(ValueError, match=r"^(window|target) must be"):
        changes(drifting_run(), window, target)


def test_days_of_a_trace():
    trace = {"episode": np.array([1, 1, 2, 2, 2]), "reward": np.array([1.0, -10.0, 2.0, 0.0, 1.0]),
             "delivered": np.array([1, 0, 2, 0, 1]), "lost": np.array([0, 3, 0, 0, 0]),
             "brownout": np.array([0, 1, 0, 0, 0]), "learner_j": np.array([0.1, 0.1, 0.2, 0.2, 0.2]),
             "harvest_j": np.ones(5), "stored_j": np.array([1.0, 0.0, 0.5, 0.7, 0.6])}
    first, second = days(trace)
    assert (first.day_return, first.delivered, first.lost, first.brownouts) == (-9.0, 1, 3, 1)
    assert first.learner_j == pytest.approx(0.2) and first.stored_min_j == 0.0 and first.stored_end_j == 0.0
    assert (second.day_return, second.delivered, second.stored_end_j, second.stored_min_j) == (3.0, 3, 0.6, 0.5)
    assert second.learner_j == pytest.approx(0.6) and second.harvest_j == 3.0


SETS = ["hidden=8,8", "batch_size=4", "learning_starts=8", "buffer_size=64", "train_freq=4", "gradient_steps=2"]
TINY = ["--hw", "fp32", "--seeds", "0", "--eval-episodes", "1", *(x for s in SETS for x in ("--set", s))]
SUFFIX = "".join(f"-{s}" for s in SETS)
"""What the points' directory names add for the settings."""


def bench(tmp_path: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCH / "bench_continual.py"), *args, *TINY, "--out", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_drift_scenario_smoke(tmp_path):
    out = bench(tmp_path, "--scenario", "drift", "--period-steps", "40", "--window", "2")
    assert "| fp32 | 0 | A → B |" in out and "| fp32 | 0 | B → A |" in out and "period_steps=40" in out
    assert (tmp_path / f"drift-p40{SUFFIX}.md").read_text().strip() in out
    assert (tmp_path / f"drift-p40{SUFFIX}.png").stat().st_size > 0


def test_sensor_scenario_smoke(tmp_path):
    out = bench(tmp_path, "--scenario", "sensor", "--days", "2", "--env-kwarg", "episode_s=1200",
                "--baselines", "careless")
    assert "| DQN on fp32 | 0 |" in out and "| careless | 0 |" in out and "random" not in out
    assert (tmp_path / f"sensor{SUFFIX}.png").stat().st_size > 0
