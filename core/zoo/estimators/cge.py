"""Coordinate-wise gradient estimation (CGE): one finite difference per input coordinate.

    forward:  g_j = (s(z + mu e_j) - s(z)) / mu                  d queries, error O(mu)
    central:  g_j = (s(z + mu e_j) - s(z - mu e_j)) / (2 mu)     2d queries, error O(mu^2)

Deterministic, so it has no variance; it is the estimator of choice when d is small (a
lattice constant, a 3x3 strain) and the reference that diagnostics compare RGE against.

``coordinates`` trades queries for variance:

* an integer k: each call (and each sample) differentiates k coordinates drawn uniformly
  without replacement and multiplies them by d/k. Each coordinate is picked with
  probability k/d, so E[g] is exactly the full CGE estimate, and Var g_j = (d/k - 1) g_j^2
  (total (d/k - 1)|g|^2, against (d - 1)/q |g|^2 for sphere RGE with q = k directions).
  k queries (2k central).
* a list of indices: only those coordinates, unscaled; the others get 0. A partial
  gradient by design (biased for the rest), for inputs known not to matter.

At a bound of the input spec the difference is one-sided (forward: a backward difference;
central: the second-order one-sided scheme), so no query leaves the SKS's domain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .base import DirectionPlan, Estimator, Plan, one_sided_or_central
from .rge import DIFFERENCES, _check_choice, difference_steps


def check_coordinates(owner: str, coordinates: int | Sequence[int] | None) -> int | np.ndarray | None:
    """Validate a ``coordinates`` option: None, a positive int, or a list of indices >= 0."""
    if coordinates is None:
        return None
    if isinstance(coordinates, bool):
        raise ConfigError(f"{owner}: coordinates must be a count or a list of indices, got {coordinates!r}")
    if isinstance(coordinates, (int, np.integer)):
        if coordinates < 1:
            raise ConfigError(f"{owner}: coordinates must be >= 1, got {coordinates}")
        return int(coordinates)
    try:
        idx = np.asarray(coordinates)
    except Exception:  # noqa: BLE001
        idx = np.asarray([])
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" or np.any(idx < 0):
        raise ConfigError(
            f"{owner}: coordinates must be a count k (k random coordinates per call) or a "
            f"non-empty list of indices >= 0, got {coordinates!r}"
        )
    if len(np.unique(idx)) != idx.size:
        raise ConfigError(f"{owner}: coordinates lists an index twice: {idx.tolist()}")
    return idx.astype(np.int64)


def random_subsets(rng: np.random.Generator, B: int, d: int, k: int) -> np.ndarray:
    """(B, k) coordinate indices, each row k distinct of range(d), uniformly at random."""
    return np.argsort(rng.random((B, d)), axis=1)[:, :k]


def coordinate_plan(
    z: np.ndarray,
    idx: np.ndarray,
    scale: np.ndarray | float,
    mu: float | np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    central: bool,
) -> Plan:
    """Differences along the axes ``idx`` (B, k) of each row, times ``scale`` (B, k);
    ``mu`` one step, or one per input (see :func:`one_sided_or_central`)."""
    B, d = z.shape
    k = idx.shape[1]
    u = np.zeros((B, k, d))
    u[np.arange(B)[:, None], np.arange(k)[None, :], idx] = 1.0
    return one_sided_or_central(z, u, mu, lower, upper, central, scale)


class CoordinateEstimator(Estimator):
    """CGE: a difference along every coordinate axis (or a subset), forward or central."""

    name = "cge"
    description = "Coordinate-wise gradient estimate: a difference along each input axis"

    def __init__(
        self,
        mu: float | Sequence[float] = 1e-3,
        difference: str = "central",
        coordinates: int | Sequence[int] | None = None,
        relative_mu: bool = False,
    ):
        _check_choice(self.name, "difference", difference, DIFFERENCES)
        self.difference = difference
        self.coordinates = check_coordinates(self.name, coordinates)
        super().__init__(mu=mu, relative_mu=relative_mu)

    @property
    def central(self) -> bool:
        return self.difference == "central"

    def _count(self, d: int) -> int:
        c = self.coordinates
        if c is None:
            return d
        if isinstance(c, int):
            return min(c, d)
        return int(c.size)

    def queries_per_sample(self, d: int) -> int:
        return self._count(d) * (2 if self.central else 1)

    def _indices(self, d: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        c = self.coordinates
        if c is None:
            return np.broadcast_to(np.arange(d), (n, d)), 1.0
        if isinstance(c, int):
            k = min(c, d)
            return random_subsets(rng, n, d, k), d / k
        if c.max() >= d:
            raise ConfigError(f"{self.name}: coordinate index {int(c.max())} is out of range for d = {d}")
        return np.broadcast_to(c, (n, c.size)), 1.0

    def plan(self, z, lower, upper, rng) -> Plan:
        self._check()
        B, d = z.shape
        idx, scale = self._indices(d, B, rng)
        return coordinate_plan(z, idx, scale, self.step(lower, upper, d), lower, upper, self.central)

    def parameter_plan(self, d: int, rng: np.random.Generator) -> DirectionPlan:
        self._check()
        idx, scale = self._indices(d, 1, rng)
        steps, w = difference_steps(self.scalar_mu(), self.central, scale)
        n = idx.shape[1]
        return DirectionPlan(
            steps=np.tile(steps, (n, 1)), weights=np.tile(w, (n, 1)), coordinates=np.array(idx[0])
        )
