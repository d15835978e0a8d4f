"""Tasks: the :class:`Task` contract and the toolkit every task uses.

``from zoo.tasks import Task`` (also ``zoo.Task``); the helpers keep the rules the training
loop relies on — a test set fixed by ``split_seed``, minibatches seeded by the step, NaN rows
out of the loss, metrics with units — in one place instead of one copy per task.
"""

from __future__ import annotations

from .base import Layer, Task, sks_options_for
from .data import Split, minibatch, split
from .fit import FitTask
from .metrics import finite_rows, mean_over_finite, regression_metrics, regression_units

__all__ = [
    "FitTask",
    "Layer",
    "Split",
    "Task",
    "finite_rows",
    "mean_over_finite",
    "minibatch",
    "regression_metrics",
    "regression_units",
    "sks_options_for",
    "split",
]
