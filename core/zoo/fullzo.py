"""Full-ZO mode: the gradient of the whole loss with respect to the model's parameters,
from loss evaluations only - no backprop anywhere (DeepZero; MeZO).

The same estimators as in an SKS layer, applied to L(theta) with theta = every trainable
parameter (d = P of them). Three things keep it practical:

* **Memory ~1x the model.** No (q, P) direction matrix exists: an estimator's
  :meth:`~zoo.Estimator.parameter_plan` names random directions by *seeds*, and each
  direction is regenerated, one parameter tensor at a time, wherever it is needed - to
  perturb theta and to add its share to the gradient (the MeZO trick, Malladi et al. 2023).
  Parameters are perturbed in place and restored exactly from one saved copy
  (``restore="copy"``, +P floats) or by subtracting the perturbation again
  (``restore="subtract"``, no copy, restores to within rounding). Coordinate directions
  perturb and restore one scalar each.
* **One batched SKS call per step.** Pass 1 evaluates the loss at theta and at every
  perturbation with a *capturing* layer that records the SKS inputs and contexts and returns
  placeholders; every recorded row goes to the executor in ONE call; pass 2 re-evaluates
  each perturbation with a *replaying* layer that returns the precomputed outputs. The model
  is cheap beside the SKS, so evaluating it twice costs little, and the executor can spread
  all (n + 1) x B rows. If a loss's SKS inputs depend on SKS outputs (a row seen in pass 2
  differs from pass 1), that call is evaluated on its own (sequentially) and later steps
  skip the batching.
* **The gradient lands in ``p.grad``**, so any torch optimizer takes the step: a run's
  ``optimizer`` (:mod:`zoo.optim`) makes it ZO-SGD, ZO-SGD-MMT, ZO-SignSGD or ZO-Adam.

Estimate, for a plan with directions u_j, steps h_jk and weights w_jk:

    g = sum_j ( sum_k w_jk (L(theta + h_jk u_j) - L(theta)) ) u_j

which is RGE / CGE / sparse CGE exactly as in :mod:`zoo.estimators` (same scalings, so the
same unbiasedness statements hold with f = L and d = P).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from .errors import ConfigError
from .estimators.base import DirectionPlan, Estimator

RESTORES = ("copy", "subtract")
#: the key under which full-ZO keeps its own entries in an estimator's ``state``: the running
#: prior direction in parameter space, and whether batching was given up for this loss
STATE_KEY = "fullzo"

LossFn = Callable[[Any], Any]


# -------------------------------------------------------------------------------------
# layers that stand in for the SKS layer during the passes
# -------------------------------------------------------------------------------------


class _LayerProxy:
    """Looks like the real layer (``layer(z, contexts)``, ``.sks``, ...) to a task's loss."""

    def __init__(self, layer: Any):
        self._layer = layer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._layer, name)

    def _rows(self, z: torch.Tensor, contexts: Sequence[Any] | None) -> np.ndarray:
        spec = self._layer.sks.input_spec
        if z.ndim != 2 or z.shape[1] != len(spec):
            raise ConfigError(
                f"{self._layer.sks.name}: layer input must be (batch, {len(spec)}) for "
                f"{list(spec.names)}, got {tuple(z.shape)}"
            )
        if contexts is not None and len(contexts) != z.shape[0]:
            raise ConfigError(f"{self._layer.sks.name}: {len(contexts)} contexts for {z.shape[0]} rows")
        x = z.detach().to("cpu", torch.float64).numpy()
        inside = getattr(self._layer, "_inside", None)
        return np.array(inside(x) if inside is not None else x, dtype=np.float64)


class CapturingLayer(_LayerProxy):
    """Records every call's SKS rows and contexts; returns zeros as placeholder outputs."""

    def __init__(self, layer: Any):
        super().__init__(layer)
        self.calls: list[tuple[np.ndarray, Sequence[Any] | None]] = []

    def __call__(self, z: torch.Tensor, contexts: Sequence[Any] | None = None) -> torch.Tensor:
        x = self._rows(z, contexts)
        self.calls.append((x, None if contexts is None else list(contexts)))
        d_out = len(self._layer.sks.output_spec)
        return torch.zeros((x.shape[0], d_out), dtype=z.dtype, device=z.device)


