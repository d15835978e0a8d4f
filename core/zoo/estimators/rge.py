"""Randomized gradient estimation (RGE): finite differences along q random directions.

For directions u_1..u_q and smoothing radius mu, per sample with s = v . f:

    forward:  g = c/q * sum_j (s(z + mu u_j) - s(z)) / mu * u_j                q queries
    central:  g = c/q * sum_j (s(z + mu u_j) - s(z - mu u_j)) / (2 mu) * u_j   2q queries

What each variant is unbiased for (E over the directions, any smooth or non-smooth f):

* ``gaussian`` (u ~ N(0, I), c = 1): exactly the gradient of the Gaussian smoothing
  f_mu(z) = E[f(z + mu u)] (Stein's identity; Nesterov & Spokoiny 2017), forward and central.
* ``sphere`` (u uniform on the unit sphere, c = d): exactly the gradient of the uniform-ball
  smoothing f^_mu(z) = E[f(z + mu w)], w uniform in the unit ball (Flaxman et al. 2005).
* ``rademacher`` (entries +/-1, c = 1): E[g]_i = E_w[(f(z + mu e_i + mu w) - f(z - mu e_i +
  mu w)) / (2 mu)] with w_i = 0 and the other w_k = +/-1: the central difference along axis i
  of f averaged over the cube's corners. That is the gradient of a smoothed f only when f
  has no third-order mixed terms (exact for quadratics; otherwise it differs from the
  gradient by O(mu^2)); it is the cheapest to draw and has the lowest variance of the three
  for d >= 2 (E[u_i^4] = 1 instead of 3).
* ``orthogonal=True`` (q <= d per block of d directions): the q directions of a sample are
  the orthonormal columns of the QR factorisation of a Gaussian (d, q) block (signs fixed by
  diag R, so the columns are Haar-distributed: each one marginally uniform on the sphere).
  With ``sphere`` they are used as unit vectors with c = d, so each direction, and hence the
  mean, is unbiased for the ball-smoothed gradient above; with ``gaussian`` each column is
  rescaled by an independent chi_d length, so each direction is marginally N(0, I) and the
  mean is unbiased for the Gaussian-smoothed gradient. Orthogonality removes the
  cross-direction overlap: on a linear f the total variance (trace of the covariance) of
  the sphere estimate is (d/q - 1)|g|^2 with orthogonal directions against (d - 1)/q |g|^2
  with independent ones, so q = d recovers the gradient exactly. Not available with
  ``rademacher``.

For smooth f the bias to the *true* gradient is O(mu) (forward; it vanishes in the mean for
the Gaussian and sphere cases, whose smoothed gradients differ from grad f by O(mu^2)) and
O(mu^2) (central), and a single estimate's cosine with the gradient is about
sqrt(q / (q + d)).

``prior="previous"`` (gradient reuse; Meier et al., "Improving gradient estimation in
evolutionary strategies with past descent directions", 2019): direction 1 is the previous
estimates' running mean p <- decay * p + (1 - decay) * g (``prior_decay``, 0.9; 0 reuses just
the last estimate), as a unit vector (per row when the batch keeps its shape, else the rows'
mean), weighted by 1, and the other q - 1 directions are drawn as above, projected onto the
orthogonal complement of p (sphere: renormalised there, c = d - 1). In expectation the
random part gives (I - p p^T) grad and the prior part (p . grad) p, so the estimate is
unbiased for any prior on a linear f (and to O(mu) / O(mu^2) otherwise), and it is much
less noisy when p points near the gradient. Needs q >= 2 and d >= 2.

At a bound of the input spec a query that would leave the domain goes the other way
(forward) or uses a one-sided second-order difference (central); see
:func:`zoo.estimators.base.one_sided_or_central`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .base import DirectionPlan, Estimator, Plan, one_sided_or_central, spread_stats

DIRECTIONS = ("gaussian", "sphere", "rademacher")
DIFFERENCES = ("forward", "central")
PRIORS = ("none", "previous")


def _check_choice(owner: str, option: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{owner}: {option} must be one of {choices}, got {value!r}")


def difference_steps(mu: float, central: bool, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Steps and weights of one direction's difference quotient, times ``scale``."""
    if central:
        return np.array([mu, -mu]), np.array([scale / (2 * mu), -scale / (2 * mu)])
    return np.array([mu]), np.array([scale / mu])


