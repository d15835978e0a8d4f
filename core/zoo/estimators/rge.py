"""Randomized gradient estimation (RGE): finite differences along q random directions.

For directions u_1..u_q and smoothing radius mu, per sample with s = v . f:

    forward:  g = c/q * sum_j (s(z + mu u_j) - s(z)) / mu * u_j          q queries
    central:  g = c/q * sum_j (s(z + mu u_j) - s(z - mu u_j)) / (2 mu) * u_j   2q queries

with c = 1 for Gaussian u ~ N(0, I) and c = d for u uniform on the unit sphere. With these
scalings the estimate is unbiased for the gradient of the *smoothed* function: the Gaussian
smoothing f_mu(z) = E[f(z + mu u)], u ~ N(0, I) for Gaussian directions (Nesterov & Spokoiny
2017), and the uniform-ball smoothing for sphere directions (Flaxman et al. 2005); the
central variant has the same mean and a lower variance. For smooth f the bias to the true
gradient is O(mu) (forward) and O(mu^2) (central), and a single estimate's cosine with the
gradient is about sqrt(q / (q + d)) for sphere directions and large d.

At a bound of the input spec a query that would leave the domain goes the other way
(forward) or uses a one-sided second-order difference (central); see
:func:`zoo.estimators.base.one_sided_or_central`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Estimator, Plan, one_sided_or_central

DIRECTIONS = ("gaussian", "sphere")
DIFFERENCES = ("forward", "central")


class RandomEstimator(Estimator):
    """RGE: q random directions, Gaussian or unit-sphere, forward or central differences."""

    name = "rge"
    description = "Randomized gradient estimate: q random directions (Gaussian or sphere)"
    knobs = ("mu", "q")

    def __init__(
        self,
        q: int = 8,
        mu: float = 1e-3,
        directions: str = "gaussian",
        difference: str = "forward",
    ):
        if directions not in DIRECTIONS:
            raise ConfigError(f"rge: directions must be one of {DIRECTIONS}, got {directions!r}")
        if difference not in DIFFERENCES:
            raise ConfigError(f"rge: difference must be one of {DIFFERENCES}, got {difference!r}")
        self.q = q
        self.directions = directions
        self.difference = difference
        super().__init__(mu=mu)

    def _check(self) -> None:
        super()._check()
        if int(self.q) != self.q or self.q < 1:
            raise ConfigError(f"rge: q must be a positive integer, got {self.q}")
        self.q = int(self.q)

    def queries_per_sample(self, d: int) -> int:
        return self.q * (2 if self.difference == "central" else 1)

    def sample_directions(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        u = rng.standard_normal(shape)
        if self.directions == "sphere":
            u /= np.linalg.norm(u, axis=-1, keepdims=True)
        return u

    def plan(self, z, lower, upper, rng) -> Plan:
        self._check()
        B, d = z.shape
        u = self.sample_directions(rng, (B, self.q, d))
        scale = (d if self.directions == "sphere" else 1.0) / self.q
        return one_sided_or_central(
            z, u, self.mu, lower, upper, self.difference == "central", scale
        )