class ReplayingLayer(_LayerProxy):
    """Returns precomputed outputs for the calls pass 1 recorded; evaluates any call that
    differs (its inputs depended on SKS outputs) through the real layer, and counts it."""

    def __init__(self, layer: Any, calls: list[tuple[np.ndarray, Sequence[Any] | None]], outputs: list[np.ndarray]):
        super().__init__(layer)
        self._calls, self._outputs = calls, outputs
        self._next = 0
        self.mismatches = 0
        self.extra_queries = 0

    def __call__(self, z: torch.Tensor, contexts: Sequence[Any] | None = None) -> torch.Tensor:
        x = self._rows(z, contexts)
        i = self._next
        self._next += 1
        if i < len(self._calls) and _same_call(self._calls[i], x, contexts):
            y = self._outputs[i]
        else:
            self.mismatches += 1
            self.extra_queries += len(x)
            y = np.asarray(self._layer.evaluate(x, contexts), dtype=np.float64)
        return torch.as_tensor(y, dtype=z.dtype, device=z.device)


def _same_call(call: tuple[np.ndarray, Sequence[Any] | None], x: np.ndarray, contexts: Sequence[Any] | None) -> bool:
    rx, rctx = call
    if rx.shape != x.shape or not np.array_equal(rx, x):
        return False
    if (rctx is None) != (contexts is None):
        return False
    return rctx is None or all(a is b for a, b in zip(rctx, contexts))


class CountingLayer(_LayerProxy):
    """The real layer's forward, run sequentially, with the rows counted."""

    def __init__(self, layer: Any):
        super().__init__(layer)
        self.queries = 0
        self.calls = 0

    def __call__(self, z: torch.Tensor, contexts: Sequence[Any] | None = None) -> torch.Tensor:
        x = self._rows(z, contexts)
        self.queries += len(x)
        self.calls += 1
        y = np.asarray(self._layer.evaluate(x, contexts), dtype=np.float64)
        return torch.as_tensor(y, dtype=z.dtype, device=z.device)


def _value(out: Any) -> tuple[float, dict[str, float]]:
    """loss_fn may return a tensor or (tensor, metrics) like Task.loss."""
    metrics: dict[str, float] = {}
    if isinstance(out, tuple):
        out, metrics = out[0], dict(out[1]) if len(out) > 1 else {}
    return float(torch.as_tensor(out).detach().double().item()), metrics


# -------------------------------------------------------------------------------------
# directions, regenerated on demand
# -------------------------------------------------------------------------------------


