"""The estimator contract: plan query points, then combine the answers.

Every finite-difference estimator zoo ships is *linear* in the queried values: for sample i
with upstream vector v_i and s = v_i . f(.),

    g_i = sum_j W_ij (s(p_ij) - s(z_i))

where p_ij are the query points and W_ij in R^d their weights. (Subtracting s(z_i) is free
for any consistent difference scheme, whose weights plus the weight of f(z_i) sum to zero,
and it keeps the sum well conditioned.) So an estimator only *plans* ``points`` and
``weights``; the caller evaluates every point of every sample in one batched SKS call
(which is what lets an executor spread them), and :meth:`Estimator.combine` is shared.
f(z_i) itself comes from the forward pass, so it costs no extra query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError


@dataclass
class Plan:
    """Query points (B, m, d) and their weights (B, m, d) for B samples of dimension d."""

    points: np.ndarray
    weights: np.ndarray

    @property
    def n_queries(self) -> int:
        return int(self.points.shape[0] * self.points.shape[1])


class Estimator:
    """Estimates v^T J_f(z) for a black-box f from extra evaluations of f.

    Subclasses implement :meth:`plan` and :meth:`queries_per_sample`. Tunable knobs (``mu``,
    ``q``, ...) are plain attributes, so a schedule can change them between steps the way
    torch's LR schedulers rewrite an optimizer's ``param_groups``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: attributes a schedule may rewrite between steps
    knobs: ClassVar[tuple[str, ...]] = ("mu",)

    def __init__(self, mu: float = 1e-3):
        self.mu = float(mu)
        self._check()

    def _check(self) -> None:
        if not (self.mu > 0 and np.isfinite(self.mu)):
            raise ConfigError(f"estimator {self.name!r}: mu must be a positive number, got {self.mu}")

    def queries_per_sample(self, d: int) -> int:
        """Extra SKS queries per sample of dimension ``d`` (f(z) itself not counted)."""
        raise NotImplementedError

    def plan(
        self, z: np.ndarray, lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator
    ) -> Plan:
        """Query points and weights around each row of ``z`` (B, d), inside [lower, upper]."""
        raise NotImplementedError

    @staticmethod
    def combine(plan: Plan, f0: np.ndarray, fq: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Turn values f0 = f(z) (B, k) and fq = f(points) (B, m, k) into v^T J (B, d)."""
        s0 = np.einsum("bk,bk->b", v, f0)
        s = np.einsum("bmk,bk->bm", fq, v) - s0[:, None]
        return np.einsum("bm,bmd->bd", s, plan.weights)

    def vjp(
        self,
        f: Callable[[np.ndarray], np.ndarray],
        z: Any,
        v: Any = None,
        f0: np.ndarray | None = None,
        lower: Any = -np.inf,
        upper: Any = np.inf,
        rng: np.random.Generator | int | None = None,
    ) -> tuple[np.ndarray, int]:
        """Estimate v^T J_f(z) for a batch-callable ``f``: (m, d) -> (m, k).

        ``z`` is (B, d) (or (d,) for one point), ``v`` is (B, k) (default: ones, i.e. the
        gradient of sum f). All query points go to ``f`` in one call. Returns the estimate
        and the number of queries used, f(z) included when it had to be computed.
        """
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        B, d = z.shape
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (d,))
        upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (d,))
        plan = self.plan(z, lower, upper, rng)
        m = plan.points.shape[1]
        n = plan.n_queries
        if f0 is None:
            values = np.asarray(f(np.concatenate([z, plan.points.reshape(B * m, d)])), float)
            values = values.reshape(B * (m + 1), -1)
            f0, fq = values[:B], values[B:].reshape(B, m, -1)
            n += B
        else:
            f0 = np.asarray(f0, dtype=np.float64).reshape(B, -1)
            fq = np.asarray(f(plan.points.reshape(B * m, d)), float).reshape(B, m, -1)
        v = np.ones_like(f0) if v is None else np.asarray(v, dtype=np.float64).reshape(f0.shape)
        return self.combine(plan, f0, fq, v), n


def room(z: np.ndarray, u: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Largest t >= 0 with z + t*u inside [lower, upper], for rows z (B, 1|m, d), u (..., d)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(u > 0, (upper - z) / u, np.inf)
        down = np.where(u < 0, (lower - z) / u, np.inf)
    return np.maximum(np.minimum(up, down).min(axis=-1), 0.0)


def one_sided_or_central(
    z: np.ndarray,
    u: np.ndarray,
    mu: float,
    lower: np.ndarray,
    upper: np.ndarray,
    central: bool,
    scale: np.ndarray | float,
) -> Plan:
    """Difference queries along directions ``u`` (B, n, d) from ``z`` (B, d), inside the box.

    forward: one query per direction, z + h*u with h = mu, or z - h*u where the + side has
    no room (one-sided difference at a bound; h shrinks only if neither side has room mu).
    central: two queries, z +/- mu*u; where a bound is nearer than mu, the one-sided
    second-order scheme (-3 f(z) + 4 f(z + h u) - f(z + 2h u)) / 2h on the side with room,
    which keeps the O(mu^2) error of the central difference at the same cost.
    Each difference quotient is multiplied by ``scale * u`` (scale broadcasts to (B, n)).
    """
    zb = z[:, None, :]
    plus, minus = room(zb, u, lower, upper), room(zb, -u, lower, upper)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), plus.shape)
    if not central:
        sign = np.where(plus >= np.minimum(mu, minus), 1.0, -1.0)
        h = np.minimum(mu, np.where(sign > 0, plus, minus))
        step = sign * h
        with np.errstate(divide="ignore"):
            coef = np.where(h > 0, scale / np.where(h > 0, step, 1.0), 0.0)
        points = zb + step[..., None] * u
        return Plan(points=points, weights=coef[..., None] * u)
    inside = (plus >= mu) & (minus >= mu)
    sign = np.where(plus >= minus, 1.0, -1.0)
    h_side = np.minimum(mu, np.maximum(plus, minus) / 2.0)
    h = np.where(inside, mu, h_side)
    ok = h > 0
    safe_h = np.where(ok, h, 1.0)
    # central: p1 = z + mu u (w = 1/2mu), p2 = z - mu u (w = -1/2mu)
    # one-sided: p1 = z + s h u (w = 4/(2 s h)), p2 = z + 2 s h u (w = -1/(2 s h))
    off1 = np.where(inside, mu, sign * h)
    off2 = np.where(inside, -mu, 2.0 * sign * h)
    w1 = np.where(inside, 1.0 / (2.0 * mu), 2.0 / (sign * safe_h))
    w2 = np.where(inside, -1.0 / (2.0 * mu), -1.0 / (2.0 * sign * safe_h))
    w1, w2 = np.where(ok, w1 * scale, 0.0), np.where(ok, w2 * scale, 0.0)
    points = np.concatenate([zb + off1[..., None] * u, zb + off2[..., None] * u], axis=1)
    weights = np.concatenate([w1[..., None] * u, w2[..., None] * u], axis=1)
    return Plan(points=points, weights=weights)
