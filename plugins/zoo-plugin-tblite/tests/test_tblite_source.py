"""The xtb knowledge source against tblite's own ASE calculator, finite differences of its
energy, the KnowledgeSource contract, and the errors a user can cause."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from ase.collections import g2

import zoo
from zoo.testing import check_knowledge_source
from zoo_tblite.molecule import Molecule

from tblite_testlib import ase_reference, g2_molecule

#: closed shell, triplet (O2, uhf 2), doublets (NO, CH3 radical), AX4, linear AX2
NAMES = ("CO", "O2", "NO", "CH4", "CO2", "CH3")


@pytest.mark.parametrize("method", ["GFN2-xTB", "GFN1-xTB"])
def test_energies_and_forces_match_tblites_ase_calculator(method):
    """Same library, same units: the numbers must agree to rounding, for closed and open
    shells (the spin reaches tblite the same way, as unpaired electrons)."""
    for name in NAMES:
        mol = g2_molecule(name)
        sks = zoo.knowledge_source("xtb", method=method, outputs=["energy", "forces"], n_atoms=len(mol))
        r = mol.bond_lengths()[0] * 1.03  # off the MP2 geometry: forces are non-zero
        y = sks(np.array([[r]]), [mol])[0]
        energy, forces = ase_reference(mol, mol.stretched_xyz(r), method)
        assert y[0] == pytest.approx(energy, rel=1e-12, abs=1e-9), name
        np.testing.assert_allclose(y[1:].reshape(-1, 3), forces, rtol=1e-9, atol=1e-9, err_msg=name)
        assert np.abs(forces).max() > 0.05, name  # a comparison of something, not of zeros


def test_positions_input_matches_the_ase_calculator():
    mol = g2_molecule("H2O")  # not one-bond-length: positions are the input
    sks = zoo.knowledge_source("xtb", inputs="positions", outputs=["energy", "forces"], n_atoms=3)
    rng = np.random.default_rng(0)
    xyz = mol.xyz + rng.normal(scale=0.05, size=(3, 3))
    y = sks(xyz.reshape(1, -1), [mol])[0]
    energy, forces = ase_reference(mol, xyz)
    assert y[0] == pytest.approx(energy, rel=1e-12)
    np.testing.assert_allclose(y[1:].reshape(3, 3), forces, rtol=1e-9, atol=1e-9)
    assert sks.input_spec.names[:4] == ("x0", "y0", "z0", "x1")
    assert sks.output_spec.names[:3] == ("energy", "fx0", "fy0")


def test_spin_changes_the_energy():
    """Triplet O2 (ASE's magnetic moments, uhf 2) and the same O2 with uhf 0 are different
    states; a source that dropped the spin would give them one energy. (GFN2-xTB without
    tblite's optional spin-polarisation term puts the triplet above the Fermi-smeared
    singlet, by 0.07 eV here: the number is xTB's, only the difference is tested.)"""
    triplet = g2_molecule("O2")
    singlet = Molecule(triplet.numbers, triplet.positions, uhf=0, name="singlet O2")
    sks = zoo.knowledge_source("xtb", outputs="energy")
    e = sks(np.array([[1.21], [1.21]]), [triplet, singlet])[:, 0]
    assert triplet.uhf == 2
    assert abs(e[0] - e[1]) > 0.01


@pytest.mark.parametrize("name", ["N2", "CH4", "O2", "CO2", "BF3"])
def test_bond_force_is_minus_the_derivative_of_the_energy(xtb, name):
    """bond_force = -(1/n) dE/dr along the symmetric stretch, n bonds: checked against a
    central difference of the energy, and its sign against where the bonds want to go."""
    mol = g2_molecule(name)
    n = len(mol.star()[1])
    h = 1e-4
    for r in (0.9 * mol.bond_lengths()[0], 1.1 * mol.bond_lengths()[0]):
        y = xtb(np.array([[r - h], [r], [r + h]]), [mol] * 3)
        fd = -(y[2, 0] - y[0, 0]) / (2 * h) / n
        # truncation h^2/6 E''' ~ 1e-8 x O(100) eV/Å^3, round-off 1e-12 x |E| / h ~ 1e-6 eV/Å
        assert y[1, 1] == pytest.approx(fd, rel=1e-4, abs=1e-4), (name, r)
        assert abs(y[1, 1]) > 0.1  # 10 % off equilibrium: a real force
    compressed, stretched = xtb(np.array([[0.9], [1.1]]) * mol.bond_lengths()[0], [mol] * 2)[:, 1]
    assert compressed > 0 > stretched


def test_gap_behaves_like_a_homo_lumo_gap(xtb):
    """Closed shells: a positive gap of a few eV; a half-filled degenerate pi* shell (NO,
    and O2 forced to a singlet) has none; triplet O2 has its gap above the pi* pair."""
    o2 = g2_molecule("O2")
    singlet = Molecule(o2.numbers, o2.positions, uhf=0, name="singlet O2")
    mols = [g2_molecule("N2"), g2_molecule("CO"), g2_molecule("NO"), singlet, o2]
    r = [[m.bond_lengths()[0]] for m in mols]
    gap = xtb(np.array(r), mols)[:, 2]
    assert 1.0 < gap[0] < 20 and 1.0 < gap[1] < 20
    assert abs(gap[2]) < 1e-6 and abs(gap[3]) < 1e-6
    assert gap[4] > 1.0


def test_contract(xtb):
    # the bounds (0.5 and 4.0 Å) are checked on the first molecule: N2 converges at both;
    # many bonds stretched to 3-4 Å do not (their SCF fails as they dissociate: NaN rows)
    mols = [g2_molecule(n) for n in ("N2", "CH4", "NO", "SiF4")]
    y = check_knowledge_source(
        xtb,
        inputs=[[1.11], [1.09], [1.16], [1.58]],
        contexts=mols,
        # SiH4 squeezed to 0.9 Å: tblite's generalised eigensolver fails (the overlap
        # matrix is not positive definite there), a NaN row in a good batch
        failing_row=([0.9], g2_molecule("SiH4")),
    )
    assert y.shape == (4, 3)


def test_pickle_round_trip_keeps_options_and_values(xtb):
    clone = pickle.loads(pickle.dumps(xtb))
    assert clone.options == xtb.options and clone.version == xtb.version
    mols = [g2_molecule("HF"), g2["HCl"]]  # a Molecule and an ase.Atoms
    x = np.array([[0.95], [1.3]])
    np.testing.assert_array_equal(clone(x, mols), xtb(x, mols))
    mol = pickle.loads(pickle.dumps(mols[0]))
    assert mol == mols[0] and mol.key() == mols[0].key()


def test_atoms_and_molecule_contexts_share_cache_keys(xtb):
    atoms = g2["NO"]
    mol = Molecule.from_atoms(atoms, name="anything")
    assert xtb.context_key(atoms) == xtb.context_key(mol)
    assert xtb.context_key(mol) != xtb.context_key(Molecule(mol.numbers, mol.positions, uhf=3))


def test_threads_are_a_runtime_option_and_are_restored():
    from zoo.cache import sks_fingerprint
    from zoo_tblite.openmp import runtime

    one, two = (zoo.knowledge_source("xtb", threads=t) for t in (1, 2))
    assert sks_fingerprint(one) == sks_fingerprint(two)
    assert "threads" not in one.cache_options() and one.options["threads"] == 1
    assert sks_fingerprint(one) != sks_fingerprint(zoo.knowledge_source("xtb", accuracy=0.1))
    assert one.about()["tblite"] and one.about()["method"] == "GFN2-xTB"
    found = runtime()
    if found is None:
        pytest.skip("no OpenMP runtime found in this tblite build")
    lib = found[1]
    lib.omp_set_num_threads(3)
    one(np.array([[1.13]]), [g2_molecule("CO")])
    assert lib.omp_get_max_threads() == 3  # set to 1 inside, put back after
    assert one.about()["openmp_threads"].startswith("1 ")


@pytest.mark.parametrize("atoms_change, fragment", [
    (lambda a: a.set_initial_magnetic_moments([1.0, 0, 0]), "unpaired"),   # H2O: 10 electrons, 1 unpaired
    (lambda a: a.set_initial_magnetic_moments([0.5, 0, 0]), "whole number"),
    (lambda a: a.set_initial_charges([1.0, 0, 0]), "unpaired"),             # 9 electrons, uhf 0
    (lambda a: a.set_pbc(True), "periodic"),
])
def test_a_molecule_xtb_cannot_have_is_a_clear_error(atoms_change, fragment):
    atoms = g2["H2O"]
    atoms_change(atoms)
    sks = zoo.knowledge_source("xtb", inputs="positions", outputs="energy", n_atoms=3)
    good = g2_molecule("H2O")
    with pytest.raises(zoo.SKSError, match=fragment) as err:
        sks(np.vstack([good.xyz.reshape(1, -1)] * 2), [good, atoms])
    assert "context 1" in str(err.value)


def test_bad_spin_in_a_molecule_is_refused_when_made():
    with pytest.raises(zoo.ConfigError, match="unpaired"):
        Molecule((8, 8), ((0, 0, 0), (0, 0, 1.2)), uhf=1, name="O2")
    with pytest.raises(zoo.ConfigError, match="uhf"):
        Molecule((1, 1), ((0, 0, 0), (0, 0, 0.74)), uhf=4)
    assert Molecule((8, 8), ((0, 0, 0), (0, 0, 1.2)), uhf=2).uhf == 2


def test_a_molecule_without_a_centre_cannot_take_a_bond_length(xtb):
    ethane = Molecule.from_atoms(g2["C2H6"])
    with pytest.raises(zoo.SKSError, match="not an AXn"):
        xtb(np.array([[1.1]]), [ethane])


def test_an_scf_that_does_not_converge_is_a_nan_row():
    """With 3 SCF iterations H2 converges and CO2 does not (measured): CO2's row is NaN,
    H2's rows around it keep the values a default source gives them."""
    sks = zoo.knowledge_source("xtb", max_iterations=3)
    h2, co2 = g2_molecule("H2"), g2_molecule("CO2")
    y = sks(np.array([[0.74], [1.18], [0.74]]), [h2, co2, h2])
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2]]).all()
    ref = zoo.knowledge_source("xtb")(np.array([[0.74]]), [h2])[0]
    np.testing.assert_allclose(y[0], ref, rtol=1e-6)


def test_every_row_failing_raises_with_the_scf_message():
    sks = zoo.knowledge_source("xtb", max_iterations=1)
    with pytest.raises(zoo.SKSError, match="every row failed.*SCF not converged"):
        sks(np.array([[1.2], [1.25]]), [g2_molecule("CO2")] * 2)


def test_no_contexts_is_an_error(xtb):
    with pytest.raises(zoo.SKSError, match="context"):
        xtb(np.array([[1.0]]))


@pytest.mark.parametrize("options, fragment", [
    ({"method": "GFN3-xTB"}, "method"),
    ({"inputs": "lattice_constant"}, "inputs"),
    ({"outputs": ["energy", "dipole"]}, "outputs"),
    ({"outputs": "forces"}, "n_atoms"),
    ({"inputs": "positions"}, "n_atoms"),
    ({"accuracy": -1.0}, "accuracy"),
    ({"threads": -1}, "threads"),
    ({"max_iterations": 0}, "max_iterations"),
    ({"lower": 2.0, "upper": 1.0}, "lower bound"),
])
def test_bad_options_are_config_errors(options, fragment):
    with pytest.raises(zoo.ConfigError, match=fragment):
        zoo.knowledge_source("xtb", **options)