class ParameterSpace:
    """The trainable parameters as one flat vector of P numbers (without concatenating)."""

    def __init__(self, params: Sequence[torch.Tensor]):
        self.params = list(params)
        if not self.params:
            raise ConfigError("full-ZO: the model has no trainable parameters")
        self.sizes = [p.numel() for p in self.params]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.size = int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(parameter number, flat index inside it) of global coordinate ``index``."""
        k = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return k, int(index - self.offsets[k])

    def groups(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.params)), self.sizes)

    def flat(self, tensors: Sequence[torch.Tensor]) -> np.ndarray:
        return np.concatenate([t.detach().reshape(-1).double().cpu().numpy() for t in tensors])


class Directions:
    """Direction j of a :class:`DirectionPlan`, generated one parameter tensor at a time.

    u_j = b_j (n_j - a_j p): n_j the raw draw from seed j, p the unit prior (or none),
    a_j = n_j . p, and b_j = 1 / |n_j - a_j p| for sphere directions (1 otherwise).
    With a prior, direction 0 is p itself.
    """

    def __init__(self, space: ParameterSpace, plan: DirectionPlan, prior: list[torch.Tensor] | None = None):
        self.space, self.plan = space, plan
        self.prior = prior
        self._coef: dict[int, tuple[float, float]] = {}
        if plan.coordinates is None and plan.seeds is None:
            raise ConfigError("full-ZO: a parameter plan needs coordinates or seeds")
        if plan.distribution not in ("gaussian", "sphere", "rademacher"):
            raise ConfigError(f"full-ZO: unknown direction distribution {plan.distribution!r}")

    def _raw(self, j: int) -> Iterator[torch.Tensor]:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(self.plan.seeds[j]) % (2**63))
        for p in self.space.params:
            if self.plan.distribution == "rademacher":
                n = torch.randint(0, 2, p.shape, generator=gen).to(p.dtype).mul_(2).sub_(1)
            else:
                n = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            yield n.to(p.device)

    def _coefficients(self, j: int) -> tuple[float, float]:
        if j not in self._coef:
            need_dot = self.prior is not None
            need_norm = self.plan.distribution == "sphere"
            a = b = 0.0
            if need_dot or need_norm:
                dot = sq = 0.0
                for k, n in enumerate(self._raw(j)):
                    if need_dot:
                        dot += float(torch.sum(n.double() * self.prior[k].double()))
                    sq += float(torch.sum(n.double() ** 2))
                a = dot if need_dot else 0.0
                sq_proj = sq - a * a
                b = 1.0 / np.sqrt(sq_proj) if need_norm and sq_proj > 0 else 1.0
            else:
                b = 1.0
            self._coef[j] = (a, b)
        return self._coef[j]

    def chunks(self, j: int) -> Iterator[tuple[int, torch.Tensor]]:
        """(parameter number, u_j restricted to it), for a dense (random or prior) direction."""
        if self.plan.prior and j == 0:
            assert self.prior is not None
            yield from enumerate(self.prior)
            return
        a, b = self._coefficients(j)
        for k, n in enumerate(self._raw(j)):
            if self.prior is not None and a != 0.0:
                n = n.sub_(self.prior[k], alpha=a)
            if b != 1.0:
                n = n.mul_(b)
            yield k, n

    def add(self, j: int, alpha: float, targets: Sequence[torch.Tensor]) -> None:
        """targets += alpha * u_j."""
        if self.plan.coordinates is not None:
            k, i = self.space.locate(int(self.plan.coordinates[j]))
            targets[k].view(-1)[i] += alpha
            return
        for k, u in self.chunks(j):
            targets[k].add_(u, alpha=alpha)

    def dot(self, j: int, vectors: Sequence[torch.Tensor]) -> tuple[float, float]:
        """(u_j . vectors, |u_j|^2)."""
        if self.plan.coordinates is not None:
            k, i = self.space.locate(int(self.plan.coordinates[j]))
            return float(vectors[k].reshape(-1)[i]), 1.0
        dot = sq = 0.0
        for k, u in self.chunks(j):
            dot += float(torch.sum(u.double() * vectors[k].double()))
            sq += float(torch.sum(u.double() ** 2))
        return dot, sq


# -------------------------------------------------------------------------------------
# evaluating all perturbations of a step
# -------------------------------------------------------------------------------------


class _Perturber:
    """Applies theta + h u_j in place and restores theta (exactly with ``copy``)."""

    def __init__(self, space: ParameterSpace, directions: Directions, restore: str):
        if restore not in RESTORES:
            raise ConfigError(f"full-ZO: restore must be one of {RESTORES}, got {restore!r}")
        self.space, self.dirs, self.restore = space, directions, restore
        self.coordinates = directions.plan.coordinates is not None
        self.backup = None
        if restore == "copy" and not self.coordinates:
            self.backup = [p.detach().clone() for p in space.params]

    def apply(self, j: int, h: float) -> Any:
        params = [p.data for p in self.space.params]
        if self.coordinates:
            k, i = self.space.locate(int(self.dirs.plan.coordinates[j]))
            flat = params[k].view(-1)
            old = flat[i].clone()
            flat[i] = old + h
            return (k, i, old)
        self.dirs.add(j, h, params)
        return (j, h)

    def undo(self, token: Any) -> None:
        params = [p.data for p in self.space.params]
        if self.coordinates:
            k, i, old = token
            params[k].view(-1)[i] = old
        elif self.backup is not None:
            for p, b in zip(params, self.backup):
                p.copy_(b)
        else:
            j, h = token
            self.dirs.add(j, -h, params)


def evaluate_losses(
    loss_fn: LossFn,
    layer: Any,
    perturber: _Perturber,
    evaluations: list[tuple[int, float]],
    batched: bool = True,
) -> dict[str, Any]:
    """L(theta) and L(theta + h u_j) for each (j, h) in ``evaluations``.

    Batched (default): two passes and one SKS call, as in the module docstring. Returns
    losses (n,), base loss and metrics, SKS rows sent, and whether a replay mismatched.
    """
    n = len(evaluations)
    losses = np.empty(n)
    if layer is None:  # no SKS in the loss: plain evaluations
        base, metrics = _value(loss_fn(None))
        for e, (j, h) in enumerate(evaluations):
            token = perturber.apply(j, h)
            try:
                losses[e] = _value(loss_fn(None))[0]
            finally:
                perturber.undo(token)
        return dict(base=base, metrics=metrics, losses=losses, queries=0, sks_calls=0, mismatched=False)

    if not batched:
        counting = CountingLayer(layer)
        base, metrics = _value(loss_fn(counting))
        for e, (j, h) in enumerate(evaluations):
            token = perturber.apply(j, h)
            try:
                losses[e] = _value(loss_fn(counting))[0]
            finally:
                perturber.undo(token)
        return dict(base=base, metrics=metrics, losses=losses, queries=counting.queries,
                    sks_calls=counting.calls, mismatched=False)

    # pass 1: record the SKS rows of every evaluation (slot 0 is theta itself)
    recorders = [CapturingLayer(layer) for _ in range(n + 1)]
    loss_fn(recorders[0])
    for e, (j, h) in enumerate(evaluations):
        token = perturber.apply(j, h)
        try:
            loss_fn(recorders[e + 1])
        finally:
            perturber.undo(token)

    # one SKS call for every recorded row (one per kind of contexts: with or without)
    flat = [(s, c) for s, rec in enumerate(recorders) for c in range(len(rec.calls))]
    outputs: dict[tuple[int, int], np.ndarray] = {}
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
        for key in keys:
            rows = len(recorders[key[0]].calls[key[1]][0])
            outputs[key] = y[start : start + rows]
            start += rows

    # pass 2: the same evaluations with the precomputed outputs
    def replay(slot: int) -> ReplayingLayer:
        rec = recorders[slot]
        return ReplayingLayer(layer, rec.calls, [outputs[(slot, c)] for c in range(len(rec.calls))])

    mismatched = False
    r0 = replay(0)
    base, metrics = _value(loss_fn(r0))
    queries += r0.extra_queries
    mismatched |= r0.mismatches > 0
    for e, (j, h) in enumerate(evaluations):
        token = perturber.apply(j, h)
        try:
            r = replay(e + 1)
            losses[e] = _value(loss_fn(r))[0]
        finally:
            perturber.undo(token)
        queries += r.extra_queries
        calls += r.mismatches
        mismatched |= r.mismatches > 0
    return dict(base=base, metrics=metrics, losses=losses, queries=queries, sks_calls=calls, mismatched=mismatched)


# -------------------------------------------------------------------------------------
# the public function
# -------------------------------------------------------------------------------------


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
    perturber = _Perturber(space, dirs, restore)
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
    queries = evaluations = 0

    with torch.no_grad():
        if getattr(estimator, "needs_scores", None) is not None and estimator.needs_scores(space.size):
            probe = zo_grasp_scores(model, loss_fn, layer, estimator, rng, restore=restore, batched=batched)
            queries += probe["queries"]
            evaluations += probe["evaluations"]
        plan = estimator.parameter_plan(space.size, rng)
        prior = _prior_state(estimator, space, plan)
        if plan.prior and prior is None:  # a zero previous estimate: plain random directions
            plan = DirectionPlan(plan.steps[1:], plan.weights[1:], seeds=plan.seeds[1:], distribution=plan.distribution)
        out = _gradient(space, plan, prior, loss_fn, layer, restore, batched)

    grads = out["grads"]
    for p, g in zip(space.params, grads):
        p.grad = g
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
            stacklevel=2,
        )
    if out["nan_directions"]:
        warnings.warn(
            f"full-ZO: {out['nan_directions']} direction(s) gave a NaN/inf loss and were skipped",
            RuntimeWarning,
            stacklevel=2,
        )
    queries += out["queries"]
    evaluations += 1 + plan.n_evaluations
    result = dict(
        loss=out["base"],
        metrics=out["metrics"],
        queries=queries,
        evaluations=evaluations,
        sks_calls=out["sks_calls"],
        nan_directions=out["nan_directions"],
        batched=batched,
    )
    result.update(_spread(plan, out["directions"], out["coef"], grads))
    estimator.last_stats = {k: result[k] for k in ("relative_spread", "estimated_cosine", "directions") if k in result}
    return result


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
    from .estimators.cge import CoordinateEstimator
    from .estimators.rge import RandomEstimator

    space = ParameterSpace([p for p in model.parameters() if p.requires_grad])
    if sparse.probe == "cge":
        probe_est: Estimator = CoordinateEstimator(mu=sparse.mu, difference="central")
    else:
        probe_est = RandomEstimator(q=sparse.probe_q, mu=sparse.mu, difference="central")
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
        delta = 10.0 * sparse.mu
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
