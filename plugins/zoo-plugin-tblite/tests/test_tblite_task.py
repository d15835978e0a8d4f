"""The g2-bond-length task: the task contract, its split, and a short run through the real
``zoo`` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.tasks import sks_options_for
from zoo.testing import check_task

ZOO = Path(sys.executable).with_name("zoo")  # the console script of this venv


def built(**options):
    task = zoo.task("g2-bond-length", **options)
    sks = zoo.knowledge_source("xtb", **sks_options_for(task, "xtb"))
    return task, sks


def test_task_contract():
    task, sks = built(n_labelled=6, n_validation=2, batch_unlabelled=5)
    out = check_task(task, sks, seed=1)
    assert 0 < out["test_mae"] < 1.0
    torch.manual_seed(0)
    val = task.validate(task.make_model())
    assert set(val) == {"val_mae", "val_rmse", "val_max"} and 0 < val["val_mae"] <= val["val_max"]


def test_split_keeps_test_and_validation_out_of_the_physics_term():
    task, sks = built(n_labelled=8, n_validation=2)
    task.setup(sks, seed=3)
    test, val, train, unlab = (set(task.rows(w).tolist()) for w in ("test", "validation", "train", "unlabelled"))
    assert len(test) == 10 and len(val) == 2 and len(train) == 6 and len(unlab) == 41 - 18
    assert not (test & unlab) and not (val & unlab) and not (train & unlab) and not (test & (val | train))
    other, _ = built(n_labelled=8, n_validation=2)
    other.setup(sks, seed=4)
    assert set(other.rows("test").tolist()) == test  # the test set depends on split_seed only
    assert set(other.rows("train").tolist()) != train
    data = task.describe_data()
    assert data["molecules"] == 41 and data["in_physics_term"] == 23 and data["excluded_by_xtb"] == []
    assert "MP2(full)/6-31G*" in data["labels"] and "ASE 3." in data["source"]


def test_validate_and_sample_inputs():
    task, sks = built(n_labelled=4, n_validation=0)
    task.setup(sks, seed=0)
    torch.manual_seed(0)
    model = task.make_model()
    assert task.validate(model) == {} and set(task.evaluate(model)) == {"test_mae", "test_rmse", "test_max"}
    x, contexts = task.sample_inputs(3)
    assert x.shape == (3, 1) and len(contexts) == 3
    np.testing.assert_allclose(x[:, 0], [c.bond_lengths()[0] for c in contexts])
    assert np.isfinite(sks(x, contexts)).all()


def test_untrained_model_starts_at_the_covalent_radius_sum():
    """The network corrects the rule of thumb; its output scale 0.3 Å keeps the start near it."""
    task, sks = built()
    task.setup(sks, seed=0)
    torch.manual_seed(0)
    model = task.make_model()
    with torch.no_grad():
        r = model(task.x)
    cov = np.array([rec.covalent_sum for rec in task.records])
    assert np.abs(r.numpy() - cov).max() < 0.3


@pytest.mark.parametrize("options, fragment", [
    ({"calibration": "scale"}, "calibration"),
    ({"force_per_angstrom": 0.0}, "force_per_angstrom"),
    ({"hidden": 0}, "hidden"),
    ({"physics_weight": -1.0}, "physics_weight"),
])
def test_bad_options_are_config_errors(options, fragment):
    with pytest.raises(zoo.ConfigError, match=fragment):
        zoo.task("g2-bond-length", **options)


def test_too_many_labels_is_a_config_error_at_setup():
    task, sks = built(n_labelled=40)
    with pytest.raises(zoo.ConfigError, match="n_labelled"):
        task.setup(sks, seed=0)


@pytest.mark.slow
def test_cli_three_steps(tmp_path):
    out = tmp_path / "tmp"
    proc = subprocess.run(
        [str(ZOO), "run", "--sks", "xtb", "--steps", "3", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("sks-coupled") for line in proc.stdout.splitlines())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "g2-bond-length" and summary["estimator"] == "cge" and summary["steps"] == 3
    # defaults: 8 labels (2 for validation), 10 test molecules, so 23 unlabelled in the physics
    # term; forward CGE on d = 1 asks 2 rows per molecule and step (value + one difference)
    assert summary["setup_queries"] == 23
    ev = summary["evaluation"]
    assert ev["queries"] + ev["cache_hits"] == 3 * 23 * 2 and ev["failed"] == 0
    assert summary["sks_about"]["method"] == "GFN2-xTB"
    assert summary["data"]["in_physics_term"] == 23
    variants = summary["variants"]
    assert variants["data-only"]["sks_queries"] == 0
    for v in variants.values():
        t = v["test"]
        assert 0 < t["test_mae"] <= t["test_rmse"] <= t["test_max"] < 2.0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    coupled = [r for r in rows if r["variant"] == "sks-coupled"]
    assert len(coupled) == 3 and all("physics_mse" in r and "delta" in r for r in coupled)
    # the loop logs validate() beside the test metrics (what early stopping would watch)
    assert all("val_mae" in r for r in rows if "test_mae" in r)
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_bad_task_option_is_one_error_line(tmp_path):
    proc = subprocess.run(
        [str(ZOO), "run", "--sks", "xtb", "--steps", "1", "--task-option", "calibration=scale",
         "--out", str(tmp_path / "bad"), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("Error:") and "calibration" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_example_config_runs(tmp_path):
    """examples/g2-bond-lengths runs from its config, as its README says (3 steps here)."""
    root = Path(__file__).resolve().parents[3]
    config = root / "examples" / "g2-bond-lengths" / "config.toml"
    assert (config.parent / "README.md").is_file()
    out = tmp_path / "run"
    proc = subprocess.run(
        [str(ZOO), "run", "--config", str(config), "--steps", "3", "--no-progress", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sks"] == "xtb" and summary["task"] == "g2-bond-length" and summary["steps"] == 3
    assert summary["variants"]["sks-coupled"]["sks_queries"] > 0 and summary["failed_queries"] == 0
