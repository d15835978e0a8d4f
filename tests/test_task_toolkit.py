"""The task toolkit: the contract (an ABC), splits, step-seeded minibatches, NaN rows,
regression metrics, and setup's own SKS calls counted in the summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from zoo.tasks import (
    Layer,
    Task,
    finite_rows,
    mean_over_finite,
    minibatch,
    regression_metrics,
    regression_units,
    split,
)


def test_task_is_exported_and_abstract():
    assert zoo.Task is Task
    assert Task.__abstractmethods__ == {"make_model", "loss", "evaluate"}

    class Half(Task):
        name = "half"

        def make_model(self):
            return torch.nn.Linear(1, 1)

    with pytest.raises(TypeError, match="evaluate"):
        Half()


def test_an_incomplete_registered_task_is_a_plugin_error_naming_what_is_missing():
    class Incomplete(Task):
        name = "incomplete-task"

        def make_model(self):
            return torch.nn.Linear(1, 1)

    class P:
        @zoo.hookimpl
        def register_tasks(self, register):
            register(Incomplete)

    zoo.plugins.register_plugin(P(), "incomplete")
    with pytest.raises(zoo.PluginError, match="does not implement evaluate, loss"):
        zoo.task("incomplete-task")


def test_split_keeps_the_test_set_fixed_by_split_seed():
    a = split(100, n_labelled=8, seed=1, split_seed=3, n_validation=2)
    b = split(100, n_labelled=8, seed=2, split_seed=3, n_validation=2)
    np.testing.assert_array_equal(np.sort(a.test), np.sort(b.test))
    assert len(a.test) == 25 and len(a.train) == 6 and len(a.validation) == 2 and len(a.unlabelled) == 67
    every = np.concatenate([a.train, a.validation, a.unlabelled, a.test])
    assert sorted(every.tolist()) == list(range(100))  # disjoint and complete
    assert set(a.train) != set(b.train)  # the seed draws other labels
    c = split(100, n_labelled=8, seed=1, split_seed=4)
    assert set(c.test) != set(a.test)
    assert split(100, n_labelled=8, seed=1, split_seed=3, n_unlabelled=5).sizes()["unlabelled"] == 5


@pytest.mark.parametrize(
    "kwargs, fragment",
    [({"n_labelled": 0}, "n_labelled"), ({"n_labelled": 1.5}, "n_labelled"),
     ({"n_labelled": 80}, "available"), ({"n_labelled": 4, "n_validation": 4}, "n_validation"),
     ({"n_labelled": 4, "test_fraction": 1.0}, "test_fraction")],
)
def test_split_errors_name_the_task(kwargs, fragment):
    with pytest.raises(zoo.ConfigError, match=fragment) as err:
        split(100, seed=0, what="my-task", **kwargs)
    assert "my-task" in str(err.value)


def test_minibatch_depends_on_seed_and_step_only():
    first = minibatch(50, 8, seed=3, step=7)
    torch.manual_seed(123)  # the global generator is not involved
    np.testing.assert_array_equal(minibatch(50, 8, seed=3, step=7), first)
    assert not torch.equal(minibatch(50, 8, seed=3, step=8), first)
    assert not torch.equal(minibatch(50, 8, seed=4, step=7), first)
    assert len(first) == 8 and len(set(first.tolist())) == 8
    assert sorted(minibatch(5, 8, seed=0, step=0).tolist()) == [0, 1, 2, 3, 4]


def test_nan_rows_leave_the_loss_and_gradients_flow_through_the_rest():
    y = torch.tensor([[1.0, 2.0], [float("nan"), 1.0], [3.0, float("inf")], [4.0, 0.0]], requires_grad=True)
    assert finite_rows(y).tolist() == [True, False, False, True]
    loss = mean_over_finite(y, lambda r: (r**2).sum(dim=1))
    assert loss.item() == pytest.approx((1 + 4 + 16) / 2)
    loss.backward()
    assert torch.isfinite(y.grad).all()  # failed rows get exactly zero, not NaN
    assert y.grad[1].abs().sum() == 0 and y.grad[0].tolist() == [1.0, 2.0]
    # why the transform is applied after masking: squaring first sends NaN back
    y.grad = None
    naive = (y**2).sum(dim=1)
    naive[finite_rows(y)].mean().backward()
    assert not torch.isfinite(y.grad).all()
    none = torch.full((2,), float("nan"), requires_grad=True)
    assert mean_over_finite(none).item() == 0.0


def test_regression_metrics_match_numpy():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=20), rng.normal(size=20)
    m = regression_metrics(torch.tensor(pred, dtype=torch.float32), torch.tensor(target, dtype=torch.float32))
    err = np.abs(pred.astype(np.float32) - target.astype(np.float32)).astype(np.float64)
    assert m["test_mae"] == pytest.approx(err.mean(), rel=1e-6)
    assert m["test_rmse"] == pytest.approx(np.sqrt((err**2).mean()), rel=1e-6)
    assert m["test_max"] == pytest.approx(err.max(), rel=1e-6)
    assert regression_units("GPa", prefix="val") == {"val_mae": "GPa", "val_rmse": "GPa", "val_max": "GPa"}


def test_what_loss_receives_is_a_layer():
    from core_fakes import QuadSKS

    assert isinstance(zoo.SKSLayer(QuadSKS()), Layer)
    from zoo.train import _ProbeLayer

    assert isinstance(_ProbeLayer(QuadSKS()), Layer)
    from zoo.fullzo import CapturingLayer

    assert isinstance(CapturingLayer(zoo.SKSLayer(QuadSKS())), Layer)


def test_setup_queries_are_counted_in_the_summary(fit_plugin, tmp_path, monkeypatch):
    """A task whose setup asks the SKS for 3 rows itself: the summary says so, apart from
    the layer's queries, and the SKS pickles without the counting wrapper afterwards."""
    import pickle

    import core_fakes
    import zoo.train

    class Labelling(core_fakes.FitTask):
        name = "fake-fit-labelling"

        def setup(self, sks, seed):
            super().setup(sks, seed)
            self.labels = sks(np.ones((3, 1)), [{"scale": 1.0}] * 3)
            self.sks = sks

    class P:
        @zoo.hookimpl
        def register_tasks(self, register):
            register(Labelling)

    zoo.plugins.register_plugin(P(), "labelling")
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: b"")
    summary = zoo.train.run({"sks": "fake-square", "task": "fake-fit-labelling", "steps": 2, "baseline": False,
                             "estimator": "cge", "out": str(tmp_path / "r")}, progress=False, echo=lambda m: None)
    assert summary["setup_queries"] == 3
    assert summary["sks_queries"] == 2 * (4 + 4 * 2)  # central CGE on d = 1: 2 a row
    assert "evaluate" not in vars(pickle.loads(pickle.dumps(zoo.knowledge_source("fake-square"))))


