"""Composition -> equilibrium lattice constant of random fcc alloys, through any code that
computes a pressure: ``fcc-alloy-lattice`` and ``eam-alloy-lattice``.

The problem: predict the equilibrium lattice constant a0 (Å) of a random fcc alloy of Cu,
Ag, Au, Ni, Pd and Pt from its composition, with only a handful of labelled alloys.

* data-only twin: an MLP fitted to the ``n_labelled`` labelled alloys (less the
  ``n_validation`` held out for :meth:`validate`).
* SKS-coupled model: the same MLP, same labels, plus a physics term on the unlabelled
  alloys (compositions only): the SKS's pressure of the alloy (ideal fcc sites) at the
  predicted lattice constant should vanish. The SKS gives no gradient of P with respect to
  a; zoo estimates it by finite differences through the SKS layer.

The task asks its SKS in the shared vocabulary (``inputs="lattice_constant"``,
``outputs="pressure"``), so ``ase-emt``, ``ase-calculator`` and ``lammps`` all serve it.
The labels come from a model other than the SKS's, so the coupled model cannot win by
copying it: ``labels="eam"`` (default of ``fcc-alloy-lattice``, whose SKS is ASE's EMT) are
LAMMPS EAM u3 lattice constants, ``labels="emt"`` (default of ``eam-alloy-lattice``, whose
SKS is LAMMPS EAM) are ASE EMT's, both relaxed (:mod:`zoo_atomistic.tasks.labels`).

Both losses are in Å^2: the physics residual P is turned into a lattice-constant error by
dividing by ``pressure_per_angstrom`` (|dP/da| ~ 3B/a ~ 100 GPa/Å for these metals).

``calibration="offset"`` (default) gives the coupled model one more parameter, a global
lattice offset delta: the physics term asks for P_SKS(a - delta) = 0, and the labels decide
delta. EMT's lattice constants sit 0.015 +/- 0.013 Å below EAM's on these alloys; without
the offset that systematic gap is a floor under the coupled model's error. The data-only
twin has the same parameter, unused (it has no physics to calibrate).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

import zoo
from zoo import ConfigError
from zoo.tasks import mean_over_finite, minibatch, regression_metrics, regression_units, split

from ..alloys import ELEMENTS, random_fcc_alloy
from .labels import LATTICE_LABELS, lattice_labels
from .models import LatticeMLP

#: a near a realistic value for sample_inputs: Vegard's law over pure EAM lattice constants
PURE_A = np.array([3.615, 4.09, 4.08, 3.52, 3.89, 3.92])


class FccAlloyLattice(zoo.Task):
    """Composition -> a0 of fcc alloys; few labels plus the SKS's zero-pressure condition."""

    name = "fcc-alloy-lattice"
    description = "Equilibrium lattice constant of fcc Cu/Ag/Au/Ni/Pd/Pt alloys from composition"
    default_sks = "ase-emt"
    #: the label file and the unlabelled alloys a step, unless the options say otherwise
    default_labels: ClassVar[str] = "eam"
    default_batch: ClassVar[int] = 16
    # d_in = 1, so CGE (one forward difference a sample, f(z) reused from forward) is the
    # cheapest exact-enough estimator: 2 SKS queries per unlabelled alloy and step
    defaults = {
        "estimator": "cge",
        "estimator_options": {"mu": 1e-3, "difference": "forward"},
        "steps": 150,
        "lr": 1e-2,
        "lr_schedule": "cosine",
    }
    primary_metric = "test_mae"
    metric_units = {**regression_units("Å"), **regression_units("Å", "val")}

    def __init__(
        self,
        n_labelled: int = 8,
        batch_unlabelled: int | None = None,
        n_unlabelled: int | None = None,
        n_validation: int = 0,
        test_fraction: float = 0.25,
        physics_weight: float = 1.0,
        pressure_per_angstrom: float = 100.0,
        hidden: int = 32,
        calibration: str = "offset",
        split_seed: int = 0,
        labels: str | None = None,
        data: str | None = None,
    ):
        labels = self.default_labels if labels is None else labels
        batch_unlabelled = self.default_batch if batch_unlabelled is None else batch_unlabelled
        if calibration not in ("offset", "none"):
            raise ConfigError(f"{self.name}: calibration must be 'offset' or 'none'")
        if labels not in LATTICE_LABELS:
            raise ConfigError(f"{self.name}: labels must be one of {', '.join(LATTICE_LABELS)}, got {labels!r}")
        if isinstance(batch_unlabelled, bool) or not isinstance(batch_unlabelled, int) or batch_unlabelled < 1:
            raise ConfigError(f"{self.name}: batch_unlabelled must be a whole number >= 1")
        self.n_labelled, self.n_validation, self.batch_unlabelled = n_labelled, n_validation, batch_unlabelled
        self.n_unlabelled, self.test_fraction = n_unlabelled, test_fraction
        self.physics_weight, self.k = physics_weight, pressure_per_angstrom
        self.hidden, self.split_seed = hidden, split_seed
        self.calibration, self.labels, self.data_path = calibration, labels, data
        if isinstance(n_labelled, bool) or not isinstance(n_labelled, int) or n_labelled < 1:
            raise ConfigError(f"{self.name}: n_labelled must be a whole number >= 1, got {n_labelled!r}")
        if not 0 <= n_validation < n_labelled:
            raise ConfigError(f"{self.name}: n_validation must be from 0 to n_labelled - 1, got {n_validation}")
        if not 0 < test_fraction < 1:
            raise ConfigError(f"{self.name}: test_fraction must be in (0, 1), got {test_fraction}")

    def sks_options(self) -> dict[str, Any]:
        return {"inputs": "lattice_constant", "outputs": ["pressure"], "lower": 3.0, "upper": 4.6}

    def setup(self, sks, seed: int) -> None:
        if "pressure" not in sks.output_spec.names or sks.input_spec.names != ("a",):
            raise ConfigError(
                f"{self.name} needs an SKS with input 'a' (inputs='lattice_constant') and output "
                f"'pressure'; {sks.name} has {list(sks.input_spec.names)} -> {list(sks.output_spec.names)}"
            )
        self.p_col = sks.output_spec.names.index("pressure")
        data = lattice_labels(self.labels, self.data_path)
        # the test set depends only on split_seed, so runs with different seeds compare
        part = split(len(data.a0), n_labelled=self.n_labelled, seed=seed, split_seed=self.split_seed,
                     test_fraction=self.test_fraction, n_validation=self.n_validation,
                     n_unlabelled=self.n_unlabelled, what=self.name)
        x = torch.tensor(data.fractions, dtype=torch.float32)
        a0 = torch.tensor(data.a0, dtype=torch.float32)
        self.x_lab, self.a_lab = x[part.train], a0[part.train]
        self.x_val, self.a_val = x[part.validation], a0[part.validation]
        self.x_unlab, self.x_test, self.a_test = x[part.unlabelled], x[part.test], a0[part.test]
        # structures (ideal fcc sites, decorated as in the label files) as the SKS's contexts
        self.ctx_unlab = [random_fcc_alloy(data.fractions[i], int(data.seeds[i])) for i in part.unlabelled]
        self.offset = float(self.a_lab.mean())
        self.seed = seed
        self._sizes = {**part.sizes(), "labels": f"{data.source}; physics: {sks.name} pressure"}

    def make_model(self) -> torch.nn.Module:
        return LatticeMLP(len(ELEMENTS), self.hidden, self.offset)

    def loss(self, model, layer, step):
        data = torch.mean((model(self.x_lab) - self.a_lab) ** 2)
        metrics = {"data_mse": data.item()}
        if layer is None:
            return data, metrics
        idx = minibatch(len(self.x_unlab), self.batch_unlabelled, self.seed, step)
        a = model(self.x_unlab[idx])
        if self.calibration == "offset":
            a = a - model.delta
        p = layer(a[:, None], [self.ctx_unlab[i] for i in idx.tolist()])[:, self.p_col]
        # a query that failed for good (on_failure="skip") is a NaN row: out of the loss
        physics = mean_over_finite(p / self.k, torch.square)
        metrics["physics_mse"] = physics.item()
        if self.calibration == "offset":
            metrics["delta"] = model.delta.item()
        return data + self.physics_weight * physics, metrics

    def sample_inputs(self, n: int, seed: int = 0):
        """Lattice constants near each alloy's own (Vegard's law) of ``n`` unlabelled alloys."""
        pick = np.random.default_rng(seed).choice(len(self.x_unlab), size=min(n, len(self.x_unlab)), replace=False)
        a = self.x_unlab[pick].double().numpy() @ PURE_A
        return a[:, None], [self.ctx_unlab[i] for i in pick]

    def evaluate(self, model) -> dict[str, float]:
        return regression_metrics(model(self.x_test), self.a_test)

    def validate(self, model) -> dict[str, float]:
        """``val_mae``, ``val_rmse``, ``val_max`` on the ``n_validation`` held-out labels."""
        if len(self.a_val) == 0:
            return {}
        return regression_metrics(model(self.x_val), self.a_val, "val")

    def describe_data(self) -> dict[str, Any]:
        return dict(self._sizes)


class EamAlloyLattice(FccAlloyLattice):
    """fcc-alloy-lattice with EMT labels: the default task of ``lammps``, whose EAM is the physics."""

    name = "eam-alloy-lattice"
    description = "Lattice constant of fcc Cu/Ag/Au/Ni/Pd/Pt alloys: EMT labels, physics from the SKS (LAMMPS EAM)"
    default_sks, default_labels, default_batch = "lammps", "emt", 8
    defaults = {"estimator": "cge", "steps": 60, "lr": 1e-2, "eval_every": 10,
                "estimator_options": {"mu": 1e-3, "difference": "forward"}}


__all__ = ["EamAlloyLattice", "FccAlloyLattice"]
