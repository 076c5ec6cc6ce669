"""``drlsim sweep``: grids of tiny learning runs, workload prices, samples, resume, failing points,
the results file's atomic rows, and a sweep killed with SIGKILL then resumed."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accel import load_config
from accel.config import config_to_toml, with_overrides
from drlsim.cli import main, workload_rows
from drlsim.sweep import Results
from drlsim.sweepfile import load_sweep

TINY_RUN = """[run]
agent = "dqn"
env = "CartPole-v1"
hw = "edge-int8"
steps = STEPS
seeds = [0, 1]
eval_episodes = 1

[run.settings]
hidden = "8,8"
batch_size = 4
learning_starts = 8
buffer_size = 64
train_freq = 4
gradient_steps = 2
"""
CONTRACT_COLUMNS = ("seed", "eval_return_mean", "energy_j_per_episode_mean", "energy_j_per_train_step", "power_w",
                    "wall_s", "tops_per_w")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def by_point(path: Path) -> dict:
    """Rows by point id, without the wall time (the one thing that differs between equal runs)."""
    return {r["point"]: {k: v for k, v in r.items() if k != "wall_s"} for r in rows(path)}


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    """Two rows × two formats × two seeds of 20-step learning runs, one combination invalid (bf16 × int32)."""
    tmp = tmp_path_factory.mktemp("sweep")
    file = write(tmp / "sweep.toml", TINY_RUN.replace("STEPS", "20") + """
[grid]
"array.rows" = [8, 16]
"formats.accumulator" = ["int32", "fp32"]
"formats.weight" = ["int8", "bf16"]
""")
    assert main(["sweep", str(file), "--out", str(tmp / "out"), "--workers", "1"]) == 0
    return tmp


def test_grid_rows_have_every_swept_key_and_the_contract_columns(tiny_sweep):
    found = rows(tiny_sweep / "out" / "results.csv")
    assert len(found) == 16 and len({r["point"] for r in found}) == 16
    assert {"array.rows", "formats.accumulator", "formats.weight", *CONTRACT_COLUMNS} <= set(found[0])
    ok = [r for r in found if r["status"] == "ok"]
    failed = [r for r in found if r["status"] == "error"]
    assert len(ok) == 12 and all(r["formats.weight"] == "bf16" and r["formats.accumulator"] == "int32" for r in failed)
    assert all("formats.accumulator = 'int32' cannot hold" in r["error"] and "\n" not in r["error"] for r in failed)
    for r in ok:
        summary = json.loads((tiny_sweep / "out" / r["run_dir"] / "summary.json").read_text())
        assert float(r["eval_return_mean"]) == summary["eval_return_mean"]
        assert float(r["energy_j_per_train_step"]) == summary["energy_j_per_train_step_mean"]
        parts = sum(float(r[f"energy_{c}_j"]) for c in ("mac", "sram", "dram", "vector", "leakage"))
        assert float(r["tops_per_w"]) == pytest.approx(2 * int(r["macs"]) / parts / 1e12)
        assert parts > float(r["energy_j_total"])  # the evaluation episodes are priced too


def test_a_point_is_the_train_run_with_the_same_chip_and_seed(tiny_sweep, tmp_path):
    [row] = [r for r in rows(tiny_sweep / "out" / "results.csv")
             if (r["array.rows"], r["formats.accumulator"], r["formats.weight"], r["seed"])
             == ("8", "fp32", "bf16", "1")]
    hw = tmp_path / "chip.toml"
    hw.write_text(config_to_toml(with_overrides(load_config("edge-int8"), {
        "array.rows": 8, "formats.accumulator": "fp32", "formats.weight": "bf16"})))
    sets = [part for s in ("hidden=8,8", "batch_size=4", "learning_starts=8", "buffer_size=64", "train_freq=4",
                           "gradient_steps=2") for part in ("--set", s)]
    assert main(["train", "--hw", str(hw), "--steps", "20", "--seed", "1", "--out", str(tmp_path / "run"),
                 "--eval-episodes", "1", *sets]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert float(row["energy_j_per_episode_mean"]) == summary["energy_j_per_episode_mean"]
    assert float(row["eval_return_mean"]) == summary["eval_return_mean"]


def test_resume_skips_finished_points_and_a_second_start_is_refused(tiny_sweep, capsys):
    out, file = tiny_sweep / "out", tiny_sweep / "sweep.toml"
    before = (out / "results.csv").read_bytes()
    assert main(["sweep", str(file), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert (out / "results.csv").read_bytes() == before
    assert main(["sweep", str(file), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    changed = write(tiny_sweep / "changed.toml", file.read_text().replace("[8, 16]", "[8, 32]"))
    assert main(["sweep", str(changed), "--out", str(out), "--resume"]) == 2
    assert (out / "results.csv").read_bytes() == before


def test_workload_points_price_what_drlsim_workload_prices(tmp_path):
    file = write(tmp_path / "w.toml", """[run]
workload = "dqn"
hw = "edge-int8"
hidden = [32, 32]
batch = 16

