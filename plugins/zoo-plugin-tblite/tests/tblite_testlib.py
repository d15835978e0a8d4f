"""Helpers shared by the zoo-plugin-tblite tests: G2 molecules and tblite's own ASE
calculator as the reference the knowledge source must agree with."""

from __future__ import annotations

import numpy as np
from ase.collections import g2

from zoo_tblite.molecule import Molecule


def g2_molecule(name: str) -> Molecule:
    """A G2 molecule (MP2 geometry, ASE's magnetic moments) as a Molecule."""
    return Molecule.from_atoms(g2[name], name=name)


def ase_reference(mol: Molecule, xyz: np.ndarray, method: str = "GFN2-xTB") -> tuple[float, np.ndarray]:
    """(energy eV, forces eV/Å) of ``mol`` at ``xyz`` from tblite's ASE calculator, a fresh
    one each call (no restart from an earlier density), charge and spin from the Atoms."""
    from tblite.ase import TBLite

    atoms = mol.to_atoms()
    atoms.set_positions(xyz)
    atoms.calc = TBLite(method=method, verbosity=0)
    return float(atoms.get_potential_energy()), atoms.get_forces()
