"""Gradient-quality diagnostics: how good are the ZO estimates of *this* SKS, and why not?

A user who sees a near-zero cosine between zoo's estimate and the true gradient (DeepZero
issue #3) cannot tell whether the cause is the step mu (too small: the SKS's own noise or
rounding dominates the difference; too large: curvature does), too few directions for the
dimension (RGE's cosine is only ~sqrt(q / (q + d)) even with exact arithmetic), a gradient
that is itself ~0, or a bug. :func:`diagnose` separates these at a few realistic points:

1. **mu sweep, per kind of input.** Inputs are grouped by unit and range (a bond length in Å
   on [0.75, 1.4] and an angle in degrees on [70, 180] are two groups; 96 atomic positions
   with the same bounds are one). In each group: directional derivatives along a few random
   unit directions within the group (its own axis for a group of one), by central and
   forward differences, at mu = h0, h0/sqrt(10), ... with h0 a tenth of the group's bound
   width (or of its typical size where unbounded), in its own units, so no probe is ever
   wider than an input's range. Successive central values agree better and better while
   truncation (~mu^2) dominates, then worse once noise (~eps/mu) does: where they agree best
   is the most accurate mu, and if that best agreement is still poor the SKS is *noisy*
   (non-smooth, iterative, single precision) - with the noise level eps it implies.
2. **Reference.** Central CGE with each input at its group's best mu.
3. **Estimators vs reference.** Cosine (mean, spread over repeats and points) and relative
   error of each estimator at the recommended mu, with its queries per sample.
4. **Recommendations.** mu for forward and central differences (per group: the largest with
   < 0.1 % error, else the most accurate) — one number where every input shares it, else
   one per input, as the estimators' ``mu`` option takes it — q for a target cosine
   (measured, and the sqrt(q / (q + d)) law), or CGE where q would reach d anyway, and
   plain-language explanations of what limits the cosine.

``zoo diagnose --sks NAME`` runs it at the default task's ``sample_inputs``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError, SKSError
from .estimators.base import Estimator, one_sided_or_central

#: the relative error a difference quotient must beat for a mu to count as accurate
GOOD = 1e-3


@dataclass
class Diagnosis:
    sks: str
    d: int
    points: int
    units: list[str]
    upstream: str
    target_cosine: float
    input_names: list[str] = field(default_factory=list)
    #: rows of the mu sweep; each names the inputs of its group
    sweep: list[dict[str, Any]] = field(default_factory=list)
    #: the groups the sweep ran in: {"inputs": [...], "unit": ..., "width": ...}
    groups: list[dict[str, Any]] = field(default_factory=list)
    #: one number, or one per input where the groups differ (as the estimators' mu)
    mu_reference: Any = float("nan")
    reference_uncertainty: float = float("nan")
    noisy: bool = False
    noise_level: float = float("nan")
    recommended_mu: dict[str, Any] = field(default_factory=dict)
    gradient_norm: float = float("nan")
    #: the reference gradient (central CGE at mu_reference) at each point, (points, d)
    reference_gradient: list[list[float]] = field(default_factory=list)
    estimators: list[dict[str, Any]] = field(default_factory=list)
    recommendation: dict[str, Any] = field(default_factory=dict)
    explanations: list[str] = field(default_factory=list)
    queries: int = 0

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    def text(self) -> str:
        lines = [
            f"zoo diagnose: {self.sks}  (d = {self.d} inputs, {self.points} points, upstream {self.upstream}, "
            f"{self.queries} SKS queries)",
        ]
        for group in self.groups:
            unit = group["unit"] or "input units"
            lines += [
                "",
                f"mu sweep for {_names(group['inputs'])} (directional derivatives; mu in {unit}):",
                f"  {'mu':>10}  {'central change':>14}  {'forward err':>11}  {'central err':>11}",
            ]
            for row in self.sweep:
                if row["inputs"] == group["inputs"]:
                    lines.append(
                        f"  {row['mu']:>10.3g}  {_num(row['central_change'], '.2e', 14)}  "
                        f"{_num(row['forward_error'], '.2e', 11)}  {_num(row['central_error'], '.2e', 11)}"
                    )
        lines += [
            "",
            f"reference: central CGE at mu = {self.show_mu(self.mu_reference)} (relative uncertainty "
            f"~{self.reference_uncertainty:.1e}); |gradient| = {self.gradient_norm:.4g}",
            f"SKS noise: {'NOISY' if self.noisy else 'smooth'}"
            + (f" (noise ~{self.noise_level:.2e} in the output)" if math.isfinite(self.noise_level) else ""),
            "recommended mu (largest with < 0.1% error): "
            + ", ".join(f"{k} {self.show_mu(v)}" for k, v in self.recommended_mu.items()),
            "",
            f"estimators at the recommended mu (cosine to the reference; target {self.target_cosine}):",
        ]
        width = max([34, *(len(e["label"]) for e in self.estimators)])
        lines.append(f"  {'estimator':<{width}} {'queries':>7}  {'cosine':>7}  {'+/-':>5}  {'min':>6}  {'rel err':>7}")
        for e in self.estimators:
            lines.append(
                f"  {e['label']:<{width}} {e['queries_per_sample']:>7d}  {e['cosine_mean']:>7.3f}  "
                f"{e['cosine_std']:>5.2f}  {e['cosine_min']:>6.3f}  {e['relative_error']:>7.2f}"
            )
        if self.recommendation:
            lines += ["", "recommendation: " + self.recommendation.get("summary", "")]
        if self.explanations:
            lines += ["", "why:"] + [f"  - {x}" for x in self.explanations]
        return "\n".join(lines)

    def show_mu(self, mu: Any) -> str:
        """A step as text: '1e-3 Å', or per input 'a 1e-3 Å, angle 0.1 deg'."""
        if isinstance(mu, (list, tuple, np.ndarray)):
            names = [n for g in self.groups for n in g["inputs"]]
            order = {n: i for i, n in enumerate(self.input_names)}
            return ", ".join(f"{n} {float(mu[order[n]]):.3g}{(' ' + self.units[order[n]]) if self.units[order[n]] else ''}"
                             for n in names)
        unit = _unit(self.units)
        return f"{float(mu):.3g}{(' ' + unit) if unit else ''}"


def _queries(n: int) -> str:
    return f"{n} query" if n == 1 else f"{n} queries"


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{len(names)} inputs ({names[0]} ... {names[-1]})" if len(names) > 3 \
        else ", ".join(names)


def _num(value: Any, fmt: str, width: int) -> str:
    return f"{value:>{width}{fmt}}" if isinstance(value, float) and math.isfinite(value) else f"{'-':>{width}}"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _unit(units: Sequence[str]) -> str:
    u = sorted(set(units))
    return u[0] if len(u) == 1 else ""


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


class _Counter:
    """f(rows, contexts) -> s = f . v through the executor, counting the queries."""

    def __init__(self, sks: Any, executor: Any, v: np.ndarray):
        self.sks, self.executor, self.v = sks, executor, v
        self.queries = 0

    def __call__(self, rows: np.ndarray, contexts: Sequence[Any] | None) -> np.ndarray:
        self.queries += len(rows)
        y = np.asarray(self.executor.evaluate(self.sks, rows, contexts), dtype=np.float64)
        return y.reshape(len(rows), -1) @ self.v


def _repeat_ctx(contexts: Sequence[Any] | None, m: int) -> list[Any] | None:
    return None if contexts is None else [c for c in contexts for _ in range(m)]


def diagnose(
    sks: Any,
    x: Any,
    contexts: Sequence[Any] | None = None,
    *,
    executor: Any = "serial",
    output: str | None = None,
    target_cosine: float = 0.9,
    estimators: Sequence[tuple[str, dict[str, Any]]] | None = None,
    repeats: int = 4,
    seed: int = 0,
    sweep_directions: int = 3,
    levels: int = 13,
) -> Diagnosis:
    """Diagnose ZO gradient quality of ``sks`` at rows ``x`` (n, d_in) with ``contexts``.

    ``output`` picks one output column as f (default: the only one, or a fixed random
    combination v . f of several). ``estimators`` are extra (name, options) pairs to compare
    (mu is set to the recommended one unless given). Costs roughly
    n * (1 + 3 * levels * sweep_directions + 2 d) queries plus the estimators'.

    The four parts of the module docstring, in order: :func:`_sweep`, :func:`_reference`,
    :func:`_compare`, :func:`_recommend`.
    """
    if not 0 < target_cosine < 1:
        raise ConfigError(f"diagnose: target cosine must be in (0, 1), got {target_cosine}")
    at = _Points.make(sks, x, contexts, executor, output, seed)
    report = Diagnosis(sks=sks.name, d=at.d, points=at.n, units=list(sks.input_spec.units),
                       upstream=at.upstream, target_cosine=target_cosine,
                       input_names=list(sks.input_spec.names))
    sweeps = [_sweep(at, idx, sweep_directions, levels) for idx in _groups(at)]
    _summarize_sweeps(report, sweeps)
    g_ref, fwd_err = _reference(at, sweeps, report)
    qs = _compare(at, g_ref, report, estimators or (), repeats)
    _recommend(report, sweeps, fwd_err, qs)
    report.queries = at.f.queries
    return report


@dataclass
class _Points:
    """Where the diagnosis looks: rows x (inside the bounds), their contexts, f = v . SKS
    through the executor (counting queries), and f at each row."""

    x: np.ndarray
    contexts: Sequence[Any] | None
    lower: np.ndarray
    upper: np.ndarray
    f: _Counter
    s0: np.ndarray
    upstream: str
    rng: np.random.Generator
    units: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def d(self) -> int:
        return self.x.shape[1]

    @classmethod
    def make(cls, sks: Any, x: Any, contexts: Sequence[Any] | None, executor: Any, output: str | None,
             seed: int) -> _Points:
        from . import registry

        exe = registry.executor(executor) if isinstance(executor, str) else executor
        spec = sks.input_spec
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        n, d = x.shape
        if d != len(spec):
            raise ConfigError(f"diagnose: points have {d} columns, {sks.name} takes {len(spec)}")
        if contexts is not None and len(contexts) != n:
            raise ConfigError(f"diagnose: {len(contexts)} contexts for {n} points")
        rng = np.random.default_rng(seed)
        v, upstream = _upstream(sks, output, rng)
        f = _Counter(sks, exe, v)
        x = spec.clip(x)
        s0 = f(x, contexts)
        if not np.all(np.isfinite(s0)):
            raise SKSError(f"diagnose: {sks.name} returned NaN/inf at {int((~np.isfinite(s0)).sum())} of the points")
        return cls(x, contexts, np.asarray(spec.lower, float), np.asarray(spec.upper, float), f, s0, upstream, rng,
                   tuple(spec.units))

    def estimate(self, est: Estimator) -> np.ndarray:
        """One estimate of grad f at every row by ``est``."""
        plan = est.plan(self.x, self.lower, self.upper, self.rng)
        B, m, d = plan.points.shape
        s = self.f(plan.points.reshape(B * m, d), _repeat_ctx(self.contexts, m)).reshape(B, m, 1)
        return est.combine(plan, self.s0[:, None], s, np.ones((B, 1)))


def _upstream(sks: Any, output: str | None, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """v (f = v . SKS outputs) and what it is, in words."""
    names = list(sks.output_spec.names)
    if output is not None:
        if output not in names:
            raise ConfigError(f"diagnose: unknown output {output!r}; {sks.name} outputs {', '.join(names)}")
        return np.eye(len(names))[names.index(output)], output
    if len(names) == 1:
        return np.ones(1), names[0]
    v = rng.standard_normal(len(names))
    return v / np.linalg.norm(v), "random combination of " + ", ".join(names)


@dataclass
class _Sweep:
    """One group's sweep: directional derivatives at each mu, [level, point, direction]."""

    idx: np.ndarray
    mus: np.ndarray
    u: np.ndarray
    central: np.ndarray
    forward: np.ndarray
    #: median relative change of the central values between neighbouring levels
    change: np.ndarray
    #: the level pair that agrees best (the reference mu is mus[best + 1])
    best: int
    h0: float
    noise: float
    noisy: bool

    @property
    def mu_reference(self) -> float:
        return float(self.mus[self.best + 1])


