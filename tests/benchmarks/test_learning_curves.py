"""benchmarks/learning_curves.py: the windowed mean against an obvious loop, and a figure from two tiny runs."""

import sys
from pathlib import Path

import numpy as np

from drlsim.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import learning_curves


def write_episodes(run: Path, returns: list[float]) -> None:
    run.mkdir()
    steps = np.cumsum(returns).astype(int)
    rows = ["episode,env_steps,return"]
    rows += [f"{i + 1},{s},{r}" for i, (s, r) in enumerate(zip(steps, returns, strict=True))]
    (run / "episodes.csv").write_text("\n".join(rows) + "\n")


def test_the_curve_is_the_mean_of_the_last_window_episodes(tmp_path):
    returns = [10.0, 30.0, 20.0, 50.0, 5.0]
    write_episodes(tmp_path / "run", returns)
    steps, mean = learning_curves.curve(tmp_path / "run", 3)
    assert steps.tolist() == [10, 40, 60, 110, 115]
    assert mean.tolist() == [np.mean(returns[max(0, i - 2):i + 1]) for i in range(5)]


def test_the_late_return_is_the_mean_of_the_episodes_ending_after_the_step(tmp_path):
    write_episodes(tmp_path / "run", [10.0, 30.0, 20.0, 50.0, 5.0])  # ending at steps 10, 40, 60, 110, 115
    assert learning_curves.late_return(tmp_path / "run", 40) == np.mean([20.0, 50.0, 5.0])
    assert learning_curves.late_return(tmp_path / "run", 0) == np.mean([10.0, 30.0, 20.0, 50.0, 5.0])
    assert learning_curves.late_return(tmp_path / "run", 115) is None


def test_a_figure_from_runs_grouped_by_chip(tmp_path, monkeypatch):
    runs = []
    for hw in ("fp32", "edge-bf16"):
        out = tmp_path / hw
        assert main(["train", "--hw", hw, "--steps", "40", "--out", str(out), "--set", "hidden=8,8", "--set",
                     "learning_starts=8", "--set", "batch_size=4", "--eval-episodes", "1"]) == 0
        runs.append(str(out))
    figure = tmp_path / "curves.png"
    monkeypatch.setattr(sys, "argv", ["learning_curves.py", *runs, "--out", str(figure), "--window", "2"])
    learning_curves.main()
    assert figure.stat().st_size > 10_000
