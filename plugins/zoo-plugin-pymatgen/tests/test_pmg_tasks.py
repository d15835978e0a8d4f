"""The default tasks: `zoo run --sks NAME` through the real CLI (small), and their pieces."""

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
from zoo_pymatgen import ionic
from zoo_pymatgen.prototypes import PROTOTYPES

from pmg_testlib import COULOMB, MADELUNG_NACL

ZOO = Path(sys.executable).with_name("zoo")  # the console script of this venv
STEPS = 3
# one torch thread: the tiny models here gain nothing from more, and on a busy machine
# thread hand-offs cost more than the arithmetic
ENV = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
       "ZOO_PLUGINS": "pymatgen,estimators,schedulers,executors"}


def zoo_run(tmp_path: Path, sks: str, *task_options: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / sks
    args = [str(ZOO), "run", "--sks", sks, "--steps", str(STEPS), "--out", str(out), "--no-progress"]
    for opt in task_options:
        args += ["--task-option", opt]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, env=ENV)
    return proc, out


def check_run(proc, out: Path, task: str, queries: int, metrics: set[str]) -> dict:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    assert "test_mae" in lines[header]
    coupled = next(line for line in lines[header:] if line.startswith("sks-coupled"))
    assert str(queries) in coupled.split()
    assert any(line.startswith("data-only") for line in lines[header:])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == task and summary["estimator"] == "cge" and summary["steps"] == STEPS
    # forward CGE: per sample and step, 1 forward evaluation + d gradient queries
    assert summary["sks_queries"] == queries
    assert summary["variants"]["data-only"]["sks_queries"] == 0
    assert summary["nan_gradient_rows"] == 0
    for variant in summary["variants"].values():
        assert metrics <= set(variant["test"])
        assert all(np.isfinite(v) and v >= 0 for v in variant["test"].values())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["sks_queries"] for r in rows if r["variant"] == "sks-coupled"] == [
        queries // STEPS * (s + 1) for s in range(STEPS)]
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    return summary


@pytest.mark.slow
def test_cli_xrd_lattice(tmp_path):
    batch = 4
    proc, out = zoo_run(tmp_path, "pymatgen-xrd", "n_unlabelled=16", "n_test=7", f"batch_unlabelled={batch}")
    summary = check_run(proc, out, "xrd-lattice", STEPS * batch * (1 + 2),
                        {"test_mae", "test_rmse", "test_mae_a", "test_mae_c"})
    assert summary["data"]["unlabelled"] == 16 and summary["data"]["pattern_points"] == 301


@pytest.mark.slow
def test_cli_rocksalt_bvs_lattice(tmp_path):
    batch = 4
    proc, out = zoo_run(tmp_path, "pymatgen-bvs", f"batch_unlabelled={batch}")
    summary = check_run(proc, out, "rocksalt-bvs-lattice", STEPS * batch * 2, {"test_mae", "test_rmse", "test_max"})
    assert summary["data"]["test"] == 12 and summary["data"]["labelled"] == 8
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("physics_mse" in r and "delta" in r for r in rows if r["variant"] == "sks-coupled")


@pytest.mark.slow
def test_cli_rocksalt_lattice_energy(tmp_path):
    proc, out = zoo_run(tmp_path, "pymatgen-ewald", "n_labelled=5")
    check_run(proc, out, "rocksalt-lattice-energy", STEPS * 5 * 2, {"test_mae", "test_rmse", "test_max"})


@pytest.mark.parametrize("sks,options,fragment", [
    ("pymatgen-xrd", {"inputs": "lattice_parameters"}, "xrd-lattice needs pymatgen-xrd with inputs='lattice_lengths'"),
    ("pymatgen-xrd", {"normalization": "max"}, "normalization='area'"),
    ("pymatgen-bvs", {"outputs": ["bvs"], "n_atoms": 2}, "output 'gii'"),
    ("pymatgen-ewald", {"inputs": "scale"}, "inputs='lattice_constant'"),
])
def test_tasks_refuse_an_unsuitable_sks(tmp_path, sks, options, fragment):
    with pytest.raises(zoo.ConfigError, match=fragment):
        zoo.run({"sks": sks, "steps": 1, "out": str(tmp_path / "r"), "sks_options": options},
                progress=False, echo=lambda s: None)


@pytest.mark.parametrize("task,options,fragment", [
    ("xrd-lattice", {"n_labelled": 0}, "n_labelled must be an integer >= 1"),
    ("xrd-lattice", {"spread": 0.5}, "spread must be in"),
    ("rocksalt-bvs-lattice", {"calibration": "scale"}, "calibration must be 'offset' or 'none'"),
    ("rocksalt-lattice-energy", {"test_fraction": 1.0}, "test_fraction must be in"),
    ("rocksalt-lattice-energy", {"n_labeled": 4}, "n_labelled"),
])
def test_bad_task_options(task, options, fragment):
    with pytest.raises(zoo.ConfigError, match=fragment):
        zoo.task(task, **options)


def test_xrd_task_data_and_predictions():
    """The data come from data_seed alone; the run seed only picks the labelled subset; a
    cubic phase's prediction has c = a; the observed patterns are the SKS's own, plus noise."""
    sks = zoo.knowledge_source("pymatgen-xrd", **zoo.task("xrd-lattice").sks_options())
    tasks = []
    for seed in (0, 1):
        t = zoo.task("xrd-lattice", n_labelled=7, n_unlabelled=7, n_test=7, n_patterns=21, noise=0.0)
        t.setup(sks, seed)
        tasks.append(t)
    a, b = tasks
    torch.testing.assert_close(a.lattice, b.lattice)
    torch.testing.assert_close(a.lattice[a.test], b.lattice[b.test])
    assert set(a.lab.tolist()) != set(b.lab.tolist())
    cubic = np.array([not PROTOTYPES[k].tetragonal for k in a.x[:, -len(PROTOTYPES):].argmax(1)])
    np.testing.assert_array_equal(a.lattice[cubic, 0].numpy(), a.lattice[cubic, 1].numpy())
    torch.manual_seed(0)
    pred = a.predict(a.make_model(), torch.arange(21))
    np.testing.assert_array_equal(pred[cubic, 0].detach().numpy(), pred[cubic, 1].detach().numpy())
    # noise=0: the cumulative observed pattern is the SKS's pattern at the true lattice
    i = 3
    y = sks(a.lattice[i : i + 1].double().numpy(), [a.contexts[i]])[0]
    np.testing.assert_allclose(a.cdf_obs[i].numpy(), np.cumsum(y) * 0.2, rtol=1e-5, atol=1e-6)


def test_xrd_label_counts_share_the_data_and_the_test_patterns():
    """The patterns and the test set depend on data_seed only, not on how many are labelled,
    so a benchmark compares label counts on the same test patterns."""
    sks = zoo.knowledge_source("pymatgen-xrd", **zoo.task("xrd-lattice").sks_options())
    few, many = (zoo.task("xrd-lattice", n_labelled=n, n_unlabelled=20, n_test=10, n_patterns=60) for n in (4, 16))
    for t in (few, many):
        t.setup(sks, 0)
    torch.testing.assert_close(few.lattice, many.lattice)
    assert few.test.tolist() == many.test.tolist()
    assert len(few.unlab) == len(many.unlab) == 20
    with pytest.raises(zoo.ConfigError, match="n_patterns"):
        zoo.task("xrd-lattice", n_labelled=50, n_test=20, n_patterns=60)


def test_rocksalt_labels_are_the_radii_rule_and_born_lande():
    """Spot checks against Shannon's table (Acta Cryst. A32, 751) and a hand calculation."""
    items = {c.formula: c for c in ionic.compounds()}
    assert len(items) == 48
    assert items["NaCl"].a_shannon == pytest.approx(2 * (1.02 + 1.81))
    assert items["MgO"].a_shannon == pytest.approx(2 * (0.72 + 1.40))
    nacl = items["NaCl"]
    assert nacl.born_exponent == 8  # (Ne 7 + Ar 9) / 2
    r0 = nacl.a_shannon / 2
    assert nacl.born_lande_energy() == pytest.approx(-MADELUNG_NACL * COULOMB / r0 * (1 - 1 / 8))
    # the primitive cell's Ewald energy per formula unit is the Madelung energy; the
    # vocabulary's lattice_constant with 8 atoms per conventional cell is the rock salt's a
    sks = zoo.knowledge_source("pymatgen-ewald", inputs="lattice_constant", outputs="energy",
                               atoms_per_cell=ionic.ATOMS_PER_CELL)
    e = sks([[5.0]], [nacl.primitive()])[0, 0]
    assert e == pytest.approx(-MADELUNG_NACL * COULOMB / 2.5, rel=2e-6)
    x = ionic.feature_matrix(list(items.values()))
    assert x.shape == (48, 9)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-12)


