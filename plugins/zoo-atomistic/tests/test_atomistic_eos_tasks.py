"""lj-alloy-eos and morse-alloy-eos through ASE's potentials (ase-lj, ase-morse): their data
against the label file and ASE, the starting point measured through the SKS, their two
model variants, validation rows, and short CLI runs as real subprocesses."""

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
from zoo_atomistic.tasks import LJAlloyEOS, MorseAlloyEOS
from zoo_atomistic.tasks.labels import pressure_labels, vegard_lattice_constant
from zoo_atomistic.tasks.start import fcc_equilibrium

pytest.importorskip("zoo_ase")
ZOO = Path(sys.executable).with_name("zoo")
SMALL = {"n_labelled": 3, "n_test": 4, "batch_alloys": 2}


@pytest.fixture(scope="module", params=[LJAlloyEOS, MorseAlloyEOS], ids=["lj", "morse"])
def prepared(request):
    cls = request.param
    task = cls(**SMALL, n_validation=1)
    sks = zoo.knowledge_source(cls.default_sks, **task.sks_options())
    task.setup(sks, seed=0)
    return task, sks


def test_setup_data(prepared):
    task, sks = prepared
    assert sks.input_spec.names == task.names
    assert task.p_train.shape == (2, 3) and task.val.pressures.shape == (1, 3) and task.test.pressures.shape == (4, 5)
    labels = pressure_labels()
    # contexts sit at a = a_V (1 + s): the 4-atom cubic cell's volume is a^3
    f = task.train.x[0].double().numpy()
    for ctx, s in zip(task.train.contexts[0], task.strains):
        assert len(ctx) == 4
        assert ctx.volume == pytest.approx((vegard_lattice_constant(f) * (1 + s)) ** 3, rel=1e-10)
    # the labels are the file's pressures of these alloys at these strains
    row = int(np.flatnonzero(np.all(np.isclose(labels.fractions, f, atol=1e-6), axis=1))[0])
    np.testing.assert_allclose(task.p_train[0].numpy(), labels.at(task.strains, "t")[row], rtol=1e-6)
    assert np.all(np.diff(task.p_train.numpy(), axis=1) < 0)  # compression raises the pressure


def test_the_starting_point_is_each_potentials_own_equilibrium(prepared):
    """Measured through the SKS: ASE's LJ (smooth, 3 sigma) has its fcc solid at a0 = 1.547
    sigma with B = 70.5 epsilon / sigma^3 (Lennard-Jones' textbook values for that cutoff);
    every alloy's starting length sits at a_V / (a0 / length)."""
    task, sks = prepared
    solid = task.start_solid
    if isinstance(task, LJAlloyEOS):
        assert solid.lattice_per_length == pytest.approx(1.547, abs=2e-3)
        assert solid.bulk_modulus == pytest.approx(70.5 * 0.2 / 2.45**3 * 160.21766, rel=0.01)
    # a check of the bisection itself: a pressure with a known zero and slope
    known = fcc_equilibrium(lambda a: 150.0 * (3.1 * 1.3 - a), 3.1)
    assert known.lattice_per_length == pytest.approx(1.3, rel=1e-9)
    assert known.bulk_modulus == pytest.approx(150.0 * 3.1 * 1.3 / 3, rel=1e-6)
    # an untrained coupled model starts near each alloy's equilibrium at zero strain
    torch.manual_seed(0)
    model = task.make_model()
    model.through_sks.fill_(True)
    pred = task.predict(model)
    k = list(task.strains).index(0.0)
    assert np.abs(pred[:, k]).max() < 6.0  # GPa, against +-15 GPa at +-3 %


def test_coupled_prediction_is_the_potential_called_directly(prepared):
    task, sks = prepared
    torch.manual_seed(0)
    model = task.make_model()
    model.through_sks.fill_(True)
    pred = task.predict(model)
    with torch.no_grad():
        params = model(task.test.x, task.test.start).double().numpy()
    assert pred.shape == (4, 5)
    direct = sks([params[1]], [task.test.contexts[1][2]])[0, 0]
    assert pred[1, 2] == pytest.approx(direct, rel=1e-12)


def test_loss_through_layer_reaches_the_model(prepared):
    task, sks = prepared
    torch.manual_seed(0)
    model = task.make_model()
    layer = zoo.SKSLayer(sks, zoo.estimator("cge", mu=1e-3, difference="forward"), seed=0)
    loss, metrics = task.loss(model, layer, 0)
    loss.backward()
    d, k, b = len(task.names), len(task.strains), 2
    assert layer.queries == b * k * (1 + d)  # forward rows + one forward difference each
    grads = [p.grad for p in model.body.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in model.readout.parameters())  # the twin's head is unused
    assert bool(model.through_sks) and metrics["pressure_rmse"] > 0
    for name in task.names:
        assert metrics[f"{name}_mean"] > 0


def test_twin_metrics_validation_and_checkpoints(prepared):
    task, _ = prepared
    torch.manual_seed(0)
    model = task.make_model()
    loss, _ = task.loss(model, None, 0)
    loss.backward()
    assert not bool(model.through_sks)
    assert all(p.grad is not None for p in model.readout.parameters())
    m = task.evaluate(model)
    assert {"test_mae", "test_rmse", "test_max", "extrap_mae", "extrap_rmse", "extrap_max"} <= set(m)
    assert 0 < m["test_mae"] <= m["test_rmse"] <= m["test_max"]
    val = task.validate(model)
    err = np.abs(task.predict(model, task.val) - task.val.pressures)
    assert val == pytest.approx({"val_mae": err.mean(), "val_rmse": np.sqrt((err**2).mean()), "val_max": err.max()})
    coupled = task.make_model()
    coupled.through_sks.fill_(True)
    again = task.make_model()
    again.load_state_dict(coupled.state_dict())
    assert bool(again.through_sks)