[grid]
"array.rows" = [16, 8]
"clock.voltage_v" = [0.8, 0.6]
""")
    assert main(["sweep", str(file), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    found = {(r["array.rows"], r["clock.voltage_v"]): r for r in rows(tmp_path / "out" / "results.csv")}
    assert len(found) == 4 and all(r["status"] == "ok" and r["eval_return_mean"] == "" for r in found.values())
    [reference] = workload_rows(["edge-int8"], "dqn", 4, 2, (32, 32), 16)  # CartPole: 4 observations, 2 actions
    base = found[("16", "0.8")]
    assert float(base["energy_j_per_train_step"]) == reference["energy_j"]
    assert int(base["cycles"]) == reference["cycles"] and int(base["macs"]) == reference["macs"]
    assert float(found[("16", "0.6")]["energy_j_per_train_step"]) < reference["energy_j"]  # V² scaling


def test_the_design_example_grid_runs_and_its_invalid_combinations_fail_as_points(tmp_path):
    file = write(tmp_path / "w.toml", """[run]
workload = "dqn"
hw = "edge-int8"
hidden = [16, 16]

[grid]
"array.rows" = [8, 16, 32]
"formats.weight" = ["int8", "bf16"]
""")
    assert main(["sweep", str(file), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    found = rows(tmp_path / "out" / "results.csv")
    assert sorted((r["formats.weight"], r["status"]) for r in found) == [("bf16", "error")] * 3 + [("int8", "ok")] * 3
    assert all("formats.accumulator = 'int32' cannot hold" in r["error"] for r in found if r["status"] == "error")


def test_workload_points_in_two_worker_processes_equal_the_inline_ones(tmp_path):
    file = write(tmp_path / "w.toml", """[run]
workload = "td3"
env = "Pendulum-v1"
hw = "edge-bf16"
hidden = [16, 16]

[grid]
"array.cols" = [4, 8, 16]
"vector.lanes" = [4, 16]
""")
    assert main(["sweep", str(file), "--out", str(tmp_path / "one"), "--workers", "1"]) == 0
    assert main(["sweep", str(file), "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    one, two = by_point(tmp_path / "one" / "results.csv"), by_point(tmp_path / "two" / "results.csv")
    assert len(one) == 6 and one == two


def test_the_design_example_file_reads_as_its_points(tmp_path):
    file = write(tmp_path / "d.toml", """[run]                        # what each point runs: drlsim train's options
agent = "dqn"
env = "CartPole-v1"
hw = "edge-int8"             # the base chip; grid keys override its fields
steps = 20000
seeds = [0, 1, 2]

[grid]                       # dotted hardware keys -> values; the cartesian product
"array.rows" = [8, 16, 32]
"formats.weight" = ["int8", "bf16"]
""")
    spec = load_sweep(file)
    assert spec.keys == ("array.rows", "formats.weight") and (spec.run.steps, spec.run.seeds) == (20000, (0, 1, 2))
    points = spec.points()
    assert len(points) == 18 and len({p.id for p in points}) == 18
    assert (dict(points[0].values), points[0].seed) == ({"array.rows": 8, "formats.weight": "int8"}, 0)


def test_sample_draws_distinct_points_deterministically_and_ranges_stay_in_bounds(tmp_path):
    file = write(tmp_path / "s.toml", """[run]
workload = "dqn"
seeds = [0, 1]

[grid]
"array.rows" = [8, 16, 32]
"array.cols" = { low = 4, high = 64 }
"clock.voltage_v" = { low = 0.6, high = 1.0, log = true }

[sample]
points = 5
seed = 3
""")
    points = load_sweep(file).points()
    assert points == load_sweep(file).points() and len(points) == 10
    for p in points:
        values = dict(p.values)
        assert values["array.rows"] in (8, 16, 32) and isinstance(values["array.cols"], int)
        assert 4 <= values["array.cols"] <= 64 and 0.6 <= values["clock.voltage_v"] <= 1.0
    grid_only = write(tmp_path / "g.toml", '[run]\nworkload = "dqn"\n[grid]\n"array.rows" = [8, 16, 32]\n'
                      "[sample]\npoints = 10\n")
    assert sorted(dict(p.values)["array.rows"] for p in load_sweep(grid_only).points()) == [8, 16, 32]


def test_agent_settings_and_envs_are_swept_too(tmp_path):
    file = write(tmp_path / "w.toml", """[run]
workload = "dqn"

