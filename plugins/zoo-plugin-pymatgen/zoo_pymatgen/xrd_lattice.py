"""Default task of ``pymatgen-xrd``: lattice parameters from a powder pattern.

The problem: a network reads a powder XRD pattern of a known phase and predicts its lattice
parameters (a, c), with only a few patterns whose lattice is known (labelled) and many that
are only measured (unlabelled).

* data-only twin: the network fitted to the ``n_labelled`` labelled (pattern, a, c) pairs.
* SKS-coupled model: the same network and labels, plus a pattern-matching term on the
  unlabelled patterns: the SKS turns the predicted (a, c) back into a pattern (pymatgen
  ``XRDCalculator``, broadened on the same grid), which should match the measured one.
  zoo estimates the gradient of that pattern with respect to (a, c) by finite differences.

Data: seven structure types (four cubic, three tetragonal, :mod:`zoo_pymatgen.prototypes`)
with lattices drawn around their reference values (a within +/- ``spread``, c/a within
+/- 4 % for the tetragonal ones; c = a for cubic), patterns from pymatgen with Gaussian
noise of ``noise`` x the pattern's maximum. All generated in code from ``data_seed``, which
also fixes the ``n_test`` test patterns (:func:`zoo.tasks.split`); the run's seed picks the
labelled ones, ``n_validation`` of them held out for :meth:`validate`; up to ``n_unlabelled``
of the rest are unlabelled. ``n_patterns`` (256) patterns are drawn in all, whatever the
label count, so every label count is scored on the same test patterns.

The SKS input is zoo-atomistic's ``lattice_lengths``: the lengths (a, c) of a tetragonal
cell, a and b scaled together.

The pattern term compares cumulative patterns, F(t) = integral of y up to t, by their mean
squared difference (a Cramer-type distance). Unlike a point-by-point difference it does not
vanish when predicted and measured peaks do not overlap, so it pulls the lattice the right
way from far off too. It is dimensionless (F runs from 0 to 1 over the grid);
``pattern_weight`` sets its weight beside the label term (Å^2).

Cost: each coupled step queries the SKS (1 + 2) x ``batch_unlabelled`` times (forward CGE
on d = 2), a few ms each.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import zoo
from zoo import ConfigError
from zoo.tasks import mean_over_finite, minibatch, regression_metrics, regression_units, split

from .prototypes import PROTOTYPES

#: XRD settings of the task (and of its data): 2-theta 15-75 deg every 0.2 deg, CuKa
GRID = {"two_theta_min": 15.0, "two_theta_max": 75.0, "step": 0.2, "fwhm": 0.5}


class XRDLattice(zoo.Task):
    """Powder pattern -> (a, c) of cubic and tetragonal crystals; few labels plus pattern matching."""

    name = "xrd-lattice"
    description = "Lattice parameters (a, c) from powder XRD patterns: few labels, many unlabelled patterns"
    default_sks = "pymatgen-xrd"
    # forward CGE on d = 2; peaks 0.5 degrees wide make the forward difference's error ~4 % at
    # mu = 1e-3 Å and ~0.4 % at 1e-4 Å (zoo diagnose), still far above where pymatgen's
    # merging of peaks within 1e-5 degrees shows (mu < ~5e-6 Å at cubic points)
    defaults = {"estimator": "cge", "steps": 120, "lr": 1e-2, "eval_every": 10,
                "estimator_options": {"mu": 1e-4, "difference": "forward"}}
    primary_metric = "test_mae"
    metric_units = {**regression_units("Å"), **regression_units("Å", "val"), "test_mae_a": "Å", "test_mae_c": "Å"}

    def __init__(
        self,
        n_labelled: int = 14,
        n_unlabelled: int = 200,
        n_test: int = 42,
        batch_unlabelled: int = 16,
        pattern_weight: float = 1.0,
        spread: float = 0.06,
        noise: float = 0.01,
        hidden: int = 64,
        data_seed: int = 0,
        n_validation: int = 0,
        n_patterns: int = 256,
    ):
        for key, value, least in (("n_labelled", n_labelled, 1), ("n_unlabelled", n_unlabelled, 0),
                                  ("n_test", n_test, 1), ("batch_unlabelled", batch_unlabelled, 1),
                                  ("hidden", hidden, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"xrd-lattice: {key} must be an integer >= {least}, got {value!r}")
        if not 0 < spread < 0.3:
            raise ConfigError(f"xrd-lattice: spread must be in (0, 0.3), got {spread}")
        if noise < 0 or pattern_weight < 0:
            raise ConfigError("xrd-lattice: noise and pattern_weight must be >= 0")
        self.n_labelled, self.n_unlabelled, self.n_test = n_labelled, n_unlabelled, n_test
        self.batch_unlabelled, self.pattern_weight = batch_unlabelled, float(pattern_weight)
        self.spread, self.noise, self.hidden, self.data_seed = float(spread), float(noise), hidden, data_seed
        if isinstance(n_validation, bool) or not isinstance(n_validation, int) or not 0 <= n_validation < n_labelled:
            raise ConfigError(f"xrd-lattice: n_validation must be from 0 to n_labelled - 1, got {n_validation!r}")
        self.n_validation = n_validation
        if isinstance(n_patterns, bool) or not isinstance(n_patterns, int) or n_patterns < n_test + n_labelled:
            raise ConfigError(
                f"xrd-lattice: n_patterns must be a whole number >= n_test + n_labelled = {n_test + n_labelled}, "
                f"got {n_patterns!r}"
            )
        self.n_patterns = n_patterns

    def sks_options(self) -> dict[str, Any]:
        return {"inputs": "lattice_lengths", "normalization": "area", "lower": 2.0, "upper": 6.5, **GRID}

    def setup(self, sks, seed: int) -> None:
        if sks.input_spec.names != ("a", "c") or getattr(sks, "normalization", None) != "area":
            raise ConfigError(
                f"xrd-lattice needs pymatgen-xrd with inputs='lattice_lengths' and normalization='area'; "
                f"{sks.name} has inputs {list(sks.input_spec.names)}"
            )
        self.sks, self.seed = sks, seed
        self.step_deg = float(sks.step)
        kinds, lattice, noisy = self._patterns(sks)
        n = len(kinds)
        part = split(n, n_labelled=self.n_labelled, seed=seed, split_seed=self.data_seed,
                     test_fraction=self.n_test / n, n_validation=self.n_validation,
                     n_unlabelled=self.n_unlabelled, what=self.name)
        onehot = np.eye(len(PROTOTYPES))[kinds]
        ref = np.array([[PROTOTYPES[k].a, PROTOTYPES[k].c] for k in kinds])
        # the network reads the pattern scaled to its maximum (plus the phase), and predicts
        # (a, c) as relative changes of the phase's reference lattice
        x = np.hstack([noisy / noisy.max(axis=1, keepdims=True), onehot])
        t = lambda arr: torch.tensor(arr, dtype=torch.float32)  # noqa: E731
        self.x, self.ref, self.lattice = t(x), t(ref), t(lattice)
        self.cubic = torch.tensor([not PROTOTYPES[k].tetragonal for k in kinds])
        self.cdf_obs = t(np.cumsum(noisy, axis=1) * self.step_deg)
        self.lab, self.val, self.unlab, self.test = (
            torch.as_tensor(i, dtype=torch.long) for i in (part.train, part.validation, part.unlabelled, part.test)
        )
        self._sizes = {**part.sizes(), "prototypes": [p.name for p in PROTOTYPES], "pattern_points": noisy.shape[1],
                       "data": "pymatgen XRDCalculator patterns (CuKa), generated from data_seed"}

    def _patterns(self, sks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(phase, lattice (a, c), noisy pattern) of every sample, drawn from ``data_seed``."""
        n = self.n_patterns  # the data do not depend on how many are labelled
        rng = np.random.default_rng(self.data_seed)
        kinds = np.arange(n) % len(PROTOTYPES)
        rng.shuffle(kinds)
        lattice = np.empty((n, 2))
        for i, k in enumerate(kinds):
            p = PROTOTYPES[k]
            a = p.a * (1 + rng.uniform(-self.spread, self.spread))
            c = a * (p.c / p.a) * (1 + rng.uniform(-0.04, 0.04)) if p.tetragonal else a
            lattice[i] = a, c
        # one structure per prototype, shared by its samples: the SKS sets each sample's (a, c)
        reference = [p.structure() for p in PROTOTYPES]
        self.contexts = [reference[k] for k in kinds]
        clean = sks(lattice, self.contexts)
        if not np.all(np.isfinite(clean)):
            raise ConfigError("xrd-lattice: the SKS failed on some of the task's own patterns")
        noisy = clean + self.noise * clean.max(axis=1, keepdims=True) * rng.standard_normal(clean.shape)
        return kinds, lattice, noisy

    def make_model(self) -> torch.nn.Module:
        return _LatticeNet(self.x.shape[1], self.hidden)

    def predict(self, model: torch.nn.Module, idx: torch.Tensor) -> torch.Tensor:
        """(a, c) in Å of samples ``idx``; a cubic phase has one parameter, so c = a there."""
        rel = 1.0 + 0.1 * model(self.x[idx])
        rel = torch.where(self.cubic[idx, None], rel[:, :1].expand(-1, 2), rel)
        return self.ref[idx] * rel

    def loss(self, model, layer, step):
        data = torch.mean((self.predict(model, self.lab) - self.lattice[self.lab]) ** 2)
        metrics = {"data_mse": data.item()}
        if layer is None or len(self.unlab) == 0:
            return data, metrics
        idx = self.unlab[minibatch(len(self.unlab), self.batch_unlabelled, self.seed, step)]
        y = layer(self.predict(model, idx), [self.contexts[i] for i in idx.tolist()])
        cdf = torch.cumsum(y, dim=1) * self.step_deg
        # a query that failed for good (on_failure="skip") is a NaN row: out of the loss
        pattern = mean_over_finite(cdf - self.cdf_obs[idx], lambda d: (d**2).mean(dim=1))
        metrics["pattern_loss"] = pattern.item()
        return data + self.pattern_weight * pattern, metrics

    def sample_inputs(self, n: int, seed: int = 0):
        """(a, c) of ``n`` unlabelled samples at their true lattice, with their contexts."""
        pool = self.unlab if len(self.unlab) else self.lab
        pick = np.random.default_rng(seed).choice(len(pool), size=min(n, len(pool)), replace=False)
        idx = pool[torch.as_tensor(pick)]
        return self.lattice[idx].double().numpy(), [self.contexts[i] for i in idx.tolist()]

    def evaluate(self, model) -> dict[str, float]:
        pred, target = self.predict(model, self.test), self.lattice[self.test]
        err = (pred - target).abs()
        return {**regression_metrics(pred, target), "test_mae_a": float(err[:, 0].mean()),
                "test_mae_c": float(err[:, 1].mean())}

    def validate(self, model) -> dict[str, float]:
        """``val_mae``, ``val_rmse``, ``val_max`` (Å, a and c) on the held-out labelled patterns."""
        if not len(self.val):
            return {}
        return regression_metrics(self.predict(model, self.val), self.lattice[self.val], "val")

    def describe_data(self) -> dict[str, Any]:
        return dict(self._sizes)


class _LatticeNet(torch.nn.Module):
    """(pattern, phase one-hot) -> relative change of (a, c) from the phase's reference."""

    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
