"""``ase-structure``: relax a structure file through the knowledge source; ASE has the answer.

The default task of ``ase-calculator``, for the first run of a calculator a scientist has
wrapped: ``zoo run --sks ase-calculator --sks-option structure=FILE`` with a small molecule
(.xyz) or a crystal (.cif, POSCAR). It answers one question — do zoo's gradient estimates of
*this* calculator find the minimum that ASE finds with the calculator's analytic forces? —
in seconds for a cheap calculator (EMT, Lennard-Jones, xTB on a small molecule).

* **model**: the SKS's input row itself, a learnable vector z that starts at the structure
  as the file has it: every atom's position for a molecule (the source's default inputs),
  the lattice constant for a crystal; ``bond_length`` and ``scale`` too, when the source's
  ``inputs`` option asks for them (:data:`zoo_ase.relax.RELAXABLE`).
* **loss**: the energy through the SKS less the reference minimum's, E(z) - E* (eV): it
  falls to 0 at the minimum. zoo estimates dE/dz from energies alone (central CGE by
  default: 2 d + 1 single points a step for d inputs).
* **reference**: computed at set-up from the calculator's analytic forces or stress
  (:mod:`zoo_ase.relax`: ASE's BFGS for positions, Brent's method on the bond force or the
  pressure for one number).
* **test metrics** (Å; unitless for ``scale``): for positions and bond_length, the errors of
  every interatomic distance against the reference's (a molecule may drift or turn as a
  whole; distances do not); for the lattice kinds, the error of the input itself.
* **data-only twin**: there are no data to learn from, so its loss is zero and it stays at
  the start; its row in the table is the starting error.

This is a check, not a better optimiser: ASE's optimisers with analytic forces relax a
structure in far fewer calculations. Training from data of your own: ``--task fit``
(a CSV table), or a task of your own (docs/writing-a-plugin.md).
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
import torch

import zoo
from zoo import ConfigError
from zoo.tasks import mean_over_finite, regression_metrics, regression_units

from .relax import RELAXABLE, Reference, reference, start_row

NAME = "ase-structure"


class InputRow(torch.nn.Module):
    """The model: one SKS input row z, kept inside the inputs' bounds."""

    def __init__(self, start: np.ndarray, lower: np.ndarray, upper: np.ndarray):
        super().__init__()
        self.z = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
        self.register_buffer("lower", torch.tensor(lower, dtype=torch.float64))
        self.register_buffer("upper", torch.tensor(upper, dtype=torch.float64))

    def forward(self) -> torch.Tensor:
        return torch.minimum(torch.maximum(self.z, self.lower), self.upper)


