"""The G2 one-bond-length data set, its features, and xTB's own bond lengths."""

from __future__ import annotations

import numpy as np
import pytest
from ase.collections import g2
from scipy.optimize import minimize_scalar

import zoo
from zoo_tblite.elements import PAULING, covalent_radius, pauling, period_group
from zoo_tblite.g2 import FEATURES, features, g2_one_bond_molecules
from zoo_tblite.molecule import Molecule
from zoo_tblite.solve import equilibrium_bond_length

from tblite_testlib import ase_reference, g2_molecule

DIATOMICS = {
    "P2", "CS", "H2", "CO", "LiF", "CN", "NaCl", "ClF", "NO", "LiH", "CH", "OH", "HCl", "S2", "SiO",
    "ClO", "HF", "O2", "SO", "NH", "Si2", "Li2", "F2", "SH", "N2", "Cl2", "Na2", "BeH",
}
#: linear AX2, trigonal planar AX3, tetrahedral AX4 in G2 (it has no octahedral AX6)
SYMMETRIC = {"CO2", "CS2", "BF3", "BCl3", "AlF3", "AlCl3", "CH3",
             "CH4", "CF4", "CCl4", "SiH4", "SiF4", "SiCl4"}


@pytest.fixture(scope="module")
def records():
    return g2_one_bond_molecules()


def test_the_selection_is_the_diatomics_and_the_symmetric_axn(records):
    names = [r.name for r in records]
    assert len(names) == len(set(names)) == 41
    assert set(names) == DIATOMICS | SYMMETRIC
    assert sum(len(g2[n]) == 2 for n in g2.names) == 28
    # AXn whose angles symmetry does not fix, or whose bonds differ, are out
    assert not {"H2O", "NH3", "PH3", "SO2", "CH2_s3B1d", "SiH3", "PF3", "C2H6"} & set(names)


def test_labels_are_the_mp2_bond_lengths_and_contexts_do_not_carry_them(records):
    by_name = {r.name: r for r in records}
    assert by_name["N2"].r_mp2 == pytest.approx(g2["N2"].get_distance(0, 1))
    ch4 = g2["CH4"]
    assert by_name["CH4"].r_mp2 == pytest.approx(ch4.get_distance(0, 1), abs=1e-6)
    assert by_name["CH4"].n_bonds == 4 and by_name["BF3"].n_bonds == 3 and by_name["CO2"].n_bonds == 2
    for r in records:
        # the context is stretched to the rule of thumb: it holds no MP2 bond length
        np.testing.assert_allclose(r.context.bond_lengths(), r.covalent_sum, atol=1e-9)
        assert r.context.is_symmetric()
    # spins from ASE's magnetic moments: triplets O2, S2, SO, NH, Si2; doublets NO, CN, CH3
    assert {r.name: r.context.uhf for r in records if r.context.uhf} == {
        "CN": 1, "NO": 1, "CH": 1, "OH": 1, "ClO": 1, "SH": 1, "BeH": 1, "CH3": 1,
        "S2": 2, "O2": 2, "SO": 2, "NH": 2, "Si2": 2,
    }


def test_symmetry_check_uses_the_tolerances():
    ch4 = g2_molecule("CH4")
    xyz = ch4.xyz
    xyz[1] *= 1.002  # one C-H 2e-3 Å longer
    bent = Molecule(ch4.numbers, tuple(map(tuple, xyz)))
    assert ch4.is_symmetric() and not bent.is_symmetric()
    assert bent.is_symmetric(length_tol=5e-3, angle_tol=0.5)
    assert not g2_molecule("H2O").is_symmetric()  # 104 degrees: not fixed by symmetry


def test_features_are_symmetric_in_a_diatomics_atoms(records):
    co = next(r for r in records if r.name == "CO")
    from dataclasses import replace

    oc = replace(co, z_centre=co.z_ligand, z_ligand=co.z_centre)
    np.testing.assert_array_equal(features(co), features(oc))
    f = dict(zip(FEATURES, features(co)))
    assert f["group_sum"] == 14 + 16 and f["group_diff"] == 2 and f["period_sum"] == 4
    assert f["electronegativity_diff"] == pytest.approx(3.44 - 2.55)
    assert f["covalent_radius_sum"] == pytest.approx(co.covalent_sum)


def test_element_tables():
    assert period_group(1) == (1, 1) and period_group(2) == (1, 18)
    assert period_group(6) == (2, 14) and period_group(11) == (3, 1) and period_group(17) == (3, 17)
    assert period_group(26) == (4, 8) and period_group(35) == (4, 17) and period_group(54) == (5, 18)
    assert pauling(9) == 3.98 and pauling(1) == 2.20 and pauling(11) == 0.93
    assert 2 not in PAULING and 10 not in PAULING
    with pytest.raises(zoo.ConfigError, match="Pauling"):
        pauling(18)
    with pytest.raises(zoo.ConfigError, match="Xe"):
        period_group(79)
    assert covalent_radius(6) == 0.76 and covalent_radius(1) == 0.31  # Cordero's sp3 C, H


@pytest.mark.parametrize("name", ["N2", "CH4", "Li2", "O2"])
def test_equilibrium_bond_length_is_xtbs_energy_minimum(name):
    """The root of the bond force against the minimum of the energy along the stretch,
    found by a golden-section search on tblite's own ASE calculator."""
    mol = g2_molecule(name)
    sks = zoo.knowledge_source("xtb", outputs="bond_force")
    r_cov = covalent_radius(mol.numbers[0]) + covalent_radius(mol.numbers[mol.star()[1][0]])
    sol = equilibrium_bond_length(sks, mol, r_cov)
    assert sol.converged and abs(sol.force) < 1e-3
    assert 3 <= sol.queries <= 30

    def energy(r):
        return ase_reference(mol, mol.stretched_xyz(r))[0]

    ref = minimize_scalar(energy, bracket=(0.9 * sol.r, sol.r, 1.1 * sol.r), tol=1e-8)
    assert sol.r == pytest.approx(ref.x, abs=2e-4)
    f_short, f_long = sks(np.array([[sol.r - 0.02], [sol.r + 0.02]]), [mol] * 2)[:, 0]
    assert f_short > 0 > f_long  # a minimum, not a maximum


def test_equilibrium_bond_length_reports_failure():
    sks = zoo.knowledge_source("xtb", outputs="bond_force", upper=1.0)
    sol = equilibrium_bond_length(sks, g2_molecule("Na2"), 0.9)  # root near 2.7 Å, beyond the bound
    assert not sol.converged and np.isnan(sol.r) and sol.queries >= 2
    with pytest.raises(zoo.ConfigError, match="bond_force"):
        equilibrium_bond_length(zoo.knowledge_source("xtb", outputs="energy"), g2_molecule("N2"), 1.0)
