"""The task contract: what ``zoo run`` trains — data, a model, a loss, and test metrics.

A task is registered like every other component (``register_tasks``). It pairs with a
knowledge source (``default_sks``; a knowledge source names its own ``default_task``) and is
trained twice by ``zoo run``: coupled to the SKS through a :class:`Layer`, and as a data-only
twin (``layer=None``) on the same labels, so every run shows what the physics bought.

The life of a task in one run::

    task = TaskClass(**task_options)        # options from --task-option / [task_options]
    sks_options(sks_name)                   # what it needs of the SKS (merged under the config's)
    setup(sks, seed)                        # once: load data, split it, build contexts
    make_model()                            # once per variant, after torch.manual_seed(seed)
    loss(model, layer, step)                # every step (several times a step in full-ZO)
    evaluate(model)                         # test metrics, every eval_every steps and at the end
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch

from ..sks import KnowledgeSource


@runtime_checkable
class Layer(Protocol):
    """What :meth:`Task.loss` receives as ``layer`` in the coupled variant.

    In a hybrid run it is a :class:`zoo.SKSLayer`; in a full-ZO run a stand-in that
    evaluates the same SKS without building a graph; while ``zoo run --dry-run`` counts
    queries, a probe that answers zeros. A task may rely on exactly this:

    * ``layer(z, contexts)`` with ``z`` a floating (batch, d_in) tensor in the SKS's input
      order and ``contexts`` a length-batch sequence (or None) returns a (batch, d_out)
      tensor of z's dtype; a row whose query failed for good is NaN (drop it from the loss:
      :func:`zoo.tasks.finite_rows`);
    * ``layer.sks`` is the knowledge source (its ``input_spec`` and ``output_spec``).

    Nothing else: not ``nn.Module`` methods, not gradients of any particular kind.
    """

    sks: KnowledgeSource

    def __call__(self, z: torch.Tensor, contexts: Sequence[Any] | None = None) -> torch.Tensor: ...


class Task(abc.ABC):
    """Base class of tasks. Implement :meth:`make_model`, :meth:`loss` and :meth:`evaluate`;
    override the others where the defaults do not fit.

    Rules the training loop relies on:

    * :meth:`loss` is a deterministic function of the model and ``step``: draw minibatches
      with :func:`zoo.tasks.minibatch` (seeded by the step), never from a running generator.
      Full-ZO training evaluates it several times a step and a resumed run must see the same
      batches (``zoo.testing.check_task`` checks this).
    * :meth:`setup` may call the SKS directly (to compute labels or a starting point). Those
      calls go straight to the SKS — no executor, cache, failure policy or budget — and are
      reported in the run's summary as ``setup_queries``.
    * NaN rows: a query that failed for good comes back from the layer as a NaN row; the loss
      must drop it (:func:`zoo.tasks.finite_rows`), or the run stops at the first failure.

    A complete task, registered by a plugin and checked with ``zoo.testing.check_task``: the
    "writing a plugin" page of the docs.

    Attributes
    ----------
    name : str
        What users type (``zoo run --task NAME``).
    description : str
        A one-line summary, for ``zoo list tasks``.
    default_sks : str or None
        The knowledge source ``zoo run --task NAME`` uses when ``--sks`` is not given.
    defaults : dict
        Run settings the task is tuned for: any key of ``zoo run``'s configuration
        (``steps``, ``lr``, ``lr_schedule``, ``estimator``, ``estimator_options``,
        ``eval_every``, ...; see docs/configuration.md) except ``sks``, ``task`` and ``out``.
        A config file and command-line flags override them.
    primary_metric : str
        The test metric the comparison table leads with (lower is better).
    metric_units : dict
        The units of every metric :meth:`evaluate` returns (``{"test_mae": "Å"}``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_sks: ClassVar[str | None] = None
    defaults: ClassVar[dict[str, Any]] = {}
    primary_metric: ClassVar[str] = "test_mae"
    metric_units: ClassVar[dict[str, str]] = {}

    def sks_options(self, sks: str | None = None) -> dict[str, Any]:
        """Options the task needs from its knowledge source (the config can add more).

        ``sks`` is the name of the knowledge source the run uses. A task should ask in the
        shared vocabulary every code understands (``inputs="lattice_constant"``,
        ``outputs="pressure"``) rather than switch on the name. Like a pluggy hook argument it
        is optional: a task whose ``sks_options(self)`` takes no argument is called without it.
        """
        return {}

    def setup(self, sks: KnowledgeSource, seed: int) -> None:
        """Load or build the data. Called once per run, before any model is made."""

    @abc.abstractmethod
    def make_model(self) -> torch.nn.Module:
        """A fresh model (the loop seeds torch first, so both variants start alike)."""

    @abc.abstractmethod
    def loss(
        self, model: torch.nn.Module, layer: Layer | None, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss at ``step`` and metrics to log; ``layer`` is None for the twin.

        Parameters
        ----------
        model
            The variant's model, from :meth:`make_model`.
        layer
            The coupled variant's way to the SKS (a :class:`Layer`), or None for the
            data-only twin.
        step
            The step: draw the minibatch from it (:func:`zoo.tasks.minibatch`), so the loss
            is a function of the model and the step.

        Returns
        -------
        tuple of (torch.Tensor, dict)
            The scalar loss, and numbers to log to metrics.jsonl (its parts, say).
        """

    @abc.abstractmethod
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Test metrics of a trained model (``primary_metric`` among them), in eval mode
        under ``torch.no_grad()``."""

    def validate(self, model: torch.nn.Module) -> dict[str, float]:
        """Validation metrics of a model during training, on labelled rows held out from
        the training loss (the ``validation`` rows of :func:`zoo.tasks.split`), in eval mode
        under ``torch.no_grad()`` like :meth:`evaluate`; lower is better.

        Optional: the default ``{}`` says the task has no validation rows. The loop calls it
        every ``eval_every`` steps beside :meth:`evaluate` and logs it to metrics.jsonl.
        Early stopping (``early_stopping_patience``) and ``restore_best`` watch one of its
        metrics, ``validation_metric`` (by default ``val_`` + :attr:`primary_metric` without
        its ``test_`` prefix: ``test_mae`` -> ``val_mae``), so name them ``val_*``. Never
        the test rows: weights chosen on the test set would overstate the result.
        """
        return {}

    def sample_inputs(self, n: int, seed: int = 0) -> tuple[Any, list[Any] | None]:
        """``n`` typical SKS input rows (n, d_in) and their contexts, for diagnostics.

        ``zoo diagnose`` checks gradient estimators at such points. Called after ``setup``.
        """
        raise NotImplementedError(f"task {self.name!r} does not provide sample inputs")

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
