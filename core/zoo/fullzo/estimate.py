"""The full-ZO gradient estimate: ZO on the loss as a function of every trainable parameter.

:func:`estimate_parameter_gradients` asks the estimator for a
:class:`~zoo.estimators.base.DirectionPlan` over the P parameters, evaluates every
perturbation of the step (:mod:`zoo.fullzo.passes`), combines the differences into
``p.grad``, and remembers what the next step needs in ``estimator.state[STATE_KEY]``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..estimators.base import DirectionPlan, Estimator
from .directions import Directions, ParameterSpace, Perturber
from .passes import LossFn, evaluate_losses

#: the key under which full-ZO keeps its own entries in an estimator's ``state``: the running
#: prior direction in parameter space, and whether batching was given up for this loss
STATE_KEY = "fullzo"


def _prior_state(estimator: Estimator, space: ParameterSpace, plan: DirectionPlan) -> list[torch.Tensor] | None:
    """The unit prior direction (the previous estimate), or a random unit one at first."""
    if not plan.prior:
        return None
    prev = estimator.state.get(STATE_KEY, {}).get("prior")
    if prev is not None and [t.shape for t in prev] != [p.shape for p in space.params]:
        prev = None
    if prev is None:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(plan.seeds[0]) % (2**63))
        prev = [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in space.params]
    norm = float(np.sqrt(sum(float(torch.sum(t.double() ** 2)) for t in prev)))
    if not np.isfinite(norm) or norm == 0:
        return None
    return [t / norm for t in prev]


def _gradient(
    space: ParameterSpace,
    plan: DirectionPlan,
    prior: list[torch.Tensor] | None,
    loss_fn: LossFn,
    layer: Any,
    restore: str,
    batched: bool,
) -> dict[str, Any]:
    if plan.prior and prior is None:
        raise ConfigError("full-ZO: a prior plan needs a prior direction")
    dirs = Directions(space, plan, prior)
    perturber = Perturber(space, dirs, restore)
    evaluations = [(j, float(h)) for j in range(plan.n_directions) for h in plan.steps[j]]
    out = evaluate_losses(loss_fn, layer, perturber, evaluations, batched=batched)
    diffs = out["losses"].reshape(plan.steps.shape) - out["base"]
    finite = np.all(np.isfinite(diffs), axis=1)
    coef = np.where(finite, np.sum(np.where(np.isfinite(diffs), diffs, 0.0) * plan.weights, axis=1), 0.0)
    grads = [torch.zeros_like(p) for p in space.params]
    for j in np.flatnonzero(coef != 0):
        dirs.add(int(j), float(coef[j]), grads)
    out.update(grads=grads, coef=coef, nan_directions=int((~finite).sum()), directions=dirs)
    return out


def _spread(plan: DirectionPlan, dirs: Directions, coef: np.ndarray, grads: list[torch.Tensor]) -> dict[str, float]:
    """relative_spread / estimated_cosine of an estimate from iid random directions, as in
    :func:`zoo.estimators.base.spread_stats`: |e_j - g|^2 from u_j . g and |u_j|^2."""
    n = plan.n_directions
    if plan.seeds is None or plan.prior or n < 2:
        return {}
    g2 = sum(float(torch.sum(t.double() ** 2)) for t in grads)
    if g2 == 0:
        return {}
    total = 0.0
    for j in range(n):
        dot, sq = dirs.dot(j, grads)
        e = n * coef[j]
        total += e * e * sq - 2 * e * dot + g2
    var = total / (n - 1)
    r = float(np.sqrt(max(var, 0.0) / n) / np.sqrt(g2))
    return {"relative_spread": r, "estimated_cosine": float(np.sqrt(1 - r * r)) if r < 1 else 0.0,
            "directions": float(n)}


def estimate_parameter_gradients(
    model: torch.nn.Module,
    loss_fn: LossFn,
    layer: Any,
    estimator: Estimator,
    seed: int,
    step: int = 0,
    *,
    restore: str = "copy",
    batched: bool | None = None,
) -> dict[str, Any]:
    """Estimate dL/dtheta for every trainable parameter by ZO and write it into ``p.grad``.

    Parameters
    ----------
    model:
        Its trainable parameters are theta. They are perturbed in place and restored.
    loss_fn:
        ``loss_fn(layer_like)`` evaluates the loss with the given layer (a tensor, or
        ``(tensor, metrics)`` like :meth:`zoo.Task.loss`); it must be deterministic (the
        same minibatch every call within a step). E.g.
        ``lambda lyr: task.loss(model, lyr, step)``.
    layer:
        The run's :class:`zoo.SKSLayer` (its executor, cache and bounds are used), or None
        for a loss without a knowledge source.
    estimator:
        Any estimator with ``parameter_plan`` (rge, cge, sparse-cge, ...). What it carries
        between steps in full-ZO (the prior direction) is kept in ``estimator.state``.
    seed, step:
        Directions are drawn from a generator seeded by (seed, step): a resumed run draws
        the same ones.
    restore:
        ``"copy"`` (exact, one extra copy of the parameters) or ``"subtract"`` (no copy;
        restores to within rounding, as MeZO).
    batched:
        None (default): one batched SKS call per step, until a loss turns out to feed SKS
        outputs into SKS inputs; True / False force it on / off.

    Returns
    -------
    dict with ``loss`` (L(theta), before the step), ``metrics`` (of that evaluation),
    ``queries`` (SKS rows sent, probes included), ``evaluations`` (loss evaluations),
    ``sks_calls``, ``nan_directions``, ``batched`` and, for random directions,
    ``relative_spread`` / ``estimated_cosine`` (for :class:`zoo.schedulers.Adaptive`).
    """
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ConfigError(f"full-ZO: step must be an integer >= 0, got {step!r}")
    space = ParameterSpace([p for p in model.parameters() if p.requires_grad])
    state = estimator.state.setdefault(STATE_KEY, {})
    if batched is None:
        batched = not state.get("sequential", False)
    rng = np.random.default_rng([int(seed) & (2**63 - 1), int(step)])
    with torch.no_grad():
        probe = _scores_if_needed(model, loss_fn, layer, estimator, space, rng, restore, batched)
        plan, prior = _plan(estimator, space, rng)
        out = _gradient(space, plan, prior, loss_fn, layer, restore, batched)
    for p, g in zip(space.params, out["grads"]):
        p.grad = g
    _remember(estimator, state, plan, out, batched)
    result = dict(
        loss=out["base"],
        metrics=out["metrics"],
        queries=probe["queries"] + out["queries"],
        evaluations=probe["evaluations"] + 1 + plan.n_evaluations,
        sks_calls=out["sks_calls"],
        nan_directions=out["nan_directions"],
        batched=batched,
    )
    result.update(_spread(plan, out["directions"], out["coef"], out["grads"]))
    estimator.last_stats = {k: result[k] for k in ("relative_spread", "estimated_cosine", "directions") if k in result}
    return result


def _scores_if_needed(model: torch.nn.Module, loss_fn: LossFn, layer: Any, estimator: Estimator,
                      space: ParameterSpace, rng: np.random.Generator, restore: str,
                      batched: bool) -> dict[str, Any]:
    """ZO-GraSP probes for an estimator whose sparse mask needs scores (its first step)."""
    needs = getattr(estimator, "needs_scores", None)
    if needs is None or not needs(space.size):
        return {"queries": 0, "evaluations": 0}
    return zo_grasp_scores(model, loss_fn, layer, estimator, rng, restore=restore, batched=batched)


def _plan(estimator: Estimator, space: ParameterSpace,
          rng: np.random.Generator) -> tuple[DirectionPlan, list[torch.Tensor] | None]:
    """The estimator's plan over the parameters, and its prior direction if it uses one."""
    plan = estimator.parameter_plan(space.size, rng)
    prior = _prior_state(estimator, space, plan)
    if plan.prior and prior is None:  # a zero previous estimate: plain random directions
        plan = DirectionPlan(plan.steps[1:], plan.weights[1:], seeds=plan.seeds[1:], distribution=plan.distribution)
    return plan, prior


