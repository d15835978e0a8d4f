"""Default task of ``lammps``: composition -> equilibrium lattice constant of fcc alloys.

The problem: predict the equilibrium lattice constant a0 (Å) of a random fcc alloy of Cu,
Ag, Au, Ni, Pd and Pt from its composition, with only a handful of labelled alloys.

Labels come from a different model than the one zoo trains through: ASE's EMT with
relaxed positions and volume (``data/fcc_alloys_emt.csv``, made by
``scripts/make_emt_labels.py``), while the physics term runs LAMMPS with the Foiles u3 EAM
potentials. So the coupled model cannot win by copying its SKS; it has to use EAM's
physics (how a0 moves with composition) where EAM and EMT agree.

* data-only twin: an MLP fitted to the ``n_labelled`` labelled alloys.
* SKS-coupled model: the same MLP and labels, plus a physics term on unlabelled alloys
  (compositions only): the LAMMPS EAM pressure of the alloy (ideal fcc sites) at the
  predicted lattice constant should vanish. LAMMPS gives no gradient of P with respect to
  a; zoo estimates it by finite differences through the SKS layer, all rows of a step in
  one ``lmp`` process.

The physics residual P is turned into a lattice-constant error (Å) by dividing by
``pressure_per_angstrom`` (|dP/da| ~ 3B/a ~ 100 GPa/Å for these metals).
``calibration="offset"`` (default) gives the coupled model one more parameter, a global
offset delta between the two models (P_EAM(a - delta) = 0); EAM's u3 lattice constants
sit ~0.02 Å above EMT's on these alloys.

Defaults are kept short (60 steps of 8 unlabelled alloys, 2 ``lmp`` calls per step).
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

import zoo
from zoo import ConfigError

from .alloys import ELEMENTS, random_fcc_alloy


def load_dataset(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The shipped EMT label file (or ``path``): fractions (n, 6), seeds (n,), a0 (n,)."""
    if path is None:
        text = resources.files("zoo_lammps").joinpath("data/fcc_alloys_emt.csv").read_text()
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read data file {str(path)!r}: {exc}") from None
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    missing = {*ELEMENTS, "seed", "a0_emt"} - set(rows[0] if rows else ())
    if missing:
        raise ConfigError(f"data file lacks columns {sorted(missing)}")
    return {
        "fractions": np.array([[float(r[e]) for e in ELEMENTS] for r in rows]),
        "seeds": np.array([int(r["seed"]) for r in rows]),
        "a0": np.array([float(r["a0_emt"]) for r in rows]),
    }