@pytest.mark.parametrize("task_name,options", [
    ("xrd-lattice", {"n_labelled": 6, "n_unlabelled": 6, "n_test": 6}),
    ("rocksalt-bvs-lattice", {"n_labelled": 6}),
    ("rocksalt-lattice-energy", {"n_labelled": 6}),
])
def test_validation_rows_are_held_out_and_scored(task_name, options):
    """n_validation labelled rows leave training (zoo.tasks.split) and validate() scores the
    model on them: val_mae <= val_rmse <= val_max, errors computed here from predictions."""
    task = zoo.task(task_name, n_validation=2, **options)
    sks = zoo.knowledge_source(task.default_sks, **task.sks_options())
    task.setup(sks, seed=0)
    sizes = task.describe_data()
    assert (sizes["train"], sizes["validation"], sizes["labelled"]) == (4, 2, 6)
    val = np.asarray(task.val)
    assert not set(val.tolist()) & set(np.asarray(task.lab).tolist())
    assert not set(val.tolist()) & set(np.asarray(task.test).tolist())
    torch.manual_seed(0)
    model = task.make_model()
    with torch.no_grad():
        got = task.validate(model)
        if task_name == "xrd-lattice":
            err = (task.predict(model, task.val) - task.lattice[task.val]).abs()
        else:
            pred, target = task.predicted(model, task.val)
            err = (pred - target).abs()
    err = err.double()
    assert got == pytest.approx({"val_mae": float(err.mean()), "val_rmse": float(err.pow(2).mean().sqrt()),
                                 "val_max": float(err.max())}, rel=1e-6)
    assert set(got) <= set(task.metric_units)
    none = zoo.task(task_name, **options)
    none.setup(sks, seed=0)
    assert none.validate(model) == {}
