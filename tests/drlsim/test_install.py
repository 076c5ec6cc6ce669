"""A built wheel works away from the checkout: presets and energy tables ship as package data.

The wheel is built from a copy of the packages (nothing written into the checkout), installed
with ``--no-deps`` into a fresh venv, and only then given this venv's dependencies through a
``.pth`` line (a directory on ``sys.path``; the ``.pth`` files inside it, such as the editable
install's finder, are not run, so the checkout cannot leak in).
"""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("accel", "energy", "agents", "envs", "drlsim")


def _run(*args, cwd: Path) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_lists_presets_and_trains(tmp_path):
    src = tmp_path / "src"
    for name in PACKAGES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist",
         src, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("drlsim-*.whl"))
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    site = Path(_run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=tmp_path).strip())
    (site / "deps_from_test_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = _run(venv / "bin" / "python", "-c",
                 "import accel, energy.tables as t; print(accel.__file__, t.DEFAULT_TABLE)", cwd=tmp_path)
    assert str(ROOT) not in where and str(site) in where
    presets = json.loads(_run(venv / "bin" / "drlsim", "presets", "--json", cwd=tmp_path))
    assert {"edge-int8", "edge-bf16", "edge-fp8", "edge-fixed16", "omnidrl", "cnpu2019"} <= {p["name"] for p in presets}
    assert all(p["peak_tops_per_w"] > 0 for p in presets)
    _run(venv / "bin" / "drlsim", "train", "--hw", "edge-int8", "--steps", "20", "--out", tmp_path / "run",
         "--set", "hidden=8,8", "--set", "batch_size=4", "--set", "learning_starts=8", "--set", "train_freq=4",
         "--set", "gradient_steps=2", "--eval-episodes", "1", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["train_steps"] == 6 and summary["energy_j_total"] > 0