# -- options owned by the base class ---------------------------------------------------


class _Recorded(zoo.KnowledgeSource):
    name = "fake-recorded"
    input_spec = zoo.Spec(["x"])
    output_spec = zoo.Spec(["y"])
    runtime_options = ("timeout",)

    def __init__(self, scale: float = 2.0, *, timeout: float = 10.0, **extra):
        self.scale = scale

    def evaluate(self, inputs, contexts=None):
        return self.scale * inputs


class _Child(_Recorded):
    name = "fake-recorded-child"

    def __init__(self, shift: float = 1.0, **kw):
        super().__init__(**kw)
        self.shift = shift


def test_options_are_recorded_by_the_base_class_and_runtime_ones_leave_the_cache_key():
    import pickle

    from zoo.cache import sks_fingerprint

    a = _Recorded(3.0, timeout=5.0, note="x")
    assert a.options == {"scale": 3.0, "timeout": 5.0, "note": "x"}
    assert a.cache_options() == {"scale": 3.0, "note": "x"}
    assert sks_fingerprint(_Recorded(3.0, timeout=1.0)) == sks_fingerprint(_Recorded(3.0, timeout=99.0))
    assert sks_fingerprint(_Recorded(3.0)) != sks_fingerprint(_Recorded(4.0))
    # the outermost __init__ is what a user called: the child's options, the parent's within
    assert _Child(shift=2.0, scale=5.0).options == {"shift": 2.0, "scale": 5.0}
    assert pickle.loads(pickle.dumps(a)).options == a.options


def test_options_set_by_hand_still_win():
    class ByHand(_Recorded):
        name = "fake-by-hand"

        def __init__(self, scale: float = 2.0):
            self.options = {"scale": scale, "extra": "kept"}
            self.scale = scale

    assert ByHand(4.0).options == {"scale": 4.0, "extra": "kept"}
