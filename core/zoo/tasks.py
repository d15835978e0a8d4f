"""Task: what ``zoo run`` trains: data, a model, a loss, and test metrics.

A task is registered like every other component (``register_tasks``). It pairs with a
knowledge source (``default_sks``; a knowledge source names its own ``default_task``) and is
trained twice by ``zoo run``: coupled to the SKS through an :class:`zoo.SKSLayer`, and as a
data-only twin (``layer=None``) on the same labels, so every run shows what the physics
bought.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch

from .sks import KnowledgeSource


class Task:
    """Base class for tasks.

    ``defaults`` holds run settings the task is tuned for (steps, lr, estimator, ...); a
    config file and command-line flags override them.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_sks: ClassVar[str | None] = None
    defaults: ClassVar[dict[str, Any]] = {}
    #: the test metric the comparison table leads with (lower is better)
    primary_metric: ClassVar[str] = "test_mae"
    #: units of the test metrics, shown in the comparison table
    metric_units: ClassVar[dict[str, str]] = {}

    def sks_options(self, sks: str | None = None) -> dict[str, Any]:
        """Options the task needs from its knowledge source (the config can add more).

        ``sks`` is the name of the knowledge source the run uses, so one task can ask
        different codes for the same thing (``lj-alloy-eos`` gives LAMMPS a pair style and
        ASE a smooth cutoff). Like a pluggy hook argument it is optional: a task whose
        ``sks_options(self)`` takes no argument is called without it.
        """
        return {}

    def setup(self, sks: KnowledgeSource, seed: int) -> None:
        """Load or build the data. Called once per run, before any model is made."""

    def make_model(self) -> torch.nn.Module:
        raise NotImplementedError

    def loss(
        self, model: torch.nn.Module, layer: torch.nn.Module | None, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss at ``step`` and metrics to log; ``layer`` is None for the twin.

        It must be a deterministic function of the model and ``step`` (draw minibatches from
        a generator seeded by the step, not from a running one): full-ZO training evaluates
        it several times per step, and a resumed run must see the same batches.
        """
        raise NotImplementedError

    def sample_inputs(self, n: int, seed: int = 0) -> tuple[Any, list[Any] | None]:
        """``n`` typical SKS input rows (n, d_in) and their contexts, for diagnostics.

        ``zoo diagnose`` checks gradient estimators at such points. Call after ``setup``.
        """
        raise NotImplementedError(f"task {self.name!r} does not provide sample inputs")

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Test metrics of a trained model (``primary_metric`` among them)."""
        raise NotImplementedError

    def describe_data(self) -> dict[str, Any]:
        """Sizes and provenance of the data, for the summary."""
        return {}


def sks_options_for(task: Task, sks: str) -> dict[str, Any]:
    """``task.sks_options`` for the knowledge source ``sks``, passing the name only to a
    method that declares a parameter for it (older tasks define ``sks_options(self)``)."""
    method = task.sks_options
    try:
        takes_name = bool(inspect.signature(method).parameters)
    except (TypeError, ValueError):  # a builtin or C-implemented callable
        takes_name = False
    return dict(method(sks) if takes_name else method())
