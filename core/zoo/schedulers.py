"""Schedules: per-step multipliers for the learning rate and the estimator's knobs.

A schedule maps (step, total_steps) to a factor applied to a base value, like torch's
``LambdaLR``: ``lr_t = lr * factor``, ``mu_t = mu * factor``, ``q_t = max(1, round(q *
factor))``. Keeping schedules to that one method is what lets any schedule drive any knob.
"""

from __future__ import annotations

import math
from typing import ClassVar

from .errors import ConfigError


class Schedule:
    """Base class: ``factor(step, total) -> float``, 1.0 at step 0 unless it warms up."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def factor(self, step: int, total: int) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({vars(self)})"


class Constant(Schedule):
    """The base value at every step."""

    name = "constant"
    description = "Keep the base value at every step"

    def factor(self, step: int, total: int) -> float:
        return 1.0


class Cosine(Schedule):
    """Cosine annealing from the base value to ``final`` times it over the run."""

    name = "cosine"
    description = "Cosine decay from the base value to final x base over the run"

    def __init__(self, final: float = 0.0):
        if not 0.0 <= final:
            raise ConfigError(f"cosine: final must be >= 0, got {final}")
        self.final = float(final)

    def factor(self, step: int, total: int) -> float:
        t = min(max(step, 0), max(total - 1, 1)) / max(total - 1, 1)
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * t))