class AseStructure(zoo.Task):
    """Relax the ``structure`` option's molecule or crystal through the SKS (ZO gradients of
    the energy) and compare with the minimum ASE finds from the calculator's forces."""

    name = NAME
    description = ("Relax the structure=FILE option's molecule (positions) or crystal (lattice constant) "
                   "through an ASE SKS; checked against ASE's own minimum")
    default_sks = "ase-calculator"
    # central differences: no bias of mu/2 in where the minimum lands; mu = 1e-3 Å moves
    # an xTB or EMT energy by ~1e-4-1e-3 eV, far above their rounding and SCF noise (~1e-9)
    defaults = {
        "estimator": "cge",
        "estimator_options": {"mu": 1e-3, "difference": "central"},
        "steps": 200,
        "lr": 1e-2,
        "lr_schedule": "cosine",
        "eval_every": 10,
    }
    primary_metric = "test_mae"
    metric_units = regression_units("Å")

    def __init__(self, fmax: float = 1e-3):
        if isinstance(fmax, bool) or not isinstance(fmax, (int, float)) or not (math.isfinite(fmax) and fmax > 0):
            raise ConfigError(f"{NAME}: fmax must be a number > 0 (eV/Å), got {fmax!r}")
        self.fmax = float(fmax)

    def sks_options(self, sks: str | None = None) -> dict[str, Any]:
        """The energy is what the model minimises; the inputs are the source's own (its
        default: positions for a molecule, the lattice constant for a crystal)."""
        return {"outputs": "energy"}

    # -- set-up ---------------------------------------------------------------------------
    def setup(self, sks: zoo.KnowledgeSource, seed: int) -> None:
        self.kind = self._check(sks)
        self.energy = list(sks.output_spec.names).index("energy")
        spec = sks.input_spec
        self.start = start_row(self.kind, sks.structure, sks.mapping.atoms_per_cell)
        self.ref: Reference = reference(sks, self.kind, self.start, self.fmax)
        self.lower, self.upper = spec.lower.copy(), spec.upper.copy()
        self.formula = sks.structure.get_chemical_formula()
        unit = spec.units[0] if spec.units else ""
        self.metric_units = regression_units(unit)
        self.target = self._compare(self.ref.z)

    def _check(self, sks: Any) -> str:
        """The one input kind to relax; ConfigError for a source this task cannot use."""
        from .calculators import AseSource

        if not isinstance(sks, AseSource):
            raise ConfigError(f"{NAME} relaxes through an ASE knowledge source (ase-calculator, ase-emt, "
                              f"ase-lj, ase-morse), not {sks.name!r}")
        if sks.structure is None:
            raise ConfigError(f"{NAME} relaxes the structure of the option structure=FILE; give one, e.g. "
                              f"--sks-option structure=molecule.xyz (or crystal.cif)")
        kinds = [k.name for k in sks.mapping.inputs.kinds]
        if len(kinds) != 1 or kinds[0] not in RELAXABLE:
            raise ConfigError(f"{NAME} relaxes one of the inputs {', '.join(RELAXABLE)}; the SKS has "
                              f"inputs {kinds} (leave the inputs option out for the default)")
        if "energy" not in sks.output_spec.names:
            raise ConfigError(f"{NAME} minimises the energy; the SKS's outputs {list(sks.output_spec.names)} "
                              f"must include 'energy'")
        return kinds[0]

    def _compare(self, z: np.ndarray) -> np.ndarray:
        """What the metrics compare: interatomic distances for positions, else the inputs."""
        if self.kind != "positions":
            return np.asarray(z, dtype=np.float64).copy()
        xyz = np.asarray(z, dtype=np.float64).reshape(-1, 3)
        pairs = list(combinations(range(len(xyz)), 2)) or [(0, 0)]
        i, j = np.array(pairs).T
        return np.linalg.norm(xyz[i] - xyz[j], axis=1)

    # -- training -------------------------------------------------------------------------
    def make_model(self) -> torch.nn.Module:
        return InputRow(self.start, self.lower, self.upper)

    def loss(self, model: torch.nn.Module, layer: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        z = model()
        if layer is None:  # nothing to learn without the SKS: the twin stays at the start
            return (z * 0.0).sum(), {}
        e = layer(z[None], None)[:, self.energy]
        gap = mean_over_finite(e - self.ref.energy)
        return gap, {"energy_above_minimum": float(gap.detach())}

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        z = model().detach().cpu().numpy()
        return regression_metrics(torch.from_numpy(self._compare(z)), torch.from_numpy(self.target))

    def sample_inputs(self, n: int, seed: int = 0) -> tuple[np.ndarray, None]:
        """Rows around the start (positions: 0.02 Å per coordinate; one number: 1 %), the
        SKS's own structure as their context, for ``zoo diagnose``."""
        rng = np.random.default_rng(seed)
        if self.kind == "positions":
            rows = self.start + rng.normal(0.0, 0.02, (n, len(self.start)))
        else:
            rows = self.start * (1.0 + rng.uniform(-0.01, 0.01, (n, 1)))
        return np.clip(rows, self.lower, self.upper), None

    def describe_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"structure": self.formula, "inputs": self.kind, "reference": self.ref.method,
                               "reference_calculations": self.ref.calculations,
                               "reference_energy_eV": self.ref.energy}
        if len(self.start) == 1:
            out.update(start=float(self.start[0]), minimum=float(self.ref.z[0]))
        return out


__all__ = ["AseStructure", "InputRow"]
