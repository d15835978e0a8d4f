"""Gradient-quality diagnostics: how good are the ZO estimates of *this* SKS, and why not?

A user who sees a near-zero cosine between zoo's estimate and the true gradient (DeepZero
issue #3) cannot tell whether the cause is the step mu (too small: the SKS's own noise or
rounding dominates the difference; too large: curvature does), too few directions for the
dimension (RGE's cosine is only ~sqrt(q / (q + d)) even with exact arithmetic), a gradient
that is itself ~0, or a bug. :func:`diagnose` separates these at a few realistic points:

1. **mu sweep.** Directional derivatives along a few random unit directions, by central and
   forward differences, at mu = h0, h0/sqrt(10), ... (h0 = a tenth of the input's typical
   size, in the input's own units). Successive central values agree better and better while
   truncation (~mu^2) dominates, then worse once noise (~eps/mu) does: where they agree best
   is the most accurate mu, and if that best agreement is still poor the SKS is *noisy*
   (non-smooth, iterative, single precision) - with the noise level eps it implies.
2. **Reference.** Central CGE at that mu: the high-accuracy gradient.
3. **Estimators vs reference.** Cosine (mean, spread over repeats and points) and relative
   error of each estimator at the recommended mu, with its queries per sample.
4. **Recommendations.** mu for forward and central differences (the largest with < 0.1 %
   error, else the most accurate), q for a target cosine (measured, and the
   sqrt(q / (q + d)) law), or CGE where q would reach d anyway - and plain-language
   explanations of what limits the cosine.

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
    sweep: list[dict[str, float]] = field(default_factory=list)
    mu_reference: float = float("nan")
    reference_uncertainty: float = float("nan")
    noisy: bool = False
    noise_level: float = float("nan")
    recommended_mu: dict[str, float] = field(default_factory=dict)
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
        unit = _unit(self.units)
        lines = [
            f"zoo diagnose: {self.sks}  (d = {self.d} inputs, {self.points} points, upstream {self.upstream}, "
            f"{self.queries} SKS queries)",
            "",
            f"mu sweep (directional derivatives; mu in {unit or 'input units'}):",
            f"  {'mu':>10}  {'central change':>14}  {'forward err':>11}  {'central err':>11}",
        ]
        for row in self.sweep:
            lines.append(
                f"  {row['mu']:>10.3g}  {row['central_change']:>14.2e}  {row['forward_error']:>11.2e}  "
                f"{row['central_error']:>11.2e}"
            )
        lines += [
            "",
            f"reference: central CGE at mu = {self.mu_reference:.3g} {unit} (relative uncertainty "
            f"~{self.reference_uncertainty:.1e}); |gradient| = {self.gradient_norm:.4g}",
            f"SKS noise: {'NOISY' if self.noisy else 'smooth'}"
            + (f" (noise ~{self.noise_level:.2e} in the output)" if math.isfinite(self.noise_level) else ""),
            "recommended mu (largest with < 0.1% error): "
            + ", ".join(f"{k} {v:.3g} {unit}" for k, v in self.recommended_mu.items()),
            "",
            f"estimators at the recommended mu (cosine to the reference; target {self.target_cosine}):",
            f"  {'estimator':<34} {'queries':>7}  {'cosine':>7}  {'+/-':>5}  {'min':>6}  {'rel err':>7}",
        ]
        for e in self.estimators:
            lines.append(
                f"  {e['label']:<34} {e['queries_per_sample']:>7d}  {e['cosine_mean']:>7.3f}  "
                f"{e['cosine_std']:>5.2f}  {e['cosine_min']:>6.3f}  {e['relative_error']:>7.2f}"
            )
        if self.recommendation:
            lines += ["", "recommendation: " + self.recommendation.get("summary", "")]
        if self.explanations:
            lines += ["", "why:"] + [f"  - {x}" for x in self.explanations]
        return "\n".join(lines)


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
                       upstream=at.upstream, target_cosine=target_cosine)
    sweep = _sweep(at, report, sweep_directions, levels)
    g_ref, fwd_err = _reference(at, sweep, report)
    qs = _compare(at, g_ref, report, estimators or (), repeats)
    _recommend(report, sweep, fwd_err, qs)
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
        return cls(x, contexts, np.asarray(spec.lower, float), np.asarray(spec.upper, float), f, s0, upstream, rng)

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
    """Directional derivatives at each mu: [level, point, direction], central and forward."""

    mus: np.ndarray
    u: np.ndarray
    central: np.ndarray
    forward: np.ndarray
    #: median relative change of the central values between neighbouring levels
    change: np.ndarray
    #: the level pair that agrees best (the reference mu is mus[best + 1])
    best: int


def _sweep(at: _Points, report: Diagnosis, sweep_directions: int, levels: int) -> _Sweep:
    """1. The mu sweep: where difference quotients converge, and how noisy the SKS is."""
    n, d, x = at.n, at.d, at.x
    width = np.where(np.isfinite(at.upper - at.lower), at.upper - at.lower, np.maximum(1.0, np.abs(x).max(axis=0)))
    h0 = 0.1 * float(np.median(width))
    mus = h0 * 10.0 ** (-np.arange(levels) / 2.0)
    k_dirs = min(d, sweep_directions)
    if d == 1:
        u = np.ones((n, 1, 1))
    else:
        u = at.rng.standard_normal((n, k_dirs, d))
        u /= np.linalg.norm(u, axis=-1, keepdims=True)
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
    report.mu_reference = float(mus[best + 1])
    report.reference_uncertainty = float(change_med[best])
    # noise: past the best level the change grows ~ eps/mu; eps from the smallest mus
    tail = change[best + 1:] * typical * mus[best + 2:, None, None] if best + 2 < levels else None
    noise = float(np.nanmedian(tail)) if tail is not None and tail.size else float("nan")
    report.noise_level = noise
    # noisy: the SKS's noise, relative to a difference over the largest step h0, is far above
    # what double-precision rounding of a smooth code gives (~1e-15), or the quotients never
    # agree to 1e-4 at all
    rel_noise = noise / (float(np.median(typical)) * h0) if math.isfinite(noise) else 0.0
    report.noisy = bool(change_med[best] > 1e-4 or rel_noise > 1e-10)
    return _Sweep(mus, u, central, deriv[1], change_med, best)


def _reference(at: _Points, sweep: _Sweep, report: Diagnosis) -> tuple[np.ndarray, np.ndarray]:
    """2. The reference gradient (central CGE at the best mu), each level's error against it,
    and the recommended mu; returns the reference and the forward errors."""
    from . import registry

    ref_est = registry.estimator("cge", mu=report.mu_reference, difference="central")
    g_ref = at.estimate(ref_est)
    report.gradient_norm = float(np.median(np.linalg.norm(g_ref, axis=1)))
    report.reference_gradient = g_ref.tolist()
    d_ref = np.einsum("nkd,nd->nk", sweep.u, g_ref)
    scale = np.median(np.abs(d_ref)) + 1e-300
    levels = len(sweep.mus)
    fwd_err = np.nanmedian(np.abs(sweep.forward - d_ref).reshape(levels, -1), axis=1) / scale
    cen_err = np.nanmedian(np.abs(sweep.central - d_ref).reshape(levels, -1), axis=1) / scale
    for i, mu in enumerate(sweep.mus):
        report.sweep.append(dict(
            mu=float(mu),
            central_change=float(sweep.change[i]) if i < levels - 1 else float("nan"),
            forward_error=float(fwd_err[i]),
            central_error=float(cen_err[i]),
        ))

    def pick(err: np.ndarray) -> float:
        ok = np.flatnonzero(err < GOOD)
        return float(sweep.mus[ok[0]] if ok.size else sweep.mus[int(np.nanargmin(err))])

    report.recommended_mu = {"forward": pick(fwd_err), "central": pick(cen_err)}
    return g_ref, fwd_err


def _compare(at: _Points, g_ref: np.ndarray, report: Diagnosis,
             extra: Sequence[tuple[str, dict[str, Any]]], repeats: int) -> list[int]:
    """3. Each estimator against the reference, at the recommended mu; returns the q tried."""
    from . import registry

    d, mu_f, mu_c = at.d, report.recommended_mu["forward"], report.recommended_mu["central"]
    qs = [q for q in (1, 4, 16, 64) if q <= max(4, 2 * d)]
    todo: list[tuple[str, dict[str, Any]]] = [
        ("cge", {"difference": "forward", "mu": mu_f}),
        ("cge", {"difference": "central", "mu": mu_c}),
        *[("rge", {"q": q, "mu": mu_f}) for q in qs],
    ]
    if d >= 4:
        todo.append(("rge", {"q": min(d, 16), "mu": mu_c, "directions": "sphere", "orthogonal": True,
                             "difference": "central"}))
    todo += [(name, {"mu": mu_f, **options}) for name, options in extra]
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


def _recommend(report: Diagnosis, sweep: _Sweep, fwd_err: np.ndarray, qs: list[int]) -> None:
    """4. The recommendation (cge, or rge with the q a target cosine needs) and why."""
    c, d = report.target_cosine, report.d
    mu_f, mu_c = report.recommended_mu["forward"], report.recommended_mu["central"]
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
        summary = (f"estimator cge, difference forward, mu {mu_f:.3g} ({d} queries per sample, cosine "
                   f"{cge_f['cosine_mean']:.3f}); RGE would need q ~ {q_need} >= d for cosine {c}")
        report.recommendation = {"estimator": "cge", "difference": "forward", "mu": mu_f, "q": None,
                                 "summary": summary}
    else:
        summary = (f"estimator rge, q {q_need} (theory sqrt(q/(q+d)): {q_theory}), mu {mu_f:.3g} "
                   f"forward / {mu_c:.3g} central, for cosine {c}; cge (forward) costs {d} queries")
        report.recommendation = {"estimator": "rge", "q": q_need, "q_theory": q_theory, "mu": mu_f,
                                 "summary": summary}
    report.explanations = _explain(report, sweep.mus, sweep.change, sweep.best, fwd_err, qs, q_theory)


def _dir_of(plan: Any, u: np.ndarray) -> np.ndarray:
    """The unit direction of each planned query (weights are coefficient * direction)."""
    m = plan.points.shape[1]
    return np.tile(u, (1, m // u.shape[1], 1))


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _explain(r: Diagnosis, mus: np.ndarray, change: np.ndarray, best: int, fwd_err: np.ndarray,
             qs: list[int], q_theory: int) -> list[str]:
    out: list[str] = []
    unit = _unit(r.units)
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
            f"The SKS is noisy: difference quotients stop converging below mu ~ {r.mu_reference:.2g} {unit} "
            f"(best agreement {r.reference_uncertainty:.1e}; noise ~{r.noise_level:.1e} in the output). "
            f"A smaller mu makes estimates worse, not better - keep mu >= {r.recommended_mu['forward']:.2g} {unit}."
        )
    else:
        out.append(
            f"The SKS is smooth to ~{r.reference_uncertainty:.0e}: difference quotients converge down to "
            f"mu ~ {r.mu_reference:.2g} {unit}."
        )
    default_mu = 1e-3
    i = int(np.argmin(np.abs(np.log(mus) - math.log(default_mu))))
    if abs(math.log10(mus[i] / default_mu)) <= 0.5:
        e = fwd_err[i]
        if e > GOOD:
            why = "noise dominates there" if mus[i] < r.mu_reference else "curvature (truncation) dominates there"
            out.append(
                f"The default mu = 1e-3 {unit} gives a {100 * e:.2g} % error per forward difference ({why}); "
                f"use mu = {r.recommended_mu['forward']:.2g} {unit}."
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
