"""fcc-alloy-lattice and eam-alloy-lattice: one task, two label files; the split, the
validation rows, the NaN-row mask and the diagnose points, through ASE's EMT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from zoo_atomistic.tasks import EamAlloyLattice, FccAlloyLattice
from zoo_atomistic.tasks.labels import lattice_labels

pytest.importorskip("zoo_ase")


@pytest.fixture(scope="module")
def emt():
    return zoo.knowledge_source("ase-emt", **FccAlloyLattice().sks_options())


def ready(task, sks, seed=0):
    task.setup(sks, seed)
    torch.manual_seed(seed)
    return task.make_model()


def test_eam_alloy_lattice_is_the_same_task_with_the_emt_labels(emt):
    fcc, eam = FccAlloyLattice(), EamAlloyLattice()
    fcc.setup(emt, 0)
    eam.setup(emt, 0)
    assert isinstance(eam, FccAlloyLattice) and eam.default_sks == "lammps" and fcc.default_sks == "ase-emt"
    assert (fcc.labels, eam.labels) == ("eam", "emt") and (fcc.batch_unlabelled, eam.batch_unlabelled) == (16, 8)
    assert eam.defaults["steps"] == 60 and fcc.defaults["steps"] == 150
    # the labels are the files' a0 of the alloys the split picked
    emt_file, eam_file = lattice_labels("emt"), lattice_labels("eam")
    assert set(np.round(eam.a_test.numpy(), 5)) <= set(np.round(emt_file.a0.astype(np.float32), 5))
    assert set(np.round(fcc.a_test.numpy(), 5)) <= set(np.round(eam_file.a0.astype(np.float32), 5))
    swapped = FccAlloyLattice(labels="emt")
    swapped.setup(emt, 0)
    torch.testing.assert_close(swapped.a_test, eam.a_test)
    assert "ASE EMT" in eam.describe_data()["labels"] and "ase-emt" in eam.describe_data()["labels"]


def test_split_by_split_seed_validation_held_out(emt):
    task = FccAlloyLattice(n_labelled=8, n_validation=3)
    model = ready(task, emt, seed=0)
    other = FccAlloyLattice(n_labelled=8, n_validation=3)
    other.setup(emt, 1)
    torch.testing.assert_close(task.x_test, other.x_test)  # the test set depends on split_seed only
    assert len(task.x_lab) == 5 and len(task.x_val) == 3
    sizes = task.describe_data()
    assert (sizes["labelled"], sizes["train"], sizes["validation"], sizes["test"]) == (8, 5, 3, 60)
    rows = lambda x: {tuple(r) for r in x.numpy().round(5)}  # noqa: E731
    assert not rows(task.x_val) & rows(task.x_lab) and not rows(task.x_val) & rows(task.x_test)
    val = task.validate(model)
    with torch.no_grad():
        err = (model(task.x_val) - task.a_val).abs().double()
    assert val == pytest.approx({"val_mae": float(err.mean()), "val_rmse": float(err.pow(2).mean().sqrt()),
                                 "val_max": float(err.max())})
    assert set(val) <= set(task.metric_units)
    none = FccAlloyLattice()
    assert none.validate(ready(none, emt)) == {}


@pytest.mark.parametrize("options,match", [
    ({"n_validation": 8}, "n_validation"), ({"labels": "dft"}, "labels"), ({"calibration": "x"}, "calibration"),
    ({"n_labelled": 0}, "n_labelled"), ({"batch_unlabelled": 0}, "batch_unlabelled"), ({"test_fraction": 1}, "test_fraction"),
])
def test_bad_options_are_config_errors(options, match):
    with pytest.raises(zoo.ConfigError, match=match):
        zoo.task("fcc-alloy-lattice", **options)


class FailingRows:
    """The real layer, with the rows ``bad`` of every call failed (NaN), as a query that
    failed for good comes back under on_failure='skip'."""

    def __init__(self, layer, bad):
        self.layer, self.sks, self.bad = layer, layer.sks, bad

    def __call__(self, z, contexts=None):
        y = self.layer(z, contexts)
        mask = torch.zeros_like(y, dtype=torch.bool)
        mask[self.bad] = True
        return torch.where(mask, torch.full_like(y, float("nan")), y)


def test_failed_rows_leave_the_loss_and_its_gradient_finite(emt):
    task = FccAlloyLattice(batch_unlabelled=4)
    model = ready(task, emt)
    layer = zoo.SKSLayer(emt, zoo.estimator("cge", mu=1e-3, difference="forward"), seed=0)
    loss, metrics = task.loss(model, FailingRows(layer, [0, 2]), step=5)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    # the physics term is the mean over the rows that came back
    with torch.no_grad():
        from zoo.tasks import minibatch

        idx = minibatch(len(task.x_unlab), 4, task.seed, 5)
        a = (model(task.x_unlab[idx]) - model.delta).double().numpy()
        p = emt(a[:, None], [task.ctx_unlab[i] for i in idx.tolist()])[:, task.p_col]
    assert metrics["physics_mse"] == pytest.approx(np.mean((p[[1, 3]] / task.k) ** 2), rel=1e-5)
    all_failed, _ = task.loss(model, FailingRows(layer, [0, 1, 2, 3]), step=5)
    assert float(all_failed.detach()) == pytest.approx(metrics["data_mse"])


def test_sample_inputs_are_lattice_constants_near_each_alloys_own(emt):
    task = FccAlloyLattice()
    ready(task, emt)
    rows, contexts = task.sample_inputs(5, seed=2)
    assert rows.shape == (5, 1) and len(contexts) == 5
    p = emt(rows, contexts)[:, 0]
    assert np.all(np.isfinite(p)) and np.abs(p).max() < 15  # GPa: within ~0.1 Å of equilibrium
