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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError


@dataclass
class Plan:
    """Query points (B, m, d) and their weights (B, m, d) for B samples of dimension d.

    ``groups`` (optional, (m,) ints) says which random direction each query belongs to, for
    estimators whose directions are independent draws: then the spread of the per-direction
    estimates measures the estimate's own variance (see :func:`spread_stats`).
    """

    points: np.ndarray
    weights: np.ndarray
    groups: np.ndarray | None = None

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
    #: what the last :meth:`combine` measured about its own estimate (see :func:`spread_stats`);
    #: an adaptive schedule's ``observe`` reads it after each backward
    last_stats: dict[str, float] | None = None

    def __init__(self, mu: float | Sequence[float] = 1e-3, relative_mu: bool = False):
        self.mu = mu
        self.relative_mu = relative_mu
        self._check()

    def _check(self) -> None:
        self.mu = check_mu(self.name, self.mu)
        if not isinstance(getattr(self, "relative_mu", False), bool):
            raise ConfigError(f"estimator {self.name!r}: relative_mu must be true or false, got {self.relative_mu!r}")

    def step(self, lower: np.ndarray, upper: np.ndarray, d: int) -> float | np.ndarray:
        """The finite-difference step for each of ``d`` inputs: ``mu`` as given (one number,
        or one per input), or with ``relative_mu`` that fraction of each input's bound width.

        Inputs in different units (a bond length in Å, an angle in degrees) need steps of
        their own: a query moves input j by ``step[j] * u[j]`` and the difference is divided
        per coordinate (see :func:`one_sided_or_central`).
        """
        mu = self.mu
        if isinstance(mu, np.ndarray) and mu.size != d:
            raise ConfigError(
                f"estimator {self.name!r}: mu has {mu.size} values but the SKS has {d} inputs; give one "
                f"number, or one per input"
            )
        if not getattr(self, "relative_mu", False):
            return mu
        width = np.broadcast_to(np.asarray(upper, float) - np.asarray(lower, float), (d,))
        if not np.all(np.isfinite(width)):
            raise ConfigError(
                f"estimator {self.name!r}: relative_mu scales mu by each input's bound width, but "
                f"inputs {np.flatnonzero(~np.isfinite(width)).tolist()} have no finite bounds; give mu "
                f"in the inputs' units instead"
            )
        return np.asarray(mu, float) * width

    def scalar_mu(self) -> float:
        """``mu`` where one number is needed: full-ZO mode (the model's parameters share one
        scale; per-input steps are for SKS inputs)."""
        if isinstance(self.mu, np.ndarray) or getattr(self, "relative_mu", False):
            raise ConfigError(
                f"estimator {self.name!r}: in full-ZO mode mu must be one number (per-input and "
                f"relative steps are for the inputs of an SKS layer)"
            )
        return float(self.mu)

    def queries_per_sample(self, d: int) -> int:
        """Extra SKS queries per sample of dimension ``d`` (f(z) itself not counted)."""
        raise NotImplementedError

    def plan(
        self, z: np.ndarray, lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator
    ) -> Plan:
        """Query points and weights around each row of ``z`` (B, d), inside [lower, upper]."""
        raise NotImplementedError

    @property
    def state(self) -> dict[str, Any]:
        """What the estimator carries from one step to the next (a prior direction, ZO-GraSP
        scores, ...), by name. Everything a resumed run needs to estimate exactly as an
        uninterrupted one would lives here, so :meth:`state_dict` checkpoints it whole.

        Whoever drives the estimator may keep its own entries under a key of its own
        (:mod:`zoo.fullzo` does, for the parameter-space prior).
        """
        return self.__dict__.setdefault("_state", {})

    def state_dict(self) -> dict[str, Any]:
        """:attr:`state` as a checkpoint can hold it (``torch.load(weights_only=True)``):
        numpy arrays become ``{"ndarray": tensor}``, dicts and lists are converted inside."""
        return _to_checkpoint(self.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :attr:`state` from :meth:`state_dict`'s output."""
        if not isinstance(state, dict):
            raise ConfigError(f"estimator {self.name!r}: a state must be a dict, got {type(state).__name__}")
        self.state.clear()
        self.state.update(_from_checkpoint(state))

    def parameter_plan(self, d: int, rng: np.random.Generator) -> "DirectionPlan":
        """Directions and step sizes for full-ZO mode (f = the loss, z = d model parameters).

        Unlike :meth:`plan` it holds no (n, d) matrix: random directions are named by seeds
        and regenerated where they are used (the MeZO trick), coordinates by their index.
        """
        raise ConfigError(f"estimator {self.name!r} cannot estimate parameter gradients (full-ZO)")

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


@dataclass
class DirectionPlan:
    """The queries of one full-ZO gradient estimate, without any (n, d) direction matrix.

    Direction j is either the coordinate axis ``e_coordinates[j]`` or the random vector
    regenerated from ``seeds[j]`` with ``distribution`` (``gaussian``: N(0, I); ``sphere``:
    a Gaussian draw divided by its norm; ``rademacher``: +/-1 entries). The loss is queried at
    theta + steps[j, k] * u_j, and the estimate is

        g = sum_j  (sum_k weights[j, k] * (L(theta + steps[j, k] u_j) - L(theta)))  u_j

    With ``prior`` set, direction 0 is the given prior direction (unit vector) and every
    random direction is first projected onto the prior's orthogonal complement.
    """

    steps: np.ndarray
    weights: np.ndarray
    coordinates: np.ndarray | None = None
    seeds: np.ndarray | None = None
    distribution: str = "gaussian"
    prior: bool = False

    @property
    def n_directions(self) -> int:
        return int(self.steps.shape[0])

    @property
    def n_evaluations(self) -> int:
        """Loss evaluations, L(theta) not counted."""
        return int(self.steps.size)


def _to_checkpoint(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        import torch

        return {"ndarray": torch.from_numpy(np.array(value))}
    if isinstance(value, dict):
        return {k: _to_checkpoint(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_checkpoint(v) for v in value]
    return value


def _from_checkpoint(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"ndarray"}:
            return value["ndarray"].numpy()
        return {k: _from_checkpoint(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_checkpoint(v) for v in value]
    return value


def spread_stats(plan: Plan, f0: np.ndarray, fq: np.ndarray, v: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """How reliable an estimate is, measured from its own directions (no extra query).

    With n independent directions, the per-direction estimates e_j (each unbiased) average to
    g; their sample covariance gives the standard error of g. ``relative_spread`` r is the
    median over rows of |standard error| / |g|, and ``estimated_cosine`` = sqrt(1 - r^2) the
    cosine to the (smoothed) gradient that this spread implies: for an unbiased estimate
    E|g|^2 = |grad|^2 + tr Cov, so tr Cov / |grad|^2 = r^2 / (1 - r^2) and
    cos = 1 / sqrt(1 + tr Cov / |grad|^2) = sqrt(1 - r^2). Needs ``plan.groups`` and at
    least two directions; with fewer the dict has only ``rows``.
    """
    stats: dict[str, float] = {"rows": float(len(g))}
    groups = plan.groups
    if groups is None or len(g) == 0:
        return stats
    n = int(groups.max()) + 1
    if n < 2:
        return stats
    s0 = np.einsum("bk,bk->b", v, f0)
    s = np.einsum("bmk,bk->bm", fq, v) - s0[:, None]
    contrib = np.zeros((len(g), n, g.shape[1]))
    np.add.at(contrib, (slice(None), groups), s[..., None] * plan.weights)
    per_direction = n * contrib  # each an estimate of the whole gradient
    var = ((per_direction - g[:, None, :]) ** 2).sum(axis=(1, 2)) / (n - 1)
    se = np.sqrt(var / n)
    norm = np.linalg.norm(g, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(norm > 0, se / norm, np.inf)
    r = r[np.isfinite(se)]
    if r.size == 0:
        return stats
    med = float(np.median(r))
    stats.update(
        relative_spread=med,
        estimated_cosine=float(np.sqrt(1.0 - med**2)) if med < 1.0 else 0.0,
        directions=float(n),
    )
    return stats


def check_mu(owner: str, mu: Any) -> float | np.ndarray:
    """A step size: one positive finite number, or a 1-d sequence of them (one per input)."""
    if isinstance(mu, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(mu, dtype=np.float64)
        except (TypeError, ValueError):
            arr = np.asarray([np.nan])
        if arr.ndim == 0:
            return check_mu(owner, float(arr))
        if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
            raise ConfigError(
                f"estimator {owner!r}: mu must be a positive number or a list of positive numbers "
                f"(one per input), got {mu!r}"
            )
        if any(isinstance(m, bool) for m in (mu if not isinstance(mu, np.ndarray) else [])):
            raise ConfigError(f"estimator {owner!r}: mu must hold numbers, got {mu!r}")
        return arr
    if isinstance(mu, bool) or not isinstance(mu, (int, float, np.integer, np.floating)):
        raise ConfigError(f"estimator {owner!r}: mu must be a positive number, got {mu!r}")
    mu = float(mu)
    if not (mu > 0 and np.isfinite(mu)):
        raise ConfigError(f"estimator {owner!r}: mu must be a positive number, got {mu}")
    return mu


def room(z: np.ndarray, u: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Largest t >= 0 with z + t*u inside [lower, upper], for rows z (B, 1|m, d), u (..., d)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(u > 0, (upper - z) / u, np.inf)
        down = np.where(u < 0, (lower - z) / u, np.inf)
    return np.maximum(np.minimum(up, down).min(axis=-1), 0.0)


def one_sided_or_central(
    z: np.ndarray,
    u: np.ndarray,
    mu: float | np.ndarray,
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

    With one step per input (``mu`` of shape (d,)), a query moves along mu ⊙ u in units of
    that displacement and each quotient is multiplied by ``scale * u / mu`` instead: the
    change of variables w = z / mu, so coordinate j is differenced with its own step mu_j
    (for RGE, E[(u/mu) (mu ⊙ u)^T] = I keeps the estimate unbiased).
    """
    if np.ndim(mu) == 1:
        steps = np.asarray(mu, dtype=np.float64)
        return _differences(z, u * steps, u / steps, 1.0, lower, upper, central, scale)
    return _differences(z, u, u, float(mu), lower, upper, central, scale)


def _differences(
    z: np.ndarray, u: np.ndarray, u_weight: np.ndarray, mu: float, lower: np.ndarray, upper: np.ndarray,
    central: bool, scale: np.ndarray | float,
) -> Plan:
    """:func:`one_sided_or_central` with query displacements ``mu * u`` and weights along
    ``u_weight`` (the same as ``u`` for one scalar step)."""
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
        return Plan(points=points, weights=coef[..., None] * u_weight)
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
    weights = np.concatenate([w1[..., None] * u_weight, w2[..., None] * u_weight], axis=1)
    return Plan(points=points, weights=weights)
