"""``drlsim train`` is crash-safe: Ctrl-C leaves a consistent run marked unfinished, the summary is
written whole or not at all, and TensorBoard scalars appear when the package is installed."""

import csv
import json

import pytest

import agents.loop
from drlsim.cli import main
from drlsim.runs import write_atomically

TINY = ["--agent", "dqn", "--env", "CartPole-v1", "--hw", "edge-int8", "--seed", "1", "--eval-episodes", "1",
        "--set", "hidden=8,8", "--set", "batch_size=4", "--set", "learning_starts=8", "--set", "buffer_size=64",
        "--set", "train_freq=4", "--set", "gradient_steps=2"]


def interrupt_after(episodes: int, monkeypatch) -> None:
    """``learn`` as it is, but Ctrl-C arrives after ``episodes`` episodes."""
    learn = agents.loop.learn

    def interrupted(agent, env, steps, seed, meter, on_train_step, on_episode, on_env_step):
        def episode(r):
            on_episode(r)
            if r.episode >= episodes:
                raise KeyboardInterrupt
        return learn(agent, env, steps, seed, meter, on_train_step, episode, on_env_step)
    monkeypatch.setattr(agents.loop, "learn", interrupted)


def test_ctrl_c_leaves_a_consistent_run_marked_unfinished(tmp_path, monkeypatch, capsys):
    interrupt_after(2, monkeypatch)
    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "400", "--out", str(out)]) == 130
    err = capsys.readouterr().err  # the progress bar, then one line
    assert err.splitlines()[-1].startswith("drlsim: interrupted; the run so far is kept in")
    assert "marked unfinished" in err and "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] is False and summary["stopped"] == "interrupted (Ctrl-C)"
    assert summary["episodes"] == 2 and summary["eval_returns"] == []
    with (out / "episodes.csv").open() as f:
        episodes = list(csv.DictReader(f))
    assert [int(r["episode"]) for r in episodes] == [1, 2]  # every row whole, none lost
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert main(["train", *TINY, "--steps", "40", "--out", str(out)]) == 2  # never written into again
    assert "is already a run that stopped before its end" in capsys.readouterr().err


def test_a_finished_run_says_so_and_carries_its_efficiency(tmp_path):
    assert main(["train", *TINY, "--steps", "30", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["finished"] is True and summary["stopped"] is None
    assert summary["tops_per_w"] > 0 and summary["macs"] > 0
    assert 0 < summary["chip_power_w"] < summary["power_w"]
    assert set(summary["energy_breakdown_j"]) == {"mac", "sram", "dram", "vector", "leakage"}


def test_an_atomic_write_leaves_the_old_file_when_it_fails(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_atomically(path, None)  # fails while writing the temporary file
    assert path.read_text() == "old"
    write_atomically(path, "new")
    assert path.read_text() == "new" and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_tensorboard_scalars_when_the_package_is_installed(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main(["train", *TINY, "--steps", "60", "--out", str(tmp_path)]) == 0
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"episode/return", "episode/energy_j", "train_step/energy_j", "train_step/power_w"} <= tags
    assert len(events.Scalars("episode/return")) == json.loads((tmp_path / "summary.json").read_text())["episodes"]
