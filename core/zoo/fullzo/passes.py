"""Every loss evaluation of one full-ZO step: L(theta) and L(theta + h u_j) for each (j, h).

Three ways, one result (``base``, ``metrics``, ``losses``, ``queries``, ``sks_calls``,
``mismatched``):

* no SKS in the loss: plain evaluations;
* sequential: each evaluation calls the SKS itself (through a counting stand-in);
* batched (the default): pass 1 captures the SKS rows of every evaluation, ONE call
  evaluates them all (so an executor can spread them), pass 2 replays the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

from .directions import Perturber
from .stand_ins import CapturingLayer, CountingLayer, ReplayingLayer

#: ``loss_fn(layer_like)`` -> a loss tensor, or ``(tensor, metrics)`` like Task.loss
LossFn = Callable[[Any], Any]
T = TypeVar("T")


def evaluate_losses(
    loss_fn: LossFn,
    layer: Any,
    perturber: Perturber,
    evaluations: list[tuple[int, float]],
    batched: bool = True,
) -> dict[str, Any]:
    """L(theta) and L(theta + h u_j) for each (j, h) in ``evaluations``.

    Batched (default): two passes and one SKS call, as in :mod:`zoo.fullzo`. Returns
    losses (n,), base loss and metrics, SKS rows sent, SKS calls made, and whether a
    replay mismatched (the loss feeds SKS outputs back into SKS inputs).
    """
    if layer is None:
        return _one_by_one(loss_fn, None, perturber, evaluations)
    if not batched:
        counting = CountingLayer(layer)
        out = _one_by_one(loss_fn, counting, perturber, evaluations)
        out.update(queries=counting.queries, sks_calls=counting.calls)
        return out
    return _batched(loss_fn, layer, perturber, evaluations)


def _at_each(perturber: Perturber, evaluations: list[tuple[int, float]], evaluate: Callable[[int], T]) -> list[T]:
    """``evaluate(e)`` with theta moved to evaluation e's point - and always moved back."""
    out = []
    for e, (j, h) in enumerate(evaluations):
        token = perturber.apply(j, h)
        try:
            out.append(evaluate(e))
        finally:
            perturber.undo(token)
    return out


def _one_by_one(loss_fn: LossFn, layer: Any, perturber: Perturber, evaluations: list[tuple[int, float]]) -> dict[str, Any]:
    base, metrics = _value(loss_fn(layer))
    losses = _at_each(perturber, evaluations, lambda e: _value(loss_fn(layer))[0])
    return dict(base=base, metrics=metrics, losses=np.array(losses, dtype=np.float64), queries=0,
                sks_calls=0, mismatched=False)


def _batched(loss_fn: LossFn, layer: Any, perturber: Perturber, evaluations: list[tuple[int, float]]) -> dict[str, Any]:
    # pass 1: record the SKS rows of every evaluation (slot 0 is theta itself)
    recorders = [CapturingLayer(layer) for _ in range(len(evaluations) + 1)]
    loss_fn(recorders[0])
    _at_each(perturber, evaluations, lambda e: loss_fn(recorders[e + 1]))
    outputs, queries, calls = _evaluate_recorded(layer, recorders)
    # pass 2: the same evaluations with the precomputed outputs
    replays = [ReplayingLayer(layer, rec.calls, outputs[slot]) for slot, rec in enumerate(recorders)]
    base, metrics = _value(loss_fn(replays[0]))
    losses = _at_each(perturber, evaluations, lambda e: _value(loss_fn(replays[e + 1]))[0])
    return dict(
        base=base, metrics=metrics, losses=np.array(losses, dtype=np.float64),
        queries=queries + sum(r.extra_queries for r in replays),
        sks_calls=calls + sum(r.mismatches for r in replays),
        mismatched=any(r.mismatches for r in replays),
    )


def _evaluate_recorded(layer: Any, recorders: list[CapturingLayer]) -> tuple[list[list[np.ndarray]], int, int]:
    """Every recorded row in one SKS call (one per kind of contexts: with or without).

    Returns the outputs of each recorder's calls, in order, and the rows and calls sent.
    """
    flat = [(s, c) for s, rec in enumerate(recorders) for c in range(len(rec.calls))]
    outputs: list[list[Any]] = [[None] * len(rec.calls) for rec in recorders]
    queries = calls = 0
    for with_ctx in (False, True):
        keys = [(s, c) for s, c in flat if (recorders[s].calls[c][1] is not None) == with_ctx]
        if not keys:
            continue
        x = np.concatenate([recorders[s].calls[c][0] for s, c in keys])
        ctx = [item for s, c in keys for item in recorders[s].calls[c][1]] if with_ctx else None
        y = np.asarray(layer.evaluate(x, ctx), dtype=np.float64).reshape(len(x), -1)
        queries += len(x)
        calls += 1
        start = 0
        for s, c in keys:
            rows = len(recorders[s].calls[c][0])
            outputs[s][c] = y[start : start + rows]
            start += rows
    return outputs, queries, calls


def _value(out: Any) -> tuple[float, dict[str, float]]:
    """loss_fn may return a tensor or (tensor, metrics) like Task.loss."""
    metrics: dict[str, float] = {}
    if isinstance(out, tuple):
        out, metrics = out[0], dict(out[1]) if len(out) > 1 else {}
    return float(torch.as_tensor(out).detach().double().item()), metrics
