"""The default task of ``lammps`` (zoo-atomistic's eam-alloy-lattice: EMT labels, LAMMPS EAM
physics): a short run through the CLI and the Python API, and ``zoo diagnose`` at its
sample inputs. Its labels and structures are tested with zoo-atomistic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import zoo

ZOO = Path(sys.executable).with_name("zoo")


def check_run(out: Path, steps: int, batch: int) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "eam-alloy-lattice" and summary["sks"] == "lammps"
    # forward CGE on d = 1: 1 forward + 1 gradient query per unlabelled alloy and step
    assert summary["sks_queries"] == steps * batch * 2
    assert summary["nan_gradient_rows"] == 0
    for v in summary["variants"].values():
        t = v["test"]
        assert 0 < t["test_mae"] <= t["test_rmse"] <= t["test_max"] < 1.0
    return summary


@pytest.mark.slow
def test_cli_default_task(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [str(ZOO), "run", "--sks", "lammps", "--steps", "3", "--task-option", "batch_unlabelled=4",
         "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("sks-coupled") for line in proc.stdout.splitlines())
    check_run(out, 3, 4)


@pytest.mark.slow
def test_python_api_small(tmp_path):
    summary = zoo.run(
        {"sks": "lammps", "steps": 2, "out": str(tmp_path / "api"), "baseline": False,
         "task_options": {"batch_unlabelled": 3, "n_unlabelled": 10}},
        progress=False, echo=lambda s: None,
    )
    assert summary["data"]["unlabelled"] == 10
    check_run(tmp_path / "api", 2, 3)


def test_task_rejects_an_sks_without_pressure(tmp_path):
    with pytest.raises(zoo.ConfigError, match="pressure"):
        zoo.run({"sks": "lammps", "steps": 1, "out": str(tmp_path / "r"),
                 "sks_options": {"outputs": ["energy"]}}, progress=False, echo=lambda s: None)


def test_zoo_diagnose_runs_on_the_default_task():
    """``zoo diagnose --sks lammps`` checks estimators at the default task's sample inputs."""
    proc = subprocess.run(
        [str(ZOO), "diagnose", "--sks", "lammps", "--points", "2", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    # the task's points: lattice constants (d = 1, Å) where the upstream is its pressure
    assert report["sks"] == "lammps" and report["d"] == 1 and report["units"] == ["Å"]
    assert report["upstream"] == "pressure" and report["points"] == 2
    # dP/da = -3B/a: -100 to -250 GPa/Å for these metals (B 140-290 GPa, a 3.5-4.1 Å)
    assert len(report["reference_gradient"]) == 2
    assert all(-300 < g[0] < -80 for g in report["reference_gradient"])