class EamAlloyLattice(zoo.Task):
    """Composition -> a0 of fcc alloys; few EMT labels plus LAMMPS EAM's zero pressure."""

    name = "eam-alloy-lattice"
    description = "Lattice constant of fcc Cu/Ag/Au/Ni/Pd/Pt alloys: EMT labels, LAMMPS EAM physics"
    default_sks = "lammps"
    defaults = {
        "estimator": "cge", "steps": 60, "lr": 1e-2, "eval_every": 10,
        "estimator_options": {"mu": 1e-3, "difference": "forward"},
    }
    primary_metric = "test_mae"
    metric_units = {"test_mae": "Å", "test_rmse": "Å", "test_max": "Å"}

    def __init__(
        self,
        n_labelled: int = 8,
        batch_unlabelled: int = 8,
        n_unlabelled: int | None = None,
        test_fraction: float = 0.25,
        physics_weight: float = 1.0,
        pressure_per_angstrom: float = 100.0,
        hidden: int = 32,
        calibration: str = "offset",
        split_seed: int = 0,
        data: str | None = None,
    ):
        if calibration not in ("offset", "none"):
            raise ConfigError("eam-alloy-lattice: calibration must be 'offset' or 'none'")
        if n_labelled < 1:
            raise ConfigError("eam-alloy-lattice: n_labelled must be >= 1")
        if batch_unlabelled < 1:
            raise ConfigError("eam-alloy-lattice: batch_unlabelled must be >= 1")
        if not 0 < test_fraction < 1:
            raise ConfigError("eam-alloy-lattice: test_fraction must be in (0, 1)")
        self.n_labelled, self.batch_unlabelled = n_labelled, batch_unlabelled
        self.n_unlabelled, self.test_fraction = n_unlabelled, test_fraction
        self.physics_weight, self.k = physics_weight, pressure_per_angstrom
        self.hidden, self.split_seed, self.data_path = hidden, split_seed, data
        self.calibration = calibration

    def sks_options(self) -> dict[str, Any]:
        return {"inputs": "lattice_constant", "outputs": ["pressure"], "lower": 3.0, "upper": 4.6,
                "pair_style": "eam"}

    def setup(self, sks, seed: int) -> None:
        if "pressure" not in sks.output_spec.names or sks.input_spec.names != ("a",):
            raise ConfigError(
                f"eam-alloy-lattice needs an SKS with input 'a' (inputs='lattice_constant') "
                f"and output 'pressure'; {sks.name} has {list(sks.input_spec.names)} -> "
                f"{list(sks.output_spec.names)}"
            )
        self.p_col = sks.output_spec.names.index("pressure")
        data = load_dataset(self.data_path)
        n = len(data["a0"])
        order = np.random.default_rng(self.split_seed).permutation(n)
        n_test = int(round(self.test_fraction * n))
        test, pool = order[:n_test], np.random.default_rng(seed).permutation(order[n_test:])
        if self.n_labelled > len(pool):
            raise ConfigError(f"eam-alloy-lattice: n_labelled={self.n_labelled} > {len(pool)} available")
        lab, unlab = pool[: self.n_labelled], pool[self.n_labelled :]
        if self.n_unlabelled is not None:
            unlab = unlab[: self.n_unlabelled]
        x = torch.tensor(data["fractions"], dtype=torch.float32)
        a0 = torch.tensor(data["a0"], dtype=torch.float32)
        self.x_lab, self.a_lab = x[lab], a0[lab]
        self.x_unlab, self.x_test, self.a_test = x[unlab], x[test], a0[test]
        self.ctx_unlab = [random_fcc_alloy(data["fractions"][i], int(data["seeds"][i])) for i in unlab]
        self.offset = float(self.a_lab.mean())
        self.seed = seed
        self._sizes = {"labelled": len(lab), "unlabelled": len(unlab), "test": len(test),
                       "labels": "ASE EMT (relaxed); physics: LAMMPS EAM u3 pressure"}

    def make_model(self) -> torch.nn.Module:
        return _LatticeMLP(len(ELEMENTS), self.hidden, self.offset)

    def loss(self, model, layer, step):
        data = torch.mean((model(self.x_lab) - self.a_lab) ** 2)
        metrics = {"data_mse": data.item()}
        if layer is None:
            return data, metrics
        b = min(self.batch_unlabelled, len(self.x_unlab))
        # the minibatch depends only on (seed, step): the loss is a function of the model,
        # as full-ZO (several evaluations a step) and a resumed run need
        batches = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        idx = torch.randperm(len(self.x_unlab), generator=batches)[:b]
        a = model(self.x_unlab[idx])
        if self.calibration == "offset":
            a = a + model.delta
        p = layer(a[:, None], [self.ctx_unlab[i] for i in idx.tolist()])[:, self.p_col]
        physics = torch.mean((p / self.k) ** 2)
        metrics["physics_mse"] = physics.item()
        if self.calibration == "offset":
            metrics["delta"] = model.delta.item()
        return data + self.physics_weight * physics, metrics

    def evaluate(self, model) -> dict[str, float]:
        err = (model(self.x_test) - self.a_test).abs()
        return {
            "test_mae": float(err.mean()),
            "test_rmse": float(err.pow(2).mean().sqrt()),
            "test_max": float(err.max()),
        }

    def describe_data(self) -> dict[str, Any]:
        return dict(self._sizes)


class _LatticeMLP(torch.nn.Module):
    """composition (6 fractions) -> a (Å): offset + 0.2 Å x MLP output."""

    def __init__(self, n_in: int, hidden: int, offset: float):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, 1),
        )
        self.offset = offset
        #: lattice offset EAM minus EMT (Å), learnt from the labels
        self.delta = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.offset + 0.2 * self.net(x).squeeze(-1)
