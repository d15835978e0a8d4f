"""Task.sks_options gets the run's SKS name when it declares a parameter for it, and is
called without one when it does not (tasks written before the argument existed)."""

from __future__ import annotations

import zoo
from zoo.tasks import sks_options_for


class Minimal(zoo.Task):
    """The three methods every task must provide, doing nothing useful."""

    def make_model(self):
        return None

    def loss(self, model, layer, step):
        return None, {}

    def evaluate(self, model):
        return {}


class PerSource(Minimal):
    name = "per-source"

    def sks_options(self, sks=None):
        return {"pair_style": "morse"} if sks == "lammps" else {"smooth": True}


class Fixed(Minimal):
    name = "fixed"

    def sks_options(self):
        return {"inputs": "scale"}


def test_the_sks_name_reaches_a_task_that_asks_for_it():
    assert sks_options_for(PerSource(), "lammps") == {"pair_style": "morse"}
    assert sks_options_for(PerSource(), "ase-morse") == {"smooth": True}


def test_a_task_without_the_argument_is_called_without_it():
    assert sks_options_for(Fixed(), "lammps") == {"inputs": "scale"}


def test_the_base_task_asks_for_nothing_and_returns_a_fresh_dict():
    got = sks_options_for(Minimal(), "anything")
    assert got == {}
    got["x"] = 1
    assert sks_options_for(Minimal(), "anything") == {}


# ------------------------------------------------------------------ zoo.testing.check_task

import pytest  # noqa: E402
import torch  # noqa: E402

from core_fakes import FitTask, SquareSKS  # noqa: E402
from zoo.testing import check_task  # noqa: E402


class RunningBatches(FitTask):
    """Picks its minibatch from a generator that runs on from call to call: the bug
    check_task exists to catch (full-ZO and resume see other batches than training did)."""

    name = "running-batches"

    def setup(self, sks, seed):
        super().setup(sks, seed)
        self.gen = torch.Generator().manual_seed(seed)

    def loss(self, model, layer, step):
        idx = torch.randperm(len(self.contexts), generator=self.gen)[:2]
        pred = model(len(idx)) if layer is None else layer(model(len(idx)), [self.contexts[i] for i in idx])
        return torch.mean((pred - self.y[idx]) ** 2), {}


class StepBatches(RunningBatches):
    """The same minibatches, drawn from a generator seeded by the step: passes."""

    def loss(self, model, layer, step):
        gen = torch.Generator().manual_seed(1_000_003 + step)
        idx = torch.randperm(len(self.contexts), generator=gen)[:2]
        pred = model(len(idx)) if layer is None else layer(model(len(idx)), [self.contexts[i] for i in idx])
        return torch.mean((pred - self.y[idx]) ** 2), {}


def test_check_task_passes_a_task_whose_loss_depends_on_the_step_only():
    out = check_task(StepBatches(init=1.2), SquareSKS())
    assert out["test_mae"] == pytest.approx(0.3)


def test_check_task_catches_batches_from_a_running_generator():
    with pytest.raises(AssertionError, match="changed between two calls.*seeded by the step"):
        check_task(RunningBatches(init=1.2), SquareSKS())


def test_check_task_wants_the_primary_metric():
    class NoMetric(StepBatches):
        def evaluate(self, model):
            return {"rmse": 0.1}

    with pytest.raises(AssertionError, match="test_mae"):
        check_task(NoMetric(), SquareSKS())
