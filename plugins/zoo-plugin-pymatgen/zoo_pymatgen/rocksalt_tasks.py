"""Default tasks of ``pymatgen-bvs`` and ``pymatgen-ewald`` on rock-salt compounds.

Both learn from element descriptors of 48 AX compounds (:mod:`zoo_pymatgen.ionic`) with a
handful of labels; the test set is fixed by ``split_seed``, the labelled subset by the run's
seed (:func:`zoo.tasks.split`), ``n_validation`` of the labels held out for
:meth:`validate`. Both ask their SKS for ``inputs="lattice_constant"`` with
``atoms_per_cell=8``: the vocabulary's cubic lattice constant of the conventional rock-salt
cell, the a of the labels, whatever cell the context is (here the 2-site primitive one).

``rocksalt-bvs-lattice`` (pymatgen-bvs): descriptors -> lattice constant a (Å). Labels: a
from Shannon's radii. Physics on the unlabelled compounds (no labels): the bond-valence sums
at the predicted lattice should equal the ions' valences, i.e. the global instability index
GII(a - delta) should vanish. The bond-valence model puts a 0.2 +/- 0.1 Å below the radii
rule on these compounds; ``delta``, one learned offset that the labels decide (as in
zoo-plugin-ase's fcc task), absorbs the systematic part. Near its root GII ~ |z| |a - a*|
/ (2 b) with b = 0.31 Å, so GII * 2b / |z| is a lattice error in Å and both loss terms are
in Å^2.

``rocksalt-lattice-energy`` (pymatgen-ewald): descriptors -> lattice energy U (eV per
formula unit). The coupled model predicts a and the Ewald sum at a gives the Madelung
energy, scaled by the Born-Lande factor (1 - 1/n); the data-only twin (the same network)
predicts U directly. There is nothing to say about unlabelled compounds here: what the SKS
brings is the form of U (its 1/a and z^2 dependence), which the twin must learn from a few
labels. The test metrics of the coupled model call the SKS once per test compound (not
counted in the run's SKS queries, which count training only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import zoo
from zoo import ConfigError
from zoo.tasks import mean_over_finite, minibatch, regression_metrics, regression_units, split

from .ionic import ATOMS_PER_CELL, compounds, feature_matrix

#: pymatgen's bond-valence softness (Å), in calculate_bv_sum
BV_SOFTNESS = 0.31
#: where the lattice-energy model's lattice constants start (Å): mid-range for rock salts,
#: since that task has no labels of a to take a mean of
A_START = 5.5


class _RocksaltTask(zoo.Task):
    """Shared data split and network of the rock-salt tasks."""

    def __init__(self, n_labelled: int = 8, test_fraction: float = 0.25, hidden: int = 32, split_seed: int = 0,
                 n_validation: int = 0):
        if isinstance(n_labelled, bool) or not isinstance(n_labelled, int) or n_labelled < 1:
            raise ConfigError(f"{self.name}: n_labelled must be an integer >= 1, got {n_labelled!r}")
        split(48, n_labelled=n_labelled, seed=0, test_fraction=test_fraction, n_validation=n_validation,
              what=self.name)  # option errors now, not at set-up
        self.n_labelled, self.test_fraction, self.hidden, self.split_seed = n_labelled, test_fraction, hidden, split_seed
        self.n_validation = n_validation

    def sks_options(self) -> dict[str, Any]:
        # a from 3 to 9 Å covers every compound here with room
        return {"inputs": "lattice_constant", "atoms_per_cell": ATOMS_PER_CELL, "lower": 3.0, "upper": 9.0}

    def split_data(self, seed: int) -> None:
        self.items = compounds()
        part = split(len(self.items), n_labelled=self.n_labelled, seed=seed, split_seed=self.split_seed,
                     test_fraction=self.test_fraction, n_validation=self.n_validation, what=self.name)
        self.lab, self.val, self.unlab, self.test = part.train, part.validation, part.unlabelled, part.test
        self.x = torch.tensor(feature_matrix(self.items), dtype=torch.float32)
        self.a = torch.tensor([c.a_shannon for c in self.items], dtype=torch.float32)
        self.contexts = [c.primitive() for c in self.items]
        self.seed = seed
        self._sizes = {**part.sizes(), "compounds": "48 rock-salt AX (alkali halides, AE/Ni/Cd/Zn chalcogenides)"}

    def make_model(self) -> torch.nn.Module:
        return _ScalarNet(self.x.shape[1], self.hidden)

    def describe_data(self) -> dict[str, Any]:
        return dict(self._sizes)

    def sample_inputs(self, n: int, seed: int = 0):
        """SKS inputs (Shannon's lattice constant) of ``n`` training compounds."""
        pool = np.concatenate([self.unlab, self.lab])
        pick = pool[np.random.default_rng(seed).choice(len(pool), size=min(n, len(pool)), replace=False)]
        return np.array([[self.items[i].a_shannon] for i in pick]), [self.contexts[i] for i in pick]

    def evaluate(self, model) -> dict[str, float]:
        pred, target = self.predicted(model, self.test)
        return regression_metrics(pred, target)

    def validate(self, model) -> dict[str, float]:
        """``val_mae``, ``val_rmse``, ``val_max`` on the ``n_validation`` held-out labels."""
        if not len(self.val):
            return {}
        pred, target = self.predicted(model, self.val)
        return regression_metrics(pred, target, "val")

    def predicted(self, model, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, label) of the compounds ``idx``."""
        raise NotImplementedError


class RocksaltBVSLattice(_RocksaltTask):
    """Descriptors -> rock-salt lattice constant; few Shannon labels plus GII = 0 on the rest."""

    name = "rocksalt-bvs-lattice"
    description = "Rock-salt lattice constants from element descriptors: few labels plus bond-valence consistency"
    default_sks = "pymatgen-bvs"
    defaults = {"estimator": "cge", "steps": 150, "lr": 5e-3,
                "estimator_options": {"mu": 1e-3, "difference": "forward"}}
    primary_metric = "test_mae"
    metric_units = {**regression_units("Å"), **regression_units("Å", "val")}

    def __init__(self, n_labelled: int = 8, batch_unlabelled: int = 16, physics_weight: float = 1.0,
                 calibration: str = "offset", test_fraction: float = 0.25, hidden: int = 32, split_seed: int = 0,
                 n_validation: int = 0):
        super().__init__(n_labelled, test_fraction, hidden, split_seed, n_validation)
        if calibration not in ("offset", "none"):
            raise ConfigError(f"{self.name}: calibration must be 'offset' or 'none', got {calibration!r}")
        self.batch_unlabelled, self.physics_weight, self.calibration = batch_unlabelled, physics_weight, calibration

    def sks_options(self) -> dict[str, Any]:
        # a 6 Å cut-off costs a third of the default 8 Å; the bond valence of a neighbour
        # crossing it is below 3e-5 v.u. for these compounds (R < 2.8 Å)
        return {**super().sks_options(), "outputs": ["gii"], "cutoff": 6.0}

    def setup(self, sks, seed: int) -> None:
        if "gii" not in sks.output_spec.names or sks.input_spec.names != ("a",):
            raise ConfigError(f"{self.name} needs pymatgen-bvs with inputs='lattice_constant' and output "
                              f"'gii'; got {list(sks.input_spec.names)} -> {list(sks.output_spec.names)}")
        self.col = sks.output_spec.names.index("gii")
        self.split_data(seed)
        self.charge = torch.tensor([float(c.charge) for c in self.items])
        self.offset = float(self.a[self.lab].mean())

    def predict(self, model, idx) -> torch.Tensor:
        return self.offset + 0.5 * model(self.x[idx])

    def predicted(self, model, idx):
        return self.predict(model, idx), self.a[idx]

    def loss(self, model, layer, step):
        data = torch.mean((self.predict(model, self.lab) - self.a[self.lab]) ** 2)
        metrics = {"data_mse": data.item()}
        if layer is None or len(self.unlab) == 0:
            return data, metrics
        idx = torch.as_tensor(self.unlab)[minibatch(len(self.unlab), self.batch_unlabelled, self.seed, step)]
        a = self.predict(model, idx)
        if self.calibration == "offset":
            a = a - model.delta
        gii = layer(a[:, None], [self.contexts[i] for i in idx.tolist()])[:, self.col]
        # a query that failed for good (on_failure="skip") is a NaN row: out of the loss
        physics = mean_over_finite(gii * 2 * BV_SOFTNESS / self.charge[idx], torch.square)
        metrics["physics_mse"] = physics.item()
        if self.calibration == "offset":
            metrics["delta"] = model.delta.item()
        return data + self.physics_weight * physics, metrics


class RocksaltLatticeEnergy(_RocksaltTask):
    """Descriptors -> Born-Lande lattice energy, through the Ewald (Madelung) energy at a predicted a."""

    name = "rocksalt-lattice-energy"
    description = "Rock-salt lattice energies from element descriptors, through the Ewald energy at a predicted lattice"
    default_sks = "pymatgen-ewald"
    defaults = {"estimator": "cge", "steps": 200, "lr": 5e-3,
                "estimator_options": {"mu": 1e-3, "difference": "forward"}}
    primary_metric = "test_mae"
    metric_units = {**regression_units("eV"), **regression_units("eV", "val")}

    def sks_options(self) -> dict[str, Any]:
        return {**super().sks_options(), "outputs": ["energy_per_atom"]}

    def setup(self, sks, seed: int) -> None:
        if "energy_per_atom" not in sks.output_spec.names or sks.input_spec.names != ("a",):
            raise ConfigError(f"{self.name} needs pymatgen-ewald with inputs='lattice_constant' and output "
                              f"'energy_per_atom'; got {list(sks.input_spec.names)} -> {list(sks.output_spec.names)}")
        self.sks, self.col = sks, sks.output_spec.names.index("energy_per_atom")
        self.split_data(seed)
        self.born = torch.tensor([1.0 - 1.0 / c.born_exponent for c in self.items], dtype=torch.float32)
        self.u = torch.tensor([c.born_lande_energy() for c in self.items], dtype=torch.float32)
        self.a_offset = A_START
        self.u_offset, self.u_scale = float(self.u[self.lab].mean()), float(self.u[self.lab].std().clamp(min=1.0))

    def lattice(self, model, idx) -> torch.Tensor:
        return self.a_offset + 0.5 * model(self.x[idx])

    def energy(self, model, layer, idx) -> torch.Tensor:
        """Lattice energy (eV per formula unit) of compounds ``idx``: coupled if ``layer`` given."""
        if layer is None:
            return self.u_offset + self.u_scale * model(self.x[idx])
        e_atom = layer(self.lattice(model, idx)[:, None], [self.contexts[i] for i in idx.tolist()])[:, self.col]
        return 2.0 * e_atom * self.born[idx]

    def loss(self, model, layer, step):
        model.coupled.fill_(layer is not None)
        lab = torch.as_tensor(self.lab)
        # a query that failed for good (on_failure="skip") is a NaN row: out of the loss
        loss = mean_over_finite(self.energy(model, layer, lab) - self.u[lab], torch.square)
        return loss, {"data_mse": loss.item()}

    def predicted(self, model, idx):
        idx = torch.as_tensor(idx)
        if not bool(model.coupled):
            return self.energy(model, None, idx), self.u[idx]
        a = self.sks.input_spec.clip(self.lattice(model, idx).double().numpy()[:, None])  # as the layer clamps
        e_atom = self.sks(a, [self.contexts[i] for i in idx.tolist()])[:, self.col]
        return torch.tensor(2.0 * e_atom, dtype=torch.float32) * self.born[idx], self.u[idx]


class _ScalarNet(torch.nn.Module):
    """descriptors -> one number (a lattice constant or an energy, scaled by the task)."""

    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, 1),
        )
        #: systematic lattice offset between the SKS's physics and the labels (Å)
        self.delta = torch.nn.Parameter(torch.zeros(()))
        #: whether the SKS-coupled variant trains this model (a buffer, so a checkpoint keeps it)
        self.register_buffer("coupled", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
