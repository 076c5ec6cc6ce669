"""Bad input to ``drlsim sweep``: one line on stderr naming the problem, exit 2, nothing already there changed."""

import os
import sys
from pathlib import Path

import pytest

from drlsim.cli import main

RUN = '[run]\nworkload = "dqn"\nhidden = [8, 8]\n'
GOOD = RUN + '[grid]\n"array.rows" = [8, 16]\n'


def sweep(tmp_path: Path, text: str, *extra: str, out: str = "out") -> Path:
    (tmp_path / "s.toml").write_text(text)
    return main(["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / out), "--workers", "1", *extra])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("drlsim: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("[8, 16]", "[8, 16]]"), "not valid TOML: Expected newline or end of document after a statement "
                                         "(at line 5, column 23)"),
    (GOOD + "[frobnicate]\n", "unknown table [frobnicate]"),
    (GOOD.replace("hidden", "hiden"), "unknown key run.hiden"),
    (RUN + "[grid]\n", "[grid] is empty"),
    (RUN + '[grid]\n"array.rows" = []\n', "grid.array.rows must be a non-empty list"),
    (RUN + '[grid]\n"array.rowz" = [8]\n', "grid.array.rowz: <edge-int8 with overrides>: unknown override key "
                                           "'array.rowz'; allowed keys in [array]: rows, cols"),
    (RUN + '[grid]\n"sram.flux" = [8]\n', "unknown override key 'sram.flux'"),
    (RUN + '[grid]\n"array.rows" = [8, 0]\n', "grid.array.rows: <edge-int8 with overrides>: array.rows must be a "
                                              "positive integer, got 0"),
    (RUN + '[grid]\n"formats.weight" = ["int7"]\n', "formats.weight = 'int7' is not a number format"),
    (RUN + '[grid]\n"settings.batch_size" = [0]\n', "grid.settings.batch_size: dqn setting batch_size"),
    (RUN + '[grid]\n"settings.colour" = ["red"]\n', "unknown dqn setting 'colour'"),
    (RUN + '[grid]\n"clock.voltage_v" = { low = 0.6, high = 0.9 }\n', "a range needs [sample] or [search]"),
    (GOOD + "[sample]\npoints = 0\n", "sample.points must be a positive integer"),
    (GOOD + '[search]\nminimize = "eval_return_mean"\n', "needs learning"),
    (GOOD + '[search]\nmaximize = "joy"\n', "search.maximize = 'joy' is not a metric"),
    ('[run]\nagent = "sac"\n[grid]\n"array.rows" = [8]\n', "run.agent must be one of dqn, td3, ddpg"),
    ('[run]\nhw = "nope"\n[grid]\n"array.rows" = [8]\n', "run.hw: unknown preset 'nope'"),
    ('[run]\nseeds = []\n[grid]\n"array.rows" = [8]\n', "run.seeds must be a non-empty list"),
])
def test_bad_sweep_files(tmp_path, capsys, text, message):
    assert sweep(tmp_path, text) == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_missing_file(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.toml"), "--out", str(tmp_path / "out")]) == 2
    assert "not found" in one_line_error(capsys)


def test_out_dir_that_is_not_a_sweep_is_left_alone(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("precious")
    assert sweep(tmp_path, GOOD) == 2
    assert "exists and is not a drlsim sweep" in one_line_error(capsys)
    assert sweep(tmp_path, GOOD, "--resume") == 2
    assert "not a drlsim sweep directory" in one_line_error(capsys)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["thesis.tex"]
    assert (tmp_path / "out" / "thesis.tex").read_text() == "precious"


def test_a_finished_run_directory_is_not_a_sweep_to_write_into(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.json").write_text("{}")
    assert sweep(tmp_path, GOOD) == 2
    assert "not a drlsim sweep" in one_line_error(capsys)


def test_unwritable_out_dir(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert sweep(tmp_path, GOOD, out="file/out") == 2
    assert "cannot write" in one_line_error(capsys)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert sweep(tmp_path, GOOD, out="locked/out") == 2
        assert "cannot write" in one_line_error(capsys)


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers must be a positive integer, got 0"),
    (["--backend", "dask"], "invalid choice: 'dask'"),
    (["--address", "127.0.0.1:1"], "--address needs --backend ray"),
    (["--confirm", "0"], "--confirm must be a positive integer, got 0"),
])
def test_bad_options(tmp_path, capsys, args, message):
    (tmp_path / "s.toml").write_text(GOOD)
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), *args]) == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_confirm_needs_a_workload_sweep(tmp_path, capsys):
    assert sweep(tmp_path, '[run]\nagent = "dqn"\n[grid]\n"array.rows" = [8]\n', "--confirm", "1") == 2
    assert "--confirm re-runs the best points of a workload sweep" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_ray_address_that_does_not_answer(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", object())  # answered before Ray would be started
    assert sweep(tmp_path, GOOD, "--backend", "ray", "--address", "127.0.0.1:1") == 2
    assert "--address 127.0.0.1:1: no Ray cluster answers" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("module, text, args, install", [
    ("ray", GOOD, ["--backend", "ray"], "pip install 'drlsim[ray]'"),
    ("optuna", GOOD + '[search]\nminimize = "power_w"\n', [], "pip install 'drlsim[optuna]'"),
])
def test_missing_optional_extra_says_what_to_install(tmp_path, capsys, monkeypatch, module, text, args, install):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    assert sweep(tmp_path, text, *args) == 2
    assert install in one_line_error(capsys)
    assert not (tmp_path / "out").exists()
