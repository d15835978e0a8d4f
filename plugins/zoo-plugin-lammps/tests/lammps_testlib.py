"""Helpers shared by the zoo-plugin-lammps tests (uniquely named: pytest collects several
plugins' test folders together).

Reference numbers come from ASE (its EAM and LennardJones calculators, run directly) or
from finite differences computed here, never from zoo_lammps itself. ASE is only a test
dependency: helpers that need it import it inside.
"""

from __future__ import annotations

import numpy as np

from zoo_lammps import Structure
from zoo_lammps.alloys import random_fcc_alloy
from zoo_lammps.potentials import find_potential

#: 1 eV/Å^3 in GPa (ASE's units.GPa is its inverse)
EV_A3_GPA = 160.21766208

#: LAMMPS converts the effective charges Z(r) of a funcfl file into r*phi with
#: 27.2 eV * 0.529 Å (pair_eam.cpp); ASE uses Hartree * Bohr = 14.39964 eV Å. The pair
#: term therefore differs by this factor (0.075 %), a convention, not an error.
LAMMPS_FUNCFL_HARTREE_BOHR = 27.2 * 0.529

SHEAR = np.array([[1.0, 0.03, -0.02], [0.015, 0.99, 0.025], [-0.01, 0.02, 1.01]])


def cu32(a: float = 3.615) -> Structure:
    return random_fcc_alloy((1, 0, 0, 0, 0, 0), seed=0, repeat=2, a=a)


def distorted(st: Structure, seed: int = 0, rattle: float = 0.05, shear: bool = True) -> Structure:
    """A copy with a triclinic cell and rattled atoms (all six stress components non-zero)."""
    rng = np.random.default_rng(seed)
    m = SHEAR if shear else np.eye(3)
    pos = st.positions @ m + rng.normal(0.0, rattle, st.positions.shape)
    return Structure(st.cell @ m, pos, st.symbols)


def rotation(seed: int = 3, proper: bool = True) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    if not proper:
        q[:, 2] *= -1
    return q


def to_atoms(st: Structure):
    from ase import Atoms

    return Atoms(st.symbols, positions=st.positions, cell=st.cell, pbc=True)


def ase_eam(potential: str, lammps_funcfl_units: bool = True):
    """ASE's own EAM calculator on the same potential file.

    For a funcfl file (``*.eam``) the pair term is rescaled to LAMMPS's 27.2*0.529
    conversion (see LAMMPS_FUNCFL_HARTREE_BOHR) unless ``lammps_funcfl_units`` is False.
    """
    from ase.calculators.eam import EAM
    from ase.units import Bohr, Hartree

    calc = EAM(potential=str(find_potential(potential)))
    if calc.form == "eam" and lammps_funcfl_units:
        calc.rphi_data *= LAMMPS_FUNCFL_HARTREE_BOHR / (Hartree * Bohr)
        calc.set_splines()
    return calc


def reference(st: Structure, calc) -> dict[str, np.ndarray]:
    """energy (eV), stress (GPa, Voigt), pressure (GPa), forces (eV/Å) from an ASE calculator."""
    atoms = to_atoms(st)
    atoms.calc = calc
    e = atoms.get_potential_energy()
    s = atoms.get_stress(voigt=True) * EV_A3_GPA
    return {
        "energy": np.array([e]),
        "energy_per_atom": np.array([e / len(atoms)]),
        "stress": s,
        "pressure": np.array([-s[:3].mean()]),
        "forces": atoms.get_forces().reshape(-1),
        "volume": np.array([atoms.get_volume()]),
    }
