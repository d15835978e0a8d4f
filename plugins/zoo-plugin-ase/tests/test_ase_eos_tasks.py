"""The default tasks of ase-lj and ase-morse (lj-alloy-eos, morse-alloy-eos), and the
default task of ase-calculator (fcc-alloy-lattice through EMT by import path): their data
against ASE directly, their two model variants, and short CLI runs as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT
from ase.units import GPa

import zoo
from zoo_ase.alloy_eos import LJAlloyEOS, MorseAlloyEOS, emt_pressures, vegard_lattice_constant
from zoo_ase.alloys import ELEMENTS, random_fcc_alloy

ZOO = Path(sys.executable).with_name("zoo")
SMALL = {"n_labelled": 3, "n_test": 4, "batch_alloys": 2}


def test_vegard_is_the_weighted_mean_of_ase_reference_lattice_constants():
    from ase.data import atomic_numbers, reference_states

    for i, el in enumerate(ELEMENTS):
        f = np.eye(len(ELEMENTS))[i]
        assert vegard_lattice_constant(f) == pytest.approx(reference_states[atomic_numbers[el]]["a"])
    assert vegard_lattice_constant([0.5, 0, 0, 0.5, 0, 0]) == pytest.approx((3.61 + 3.52) / 2)


def test_emt_pressures_equal_ase_on_structures_built_directly():
    f, seed = (0.25, 0.25, 0.0, 0.25, 0.25, 0.0), 11
    a = np.array([3.7, 3.8])
    got = emt_pressures(f, seed, a)
    for p, ai in zip(got, a):
        atoms = random_fcc_alloy(f, seed, repeat=2, a=ai)
        atoms.calc = EMT()
        assert p == pytest.approx(-atoms.get_stress()[:3].mean() / GPa, rel=1e-9, abs=1e-9)
    assert got[0] > got[1]  # compressing raises the pressure


@pytest.fixture(scope="module", params=[LJAlloyEOS, MorseAlloyEOS], ids=["lj", "morse"])
def prepared(request):
    cls = request.param
    task = cls(**SMALL)
    sks = zoo.knowledge_source(cls.default_sks, **task.sks_options())
    task.setup(sks, seed=0)
    return task, sks


def test_setup_data(prepared):
    task, sks = prepared
    assert sks.input_spec.names == task.names
    assert task.p_lab.shape == (3, 3) and task.p_test.shape == (4, 5)
    # contexts sit at a = a_V (1 + s): the 4-atom cubic cell's volume is a^3
    f = task.x_lab[0].double().numpy()
    for ctx, s in zip(task.ctx_lab[0], task.strains):
        assert len(ctx) == 4
        assert ctx.get_volume() == pytest.approx((vegard_lattice_constant(f) * (1 + s)) ** 3, rel=1e-10)
    # the labels really are pressures of the labelled alloys (compression raises them)
    assert np.all(np.diff(task.p_lab.numpy(), axis=1) < 0)


def test_coupled_prediction_is_the_potential_called_directly(prepared):
    task, sks = prepared
    torch.manual_seed(0)
    model = task.make_model()
    model.through_sks.fill_(True)
    with torch.no_grad():
        pred = task.predict(model)
        params = model(task.x_test, task.ref_test).double().numpy()
    assert pred.shape == (4, 5)
    # row (alloy 1, strain 2) by hand: the potential with the predicted parameters
    direct = sks([params[1]], [task.ctx_test[1][2]])[0, 0]
    assert pred[1, 2] == pytest.approx(direct, rel=1e-12)
    # the starting parameters put each alloy near its equilibrium: |P| well below the
    # ~40 GPa a 10 % error in the length scale would give
    assert np.abs(pred[:, :3]).max() < 40


def test_loss_through_layer_reaches_the_model(prepared):
    task, sks = prepared
    torch.manual_seed(0)
    model = task.make_model()
    layer = zoo.SKSLayer(sks, zoo.estimator("cge", mu=1e-3, difference="forward"), seed=0)
    loss, metrics = task.loss(model, layer, 0)
    loss.backward()
    d, k, b = len(task.names), len(task.strains), SMALL["batch_alloys"]
    assert layer.queries == b * k * (1 + d)  # forward rows + one forward difference each
    grads = [p.grad for p in model.body.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in model.readout.parameters())  # the twin's head is unused
    assert bool(model.through_sks) and metrics["pressure_rmse"] > 0
    for name in task.names:
        assert metrics[f"{name}_mean"] > 0


def test_twin_uses_its_readout_and_checkpoints_remember_the_variant(prepared):
    task, _ = prepared
    torch.manual_seed(0)
    model = task.make_model()
    loss, _ = task.loss(model, None, 0)
    loss.backward()
    assert not bool(model.through_sks)
    assert all(p.grad is not None for p in model.readout.parameters())
    m = task.evaluate(model)
    assert {"test_mae", "test_rmse", "test_max", "extrap_mae", "extrap_max"} <= set(m)
    assert 0 < m["test_mae"] <= m["test_rmse"] <= m["test_max"]
    coupled = task.make_model()
    coupled.through_sks.fill_(True)
    again = task.make_model()
    again.load_state_dict(coupled.state_dict())
    assert bool(again.through_sks)


def test_task_rejects_a_mismatched_sks():
    task = LJAlloyEOS(**SMALL)
    with pytest.raises(zoo.ConfigError, match="inputs"):
        task.setup(zoo.knowledge_source("ase-lj", inputs="strain", outputs="pressure"), seed=0)
    with pytest.raises(zoo.ConfigError, match="pressure"):
        task.setup(zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["epsilon", "sigma"]), seed=0)


@pytest.mark.parametrize(
    "opts,match",
    [({"n_labelled": 0}, ">= 1"), ({"strains": [0.5]}, "strains"), ({"pressure_scale": 0}, "pressure_scale")],
)
def test_bad_task_options(opts, match):
    with pytest.raises(zoo.ConfigError, match=match):
        zoo.task("lj-alloy-eos", **opts)


def run_cli(args: list[str], out: Path) -> dict:
    proc = subprocess.run(
        [str(ZOO), "run", *args, "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("sks-coupled") for line in proc.stdout.splitlines())
    assert any(line.startswith("data-only") for line in proc.stdout.splitlines())
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("sks,task,d", [("ase-lj", "lj-alloy-eos", 2), ("ase-morse", "morse-alloy-eos", 3)])
def test_cli_default_task(tmp_path, sks, task, d):
    steps = 3
    small = [x for k, v in SMALL.items() for x in ("--task-option", f"{k}={v}")]
    summary = run_cli(["--sks", sks, "--steps", str(steps), *small], tmp_path / "run")
    assert summary["task"] == task and summary["estimator"] == "cge"
    # forward CGE: per labelled row (alloy x strain) 1 forward + d gradient queries
    assert summary["sks_queries"] == steps * SMALL["batch_alloys"] * 3 * (1 + d)
    for variant in summary["variants"].values():
        t = variant["test"]
        assert 0 < t["test_mae"] <= t["test_rmse"] <= t["test_max"] < 200  # GPa
        assert np.isfinite(t["extrap_mae"])


@pytest.mark.slow
def test_cli_generic_calculator_default_task(tmp_path):
    """ase-calculator defaults to EMT by import path and to fcc-alloy-lattice."""
    steps, batch = 2, 3
    summary = run_cli(
        ["--sks", "ase-calculator", "--steps", str(steps), "--task-option", f"batch_unlabelled={batch}",
         "--sks-option", "calculator=ase.calculators.emt:EMT",
         "--sks-option", "calculator_options={asap_cutoff=false}"],
        tmp_path / "run",
    )
    assert summary["task"] == "fcc-alloy-lattice" and summary["sks"] == "ase-calculator"
    assert summary["sks_queries"] == steps * batch * 2  # d = 1, forward CGE
    config = (tmp_path / "run" / "config.toml").read_text()
    assert "ase.calculators.emt:EMT" in config
