"""Default task of ``xtb``: the MP2 equilibrium bond length of G2 molecules, from few labels.

The problem: predict the bond length (Å) of the G2 molecules whose geometry is one bond
length (28 diatomics and 13 symmetric AXn, :mod:`zoo_tblite.g2`) from what is known about
the two elements without any calculation, with only ``n_labelled`` MP2 labels.

Labels come from a different method than the one zoo trains through (MP2(full)/6-31G*
geometries published with the G2 set), so the coupled model cannot win by copying xTB.

* model: an MLP from the standardised features to a correction of the covalent-radius sum,
  r = r_cov(A) + r_cov(X) + 0.3 Å x MLP(features). The sum is the classic rule of thumb
  and the natural start; what it cannot know is bond order (N2's triple bond is 0.29 Å
  shorter than its radii say).
* data-only twin: the model fitted to the labelled molecules.
* SKS-coupled: the same model, same labels, plus a physics term on the unlabelled molecules
  (never the test or validation ones): xTB's bond force at the predicted bond length
  should vanish. xTB gives the force analytically but not its derivative with respect to
  r; zoo estimates that by a forward difference (CGE on d = 1: one extra xTB query a
  molecule and step).

Both losses are in Å^2: the bond force F (eV/Å per bond) becomes a length error through
``force_per_angstrom`` k (eV/Å^2, a typical bond stiffness; GFN2-xTB's range from 2 for Li2
to 150 for N2), so the physics term is mean((F / k)^2). Stiff bonds therefore weigh more
than soft ones, which suits xTB: its worst bond lengths are the soft alkali ones (Li2 0.47
Å too short against MP2).

``calibration="offset"`` (default), as in ``fcc-alloy-lattice``: the physics term asks for
F(r - delta) = 0, a learned global offset delta between xTB's and MP2's bond lengths,
which the labels decide through the shared network. The data-only twin has the same
parameter, unused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import zoo
from zoo import ConfigError
from zoo.tasks import mean_over_finite, minibatch, regression_metrics, regression_units, split

from .g2 import FEATURES, BondLengthRecord, features, g2_one_bond_molecules, provenance

NAME = "g2-bond-length"


class G2BondLength(zoo.Task):
    """Bond lengths of one-bond-length G2 molecules; few MP2 labels plus xTB's zero bond force."""

    name = NAME
    description = "MP2 bond lengths of G2 diatomics and symmetric AXn molecules from element properties (xTB physics)"
    default_sks = "xtb"
    # d_in = 1: forward CGE (f(z) reused from the forward pass) costs one extra xTB single
    # point per unlabelled molecule and step; mu = 1e-3 Å changes a bond force by ~0.03-0.15
    # eV/Å, far above xTB's SCF noise at accuracy 1 (~1e-6 eV/Å)
    defaults = {
        "estimator": "cge",
        "estimator_options": {"mu": 1e-3, "difference": "forward"},
        "steps": 400,
        "lr": 3e-3,
        "eval_every": 10,
    }
    primary_metric = "test_mae"
    metric_units = {**regression_units("Å"), **regression_units("Å", prefix="val")}

    def __init__(
        self,
        n_labelled: int = 8,
        n_validation: int = 2,
        test_fraction: float = 0.25,
        split_seed: int = 0,
        physics_weight: float = 1.0,
        force_per_angstrom: float = 30.0,
        hidden: int = 32,
        batch_unlabelled: int = 32,
        calibration: str = "offset",
    ):
        if calibration not in ("offset", "none"):
            raise ConfigError(f"{NAME}: calibration must be 'offset' or 'none', got {calibration!r}")
        for what, value in (("physics_weight", physics_weight), ("force_per_angstrom", force_per_angstrom)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ConfigError(f"{NAME}: {what} must be a number >= 0, got {value!r}")
        if force_per_angstrom == 0:
            raise ConfigError(f"{NAME}: force_per_angstrom must be > 0 (a bond stiffness, eV/Å^2)")
        for what, value in (("hidden", hidden), ("batch_unlabelled", batch_unlabelled)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{NAME}: {what} must be a whole number >= 1, got {value!r}")
        self.n_labelled, self.n_validation = n_labelled, n_validation
        self.test_fraction, self.split_seed = test_fraction, split_seed
        self.physics_weight, self.k = float(physics_weight), float(force_per_angstrom)
        self.hidden, self.batch_unlabelled, self.calibration = hidden, batch_unlabelled, calibration

    def sks_options(self, sks: str | None = None) -> dict[str, Any]:
        return {"inputs": "bond_length", "outputs": ["bond_force"]}

    # -- data -----------------------------------------------------------------------------
    def setup(self, sks, seed: int) -> None:
        if sks.input_spec.names != ("r",) or "bond_force" not in sks.output_spec.names:
            raise ConfigError(
                f"{NAME} needs a knowledge source with the input 'r' (inputs='bond_length') and the "
                f"output 'bond_force'; {sks.name} has {list(sks.input_spec.names)} -> {list(sks.output_spec.names)}"
            )
        self.f_col = sks.output_spec.names.index("bond_force")
        self.records: list[BondLengthRecord] = g2_one_bond_molecules()
        n = len(self.records)
        parts = split(
            n, n_labelled=self.n_labelled, seed=seed, split_seed=self.split_seed,
            test_fraction=self.test_fraction, n_validation=self.n_validation, what=NAME,
        )
        raw = np.stack([features(r) for r in self.records])
        # standardised with the statistics of the rows outside the test set (features only;
        # a constant column, the charge of these neutral molecules, is left at zero)
        fit = raw[np.concatenate([parts.train, parts.validation, parts.unlabelled])]
        mean, std = fit.mean(axis=0), fit.std(axis=0)
        scaled = (raw - mean) / np.where(std > 0, std, 1.0)
        cov = np.array([r.covalent_sum for r in self.records])
        # the model's input: the scaled features, then the covalent-radius sum it corrects
        self.x = torch.tensor(np.column_stack([scaled, cov]), dtype=torch.float32)
        self.y = torch.tensor([r.r_mp2 for r in self.records], dtype=torch.float32)
        # molecules xTB cannot compute at their covalent-radius sum leave the physics term
        unlab = parts.unlabelled
        self.excluded: list[str] = []
        if len(unlab):
            probe = sks(cov[unlab][:, None], [self.records[i].context for i in unlab])
            ok = np.isfinite(probe).all(axis=1)
            self.excluded = [self.records[i].name for i in unlab[~ok]]
            unlab = unlab[ok]
        self.parts, self.unlab, self.seed = parts, unlab, seed

    def rows(self, which: str) -> np.ndarray:
        """Indices into :attr:`records` of ``train``, ``validation``, ``unlabelled``
        (those in the physics term) or ``test``."""
        return self.unlab if which == "unlabelled" else getattr(self.parts, which)

    # -- model and loss ---------------------------------------------------------------------
    def make_model(self) -> torch.nn.Module:
        return BondLengthMLP(len(FEATURES), self.hidden)

    def loss(self, model, layer, step):
        train = torch.as_tensor(self.parts.train)
        data = torch.mean((model(self.x[train]) - self.y[train]) ** 2)
        metrics = {"data_mse": data.item()}
        if layer is None or self.physics_weight == 0 or len(self.unlab) == 0:
            return data, metrics
        pick = self.unlab[minibatch(len(self.unlab), self.batch_unlabelled, self.seed, step).numpy()]
        r = model(self.x[torch.as_tensor(pick)])
        if self.calibration == "offset":
            r = r - model.delta
        force = layer(r[:, None], [self.records[i].context for i in pick])[:, self.f_col]
        # failed xTB rows (NaN) leave the loss; the square only ever sees finite rows
        physics = mean_over_finite(force / self.k, torch.square)
        metrics["physics_mse"] = physics.item()
        if self.calibration == "offset":
            metrics["delta"] = model.delta.item()
        return data + self.physics_weight * physics, metrics

    # -- metrics ----------------------------------------------------------------------------
    def _metrics(self, model, rows: np.ndarray, prefix: str) -> dict[str, float]:
        idx = torch.as_tensor(rows)
        with torch.no_grad():
            return regression_metrics(model(self.x[idx]), self.y[idx], prefix=prefix)

    def evaluate(self, model) -> dict[str, float]:
        """Test MAE/RMSE/max (Å) on the test molecules."""
        return self._metrics(model, self.parts.test, "test")

    def validate(self, model) -> dict[str, float]:
        """MAE/RMSE/max (Å) on the validation molecules (labelled, never trained on, never
        in the physics term); ``{}`` when ``n_validation = 0``. The training loop logs them
        beside the test metrics; early stopping watches ``val_mae``."""
        if not len(self.parts.validation):
            return {}
        return self._metrics(model, self.parts.validation, "val")

    def sample_inputs(self, n: int, seed: int = 0):
        """Unlabelled molecules at their covalent-radius sum (r known without a calculation)."""
        rng = np.random.default_rng(seed)
        pick = rng.choice(self.unlab, size=min(n, len(self.unlab)), replace=False)
        r = np.array([[self.records[i].covalent_sum] for i in pick])
        return r, [self.records[i].context for i in pick]

    def describe_data(self) -> dict[str, Any]:
        names = lambda rows: [self.records[i].name for i in rows]  # noqa: E731
        return {
            **provenance(),
            "molecules": len(self.records),
            **self.parts.sizes(),
            "in_physics_term": len(self.unlab),
            "excluded_by_xtb": self.excluded,
            "test_molecules": names(self.parts.test),
            "labelled_molecules": names(np.concatenate([self.parts.train, self.parts.validation])),
        }


class BondLengthMLP(torch.nn.Module):
    """Features -> bond length (Å): the covalent-radius sum plus 0.3 Å x MLP(features).

    Input rows: the standardised features (:data:`zoo_tblite.g2.FEATURES`), then the
    covalent-radius sum in Å as the last column (the prediction the network corrects).
    """

    def __init__(self, n_features: int, hidden: int):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, 1),
        )
        #: systematic offset between xTB's and the labels' bond lengths (Å); physics term only
        self.delta = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1] + 0.3 * self.net(x[:, :-1]).squeeze(-1)
