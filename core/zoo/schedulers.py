"""Schedules: per-step multipliers for the learning rate and the estimator's knobs.

A schedule maps (step, total_steps) to a factor applied to a base value, like torch's
``LambdaLR``: ``lr_t = lr * factor``, ``mu_t = mu * factor``, ``q_t = max(1, round(q *
factor))``, ``sparsity_t = sparsity * factor`` (kept in [0, 1) by the estimator's check).
Keeping schedules to that one method is what lets any schedule drive any knob.

One schedule also listens: :class:`Adaptive` has ``observe(stats)``, which the training
loop calls after each backward with the estimator's ``last_stats`` (the spread of the
estimate measured from its own directions, see :func:`zoo.estimators.base.spread_stats`),
and raises q while the estimate is too noisy. Any schedule may define ``observe``; the
loop calls it where it exists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from .errors import ConfigError


def _number(owner: str, option: str, value: Any, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{owner}: {option} must be a number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ConfigError(f"{owner}: {option} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{owner}: {option} must be <= {high}, got {value}")
    return float(value)


def _steps(owner: str, option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{owner}: {option} must be an integer >= 0, got {value!r}")
    return int(value)


class Schedule:
    """Base class: ``factor(step, total) -> float``, 1.0 at step 0 unless it warms up."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def factor(self, step: int, total: int) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({vars(self)})"


def _warm(step: int, warmup: int, start: float) -> float:
    """Linear ramp from ``start`` at step 0 to 1 at step ``warmup``."""
    if warmup <= 0 or step >= warmup:
        return 1.0
    return start + (1.0 - start) * max(step, 0) / warmup


class Constant(Schedule):
    """The base value at every step."""

    name = "constant"
    description = "Keep the base value at every step"

    def factor(self, step: int, total: int) -> float:
        return 1.0


class Cosine(Schedule):
    """Cosine annealing from the base value to ``final`` times it, after an optional warm-up.

    With ``warmup`` = w > 0 the factor rises linearly from ``start`` to 1 over the first w
    steps, then decays over the remaining total - w.
    """

    name = "cosine"
    description = "Cosine decay from the base value to final x base over the run (optional warm-up)"

    def __init__(self, final: float = 0.0, warmup: int = 0, start: float = 0.0):
        self.final = _number(self.name, "final", final, low=0.0)
        self.warmup = _steps(self.name, "warmup", warmup)
        self.start = _number(self.name, "start", start, low=0.0)

    def factor(self, step: int, total: int) -> float:
        if step < self.warmup:
            return _warm(step, self.warmup, self.start)
        span = max(total - 1 - self.warmup, 1)
        t = min(max(step - self.warmup, 0), span) / span
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * t))


class StepDecay(Schedule):
    """Multiply by ``gamma`` every ``every`` steps, or at each of ``milestones``."""

    name = "step"
    description = "Multiply by gamma every N steps (or at given milestones)"

    def __init__(self, gamma: float = 0.5, every: int | None = None, milestones: Sequence[int] | None = None):
        self.gamma = _number(self.name, "gamma", gamma, low=0.0, low_open=True)
        if (every is None) == (milestones is None):
            raise ConfigError(f"{self.name}: give exactly one of every=N or milestones=[...]")
        self.every = None if every is None else _steps(self.name, "every", every)
        if self.every == 0:
            raise ConfigError(f"{self.name}: every must be >= 1")
        if milestones is not None:
            if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
                raise ConfigError(f"{self.name}: milestones must be a list of steps, got {milestones!r}")
            milestones = sorted(_steps(self.name, "milestones", m) for m in milestones)
        self.milestones = milestones

    def factor(self, step: int, total: int) -> float:
        if self.every is not None:
            n = max(step, 0) // self.every
        else:
            n = sum(1 for m in self.milestones if step >= m)
        return self.gamma**n


