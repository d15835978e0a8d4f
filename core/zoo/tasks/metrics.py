"""Loss and metric helpers shared by tasks: NaN rows out of the loss, regression metrics
with their units."""

from __future__ import annotations

from collections.abc import Callable

import torch


def finite_rows(y: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the rows of ``y`` whose every value is finite.

    A query that failed for good (``on_failure = "skip"``) comes back from the layer as a
    NaN row; a loss that keeps it becomes NaN and stops the run. 1-d tensors are masked
    element by element.
    """
    if y.ndim <= 1:
        return torch.isfinite(y)
    return torch.isfinite(y).reshape(len(y), -1).all(dim=1)


def mean_over_finite(
    values: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> torch.Tensor:
    """Mean of ``transform(values[ok])`` over the finite rows of ``values`` (zero if there
    are none).

    Mask first, then square: ``(y ** 2)[ok]`` would send NaN gradients (2 · NaN · 0) back
    into the layer for the failed rows, so non-linear terms go in ``transform``, which
    only ever sees finite rows: ``mean_over_finite(p / k, torch.square)``.
    """
    ok = finite_rows(values)
    if not bool(ok.any()):
        return values.new_zeros(())
    kept = values[ok]
    return (transform(kept) if transform is not None else kept).mean()


def regression_metrics(pred: torch.Tensor, target: torch.Tensor, prefix: str = "test") -> dict[str, float]:
    """``{prefix}_mae``, ``_rmse`` and ``_max`` absolute error of ``pred`` against ``target``."""
    err = (pred.detach().reshape(target.shape) - target).abs().double()
    return {
        f"{prefix}_mae": float(err.mean()),
        f"{prefix}_rmse": float(err.pow(2).mean().sqrt()),
        f"{prefix}_max": float(err.max()),
    }


def regression_units(unit: str, prefix: str = "test") -> dict[str, str]:
    """The units of :func:`regression_metrics`' keys, for ``Task.metric_units``."""
    return {f"{prefix}_{k}": unit for k in ("mae", "rmse", "max")}