class RandomEstimator(Estimator):
    """RGE: q random directions (Gaussian, sphere or Rademacher), forward or central."""

    name = "rge"
    description = "Randomized gradient estimate: q random directions (Gaussian, sphere, Rademacher)"
    knobs = ("mu", "q")

    def __init__(
        self,
        q: int = 8,
        mu: float | Sequence[float] = 1e-3,
        directions: str = "gaussian",
        difference: str = "forward",
        orthogonal: bool = False,
        prior: str = "none",
        prior_decay: float = 0.9,
        relative_mu: bool = False,
    ):
        _check_choice(self.name, "directions", directions, DIRECTIONS)
        _check_choice(self.name, "difference", difference, DIFFERENCES)
        _check_choice(self.name, "prior", prior, PRIORS)
        if not isinstance(orthogonal, bool):
            raise ConfigError(f"{self.name}: orthogonal must be true or false, got {orthogonal!r}")
        if orthogonal and directions == "rademacher":
            raise ConfigError(
                f"{self.name}: orthogonal directions are Gaussian or sphere; use "
                "directions='gaussian' or 'sphere' with orthogonal=true"
            )
        self.q = q
        self.directions = directions
        self.difference = difference
        self.orthogonal = orthogonal
        self.prior = prior
        if isinstance(prior_decay, bool) or not isinstance(prior_decay, (int, float)) or not 0 <= prior_decay < 1:
            raise ConfigError(f"{self.name}: prior_decay must be a number in [0, 1), got {prior_decay!r}")
        self.prior_decay = float(prior_decay)
        super().__init__(mu=mu, relative_mu=relative_mu)

    def _check(self) -> None:
        super()._check()
        if isinstance(self.q, bool) or not isinstance(self.q, (int, float, np.integer, np.floating)):
            raise ConfigError(f"{self.name}: q must be a positive integer, got {self.q!r}")
        if int(self.q) != self.q or self.q < 1:
            raise ConfigError(f"{self.name}: q must be a positive integer, got {self.q}")
        self.q = int(self.q)
        if self.prior != "none" and self.q < 2:
            raise ConfigError(f"{self.name}: prior={self.prior!r} needs q >= 2 (1 prior + random)")

    @property
    def central(self) -> bool:
        return self.difference == "central"

    def queries_per_sample(self, d: int) -> int:
        return self.q * (2 if self.central else 1)

    # -- directions --------------------------------------------------------------------
    def sample_directions(
        self, rng: np.random.Generator, shape: tuple[int, ...], exclude: np.ndarray | None = None
    ) -> np.ndarray:
        """Directions of ``shape`` (..., n, d) as documented; ``exclude`` (..., d) unit rows
        to project out (the prior), broadcasting over the direction axis."""
        if self.orthogonal:
            u = self._orthogonal(rng, shape, exclude)
        else:
            if self.directions == "rademacher":
                u = rng.integers(0, 2, size=shape).astype(np.float64) * 2.0 - 1.0
            else:
                u = rng.standard_normal(shape)
            if exclude is not None:
                u = u - np.einsum("...nd,...d->...n", u, exclude)[..., None] * exclude[..., None, :]
            if self.directions == "sphere":
                norm = np.linalg.norm(u, axis=-1, keepdims=True)
                u = u / np.where(norm > 0, norm, 1.0)
        return u

    def _orthogonal(
        self, rng: np.random.Generator, shape: tuple[int, ...], exclude: np.ndarray | None
    ) -> np.ndarray:
        *lead, n, d = shape
        dim = d - (exclude is not None)  # dimension of the space the directions span
        blocks = []
        left = n
        while left > 0:
            k = min(left, dim)
            g = rng.standard_normal((*lead, d, k))
            if exclude is not None:
                g = g - exclude[..., :, None] * np.einsum("...dk,...d->...k", g, exclude)[..., None, :]
            qm, r = np.linalg.qr(g)
            signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
            qm = qm * np.where(signs == 0, 1.0, signs)[..., None, :]
            blocks.append(np.swapaxes(qm, -1, -2))  # (..., k, d) unit, orthonormal rows
            left -= k
        u = np.concatenate(blocks, axis=-2)
        if self.directions == "gaussian":  # marginally N(0, I) (in the span): chi_dim lengths
            u = u * np.sqrt(rng.chisquare(dim, size=(*lead, n)))[..., None]
        return u

    def _scale(self, d: int) -> float:
        """c: d for sphere directions (E[u u^T] = I/d), 1 otherwise (E[u u^T] = I)."""
        return float(d) if self.directions == "sphere" else 1.0

    def _prior_rows(self, B: int, d: int, rng: np.random.Generator) -> np.ndarray | None:
        if self.prior == "none" or d < 2:
            return None
        p = self.state.get("prior")
        if p is None or p.shape[1] != d:
            p = rng.standard_normal((B, d))  # no past yet: a random unit direction
        elif p.shape[0] != B:
            p = np.broadcast_to(p.mean(axis=0), (B, d))
        p = np.array(p, dtype=np.float64)
        norm = np.linalg.norm(p, axis=1, keepdims=True)
        dead = ~(np.isfinite(norm[:, 0]) & (norm[:, 0] > 0))
        if dead.any():
            p[dead] = rng.standard_normal((int(dead.sum()), d))
            norm = np.linalg.norm(p, axis=1, keepdims=True)
        return p / norm

    def plan(self, z, lower, upper, rng) -> Plan:
        self._check()
        B, d = z.shape
        prior = self._prior_rows(B, d, rng)
        if prior is None:
            u = self.sample_directions(rng, (B, self.q, d))
            scale: np.ndarray | float = self._scale(d) / self.q
            groups = None if self.orthogonal else np.arange(self.q)
        else:
            rand = self.sample_directions(rng, (B, self.q - 1, d), exclude=prior)
            u = np.concatenate([prior[:, None, :], rand], axis=1)
            c = float(d - 1) if self.directions == "sphere" else 1.0
            scale = np.concatenate([np.ones((B, 1)), np.full((B, self.q - 1), c / (self.q - 1))], axis=1)
            groups = None
        plan = one_sided_or_central(z, u, self.step(lower, upper, d), lower, upper, self.central, scale)
        if groups is not None:
            plan.groups = np.tile(groups, 2) if self.central else groups
        return plan

    def combine(self, plan: Plan, f0: np.ndarray, fq: np.ndarray, v: np.ndarray) -> np.ndarray:  # type: ignore[override]
        g = Estimator.combine(plan, f0, fq, v)
        self.last_stats = spread_stats(plan, f0, fq, v, g)
        if self.prior == "previous":
            p = self.state.get("prior")
            if p is not None and p.shape == g.shape and np.all(np.isfinite(p)):
                self.state["prior"] = self.prior_decay * p + (1.0 - self.prior_decay) * g
            else:
                self.state["prior"] = g.copy()
        return g

    # -- full-ZO ------------------------------------------------------------------------
    def parameter_plan(self, d: int, rng: np.random.Generator) -> DirectionPlan:
        self._check()
        if self.orthogonal:
            raise ConfigError(
                f"{self.name}: orthogonal=true is for the SKS layer; over d = {d} model parameters "
                "independent Gaussian directions are already orthogonal to within 1/sqrt(d)"
            )
        seeds = rng.integers(0, 2**62, size=self.q)
        if self.prior == "none":
            steps, w = difference_steps(self.scalar_mu(), self.central, self._scale(d) / self.q)
            return DirectionPlan(
                steps=np.tile(steps, (self.q, 1)), weights=np.tile(w, (self.q, 1)),
                seeds=seeds, distribution=self.directions,
            )
        c = float(d - 1) if self.directions == "sphere" else 1.0
        s1, w1 = difference_steps(self.scalar_mu(), self.central, 1.0)
        s2, w2 = difference_steps(self.scalar_mu(), self.central, c / (self.q - 1))
        return DirectionPlan(
            steps=np.vstack([s1, np.tile(s2, (self.q - 1, 1))]),
            weights=np.vstack([w1, np.tile(w2, (self.q - 1, 1))]),
            seeds=seeds, distribution=self.directions, prior=True,
        )
