"""Coordinate-wise gradient estimation (CGE): one finite difference per input coordinate.

    forward:  g_j = (s(z + mu e_j) - s(z)) / mu                  d queries, error O(mu)
    central:  g_j = (s(z + mu e_j) - s(z - mu e_j)) / (2 mu)     2d queries, error O(mu^2)

Deterministic, so it has no variance; it is the estimator of choice when d is small (a
lattice constant, a 3x3 strain) and the reference that diagnostics compare RGE against.
At a bound of the input spec the difference is one-sided (forward: a backward difference;
central: the second-order one-sided scheme), so no query leaves the SKS's domain.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Estimator, Plan, one_sided_or_central
from .rge import DIFFERENCES


class CoordinateEstimator(Estimator):
    """CGE: a difference along every coordinate axis, forward or central."""

    name = "cge"
    description = "Coordinate-wise gradient estimate: a difference along each input axis"

    def __init__(self, mu: float = 1e-3, difference: str = "central"):
        if difference not in DIFFERENCES:
            raise ConfigError(f"cge: difference must be one of {DIFFERENCES}, got {difference!r}")
        self.difference = difference
        super().__init__(mu=mu)

    def queries_per_sample(self, d: int) -> int:
        return d * (2 if self.difference == "central" else 1)

    def plan(self, z, lower, upper, rng) -> Plan:
        self._check()
        B, d = z.shape
        u = np.broadcast_to(np.eye(d), (B, d, d))
        return one_sided_or_central(
            z, u, self.mu, lower, upper, self.difference == "central", 1.0
        )
