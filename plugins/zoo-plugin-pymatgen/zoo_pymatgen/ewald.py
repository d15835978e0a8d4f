"""``pymatgen-ewald``: the Ewald electrostatic energy (and forces) of point ions.

pymatgen's ``EwaldSummation`` sums the Coulomb energy of the structure's ions, with charges
from their oxidation states (see :mod:`zoo_pymatgen.oxidation`), in eV; its forces are
-dE/dr in eV/Å (the tests check them against finite differences of the energy).

Smoothness: pymatgen picks the splitting parameter eta and both cut-offs from the volume
and the number of sites, so a query sees slightly different sums; with the default
``acc_factor`` = 12 every neglected term is below 1e-12 of the energy, far under any
finite-difference step zoo uses. Under a uniform scaling, eta and the cut-offs scale with
the cell and no shell crosses a cut-off at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Structure

from zoo import ConfigError
from zoo_atomistic.kinds import ATOMS
from zoo_atomistic.quantities import ONE, Quantity

from . import __version__, oxidation
from .base import PymatgenSource

#: the Ewald sum's three parts, outputs of this source's own beside the vocabulary's
PARTS = {
    name: Quantity(name, "eV", ONE, f"the Ewald sum's {what} part")
    for name, what in (("real_space_energy", "real-space"), ("reciprocal_space_energy", "reciprocal-space"),
                       ("point_energy", "point (self-energy)"))
}


class EwaldSource(PymatgenSource):
    """Ewald electrostatic energy of a structure with oxidation states (pymatgen EwaldSummation).

    Options
    -------
    inputs: a structural kind of zoo-atomistic's vocabulary; default ``scale``.
    outputs: a name or list of ``energy`` (eV; with ``energy_per_atom`` the default),
        ``energy_per_atom``, ``real_space_energy``, ``reciprocal_space_energy``,
        ``point_energy`` (the three parts of the sum) and ``forces`` (eV/Å, needs n_atoms).
    oxidation_states: {element: charge}, e.g. {"Na": 1, "Cl": -1}; without it a structure
        keeps the oxidation states its species carry, or pymatgen guesses them from the
        composition (cached per composition: a guess takes seconds).
    acc_factor, eta, real_space_cut, recip_space_cut: passed to ``EwaldSummation``
        (defaults: pymatgen's choice from the cell, with acc_factor 12).
    lower, upper, n_atoms, atoms_per_cell, structure: as for every pymatgen source.
    """

    name = "pymatgen-ewald"
    description = "Ewald electrostatic energy and forces of an ionic structure (pymatgen EwaldSummation)"
    version = __version__
    default_task = "rocksalt-lattice-energy"
    offered_outputs = ("energy", "energy_per_atom", "forces")
    own_outputs = PARTS

    def __init__(
        self,
        inputs: str = "scale",
        outputs: str | Sequence[str] = ("energy", "energy_per_atom"),
        oxidation_states: Mapping[str, float] | None = None,
        acc_factor: float = 12.0,
        eta: float | None = None,
        real_space_cut: float | None = None,
        recip_space_cut: float | None = None,
        lower: Any = None,
        upper: Any = None,
        n_atoms: int | None = None,
        atoms_per_cell: int = 4,
        structure: str | None = None,
    ):
        for key, value in (("acc_factor", acc_factor), ("eta", eta), ("real_space_cut", real_space_cut),
                           ("recip_space_cut", recip_space_cut)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"{self.name}: {key} must be a positive number, got {value!r}")
        self.oxidation_states = oxidation.check_option(oxidation_states, self.name)
        self._init_inputs(inputs, lower, upper, n_atoms, atoms_per_cell, structure)
        self.forces = "forces" in self._init_outputs(outputs).names
        self.n_atoms = self.inputs.n_atoms
        self.ewald_options = {"real_space_cut": real_space_cut, "recip_space_cut": recip_space_cut, "eta": eta,
                              "acc_factor": float(acc_factor)}
        self._guesses: dict[str, dict[str, float]] = {}

    def prepare(self, structure: Structure) -> Structure:
        _check_no_coincident_sites(structure)
        return oxidation.decorated(structure, self.oxidation_states, self._guesses)

    def summation(self, structure: Structure):
        """pymatgen's ``EwaldSummation`` of ``structure`` with this source's settings."""
        from pymatgen.analysis.ewald import EwaldSummation

        return EwaldSummation(structure, compute_forces=self.forces, **self.ewald_options)

    def compute(self, structure: Structure) -> np.ndarray:
        if self.forces and len(structure) != self.n_atoms:
            raise ValueError(f"the structure has {len(structure)} sites, the option n_atoms says {self.n_atoms}")
        if self.kind.group == ATOMS:
            # a lattice input keeps the (checked) fractional coordinates and cannot make two
            # sites meet; positions can
            _check_no_coincident_sites(structure)
        ewald = self.summation(structure)
        parts = []
        for o in self.outputs.names:
            if o == "energy":
                parts.append(ewald.total_energy)
            elif o == "energy_per_atom":
                parts.append(ewald.total_energy / len(structure))
            elif o == "forces":
                parts.extend(np.asarray(ewald.forces).reshape(-1).tolist())
            else:
                parts.append(getattr(ewald, o))
        return np.array(parts, dtype=np.float64)


def _check_no_coincident_sites(structure: Structure) -> None:
    """Two ions on one point have no finite Coulomb energy, but pymatgen drops every pair
    closer than 1e-8 Å as a self-interaction and returns a finite number; refuse instead."""
    d = structure.distance_matrix
    np.fill_diagonal(d, np.inf)
    if d.size and d.min() < 1e-8:
        i, j = np.unravel_index(np.argmin(d), d.shape)
        raise ValueError(f"sites {i} and {j} sit on the same point; their Coulomb energy is infinite")
