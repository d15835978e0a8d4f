"""lj-alloy-eos and morse-alloy-eos through LAMMPS (``--sks lammps``, zoo-plugin-lammps):
the task asks LAMMPS for the same potential, sends Morse rows in LAMMPS's parameters, and
the CGE gradient through the real ``lmp`` matches the analytic one (the pressure is
linear in the energy scale: dP/d epsilon = P / epsilon, dP/d D0 = P / D0)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from zoo.tasks import sks_options_for
from zoo_ase.alloy_eos import LJAlloyEOS, MorseAlloyEOS

pytest.importorskip("zoo_lammps")
SMALL = {"n_labelled": 3, "n_test": 4, "batch_alloys": 2}


@pytest.fixture(scope="module", params=[LJAlloyEOS, MorseAlloyEOS], ids=["lj", "morse"])
def prepared(request):
    task = request.param(**SMALL)
    sks = zoo.knowledge_source("lammps", **sks_options_for(task, "lammps"))
    task.setup(sks, seed=0)
    return task, sks


def test_lammps_gets_the_potential_in_its_own_parameters(prepared):
    task, sks = prepared
    assert sks.input_spec.names == task.lammps_inputs
    ours = np.array([[0.4, 3.0, 3.9]]) if isinstance(task, MorseAlloyEOS) else np.array([[0.2, 2.5]])
    theirs = task.to_lammps(ours)
    if isinstance(task, MorseAlloyEOS):  # D0 = epsilon, alpha = rho0 / r0, r0
        np.testing.assert_allclose(theirs, [[0.4, 1.3, 3.0]])
    else:
        np.testing.assert_array_equal(theirs, ours)
    # the prediction of a coupled model is LAMMPS called directly with those parameters
    torch.manual_seed(0)
    model = task.make_model()
    model.through_sks.fill_(True)
    with torch.no_grad():
        pred = task.predict(model)
        params = task.to_lammps(model(task.x_test, task.ref_test).double().numpy())
    direct = sks([params[1]], [task.ctx_test[1][2]])[0, 0]
    assert pred[1, 2] == pytest.approx(direct, rel=1e-12)
    # an untrained model starts near each alloy's equilibrium: |P| at zero strain is a
    # fraction of the +-3 % pressures (~ +-15 GPa), so the LAMMPS starting point is right
    k = list(task.strains).index(0.0)
    assert np.abs(pred[:, k]).max() < 6.0


def test_cge_gradient_through_lmp_matches_the_analytic_energy_scale_derivative(prepared):
    task, sks = prepared
    layer = zoo.SKSLayer(sks, zoo.estimator("cge", mu=1e-3, difference="forward"))
    rows = task.to_lammps(np.array(
        [[0.45, 3.0, 3.9], [0.5, 2.9, 4.2]] if isinstance(task, MorseAlloyEOS) else [[0.2, 2.45], [0.3, 2.5]]
    ))
    x = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    ctx = [task.ctx_lab[0][0], task.ctx_lab[1][2]]
    p = layer(x, ctx)[:, task.p_col]
    p.sum().backward()
    exact = p.detach().numpy() / rows[:, 0]  # P is linear in the energy scale
    assert np.abs(exact).min() > 1.0
    np.testing.assert_allclose(x.grad[:, 0].numpy(), exact, rtol=1e-6)


def test_short_training_through_lammps_lowers_the_loss(tmp_path):
    """20 coupled steps of morse-alloy-eos through lmp: the loss falls, every query ran."""
    import json

    import zoo.train

    summary = zoo.train.run(
        {"task": "morse-alloy-eos", "sks": "lammps", "steps": 20, "eval_every": 0, "seed": 0,
         "baseline": False, "cache": "off", "checkpoint_every": 0, "task_options": SMALL,
         "out": str(tmp_path / "run")},
        progress=False, echo=lambda m: None,
    )
    assert summary["sks"] == "lammps" and summary["failed_queries"] == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])


def test_sample_inputs_are_lammps_rows_that_evaluate(prepared):
    """What ``zoo diagnose --sks lammps --task ...`` checks estimators at."""
    task, sks = prepared
    rows, ctx = task.sample_inputs(3, seed=1)
    assert rows.shape == (3, len(task.lammps_inputs)) and len(ctx) == 3
    assert np.all(rows >= sks.input_spec.lower) and np.all(rows <= sks.input_spec.upper)
    assert np.all(np.isfinite(sks(rows, ctx)))
