"""The default task of ase-emt end to end, small: the CLI as a real subprocess, and the
Python API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo

ZOO = Path(sys.executable).with_name("zoo")  # the console script of this venv

STEPS, BATCH = 3, 4


def check_run_folder(out: Path, steps: int, batch: int) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    # The task's default estimator is forward CGE on d = 1 (the lattice constant): per
    # unlabelled sample and step, 1 forward evaluation + d * 1 = 1 gradient query (f(z)
    # is reused from the forward pass), so steps * batch * 2 queries in all.
    assert summary["estimator"] == "cge"
    assert summary["sks_queries"] == steps * batch * 2
    assert summary["steps"] == steps
    assert np.isfinite(summary["final_loss"]) and summary["final_loss"] >= 0
    variants = summary["variants"]
    assert set(variants) == {"sks-coupled", "data-only"}
    assert variants["data-only"]["sks_queries"] == 0
    assert variants["sks-coupled"]["sks_queries"] == summary["sks_queries"]
    for v in variants.values():
        assert {"test_mae", "test_rmse", "test_max"} <= set(v["test"])
        t = v["test"]
        # mean <= rms <= max for any set of absolute errors; a0 errors are O(0.1 Å)
        assert 0 < t["test_mae"] <= t["test_rmse"] <= t["test_max"] < 2.0
    assert summary["test"] == variants["sks-coupled"]["test"]
    assert summary["nan_gradient_rows"] == 0
    png = (out / "loss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # the per-step log: cumulative queries grow by 2 * batch each coupled step
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    coupled = [r for r in rows if r["variant"] == "sks-coupled"]
    assert [r["sks_queries"] for r in coupled] == [2 * batch * (s + 1) for s in range(steps)]
    assert all("physics_mse" in r for r in coupled)
    assert (out / "config.toml").exists()
    return summary


@pytest.mark.slow
def test_cli_default_task(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [str(ZOO), "run", "--sks", "ase-emt", "--steps", str(STEPS),
         "--task-option", f"batch_unlabelled={BATCH}", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    table = "\n".join(lines[header : header + 4])
    assert "test_mae" in lines[header]
    assert any(line.startswith("sks-coupled") for line in lines[header:])
    assert any(line.startswith("data-only") for line in lines[header:])
    summary = check_run_folder(out, STEPS, BATCH)
    assert summary["task"] == "fcc-alloy-lattice" and summary["sks"] == "ase-emt"
    # the table shows the coupled model's query count
    coupled_line = next(line for line in lines if line.startswith("sks-coupled"))
    assert str(STEPS * BATCH * 2) in coupled_line.split(), table


@pytest.mark.slow
def test_python_api_small(tmp_path):
    out = tmp_path / "api"
    printed: list[str] = []
    steps, batch = 2, 3
    summary = zoo.run(
        {"sks": "ase-emt", "steps": steps, "out": str(out),
         "task_options": {"batch_unlabelled": batch, "n_unlabelled": 12}},
        progress=False,
        echo=printed.append,
    )
    assert summary == json.loads((out / "summary.json").read_text())
    check_run_folder(out, steps, batch)
    assert summary["data"]["unlabelled"] == 12
    text = "\n".join(printed)
    assert "sks-coupled" in text and "data-only" in text


def test_python_api_refuses_used_folder(tmp_path):
    out = tmp_path / "used"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    with pytest.raises(zoo.ConfigError):
        zoo.run({"sks": "ase-emt", "steps": 1, "out": str(out)}, progress=False, echo=lambda s: None)


def test_task_rejects_an_sks_without_pressure(tmp_path):
    with pytest.raises(zoo.ConfigError, match="pressure"):
        zoo.run(
            {"sks": "ase-emt", "steps": 1, "out": str(tmp_path / "r"),
             "sks_options": {"outputs": ["energy"]}},
            progress=False, echo=lambda s: None,
        )