def _groups(at: _Points) -> list[np.ndarray]:
    """Input indices grouped by unit and bound width (to 3 digits; unbounded inputs of one
    unit form one group, sized by their typical magnitude), in input order."""
    bounded = np.isfinite(at.upper - at.lower)
    width = _width(at)
    keys: dict[tuple[str, float | str], list[int]] = {}
    for j in range(at.d):
        size: float | str = float(f"{width[j]:.3g}") if bounded[j] else "unbounded"
        keys.setdefault((at.units[j], size), []).append(j)
    return [np.array(v) for v in keys.values()]


def _width(at: _Points) -> np.ndarray:
    """Each input's range: its bound width, or its typical size where unbounded."""
    width = at.upper - at.lower
    return np.where(np.isfinite(width), width, np.maximum(1.0, np.abs(at.x).max(axis=0)))


def _sweep(at: _Points, idx: np.ndarray, sweep_directions: int, levels: int) -> _Sweep:
    """1. One group's mu sweep: where difference quotients converge, how noisy the SKS is."""
    n, d, x = at.n, at.d, at.x
    h0 = 0.1 * float(np.median(_width(at)[idx]))
    mus = h0 * 10.0 ** (-np.arange(levels) / 2.0)
    k_dirs = min(len(idx), sweep_directions)
    u = np.zeros((n, k_dirs, d))
    if len(idx) == 1:
        u[:, :, idx[0]] = 1.0
    else:
        w = at.rng.standard_normal((n, k_dirs, len(idx)))
        u[:, :, idx] = w / np.linalg.norm(w, axis=-1, keepdims=True)
    plans = [one_sided_or_central(x, u, mu, at.lower, at.upper, central, 1.0)
             for mu in mus for central in (True, False)]
    pts = np.concatenate([p.points for p in plans], axis=1)  # (n, M, d)
    vals = at.f(pts.reshape(-1, d), _repeat_ctx(at.contexts, pts.shape[1])).reshape(n, -1)
    deriv = np.empty((2, levels, n, k_dirs))  # [central|forward, level, point, direction]
    start = 0
    for i, p in enumerate(plans):
        m = p.points.shape[1]
        ds = vals[:, start:start + m] - at.s0[:, None]
        coef = np.einsum("bmd,bmd->bm", p.weights, _dir_of(p, u))
        deriv[i % 2, i // 2] = (ds * coef).reshape(n, m // k_dirs, k_dirs).sum(axis=1)
        start += m
    central = deriv[0]
    typical = np.median(np.abs(central), axis=0) + 1e-300  # (n, k_dirs)
    change = np.abs(np.diff(central, axis=0)) / typical  # (levels - 1, n, k)
    change_med = np.nanmedian(change.reshape(levels - 1, -1), axis=1)
    change_med = np.where(np.isfinite(change_med), change_med, np.inf)
    best = int(np.argmin(change_med))
    # noise: past the best level the change grows ~ eps/mu; eps from the smallest mus
    tail = change[best + 1:] * typical * mus[best + 2:, None, None] if best + 2 < levels else None
    noise = float(np.nanmedian(tail)) if tail is not None and tail.size else float("nan")
    # noisy: the quotients never agree to 1e-4, or the SKS's noise, relative to a difference
    # over the largest step h0, is large enough to cost a forward difference at a
    # thousandth of h0 more than 1e-5 of accuracy (a code with 1e-10 relative noise, e.g. a
    # neighbour list's rounding, is still smooth for every practical step)
    rel_noise = noise / (float(np.median(typical)) * h0) if math.isfinite(noise) else 0.0
    noisy = bool(change_med[best] > 1e-4 or rel_noise > 1e-8)
    return _Sweep(idx, mus, u, central, deriv[1], change_med, best, h0, noise, noisy)


def _summarize_sweeps(report: Diagnosis, sweeps: list[_Sweep]) -> None:
    """The groups, the reference mu (one number, or one per input), the noise verdict."""
    names = report.input_names
    for sw in sweeps:
        unit = report.units[int(sw.idx[0])]
        report.groups.append({"inputs": [names[j] for j in sw.idx], "unit": unit, "h0": sw.h0})
    report.mu_reference = _per_input(report.d, sweeps, [sw.mu_reference for sw in sweeps])
    report.reference_uncertainty = float(max(sw.change[sw.best] for sw in sweeps))
    noises = [sw.noise for sw in sweeps if math.isfinite(sw.noise)]
    report.noise_level = float(max(noises)) if noises else float("nan")
    report.noisy = any(sw.noisy for sw in sweeps)


def _per_input(d: int, sweeps: list[_Sweep], values: Sequence[float]) -> Any:
    """Per-group values as the estimators take mu: one number if they agree, else per input."""
    values = [float(f"{v:.3g}") for v in values]  # 3 digits: a step, not a measurement
    if len(set(values)) == 1:
        return values[0]
    out = np.empty(d)
    for sw, value in zip(sweeps, values):
        out[sw.idx] = value
    return out.tolist()


def _reference(at: _Points, sweeps: list[_Sweep], report: Diagnosis) -> tuple[np.ndarray, list[np.ndarray]]:
    """2. The reference gradient (central CGE at each group's best mu), each level's error
    against it, and the recommended mu; returns the reference and each group's forward errors."""
    from . import registry

    ref_est = registry.estimator("cge", mu=report.mu_reference, difference="central")
    g_ref = at.estimate(ref_est)
    report.gradient_norm = float(np.median(np.linalg.norm(g_ref, axis=1)))
    report.reference_gradient = g_ref.tolist()
    picks: dict[str, list[float]] = {"forward": [], "central": []}
    fwd_errs = []
    for sw, group in zip(sweeps, report.groups):
        d_ref = np.einsum("nkd,nd->nk", sw.u, g_ref)
        scale = np.median(np.abs(d_ref)) + 1e-300
        levels = len(sw.mus)
        fwd_err = np.nanmedian(np.abs(sw.forward - d_ref).reshape(levels, -1), axis=1) / scale
        cen_err = np.nanmedian(np.abs(sw.central - d_ref).reshape(levels, -1), axis=1) / scale
        for i, mu in enumerate(sw.mus):
            report.sweep.append(dict(
                inputs=group["inputs"],
                mu=float(mu),
                central_change=float(sw.change[i]) if i < levels - 1 else float("nan"),
                forward_error=float(fwd_err[i]),
                central_error=float(cen_err[i]),
            ))
        picks["forward"].append(_pick(sw.mus, fwd_err))
        picks["central"].append(_pick(sw.mus, cen_err))
        fwd_errs.append(fwd_err)
    report.recommended_mu = {k: _per_input(at.d, sweeps, v) for k, v in picks.items()}
    if len(sweeps) > 1:
        # RGE mixes every input in each query: steps in one ratio to each group's range keep
        # the directions balanced (the largest accurate step of a group the output is linear
        # in would otherwise swamp the others); the ratio accurate in every group
        for kind in ("forward", "central"):
            ratio = min(p / sw.h0 for p, sw in zip(picks[kind], sweeps))
            report.recommended_mu[f"random_{kind}"] = _per_input(at.d, sweeps, [ratio * sw.h0 for sw in sweeps])
    return g_ref, fwd_errs


def _pick(mus: np.ndarray, err: np.ndarray) -> float:
    ok = np.flatnonzero(err < GOOD)
    return float(mus[ok[0]] if ok.size else mus[int(np.nanargmin(err))])


def _compare(at: _Points, g_ref: np.ndarray, report: Diagnosis,
             extra: Sequence[tuple[str, dict[str, Any]]], repeats: int) -> list[int]:
    """3. Each estimator against the reference, at the recommended mu; returns the q tried."""
    from . import registry

    d, mu_f, mu_c = at.d, report.recommended_mu["forward"], report.recommended_mu["central"]
    rnd_f = report.recommended_mu.get("random_forward", mu_f)
    rnd_c = report.recommended_mu.get("random_central", mu_c)
    qs = [q for q in (1, 4, 16, 64) if q <= max(4, 2 * d)]
    todo: list[tuple[str, dict[str, Any]]] = [
        ("cge", {"difference": "forward", "mu": mu_f}),
        ("cge", {"difference": "central", "mu": mu_c}),
        *[("rge", {"q": q, "mu": rnd_f}) for q in qs],
    ]
    if d >= 4:
        todo.append(("rge", {"q": min(d, 16), "mu": rnd_c, "directions": "sphere", "orthogonal": True,
                             "difference": "central"}))
    todo += [(name, {"mu": mu_f if name == "cge" else rnd_f, **options}) for name, options in extra]
    for name, options in todo:
        est = registry.estimator(name, **options)
        deterministic = name == "cge" and options.get("coordinates") is None
        cos, err = [], []
        for _ in range(1 if deterministic else repeats):
            for gi, ri in zip(at.estimate(est), g_ref):
                cos.append(_cos(gi, ri))
                err.append(float(np.linalg.norm(gi - ri) / max(np.linalg.norm(ri), 1e-300)))
        label = name + "(" + ", ".join(f"{k}={_fmt(v)}" for k, v in options.items()) + ")"
        report.estimators.append(dict(
            label=label, name=name, options=_jsonable(options),
            queries_per_sample=int(est.queries_per_sample(d)),
            cosine_mean=float(np.mean(cos)), cosine_std=float(np.std(cos)), cosine_min=float(np.min(cos)),
            relative_error=float(np.median(err)),
        ))
    return qs


def _recommend(report: Diagnosis, sweeps: list[_Sweep], fwd_errs: list[np.ndarray], qs: list[int]) -> None:
    """4. The recommendation (cge, or rge with the q a target cosine needs) and why."""
    c, d = report.target_cosine, report.d
    mu_f = report.recommended_mu["forward"]
    rnd_f = report.recommended_mu.get("random_forward", mu_f)
    rnd_c = report.recommended_mu.get("random_central", report.recommended_mu["central"])
    q_theory = max(1, math.ceil(d * c * c / (1 - c * c)))
    rge_rows = [e for e in report.estimators if e["name"] == "rge" and not e["options"].get("orthogonal")]
    q_measured = None
    if rge_rows:
        top = max(rge_rows, key=lambda e: e["options"]["q"])
        cm = min(max(top["cosine_mean"], 1e-3), 0.999)
        d_eff = top["options"]["q"] * (1 / cm**2 - 1)
        q_measured = max(1, math.ceil(d_eff * c * c / (1 - c * c)))
    q_need = q_measured or q_theory
    cge_f = report.estimators[0]
    if q_need >= d or d <= 8:
        summary = (f"estimator cge, difference forward, mu {report.show_mu(mu_f)} ({_queries(d)} per sample, cosine "
                   f"{cge_f['cosine_mean']:.3f}); RGE would need q ~ {q_need} >= d for cosine {c}")
        report.recommendation = {"estimator": "cge", "difference": "forward", "mu": mu_f, "q": None,
                                 "summary": summary}
    else:
        summary = (f"estimator rge, q {q_need} (theory sqrt(q/(q+d)): {q_theory}), mu {report.show_mu(rnd_f)} "
                   f"forward / {report.show_mu(rnd_c)} central, for cosine {c}; cge (forward) costs {_queries(d)}")
        report.recommendation = {"estimator": "rge", "q": q_need, "q_theory": q_theory, "mu": rnd_f,
                                 "summary": summary}
    report.explanations = _explain(report, sweeps, fwd_errs, qs, q_theory)


def _dir_of(plan: Any, u: np.ndarray) -> np.ndarray:
    """The unit direction of each planned query (weights are coefficient * direction)."""
    m = plan.points.shape[1]
    return np.tile(u, (1, m // u.shape[1], 1))


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _explain(r: Diagnosis, sweeps: list[_Sweep], fwd_errs: list[np.ndarray], qs: list[int],
             q_theory: int) -> list[str]:
    out: list[str] = []
    d = r.d
    if r.reference_uncertainty > 0.1:
        out.append(
            f"The gradient is not resolvable here: central differences never agree to better than "
            f"{r.reference_uncertainty:.0%} between neighbouring mu. Either the gradient at these points is "
            f"~0 beside the SKS's noise, or the SKS is not differentiable (steps, discrete outputs). "
            f"Cosines below measure noise, not the estimators."
        )
    elif r.noisy:
        out.append(
            f"The SKS is noisy: difference quotients stop converging below mu ~ {r.show_mu(r.mu_reference)} "
            f"(best agreement {r.reference_uncertainty:.1e}; noise ~{r.noise_level:.1e} in the output). "
            f"A smaller mu makes estimates worse, not better - keep mu >= {r.show_mu(r.recommended_mu['forward'])}."
        )
    else:
        out.append(
            f"The SKS is smooth to ~{r.reference_uncertainty:.0e}: difference quotients converge down to "
            f"mu ~ {r.show_mu(r.mu_reference)}."
        )
    if len(sweeps) > 1:
        out.append(
            f"The inputs differ in units or range, so each group got a step of its own: give the estimator "
            f"mu = {r.recommended_mu['forward']} (one per input), or relative_mu = true with a fraction of each "
            f"input's bound width."
        )
    default_mu = 1e-3
    for sw, fwd_err, group in zip(sweeps, fwd_errs, r.groups):
        i = int(np.argmin(np.abs(np.log(sw.mus) - math.log(default_mu))))
        if abs(math.log10(sw.mus[i] / default_mu)) <= 0.5 and fwd_err[i] > GOOD:
            why = "noise dominates there" if sw.mus[i] < sw.mu_reference else "curvature (truncation) dominates there"
            unit = f" {group['unit']}" if group["unit"] else ""
            out.append(
                f"For {_names(group['inputs'])}, the default mu = 1e-3{unit} gives a {100 * fwd_err[i]:.2g} % error per "
                f"forward difference ({why}); use mu = {_pick(sw.mus, fwd_err):.2g}{unit} there."
            )
    if d > 1:
        for q in reversed(qs):
            theory = math.sqrt(q / (q + d))
            row = next((e for e in r.estimators if e["name"] == "rge" and e["options"].get("q") == q
                        and not e["options"].get("orthogonal")), None)
            if row is not None and theory < r.target_cosine:
                out.append(
                    f"rge with q = {q} in d = {d}: expected cosine sqrt(q/(q+d)) = {theory:.2f} even with exact "
                    f"arithmetic (measured {row['cosine_mean']:.2f}) - that is variance, not a bug; "
                    f"a cosine of {r.target_cosine} needs q ~ {q_theory}."
                )
                break
    low = [e for e in r.estimators if e["name"] == "cge" and e["cosine_mean"] < 0.99]
    if low and r.reference_uncertainty <= 0.1:
        out.append(
            f"Even CGE reaches only cosine {low[0]['cosine_mean']:.3f} at its recommended mu: the SKS's "
            f"noise or non-smoothness limits every finite-difference estimator at these points."
        )
    return out


def parse_estimator_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME`` or ``NAME:K=V,K=V`` (values read as TOML, as ``--estimator-option`` does)."""
    from .config import parse_option

    name, _, rest = text.partition(":")
    options = dict(parse_option(item) for item in rest.split(",") if item.strip()) if rest else {}
    if not name:
        raise ConfigError(f"--estimator {text!r}: give NAME or NAME:K=V,...")
    return name.strip(), options


def run_command(
    sks_name: str,
    task_name: str | None,
    sks_opts: Sequence[str] = (),
    task_opts: Sequence[str] = (),
    points: int = 4,
    output: str | None = None,
    target_cosine: float = 0.9,
    extra: Sequence[str] = (),
    seed: int = 0,
) -> Diagnosis:
    """What ``zoo diagnose`` does: build the SKS and task as ``zoo run`` would (the same
    resolution of SKS <-> default task, and option merging), take the task's sample inputs,
    diagnose."""
    from .config import parse_option
    from .train import build_sks, prepare, setup_task

    config, task = prepare({
        "sks": sks_name, "task": task_name, "seed": seed,
        "sks_options": dict(parse_option(o) for o in sks_opts),
        "task_options": dict(parse_option(o) for o in task_opts),
    })
    sks = build_sks(config, task)
    setup_task(task, sks, seed)
    try:
        x, contexts = task.sample_inputs(points, seed)
    except NotImplementedError as exc:
        raise ConfigError(f"{exc}; give another --task that provides sample_inputs") from None
    specs = [parse_estimator_spec(e) for e in extra]
    return diagnose(sks, x, contexts, output=output, target_cosine=target_cosine, estimators=specs, seed=seed)
