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

from zoo import ConfigError, Spec

from . import __version__, oxidation
from .base import PymatgenSource

#: output name -> units; forces (one column per site and axis) need n_atoms
OUTPUTS = {
    "energy": "eV",
    "energy_per_atom": "eV/atom",
    "real_space_energy": "eV",
    "reciprocal_space_energy": "eV",
    "point_energy": "eV",
    "forces": "eV/Å",
}


class EwaldSource(PymatgenSource):
    """Ewald electrostatic energy of a structure with oxidation states (pymatgen EwaldSummation).

    Options
    -------
    inputs: see :data:`zoo_pymatgen.structures.INPUTS_HELP`; default ``scale``.
    outputs: a name or list of ``energy`` (eV; with ``energy_per_atom`` the default),
        ``energy_per_atom``, ``real_space_energy``, ``reciprocal_space_energy``,
        ``point_energy`` (the three parts of the sum) and ``forces`` (eV/Å, needs n_atoms).
    oxidation_states: {element: charge}, e.g. {"Na": 1, "Cl": -1}; without it a structure
        keeps the oxidation states its species carry, or pymatgen guesses them from the
        composition (cached per composition: a guess takes seconds).
    acc_factor, eta, real_space_cut, recip_space_cut: passed to ``EwaldSummation``
        (defaults: pymatgen's choice from the cell, with acc_factor 12).
    lower, upper, n_atoms, structure: as for every pymatgen source.
    """

    name = "pymatgen-ewald"
    description = "Ewald electrostatic energy and forces of an ionic structure (pymatgen EwaldSummation)"
    version = __version__
    default_task = "rocksalt-lattice-energy"

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
        structure: str | None = None,
    ):
        outs = [outputs] if isinstance(outputs, str) else list(outputs)
        self.options = {
            "inputs": inputs, "outputs": outs, "oxidation_states": oxidation_states,
            "acc_factor": acc_factor, "eta": eta, "real_space_cut": real_space_cut,
            "recip_space_cut": recip_space_cut, "lower": lower, "upper": upper,
            "n_atoms": n_atoms, "structure": structure,
        }
        if not outs:
            raise ConfigError(f"{self.name}: outputs must name at least one of {', '.join(OUTPUTS)}")
        unknown = [o for o in outs if o not in OUTPUTS]
        if unknown:
            raise ConfigError(f"{self.name}: unknown outputs {unknown}; choose from {', '.join(OUTPUTS)}")
        if "forces" in outs and not n_atoms:
            raise ConfigError(f"{self.name}: outputs 'forces' needs the option n_atoms (sites per structure)")
        for key in ("acc_factor", "eta", "real_space_cut", "recip_space_cut"):
            value = self.options[key]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"{self.name}: {key} must be a positive number, got {value!r}")
        self.outputs = outs
        self.forces = "forces" in outs
        self.oxidation_states = oxidation.check_option(oxidation_states, self.name)
        self._init_inputs(inputs, lower, upper, n_atoms, structure)
        self.n_atoms = int(n_atoms) if n_atoms else None
        names, units = [], []
        for o in outs:
            cols = [f"f{c}{i}" for i in range(self.n_atoms) for c in "xyz"] if o == "forces" else [o]
            names += cols
            units += [OUTPUTS[o]] * len(cols)
        self.output_spec = Spec(names, units=units)
        self._guesses: dict[str, dict[str, float]] = {}

    def prepare(self, structure: Structure) -> Structure:
        _check_no_coincident_sites(structure)
        return oxidation.decorated(structure, self.oxidation_states, self._guesses)

    def summation(self, structure: Structure):
        """pymatgen's ``EwaldSummation`` of ``structure`` with this source's settings."""
        from pymatgen.analysis.ewald import EwaldSummation

        opts = self.options
        return EwaldSummation(
            structure, real_space_cut=opts["real_space_cut"], recip_space_cut=opts["recip_space_cut"],
            eta=opts["eta"], acc_factor=float(opts["acc_factor"]), compute_forces=self.forces,
        )

    def compute(self, structure: Structure) -> np.ndarray:
        if self.forces and len(structure) != self.n_atoms:
            raise ValueError(f"the structure has {len(structure)} sites, the option n_atoms says {self.n_atoms}")
        if self._mapping.kind in ("positions", "frac_positions"):
            # a lattice input keeps the (checked) fractional coordinates and cannot make two
            # sites meet; positions can
            _check_no_coincident_sites(structure)
        ewald = self.summation(structure)
        parts = []
        for o in self.outputs:
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
