"""Early stopping on a validation metric, and the best weights to restore at the end.

Both variants of a run (SKS-coupled and data-only) follow the same rule, so neither gets
more training or a better-chosen checkpoint than the other:

* every evaluation (each ``eval_every`` steps) reads the task's validation metric
  (:meth:`zoo.Task.validate`; lower is better);
* a value below the best so far is an improvement: it becomes the best, with its step and
  (when ``restore_best``) a copy of the weights;
* after ``patience`` evaluations in a row without improvement the variant stops
  (``patience = 0``: never);
* at the end, with ``restore_best``, the best weights go back into the model before the
  final test evaluation.

A NaN validation value never counts as an improvement. Everything the rule has seen is in
:meth:`EarlyStopping.state_dict`, so a resumed run stops where an uninterrupted one would.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .errors import ConfigError


def default_metric(primary_metric: str) -> str:
    """``val_`` + the primary test metric without ``test_``: ``test_mae`` -> ``val_mae``."""
    return "val_" + primary_metric.removeprefix("test_")


class EarlyStopping:
    """Watches ``metric`` at each evaluation; says when to stop; keeps the best weights."""

    def __init__(self, metric: str, patience: int = 0, restore_best: bool = True):
        self.metric, self.patience, self.restore_best = metric, int(patience), bool(restore_best)
        self.best = math.inf
        #: steps done when the best value was measured (0: none yet)
        self.best_step = 0
        #: evaluations since the best one
        self.since_best = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def check_metrics(self, metrics: dict[str, float], task_name: str) -> None:
        """A :class:`ConfigError` if the task's validation metrics lack the watched one."""
        if self.metric not in metrics:
            given = ", ".join(sorted(metrics)) or "none (it does not implement validate)"
            raise ConfigError(
                f"early stopping / restore_best watch the validation metric {self.metric!r}, but "
                f"task {task_name!r} reports {given}; set validation_metric to one of them, or "
                f"early_stopping_patience = 0 and restore_best = false"
            )

    def observe(self, step: int, metrics: dict[str, float], model: torch.nn.Module) -> str:
        """Record the evaluation after ``step`` steps; return why to stop now, or ''."""
        value = float(metrics[self.metric])
        if value < self.best:  # False for NaN
            self.best, self.best_step, self.since_best = value, step, 0
            if self.restore_best:
                self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.since_best += 1
        if self.patience and self.since_best >= self.patience:
            return (
                f"early stopping: {self.metric} has not improved for {self.patience} evaluations "
                f"(best {self.best:.4g} after step {self.best_step})"
            )
        return ""

    def restore(self, model: torch.nn.Module) -> bool:
        """Put the best weights back (with ``restore_best``); whether there were any."""
        if not self.restore_best or self.best_weights is None:
            return False
        model.load_state_dict(self.best_weights)
        return True

    def state_dict(self) -> dict[str, Any]:
        """For a checkpoint (tensors, numbers and strings only)."""
        return {"metric": self.metric, "best": self.best, "best_step": self.best_step,
                "since_best": self.since_best, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step = float(state["best"]), int(state["best_step"])
        self.since_best = int(state["since_best"])
        self.best_weights = state.get("best_weights")