def test_sample_inputs_evaluate(prepared):
    """What ``zoo diagnose --task ...`` checks estimators at."""
    task, sks = prepared
    rows, ctx = task.sample_inputs(3, seed=1)
    assert rows.shape == (3, len(task.names)) and len(ctx) == 3
    assert np.all(rows >= sks.input_spec.lower) and np.all(rows <= sks.input_spec.upper)
    assert np.all(np.isfinite(sks(rows, ctx)))


def test_task_rejects_a_mismatched_sks():
    task = LJAlloyEOS(**SMALL)
    with pytest.raises(zoo.ConfigError, match="inputs"):
        task.setup(zoo.knowledge_source("ase-lj", inputs="strain", outputs="pressure"), seed=0)
    with pytest.raises(zoo.ConfigError, match="pressure"):
        task.setup(zoo.knowledge_source("ase-lj", inputs=["epsilon", "sigma"]), seed=0)


@pytest.mark.parametrize(
    "opts,match",
    [({"n_labelled": 0}, ">= 1"), ({"strains": [0.5]}, "strains"), ({"pressure_scale": 0}, "pressure_scale"),
     ({"n_validation": 8}, "n_validation")],
)
def test_bad_task_options(opts, match):
    with pytest.raises(zoo.ConfigError, match=match):
        zoo.task("lj-alloy-eos", **opts)


def test_strains_the_label_file_lacks_ask_for_a_file_that_has_them():
    task = LJAlloyEOS(**SMALL, strains=[-0.025, 0.0, 0.025])
    sks = zoo.knowledge_source("ase-lj", **task.sks_options())
    with pytest.raises(zoo.ConfigError, match="no EMT pressures at strain.*-0.025.*data=PATH"):
        task.setup(sks, seed=0)


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
    assert summary["setup_queries"] > 0  # the starting point, measured through the SKS
    for variant in summary["variants"].values():
        t = variant["test"]
        assert 0 < t["test_mae"] <= t["test_rmse"] <= t["test_max"] < 200  # GPa
        assert np.isfinite(t["extrap_mae"])


@pytest.mark.slow
def test_cli_generic_calculator_default_task(tmp_path):
    """ase-calculator defaults to EMT by import path and runs the shared fcc-alloy-lattice
    (its own default task is ase-structure, zoo-plugin-ase's)."""
    steps, batch = 2, 3
    summary = run_cli(
        ["--sks", "ase-calculator", "--task", "fcc-alloy-lattice", "--steps", str(steps),
         "--task-option", f"batch_unlabelled={batch}",
         "--sks-option", "calculator=ase.calculators.emt:EMT",
         "--sks-option", "calculator_options={asap_cutoff=false}"],
        tmp_path / "run",
    )
    assert summary["task"] == "fcc-alloy-lattice" and summary["sks"] == "ase-calculator"
    assert summary["sks_queries"] == steps * batch * 2  # d = 1, forward CGE
    config = (tmp_path / "run" / "config.toml").read_text()
    assert "ase.calculators.emt:EMT" in config


# -- the Birch-Murnaghan twin ------------------------------------------------------------------


def test_birch_murnaghan_pressure_has_its_defining_properties():
    """P(a0) = 0, -V dP/dV = B0 at a0, dB/dP = B0' there (central differences in V)."""
    import torch

    from zoo_atomistic.tasks.models import birch_murnaghan_pressure

    a0, b0, b1 = 3.7, 150.0, 5.2
    p = lambda v: float(birch_murnaghan_pressure(torch.tensor(np.cbrt(v), dtype=torch.float64), a0, b0, b1))  # noqa: E731
    v0, h = a0**3, 1e-4 * a0**3
    assert abs(p(v0)) < 1e-9
    bulk = lambda v: -v * (p(v + h) - p(v - h)) / (2 * h)  # noqa: E731
    assert bulk(v0) == pytest.approx(b0, rel=1e-6)
    db_dp = (bulk(v0 - 10 * h) - bulk(v0 + 10 * h)) / (p(v0 - 10 * h) - p(v0 + 10 * h))
    assert db_dp == pytest.approx(b1, rel=1e-3)
    assert p(0.97 * v0) > 0 > p(1.03 * v0)


def test_the_birch_murnaghan_twin_starts_where_the_coupled_model_does():
    """Same body, same seed: the twin's EOS starts at a0 = a_Vegard with B0 = the task's
    bulk modulus, as the coupled model's potential does; its pressures at zero strain are 0."""
    import torch

    task = zoo.task("morse-alloy-eos", n_labelled=4, twin="birch-murnaghan")
    task.setup(zoo.knowledge_source("ase-morse", **zoo.tasks.sks_options_for(task, "ase-morse")), 0)
    torch.manual_seed(0)
    model = task.make_model()
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
        p = task.twin_pressure(model, task.train, None, torch.tensor([-0.03, 0.0, 0.03]))
    assert torch.allclose(p[:, 1], torch.zeros(len(p)), atol=1e-4)
    assert bool((p[:, 0] > 0).all() and (p[:, 2] < 0).all())
    with pytest.raises(zoo.ConfigError, match="twin"):
        zoo.task("morse-alloy-eos", twin="rose")