def _remember(estimator: Estimator, state: dict[str, Any], plan: DirectionPlan, out: dict[str, Any],
              batched: bool) -> None:
    """Carry the prior direction to the next step; give up batching for a loss that feeds
    SKS outputs into SKS inputs; warn about that and about skipped NaN directions."""
    grads = out["grads"]
    if plan.prior or getattr(estimator, "prior", "none") == "previous":
        decay = float(getattr(estimator, "prior_decay", 0.0))
        old = state.get("prior")
        if old is not None and [t.shape for t in old] == [g.shape for g in grads]:
            state["prior"] = [decay * o + (1.0 - decay) * g.detach() for o, g in zip(old, grads)]
        else:
            state["prior"] = [g.detach().clone() for g in grads]
    if out["mismatched"] and batched:
        state["sequential"] = True
        warnings.warn(
            "full-ZO: the loss feeds SKS outputs back into SKS inputs, so its queries cannot "
            "all go in one batch; later steps evaluate each perturbation sequentially",
            RuntimeWarning,
            stacklevel=3,
        )
    if out["nan_directions"]:
        warnings.warn(
            f"full-ZO: {out['nan_directions']} direction(s) gave a NaN/inf loss and were skipped",
            RuntimeWarning,
            stacklevel=3,
        )


def zo_grasp_scores(
    model: torch.nn.Module,
    loss_fn: LossFn,
    layer: Any,
    sparse: Any,
    rng: np.random.Generator,
    restore: str = "copy",
    batched: bool = True,
) -> dict[str, Any]:
    """ZO-GraSP (DeepZero): coordinate importance from RGE probes; sets ``sparse``'s scores.

    g = RGE estimate at theta (``probe_q`` central directions, or central CGE with
    ``probe="cge"``); for ``score="grasp"`` (the default in full-ZO) also g' at theta +
    delta g/|g| with the same directions (common random numbers), so that
    H g ~= |g| (g' - g) / delta, and importance = theta * (H g) (GraSP prunes the largest
    -theta * Hg, so the largest theta * Hg are kept). ``"snip"``: |theta * g|;
    ``"magnitude"``: |g|. Groups are the parameter tensors (layer-wise ratios).
    """
    from ..estimators.cge import CoordinateEstimator
    from ..estimators.rge import RandomEstimator

    space = ParameterSpace([p for p in model.parameters() if p.requires_grad])
    if sparse.probe == "cge":
        probe_est: Estimator = CoordinateEstimator(mu=sparse.scalar_mu(), difference="central")
    else:
        probe_est = RandomEstimator(q=sparse.probe_q, mu=sparse.scalar_mu(), difference="central")
    plan = probe_est.parameter_plan(space.size, rng)
    first = _gradient(space, plan, None, loss_fn, layer, restore, batched)
    g = first["grads"]
    queries, evaluations = first["queries"], 1 + plan.n_evaluations
    score = "grasp" if sparse.score == "auto" else sparse.score
    theta = space.flat(space.params)
    g_flat = space.flat(g)
    if score == "magnitude":
        scores = np.abs(g_flat)
    elif score == "snip":
        scores = np.abs(theta * g_flat)
    else:
        norm = float(np.linalg.norm(g_flat))
        delta = 10.0 * sparse.scalar_mu()
        if norm == 0 or not np.isfinite(norm):
            scores = np.zeros(space.size)
        else:
            backup = [p.detach().clone() for p in space.params]
            try:
                for p, gk in zip(space.params, g):
                    p.data.add_(gk, alpha=delta / norm)
                second = _gradient(space, plan, None, loss_fn, layer, restore, batched)
            finally:
                for p, b in zip(space.params, backup):
                    p.data.copy_(b)
            queries += second["queries"]
            evaluations += 1 + plan.n_evaluations
            hg = norm * (space.flat(second["grads"]) - g_flat) / delta
            scores = theta * hg
    sparse.set_scores(scores, space.groups())
    return dict(queries=queries, evaluations=evaluations, scores=scores)
