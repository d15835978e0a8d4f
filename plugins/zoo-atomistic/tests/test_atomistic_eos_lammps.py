"""lj-alloy-eos and morse-alloy-eos through LAMMPS (``--sks lammps``): the task asks in the
shared vocabulary, LAMMPS picks the force-shifted style and converts Morse rows to its own
(D0, alpha, r0); the starting point is measured through lmp; the CGE gradient through the
real ``lmp`` matches the analytic one (the pressure is linear in the energy scale:
dP/d epsilon = P / epsilon)."""

from __future__ import annotations

import json
from contextlib import nullcontext

import numpy as np
import pytest
import torch

import zoo
from zoo.tasks import sks_options_for
from zoo_atomistic.tasks import LJAlloyEOS, MorseAlloyEOS

pytest.importorskip("zoo_lammps")
SMALL = {"n_labelled": 3, "n_test": 4, "batch_alloys": 2}


@pytest.fixture(scope="module", params=[LJAlloyEOS, MorseAlloyEOS], ids=["lj", "morse"])
def prepared(request):
    task = request.param(**SMALL)
    sks = zoo.knowledge_source("lammps", **sks_options_for(task, "lammps"))
    task.setup(sks, seed=0)
    return task, sks


def test_lammps_computes_the_potential_the_task_names(prepared):
    """The vocabulary's rows through the task's SKS equal LAMMPS given its own parameters
    as fixed options (Morse: D0 = epsilon, alpha = rho0 / r0)."""
    task, sks = prepared
    assert sks.input_spec.names == task.names
    torch.manual_seed(0)
    model = task.make_model()
    model.through_sks.fill_(True)
    pred = task.predict(model)
    with torch.no_grad():
        params = model(task.test.x, task.test.start).double().numpy()[1]
    if isinstance(task, MorseAlloyEOS):
        eps, r0, rho0 = params
        native = dict(pair_style="morse/smooth/linear", D0=eps, alpha=rho0 / r0, r0=r0)
    else:
        native = dict(pair_style="lj/smooth/linear", epsilon=params[0], sigma=params[1])
    with pytest.warns(DeprecationWarning) if "D0" in native else nullcontext():
        direct = zoo.knowledge_source("lammps", inputs="scale", outputs="pressure", **native)
    assert pred[1, 2] == pytest.approx(direct([[1.0]], [task.test.contexts[1][2]])[0, 0], rel=1e-10)
    # an untrained model starts near each alloy's equilibrium: |P| at zero strain is a
    # fraction of the +-3 % pressures (~ +-15 GPa), so the LAMMPS starting point is right
    k = list(task.strains).index(0.0)
    assert np.abs(pred[:, k]).max() < 6.0


def test_the_starting_point_is_lammps_own_equilibrium(prepared):
    """Force-shifted at 3 sigma, LAMMPS's LJ fcc solid sits at a0 = 1.551 sigma (ASE's
    smooth cutoff: 1.547); force-shifted at 2.7 r0 with rho0 = 3.9, its Morse at 1.272 r0."""
    task, _ = prepared
    expect = 1.272 if isinstance(task, MorseAlloyEOS) else 1.551
    assert task.start_solid.lattice_per_length == pytest.approx(expect, abs=1e-3)


def test_cge_gradient_through_lmp_matches_the_analytic_energy_scale_derivative(prepared):
    task, sks = prepared
    layer = zoo.SKSLayer(sks, zoo.estimator("cge", mu=1e-3, difference="forward"))
    rows = np.array([[0.45, 3.0, 3.9], [0.5, 2.9, 4.2]] if isinstance(task, MorseAlloyEOS) else [[0.2, 2.45], [0.3, 2.5]])
    x = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    ctx = [task.train.contexts[0][0], task.train.contexts[1][2]]
    p = layer(x, ctx)[:, task.p_col]
    p.sum().backward()
    exact = p.detach().numpy() / rows[:, 0]  # P is linear in the energy scale
    assert np.abs(exact).min() > 1.0
    np.testing.assert_allclose(x.grad[:, 0].numpy(), exact, rtol=1e-6)


def test_short_training_through_lammps_lowers_the_loss(tmp_path):
    """20 coupled steps of morse-alloy-eos through lmp: the loss falls, every query ran."""
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


def test_sample_inputs_are_rows_that_evaluate(prepared):
    """What ``zoo diagnose --sks lammps --task ...`` checks estimators at."""
    task, sks = prepared
    rows, ctx = task.sample_inputs(3, seed=1)
    assert rows.shape == (3, len(task.names)) and len(ctx) == 3
    assert np.all(rows >= sks.input_spec.lower) and np.all(rows <= sks.input_spec.upper)
    assert np.all(np.isfinite(sks(rows, ctx)))

