"""``drlsim compare``: the table of run and sweep directories, the figures, bad input."""

import json
from pathlib import Path

import pytest

from drlsim.cli import main
from drlsim.compare import load, pareto_front, si

TINY = ["--set", "hidden=8,8", "--set", "batch_size=4", "--set", "learning_starts=8", "--set", "buffer_size=64",
        "--set", "train_freq=4", "--set", "gradient_steps=2", "--eval-episodes", "2"]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> Path:
    """Two runs (edge-int8, fp32) and a workload sweep."""
    tmp = tmp_path_factory.mktemp("compare")
    for hw in ("edge-int8", "fp32"):
        assert main(["train", "--hw", hw, "--steps", "40", "--seed", "2", "--out", str(tmp / hw), *TINY]) == 0
    (tmp / "w.toml").write_text('[run]\nworkload = "dqn"\nhidden = [16, 16]\n[grid]\n"array.rows" = [8, 16]\n'
                                '"formats.weight" = ["int8", "bf16"]\n"formats.accumulator" = ["int32", "fp32"]\n')
    assert main(["sweep", str(tmp / "w.toml"), "--out", str(tmp / "sweep"), "--workers", "1"]) == 0
    return tmp


def test_table_has_a_line_per_run_and_per_swept_combination(dirs, capsys):
    assert main(["compare", str(dirs / "edge-int8"), str(dirs / "fp32"), str(dirs / "sweep")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["return", "energy/episode", "energy/train", "step", "power", "TOPS/W"]
    summary = json.loads((dirs / "edge-int8" / "summary.json").read_text())
    assert out[1].startswith("edge-int8") and f"{summary['eval_return_mean']:.1f} ± " in out[1]
    assert si(summary["energy_j_per_episode_mean"], "J") in out[1] and si(summary["power_w"], "W") in out[1]
    assert out[2].startswith("fp32") and out[2].count("—") == 4  # no chip: no energy, power or TOPS/W
    sweep_lines = [line for line in out if line.startswith("sweep: ")]
    assert [line.split("  ")[0] for line in sweep_lines] == [  # bf16 × int32 accumulator fails: left out
        f"sweep: array.rows={rows} formats.weight={w} formats.accumulator={acc}"
        for rows in (8, 16) for w, acc in (("bf16", "fp32"), ("int8", "fp32"), ("int8", "int32"))]
    assert all(line.count("—") == 2 and float(line.split()[-1]) > 0 for line in sweep_lines)  # no return, no episode
    assert out[-1] == "(2 failed sweep points left out; their errors are in results.csv)"


def test_sweep_entries_average_seeds(tmp_path):
    (tmp_path / "results.csv").write_text(
        "point,status,error,array.rows,seed,eval_return_mean,eval_return_std,energy_j_per_episode_mean,"
        "energy_j_per_train_step,power_w,tops_per_w,energy_mac_j,run_dir\n"
        "a,ok,,8,0,10.0,1.0,2e-6,1e-7,0.01,0.5,1e-6,\n"
        "b,ok,,8,1,20.0,1.0,4e-6,3e-7,0.03,0.7,3e-6,\n"
        "c,error,boom,16,0,,,,,,,,\n")
    [entry], failed = load(tmp_path)
    assert failed == 1 and entry.label == f"{tmp_path.name}: array.rows=8"
    assert (entry.return_mean, entry.return_std) == (15.0, 5.0)
    assert entry.energy_j_per_episode == pytest.approx(3e-6) and entry.tops_per_w == pytest.approx(0.6)
    assert entry.breakdown_j == (("mac", pytest.approx(2e-6)),)


def test_plot_writes_a_png(dirs, tmp_path, capsys):
    png = tmp_path / "cmp.png"
    assert main(["compare", str(dirs / "edge-int8"), str(dirs / "sweep"), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert capsys.readouterr().out.endswith(f"figures -> {png}\n")


def test_pareto_front_keeps_the_points_nothing_beats():
    points = [(1.0, 5.0), (2.0, 4.0), (2.0, 9.0), (3.0, 9.0), (0.5, 1.0), (4.0, 10.0)]
    assert pareto_front(points) == [(0.5, 1.0), (1.0, 5.0), (2.0, 9.0), (4.0, 10.0)]


def test_si_prefixes():
    assert (si(2.5e-6, "J"), si(0.0123, "W"), si(3.0, "J"), si(None, "J"), si(4e-16, "J")) == (
        "2.5 µJ", "12.3 mW", "3 J", "—", "0.4 fJ")


@pytest.mark.parametrize("make, args, message", [
    (lambda d: d.mkdir(), [], "is neither a drlsim run (summary.json) nor a sweep (results.csv)"),
    (lambda d: (d.mkdir(), (d / "config.toml").write_text("")), [], "is an unfinished run"),
    (lambda d: None, ["--plot", "figure.pdf"], "--plot must name a .png file"),
    (lambda d: None, ["--plot", "/nonexistent/dir/f.png"], "no directory '/nonexistent/dir'"),
])
def test_bad_input(dirs, tmp_path, capsys, make, args, message):
    target = tmp_path / "d"
    make(target)
    assert main(["compare", str(target if target.exists() else dirs / "edge-int8"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
