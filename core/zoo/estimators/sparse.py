"""Sparse coordinate-wise estimation, DeepZero-style (``sparse-cge``).

Chen, Zhang, Jia, Diffenderfer, Liu, Parasyris, Zhang, Zhang, Chen, Kailkhura, Liu,
"DeepZero: Scaling up Zeroth-Order Optimization for Deep Model Training", ICLR 2024.

DeepZero makes CGE affordable over many coordinates by differentiating only a fraction
(1 - ``sparsity``) of them per step, chosen from a sparsity pattern found *at
initialisation* with zeroth-order estimates only (ZO-GraSP: GraSP's pruning score
-theta * (H g) with g and H g estimated by RGE). Forward CGE over the k kept coordinates
then costs k queries instead of d.

``mask`` chooses how the k coordinates are picked:

* ``"zo-grasp"`` (fixed mask): the k most important coordinates, by scores from a few ZO
  probes on the first call (``probe``: ``"rge"`` with ``probe_q`` directions, or ``"cge"``).
  The estimate is the CGE estimate on the mask and 0 elsewhere: biased by design (a sparse
  model/input), deterministic, k queries.
* ``"random"`` (the random-coordinate variant): k coordinates drawn uniformly each call,
  scaled by d/k, so the estimate is *unbiased* for full CGE (Var g_j = (d/k - 1) g_j^2).
* ``"zo-grasp-random"`` (DeepZero's recipe): the ZO-GraSP scores fix how many coordinates
  each *group* (in full-ZO: each parameter tensor, a layer) keeps - the layer-wise pruning
  ratios - and the coordinates inside each group are redrawn every call, scaled by
  n_group / k_group (unbiased within every group that keeps at least one coordinate).
  With one group (an SKS layer's inputs) it is the same as ``"random"``.

Scores. In an SKS layer (hybrid mode) the importance of input coordinate j is the mean of
|g_j| over the probed rows (``score="magnitude"``). In full-ZO mode (:mod:`zoo.fullzo`,
which runs the probes) ``score="grasp"`` is DeepZero's ZO-GraSP, theta * (H g) with
H g = (g(theta + delta g/|g|) - g(theta)) |g| / delta from two RGE estimates with common
directions (keep the largest, i.e. prune GraSP's highest -theta*Hg), and ``"snip"`` is
|theta * g|. ``score="auto"``: magnitude in a layer, grasp in full-ZO.

``sparsity`` is a knob: a schedule may change it between steps; the fixed mask is re-cut
from the stored scores, never re-probed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .base import DirectionPlan, Estimator, Plan, one_sided_or_central
from .cge import coordinate_plan, random_subsets
from .rge import DIFFERENCES, _check_choice, difference_steps

MASKS = ("zo-grasp", "random", "zo-grasp-random")
PROBES = ("rge", "cge")
SCORES = ("auto", "magnitude", "grasp", "snip")


class SparseCoordinateEstimator(Estimator):
    """DeepZero-style sparse CGE: a ZO-GraSP mask at initialisation, or random coordinates."""

    name = "sparse-cge"
    description = "DeepZero sparse CGE: ZO-GraSP mask from ZO probes, or random coordinates"
    knobs = ("mu", "sparsity")

    def __init__(
        self,
        sparsity: float = 0.9,
        mu: float | Sequence[float] = 1e-3,
        difference: str = "forward",
        mask: str = "zo-grasp",
        probe: str = "rge",
        probe_q: int = 16,
        score: str = "auto",
        relative_mu: bool = False,
    ):
        _check_choice(self.name, "difference", difference, DIFFERENCES)
        _check_choice(self.name, "mask", mask, MASKS)
        _check_choice(self.name, "probe", probe, PROBES)
        _check_choice(self.name, "score", score, SCORES)
        if isinstance(probe_q, bool) or not isinstance(probe_q, int) or probe_q < 1:
            raise ConfigError(f"{self.name}: probe_q must be a positive integer, got {probe_q!r}")
        self.sparsity = sparsity
        self.difference = difference
        self.mask = mask
        self.probe = probe
        self.probe_q = probe_q
        self.score = score
        self._probing = False
        super().__init__(mu=mu, relative_mu=relative_mu)

    def _check(self) -> None:
        super()._check()
        s = self.sparsity
        if isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating)) or not 0 <= s < 1:
            raise ConfigError(f"{self.name}: sparsity must be a number in [0, 1), got {s!r}")
        self.sparsity = float(s)

    @property
    def central(self) -> bool:
        return self.difference == "central"

    @property
    def uses_scores(self) -> bool:
        return self.mask != "random"

    def kept(self, d: int) -> int:
        """k: how many of d coordinates each call differentiates (at least 1)."""
        return max(1, min(d, int(round((1.0 - self.sparsity) * d))))

    def queries_per_sample(self, d: int) -> int:
        """Steady-state queries; the first call of a score-based mask probes instead."""
        return self.kept(d) * (2 if self.central else 1)

    @property
    def scores(self) -> np.ndarray | None:
        """Importance of each coordinate (None until probed or set); kept in :attr:`state`."""
        return self.state.get("scores")

    @property
    def groups(self) -> np.ndarray | None:
        """Group id of each coordinate (full-ZO: its parameter tensor); None: one group."""
        return self.state.get("groups")

    def needs_scores(self, d: int) -> bool:
        return self.uses_scores and (self.scores is None or self.scores.shape != (d,))

    def set_scores(self, scores: np.ndarray, groups: np.ndarray | None = None) -> None:
        """Importance per coordinate (larger: keep), and optionally a group id per coordinate."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        scores = np.where(np.isfinite(scores), scores, -np.inf)
        self.state["scores"] = scores
        self.state["groups"] = None if groups is None else np.asarray(groups, dtype=np.int64).reshape(-1)

    def fixed_mask(self, d: int) -> np.ndarray:
        """Indices of the k highest-scoring coordinates (sorted)."""
        assert self.scores is not None
        return np.sort(np.argsort(-self.scores, kind="stable")[: self.kept(d)])

    def group_counts(self, d: int) -> list[tuple[np.ndarray, int]]:
        """(members, k_group) per group: how many each keeps under the global top-k mask
        (DeepZero's layer-wise pruning ratios). Needs scores."""
        groups = self.groups if self.groups is not None and self.groups.shape == (d,) else np.zeros(d, np.int64)
        keep = np.zeros(d, bool)
        keep[self.fixed_mask(d)] = True
        out = []
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)
            out.append((members, int(keep[members].sum())))
        return out

    def _draw(self, d: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) coordinates and (n, k) scales for n rows."""
        if self.mask == "zo-grasp":
            idx = np.broadcast_to(self.fixed_mask(d), (n, self.kept(d)))
            return idx, np.ones(idx.shape)
        if self.mask == "random" or self.groups is None:
            k = self.kept(d)
            return random_subsets(rng, n, d, k), np.full((n, k), d / k)
        parts, scales = [], []
        for members, k in self.group_counts(d):
            if k == 0:
                continue
            pick = random_subsets(rng, n, len(members), k)
            parts.append(members[pick])
            scales.append(np.full((n, k), len(members) / k))
        return np.concatenate(parts, axis=1), np.concatenate(scales, axis=1)

    # -- SKS layer ---------------------------------------------------------------------
    def plan(self, z, lower, upper, rng) -> Plan:
        self._check()
        B, d = z.shape
        if self.needs_scores(d):
            if self.score in ("grasp", "snip"):
                raise ConfigError(
                    f"{self.name}: score={self.score!r} needs model parameters (full-ZO mode); "
                    "in an SKS layer use score='magnitude' (or 'auto')"
                )
            self._probing = True
            if self.probe == "cge":
                u = np.broadcast_to(np.eye(d), (B, d, d))
                return one_sided_or_central(z, u, self.step(lower, upper, d), lower, upper, True, 1.0)
            u = rng.standard_normal((B, self.probe_q, d))
            return one_sided_or_central(z, u, self.step(lower, upper, d), lower, upper, True, 1.0 / self.probe_q)
        idx, scale = self._draw(d, B, rng)
        return coordinate_plan(z, idx, scale, self.step(lower, upper, d), lower, upper, self.central)

    def combine(self, plan: Plan, f0: np.ndarray, fq: np.ndarray, v: np.ndarray) -> np.ndarray:  # type: ignore[override]
        g = Estimator.combine(plan, f0, fq, v)
        if self._probing:
            self._probing = False
            self.set_scores(np.nanmean(np.abs(g), axis=0))
        self.last_stats = {"rows": float(len(g))}
        return g

    # -- full-ZO -----------------------------------------------------------------------
    def parameter_plan(self, d: int, rng: np.random.Generator) -> DirectionPlan:
        self._check()
        if self.needs_scores(d):
            raise ConfigError(
                f"{self.name}: mask={self.mask!r} needs ZO-GraSP scores first; "
                "zoo.fullzo.estimate_parameter_gradients probes them on its first call"
            )
        idx, scale = self._draw(d, 1, rng)
        steps, w = difference_steps(self.scalar_mu(), self.central, 1.0)
        return DirectionPlan(
            steps=np.tile(steps, (idx.shape[1], 1)),
            weights=w[None, :] * scale[0][:, None],
            coordinates=np.array(idx[0]),
        )
