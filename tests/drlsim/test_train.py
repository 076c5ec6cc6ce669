"""``drlsim train``: tiny-budget smoke runs of every agent on every preset and on fp32, the run
directory, determinism, bad input (exit 2, nothing already written damaged) and divergence."""

import csv
import json
from pathlib import Path

import pytest

from accel import list_presets, load_config
from accel.config import config_to_toml, with_overrides
from drlsim.cli import main

TINY = ["--set", "hidden=8,8", "--set", "batch_size=4", "--set", "learning_starts=8", "--set", "buffer_size=64",
        "--eval-episodes", "1"]
AGENT = {"dqn": ["--env", "CartPole-v1", "--set", "train_freq=4", "--set", "gradient_steps=2"],
         "td3": ["--env", "Pendulum-v1"], "ddpg": ["--env", "Pendulum-v1"]}


def train(out: Path, agent: str = "dqn", hw: str = "edge-int8", steps: int = 20, *extra: str) -> int:
    return main(["train", "--agent", agent, "--hw", hw, "--steps", str(steps), "--seed", "3", "--out", str(out),
                 *TINY, *AGENT[agent], *extra])


def rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("hw", ["fp32", *list_presets()])
@pytest.mark.parametrize("agent", ["dqn", "td3", "ddpg"])
def test_every_agent_learns_a_few_steps_on_every_chip(tmp_path, agent, hw):
    assert train(tmp_path, agent, hw) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["env_steps"] == 20 and summary["train_steps"] == {"dqn": 6, "td3": 12, "ddpg": 12}[agent]
    assert len(summary["eval_returns"]) == 1 and summary["eval_return_std"] == 0.0
    steps = rows(tmp_path / "steps.csv")
    assert [int(r["train_step"]) for r in steps] == list(range(1, summary["train_steps"] + 1))
    if hw == "fp32":
        assert summary["energy_j_total"] is None and steps[0]["energy_j"] == ""
        assert summary["underflows_by_tensor"] is None
    else:
        assert summary["energy_j_total"] == pytest.approx(summary["energy_j_inference"] + summary["energy_j_training"])
        assert all(float(r["energy_j"]) > 0 and int(r["cycles"]) > 0 for r in steps)
        assert summary["power_w"] > 0 and summary["saturations"] >= 0
        for field in ("saturations", "nonfinite", "underflows"):  # the tensors they came from, top 10
            by = summary[f"{field}_by_tensor"]
            assert all(n > 0 for n in by.values()) and (sum(by.values()) == summary[field] or len(by) == 10)
    assert (tmp_path / "config.toml").read_text().startswith("[run]\nagent = ")


def test_episodes_add_up_to_the_run(tmp_path):
    assert train(tmp_path, "dqn", "edge-int8", 60) == 0
    episodes = rows(tmp_path / "episodes.csv")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert episodes and summary["episodes"] == len(episodes)
    assert sum(int(e["length"]) for e in episodes) <= 60 == summary["env_steps"]
    for e in episodes:
        assert float(e["energy_j"]) == pytest.approx(float(e["energy_inference_j"]) + float(e["energy_training_j"]))
    assert sum(float(e["energy_j"]) for e in episodes) <= summary["energy_j_total"]
    assert summary["energy_j_per_episode_mean"] == pytest.approx(sum(float(e["energy_j"]) for e in episodes)
                                                                 / len(episodes))


def test_same_seed_same_files_bit_for_bit(tmp_path):
    for name in ("a", "b"):
        assert train(tmp_path / name, "td3", "edge-fp8", 16) == 0
    for name in ("config.toml", "episodes.csv", "steps.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    a, b = (json.loads((tmp_path / n / "summary.json").read_text()) for n in ("a", "b"))
    assert {k: v for k, v in a.items() if k != "wall_s"} == {k: v for k, v in b.items() if k != "wall_s"}


def hw_with_replay_sram(tmp_path) -> str:
    path = tmp_path / "small-replay.toml"
    path.write_text(config_to_toml(with_overrides(load_config("edge-int8"), {"sram.replay_bytes": 1024})))
    return str(path)


@pytest.mark.parametrize("args, message", [
    (["--agent", "sac"], "invalid choice: 'sac'"),
    (["--env", "CartPole-v9"], "CartPole"),
    (["--env", "Pendulum-v1"], "dqn needs a Discrete action space"),
    (["--agent", "td3", "--env", "CartPole-v1"], "td3 needs a flat Box action space"),
    (["--set", "learning_rate=-1"], "learning_rate must be > 0, got -1.0"),
    (["--set", "batch_size=128", "--set", "buffer_size=64"], "batch_size 128 exceeds buffer_size 64"),
    (["--set", "gamma=high"], "gamma must be float, got 'high'"),
    (["--set", "nonsense=1"], "unknown dqn setting 'nonsense'"),
    (["--hw", "edge-int9"], "edge-int9"),
    (["--steps", "0"], "--steps must be a positive integer"),
    (["--energy-budget", "-1"], "--energy-budget must be a positive finite energy"),
    (["--hw-set", "formats.scaling=per_row"], "formats.scaling must be one of"),
    (["--hw-set", "array.rows"], "--hw-set takes KEY=VALUE"),
    (["--hw", "fp32", "--hw-set", "array.rows=4"], "--hw fp32 has none"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    base = ["train", "--hw", "edge-int8", "--steps", "10", "--out", str(tmp_path / "run")]
    assert main([*base, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_a_replay_memory_over_the_chips_replay_sram_is_bad_input(tmp_path, capsys):
    assert main(["train", "--hw", hw_with_replay_sram(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert "exceeds its 1024 B; at most 26 transitions fit" in capsys.readouterr().err


def test_a_finished_run_is_refused_and_left_as_it_was(tmp_path, capsys):
    assert train(tmp_path, "dqn", "fp32", 12) == 0
    def files() -> dict:
        return {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    before = files()
    assert train(tmp_path, "dqn", "fp32", 12) == 2
    assert "is already a run that finished" in capsys.readouterr().err
    assert files() == before


def test_a_diverged_run_stops_with_a_message_and_keeps_its_logs(tmp_path, capsys):
    assert train(tmp_path, "dqn", "fp32", 40, "--set", "learning_rate=1e30") == 1
    err = capsys.readouterr().err
    assert "diverged at gradient step" in err and str(tmp_path) in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["diverged"] and summary["eval_return_mean"] is None
    assert rows(tmp_path / "steps.csv")


def test_the_summary_line_names_the_tensor_with_the_most_values_rounded_to_0(tmp_path, capsys):
    assert train(tmp_path, "dqn", "edge-int8", 20) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    name, count = next(iter(summary["underflows_by_tensor"].items()))  # int8 rounds small gradients to 0
    assert count == max(summary["underflows_by_tensor"].values())
    assert f"{summary['underflows']} rounded to 0 (most in {name}: {count})" in capsys.readouterr().out


def test_hw_set_changes_the_chip_the_run_records(tmp_path):
    assert train(tmp_path, "dqn", "edge-int8", 20, "--hw-set", "formats.scaling=channel_pow2",
                 "--hw-set", "array.rows=8") == 0
    config = (tmp_path / "config.toml").read_text()
    assert 'scaling = "channel_pow2"' in config and "rows = 8" in config
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["hw"] == "edge-int8 (formats.scaling=channel_pow2, array.rows=8)"