class Exponential(Schedule):
    """Multiply by ``gamma`` every step, or (``final``) decay geometrically to final x base."""

    name = "exponential"
    description = "Geometric decay: gamma per step, or to final x base over the run"

    def __init__(self, gamma: float | None = None, final: float | None = None):
        if (gamma is None) == (final is None):
            raise ConfigError(f"{self.name}: give exactly one of gamma=G (per step) or final=F (at the end)")
        self.gamma = None if gamma is None else _number(self.name, "gamma", gamma, low=0.0, low_open=True)
        self.final = None if final is None else _number(self.name, "final", final, low=0.0, low_open=True)

    def factor(self, step: int, total: int) -> float:
        if self.gamma is not None:
            return self.gamma ** max(step, 0)
        t = min(max(step, 0), max(total - 1, 1)) / max(total - 1, 1)
        return self.final**t


class LinearWarmup(Schedule):
    """Rise linearly from ``start`` x base to the base over ``warmup`` steps, then hold."""

    name = "warmup"
    description = "Linear warm-up from start x base to the base over N steps, then constant"

    def __init__(self, warmup: int = 10, start: float = 0.0):
        self.warmup = _steps(self.name, "warmup", warmup)
        self.start = _number(self.name, "start", start, low=0.0)

    def factor(self, step: int, total: int) -> float:
        return _warm(step, self.warmup, self.start)


class Adaptive(Schedule):
    """Raise q while the estimate's own spread says it is too noisy (lower it when it is not).

    After each backward the loop calls ``observe(stats)`` with ``relative_spread`` r (the
    standard error of the estimate over its norm, measured from its q directions). The
    cosine to the smoothed gradient that r implies is sqrt(1 - r^2) (see
    :func:`zoo.estimators.base.spread_stats`), and r^2 falls like 1/q. So the q that would
    reach ``target_cosine`` c is q * rho^2 (1/c^2 - 1)^-1 with rho^2 = r^2 / (1 - r^2); the
    factor moves toward it by at most ``growth`` per step (smoothed over ``memory`` steps),
    within [``min_factor``, ``max_factor``]. Steps without a spread (q = 1) leave it as is.
    Use it for ``q`` (``q_schedule = "adaptive"``); ``factor`` ignores the step.
    """

    name = "adaptive"
    description = "Raises q while the estimate's measured spread is too high for a target cosine"

    def __init__(
        self,
        target_cosine: float = 0.8,
        growth: float = 2.0,
        min_factor: float = 1.0,
        max_factor: float = 16.0,
        memory: float = 0.5,
    ):
        self.target_cosine = _number(self.name, "target_cosine", target_cosine, low=0.0, high=1.0, low_open=True)
        if self.target_cosine >= 1.0:
            raise ConfigError(f"{self.name}: target_cosine must be below 1, got {target_cosine}")
        self.growth = _number(self.name, "growth", growth, low=1.0, low_open=True)
        self.min_factor = _number(self.name, "min_factor", min_factor, low=0.0, low_open=True)
        self.max_factor = _number(self.name, "max_factor", max_factor, low=self.min_factor)
        self.memory = _number(self.name, "memory", memory, low=0.0, high=1.0)
        self.current = max(1.0, self.min_factor) if self.min_factor <= 1.0 <= self.max_factor else self.min_factor
        self._ratio: float | None = None

    def factor(self, step: int, total: int) -> float:
        return self.current

    def observe(self, stats: dict[str, float] | None) -> None:
        """Feed the last estimate's ``relative_spread``; ignored when it is missing."""
        if not stats or "relative_spread" not in stats:
            return
        r = float(stats["relative_spread"])
        if not math.isfinite(r) or r < 0:
            return
        rho2 = r * r / (1.0 - r * r) if r < 1.0 else 1e6  # tr Cov / |grad|^2 at this q
        ratio = rho2 / (1.0 / self.target_cosine**2 - 1.0)  # q_needed / q_now
        self._ratio = ratio if self._ratio is None else self.memory * self._ratio + (1 - self.memory) * ratio
        move = min(max(self._ratio, 1.0 / self.growth), self.growth)
        self.current = min(max(self.current * move, self.min_factor), self.max_factor)

    def state_dict(self) -> dict[str, Any]:
        return {"current": self.current, "ratio": self._ratio}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.current = float(state["current"])
        self._ratio = state.get("ratio")
