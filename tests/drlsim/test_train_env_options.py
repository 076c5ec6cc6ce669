"""``drlsim train --env-kwarg`` and ``--trace``, and episodes.csv's ``phase``: tiny-budget runs and bad input."""

import csv
import re
import tomllib
from pathlib import Path

import pytest

from drlsim.cli import main

TINY = ["--set", "hidden=8,8", "--set", "batch_size=4", "--set", "learning_starts=8", "--set", "buffer_size=64",
        "--set", "train_freq=4", "--set", "gradient_steps=2", "--eval-episodes", "1", "--seed", "1"]


def rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_a_shorter_drift_period_and_the_phase_of_each_episode(tmp_path):
    assert main(["train", "--env", "drlsim/DriftingCartPole-v1", "--hw", "edge-int8", "--steps", "90",
                 "--env-kwarg", "period_steps=30", "--out", str(tmp_path), *TINY]) == 0
    run = tomllib.loads((tmp_path / "config.toml").read_text())["run"]
    assert run["env_kwargs"] == {"period_steps": 30} and run["trace"] == []
    episodes = rows(tmp_path / "episodes.csv")
    phases = [e["phase"] for e in episodes]
    assert phases[0] == "A" and set(phases) <= {"A", "B", "A>B", "B>A"} and "B" in "".join(phases)
    ends = [int(e["env_steps"]) for e in episodes]
    for end, length, phase in zip(ends, (int(e["length"]) for e in episodes), phases, strict=True):
        start = end - length  # steps start+1 .. end; B from step 31 to 60 (period 30)
        changed = (start < 30 < end) or (start < 60 < end)
        assert (">" in phase) == changed
    assert not (tmp_path / "trace.csv").exists()


def test_trace_of_the_node_paying_for_its_learning(tmp_path):
    assert main(["train", "--env", "drlsim/SensorNode-v1", "--hw", "edge-int8", "--steps", "30",
                 "--energy-budget", "store", "--trace", "stored_j,learner_j,brownout", "--env-kwarg",
                 "episode_s=600", "--out", str(tmp_path), *TINY]) == 0
    trace = rows(tmp_path / "trace.csv")
    assert list(trace[0]) == ["env_step", "episode", "reward", "stored_j", "learner_j", "brownout"]
    assert [int(r["env_step"]) for r in trace] == list(range(1, 31))
    assert [int(r["episode"]) for r in trace] == [1] * 10 + [2] * 10 + [3] * 10  # 600 s days of 60 s steps
    assert all(r["brownout"] in ("0", "1") for r in trace)
    assert sum(float(r["learner_j"]) for r in trace) > 0  # the chip's work, drawn from the store
    episodes = rows(tmp_path / "episodes.csv")
    assert [e["phase"] for e in episodes] == ["", "", ""]
    assert [float(e["battery_j"]) for e in episodes] == [float(trace[i]["stored_j"]) for i in (9, 19, 29)]


@pytest.mark.parametrize("args, message", [
    (["--env-kwarg", "period_steps=0"], "period_steps must be a positive integer"),
    (["--env-kwarg", "gravity=3"], "--env-kwarg: .*unexpected keyword argument 'gravity'"),
    (["--env-kwarg", "period_steps"], "--env-kwarg takes KEY=VALUE"),
    (["--trace", "phase,stored_j"], "--trace: .*DriftingCartPole-v1's info has no 'stored_j'; it has params, phase"),
])
def test_bad_env_options_exit_2_before_writing(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main(["train", "--env", "drlsim/DriftingCartPole-v1", "--hw", "fp32", "--steps", "10", "--out", str(out),
                 *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    assert not out.exists()