[grid]
"settings.hidden" = ["16,16", "64,64"]
"env" = ["CartPole-v1", "Acrobot-v1"]
""")
    assert main(["sweep", str(file), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    macs = {(r["settings.hidden"], r["env"]): int(r["macs"]) for r in rows(tmp_path / "out" / "results.csv")}
    assert macs[("64,64", "CartPole-v1")] > macs[("16,16", "CartPole-v1")]
    assert macs[("16,16", "Acrobot-v1")] > macs[("16,16", "CartPole-v1")]  # 6 observations and 3 actions


def test_a_torn_last_row_is_dropped_and_rows_are_whole_lines(tmp_path):
    path = tmp_path / "results.csv"
    results = Results(path, ("point", "status", "x"))
    results.append({"point": "a", "status": "ok", "x": 1.5})
    with path.open("a") as f:
        f.write("b,ok,2")  # a row cut short
    assert [r["point"] for r in Results(path, ("point", "status", "x")).rows()] == ["a"]
    assert path.read_text() == "point,status,x\na,ok,1.5\n"


def _session(sid: int) -> list[int]:
    """The processes still alive in session ``sid``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_loses_only_points_in_flight_and_resume_finishes_the_sweep(tmp_path, workers):
    file = write(tmp_path / "k.toml", TINY_RUN.replace("STEPS", "20").replace("seeds = [0, 1]", "seeds = [0, 1, 2]")
                 + '\n[grid]\n"array.rows" = [8, 16]\n')
    out = tmp_path / "out"
    command = [sys.executable, "-m", "drlsim.cli", "sweep", str(file), "--out", str(out), "--workers", workers]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and sweep.poll() is None:
        if (out / "results.csv").exists() and len(rows(out / "results.csv")) >= 2:
            break
        time.sleep(0.05)
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait()
    text = (out / "results.csv").read_text()
    kept = rows(out / "results.csv")
    assert text.endswith("\n") and 2 <= len(kept) < 6 and all(r["status"] == "ok" for r in kept)
    deadline = time.monotonic() + 10
    while _session(sweep.pid) and time.monotonic() < deadline:  # the workers follow the driver
        time.sleep(0.1)
    assert _session(sweep.pid) == []
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    final = rows(out / "results.csv")
    assert final[:len(kept)] == kept and len(final) == 6 and len({r["point"] for r in final}) == 6
    assert all(r["status"] == "ok" for r in final)


def test_search_finds_a_pareto_front_in_its_study_and_resume_continues_it(tmp_path):
    pytest.importorskip("optuna")
    text = """[run]
workload = "dqn"
hidden = [16, 16]

[grid]
"array.rows" = [4, 8, 16, 32]
"clock.voltage_v" = { low = 0.6, high = 1.0 }

[search]
trials = 6
population = 4
minimize = "energy_j_per_train_step"
maximize = "power_w"
"""
    file = write(tmp_path / "s.toml", text)
    out = tmp_path / "out"
    assert main(["sweep", str(file), "--out", str(out), "--workers", "1"]) == 0
    import optuna

    study = optuna.load_study(study_name="drlsim-sweep", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 6 and all(t.state.is_finished() for t in study.trials)
    front = rows(out / "pareto.csv")
    assert front and {"trial", "array.rows", "clock.voltage_v", "energy_j_per_train_step", "power_w"} == set(front[0])
    assert {int(r["trial"]) for r in front} <= {t.number for t in study.best_trials}
    assert len({(r["array.rows"], r["clock.voltage_v"]) for r in front}) == len(front)
    before = len(rows(out / "results.csv"))
    assert main(["sweep", str(file), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert len(optuna.load_study(study_name="drlsim-sweep", storage=f"sqlite:///{out / 'study.db'}").trials) == 6
    assert len(rows(out / "results.csv")) == before


def test_confirm_reruns_the_best_workload_points_with_learning(tmp_path):
    file = write(tmp_path / "c.toml", """[run]
workload = "dqn"
hw = "edge-int8"
steps = 20
seeds = [5]
eval_episodes = 1
settings = { hidden = "8,8", batch_size = 4, learning_starts = 8, buffer_size = 64, train_freq = 4, gradient_steps = 2 }

[grid]
"clock.voltage_v" = [0.9, 0.6, 0.7]
""")
    assert main(["sweep", str(file), "--out", str(tmp_path / "out"), "--workers", "1", "--confirm", "2"]) == 0
    confirmed = rows(tmp_path / "out" / "confirm" / "results.csv")
    assert sorted(r["clock.voltage_v"] for r in confirmed) == ["0.6", "0.7"]
    assert all(r["status"] == "ok" and r["seed"] == "5" and float(r["eval_return_mean"]) > 0 for r in confirmed)


@pytest.mark.slow
def test_ray_backend_runs_the_same_rows_on_a_local_cluster(tmp_path):
    pytest.importorskip("ray")
    file = write(tmp_path / "w.toml", '[run]\nworkload = "dqn"\nhidden = [16, 16]\n'
                 '[grid]\n"array.rows" = [8, 16, 32]\n')
    assert main(["sweep", str(file), "--out", str(tmp_path / "local"), "--workers", "1"]) == 0
    assert main(["sweep", str(file), "--out", str(tmp_path / "ray"), "--workers", "2", "--backend", "ray"]) == 0
    on_ray = by_point(tmp_path / "ray" / "results.csv")
    assert len(on_ray) == 3 and on_ray == by_point(tmp_path / "local" / "results.csv")
