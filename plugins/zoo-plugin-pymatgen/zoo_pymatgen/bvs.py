"""``pymatgen-bvs``: bond-valence sums and the global instability index.

For each site i, pymatgen's ``calculate_bv_sum`` adds a bond valence
s_ij = exp((R_ij - r_ij) / 0.31) over the cation-anion neighbours j within ``cutoff``
(R_ij from the element parameters of O'Keeffe & Brese, JACS 113, 3226 (1991); negative
for anions). A well-bonded structure has BVS_i = V_i, the site's oxidation state, and the
global instability index GII = sqrt(mean_i (BVS_i - V_i)^2) measures how far it is from
that (Salinas-Sanchez et al., J. Solid State Chem. 100, 201 (1992)).

Why this and not a structure-matcher distance: every term is a smooth exponential of a
distance, so the outputs are smooth in the lattice and the positions except where a
neighbour crosses the cut-off, and there its bond valence is exp((R - cutoff)/0.31), below
1e-7 v.u. at the default 8 Å for any R under 3 Å. ``StructureMatcher.get_rms_dist``
instead searches discrete lattice mappings under tolerances, and returns None (no match)
past them, so it jumps under small changes and finite differences of it mean little.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Structure

from zoo import ConfigError
from zoo_atomistic.quantities import ONE, PER_ATOM, Quantity

from . import __version__, oxidation
from .base import PymatgenSource

#: this source's own outputs (the vocabulary's quantities are energies and forces)
OUTPUTS = {
    q.name: q for q in (
        Quantity("gii", "v.u.", ONE, "global instability index sqrt(mean (BVS - V)^2)"),
        Quantity("bvs", "v.u.", PER_ATOM, "bond-valence sum of every site (needs n_atoms)"),
        Quantity("bvs_deviation", "v.u.", PER_ATOM, "BVS minus oxidation state of every site (needs n_atoms)"),
    )
}


class BondValenceSource(PymatgenSource):
    """Bond-valence sums per site and the global instability index (pymatgen bond_valence).

    Options
    -------
    inputs: a structural kind of zoo-atomistic's vocabulary; default ``scale``.
    outputs: a name or list of ``gii`` (v.u., the default), ``bvs`` (per site, v.u.) and
        ``bvs_deviation`` (per site BVS - oxidation state); per-site outputs need n_atoms.
    oxidation_states: {element: charge}; without it the structure's own oxidation states,
        or pymatgen's guess from the composition (cached per composition).
    cutoff: neighbour distance in Å (default 8; a neighbour at the cut-off contributes
        exp((R - cutoff)/0.31), so smaller values make small jumps).
    scale_factor: pymatgen's distance scale (1 for experimental structures, ~1.015 for GGA).
    lower, upper, n_atoms, atoms_per_cell, structure: as for every pymatgen source.
    """

    name = "pymatgen-bvs"
    description = "Bond-valence sums and global instability index of an ionic structure (pymatgen)"
    version = __version__
    default_task = "rocksalt-bvs-lattice"
    own_outputs = OUTPUTS

    def __init__(
        self,
        inputs: str = "scale",
        outputs: str | Sequence[str] = "gii",
        oxidation_states: Mapping[str, float] | None = None,
        cutoff: float = 8.0,
        scale_factor: float = 1.0,
        lower: Any = None,
        upper: Any = None,
        n_atoms: int | None = None,
        atoms_per_cell: int = 4,
        structure: str | None = None,
    ):
        for key, value in (("cutoff", cutoff), ("scale_factor", scale_factor)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{self.name}: {key} must be a positive number, got {value!r}")
        self.cutoff, self.scale_factor = float(cutoff), float(scale_factor)
        self.oxidation_states = oxidation.check_option(oxidation_states, self.name)
        self._init_inputs(inputs, lower, upper, n_atoms, atoms_per_cell, structure)
        self._init_outputs(outputs)
        self.n_atoms = self.inputs.n_atoms
        self._guesses: dict[str, dict[str, float]] = {}

    def prepare(self, structure: Structure) -> Structure:
        from pymatgen.analysis.bond_valence import BV_PARAMS

        missing = sorted({el.symbol for el in structure.composition.elements} - {e.symbol for e in BV_PARAMS})
        if missing:
            raise ValueError(f"pymatgen has no bond-valence parameters for {', '.join(missing)}")
        return oxidation.decorated(structure, self.oxidation_states, self._guesses)

    def sums(self, structure: Structure) -> tuple[np.ndarray, np.ndarray]:
        """(BVS per site, oxidation state per site) of an oxidation-state-decorated structure."""
        from pymatgen.analysis.bond_valence import calculate_bv_sum, calculate_bv_sum_unordered

        if self.n_atoms is not None and len(structure) != self.n_atoms:
            raise ValueError(f"the structure has {len(structure)} sites, the option n_atoms says {self.n_atoms}")
        bv = calculate_bv_sum if structure.is_ordered else calculate_bv_sum_unordered
        neighbours = structure.get_all_neighbors(self.cutoff)
        bvs = np.array([bv(site, nn, scale_factor=self.scale_factor) for site, nn in zip(structure, neighbours)])
        valence = np.array([sum(sp.oxi_state * occ for sp, occ in site.species.items()) for site in structure])
        return bvs, valence

    def compute(self, structure: Structure) -> np.ndarray:
        bvs, valence = self.sums(structure)
        parts = []
        for o in self.outputs.names:
            if o == "gii":
                parts.append([np.sqrt(np.mean((bvs - valence) ** 2))])
            elif o == "bvs":
                parts.append(bvs)
            else:
                parts.append(bvs - valence)
        return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])
