"""What each structural kind does to a structure, the neutral Structure, and the alloy
builder (expected structures built by hand from each kind's stated meaning; ASE only as an
independent builder where it is installed)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import zoo
from zoo_atomistic import Structure, as_structure
from zoo_atomistic.alloys import atom_counts, random_fcc_alloy
from zoo_atomistic.geometry import cells, deform, from_parameters, positions

TRI = np.array([[4.1, 0.0, 0.0], [0.8, 4.2, 0.0], [-0.5, 0.6, 4.4]])
ATOMS = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.2], [2.5, 0.5, 3.0]])


def lengths_and_angles(cell: np.ndarray) -> np.ndarray:
    a, b, c = cell
    ang = lambda u, v: np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))  # noqa: E731
    return np.array([*np.linalg.norm(cell, axis=1), ang(b, c), ang(a, c), ang(a, b)])


def test_lattice_constant_is_the_cubic_a_of_the_volume_per_atom():
    # the primitive fcc cell (1 atom, a^3/4) of a = 3.6 Å: with 4 atoms per cubic cell, a is 3.6
    prim = 1.8 * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float)
    new = cells("lattice_constant", [[3.9]], prim, n_atoms=1, atoms_per_cell=4)[0]
    np.testing.assert_allclose(new, prim * 3.9 / 3.6, rtol=1e-14)
    # a rock-salt primitive cell (2 atoms) with 8 atoms per conventional cell
    new = cells("lattice_constant", [[5.0]], prim, n_atoms=2, atoms_per_cell=8)[0]
    np.testing.assert_allclose(abs(np.linalg.det(new)), 5.0**3 / 4, rtol=1e-13)


def test_scale_strain_and_cell():
    np.testing.assert_array_equal(cells("scale", [[1.1]], TRI, 3)[0], TRI * 1.1)
    row = [0.01, -0.02, 0.03, 0.04, -0.02, 0.01]
    eps = np.array([[0.01, 0.005, -0.01], [0.005, -0.02, 0.02], [-0.01, 0.02, 0.03]])
    np.testing.assert_allclose(cells("strain", [row], TRI, 3)[0], TRI @ (np.eye(3) + eps), rtol=1e-15)
    np.testing.assert_array_equal(cells("cell", [np.eye(3).ravel() * 5], TRI, 3)[0], np.eye(3) * 5)


def test_lattice_lengths_abc_keep_angles_and_directions():
    before = lengths_and_angles(TRI)
    ac = cells("lattice_lengths", [[4.0, 4.8]], TRI, 3)[0]
    np.testing.assert_allclose(lengths_and_angles(ac), [4.0, 4.0 * before[1] / before[0], 4.8, *before[3:]], rtol=1e-12)
    abc = cells("lattice_abc", [[3.9, 4.4, 4.8]], TRI, 3)[0]
    np.testing.assert_allclose(lengths_and_angles(abc), [3.9, 4.4, 4.8, *before[3:]], rtol=1e-12)
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(unit(abc), unit(TRI), atol=1e-14)
    assert np.isnan(cells("lattice_abc", [[0.0, 4.4, 4.8]], TRI, 3)).all()


def test_lattice_parameters_make_the_cell_they_name_or_none():
    got = from_parameters(np.array([[3.9, 4.4, 4.8, 80, 97, 110], [4, 4, 4, 60, 60, 120], [0, 4, 4, 90, 90, 90]]))
    np.testing.assert_allclose(lengths_and_angles(got[0]), [3.9, 4.4, 4.8, 80, 97, 110], rtol=1e-12)
    assert np.isnan(got[1:]).all()  # angles that close no cell; a zero length
    for angles in np.array(np.meshgrid([60, 115], [60, 115], [60, 115])).reshape(3, -1).T:
        assert np.isfinite(from_parameters(np.array([[4, 4, 4, *angles]]))).all()  # the default box


def test_lattice_kinds_keep_fractional_coordinates_atoms_kinds_keep_the_cell():
    frac = np.linalg.solve(TRI.T, ATOMS.T).T
    for kind, row in [("lattice_abc", [3.9, 4.4, 4.8]), ("strain", [0.01, 0, 0, 0.02, 0, 0]),
                      ("lattice_constant", [3.3]), ("cell", (TRI * 1.05).ravel())]:
        new_cell, new_atoms = deform(kind, [row], TRI, ATOMS)
        np.testing.assert_allclose(new_atoms[0], frac @ new_cell[0], atol=1e-13, err_msg=kind)
    moved = ATOMS + 0.1
    cell, got = deform("positions", [moved.ravel()], TRI, ATOMS)
    np.testing.assert_array_equal(cell[0], TRI)
    np.testing.assert_array_equal(got[0], moved)
    np.testing.assert_allclose(positions("frac_positions", [frac.ravel()], TRI)[0], ATOMS, atol=1e-14)
    cell, got = deform(None, np.zeros((2, 0)), TRI, ATOMS)
    assert cell.shape == (2, 3, 3) and np.array_equal(got[1], ATOMS)


def test_structure_checks_and_freezes():
    st = random_fcc_alloy((0.5, 0.25, 0, 0.25, 0, 0), seed=3, a=3.7)
    assert len(st) == 32 and st.volume == pytest.approx(7.4**3) and st.pbc == (True, True, True)
    with pytest.raises(ValueError):
        st.positions[0, 0] = 1.0  # read-only copy
    for bad, match in [
        (dict(cell=np.eye(2), positions=[[0, 0, 0]], symbols=["Cu"]), "3x3"),
        (dict(cell=np.eye(3), positions=[[0, 0]], symbols=["Cu"]), r"\(n, 3\)"),
        (dict(cell=np.eye(3), positions=[[0, 0, 0]], symbols=["Cu", "Ni"]), "2 symbols for 1"),
        (dict(cell=np.eye(3), positions=[[0, 0, 0]], symbols=["Xx"]), "not a chemical element"),
        (dict(cell=np.eye(3), positions=[[0, 0, 0]], symbols=["Cu\nshell"]), "not an element symbol"),
        (dict(cell=np.eye(3), positions=[[0, 0, 0]], symbols=[29]), "not an element symbol"),
        (dict(cell=np.zeros((3, 3)), positions=[[0, 0, 0]], symbols=["Cu"]), "no volume"),
        (dict(cell=np.eye(3), positions=[[np.nan, 0, 0]], symbols=["Cu"]), "finite"),
        (dict(cell=np.eye(3), positions=[[0, 0, 0]], symbols=["Cu"], pbc="yes"), "pbc"),
    ]:
        with pytest.raises(zoo.ConfigError, match=match):
            Structure(**bad)
    molecule = Structure(np.zeros((3, 3)), [[0, 0, 0], [0, 0, 1.1]], ("C", "O"), pbc=False)
    assert molecule.pbc == (False, False, False)


def test_structure_pickles_compares_and_keys():
    st = random_fcc_alloy((0.5, 0.25, 0, 0.25, 0, 0), seed=3, a=3.7)
    clone = pickle.loads(pickle.dumps(st))
    assert clone == st and clone is not st and clone.key() == st.key()
    moved = Structure(st.cell, st.positions + 0.1, st.symbols)
    assert moved != st and moved.key() != st.key()
    assert Structure(st.cell, st.positions, st.symbols, pbc=(True, True, False)) != st
    assert "Cu16" in repr(st)
    np.testing.assert_allclose(st.frac_positions @ st.cell, st.positions, atol=1e-14)


def test_as_structure_takes_anything_with_ases_getters():
    class Duck:
        def get_cell(self):
            return np.eye(3) * 3.6

        def get_positions(self):
            return np.zeros((1, 3))

        def get_chemical_symbols(self):
            return ["Cu"]

        def get_pbc(self):
            return np.array([True, True, False])

    got = as_structure(Duck())
    assert got.symbols == ("Cu",) and got.pbc == (True, True, False)
    with pytest.raises(zoo.SKSError, match="context 2: Structure symbol 'Q' is not a chemical element"):
        d = Duck()
        d.get_chemical_symbols = lambda: ["Q"]
        as_structure(d, "context 2")
    with pytest.raises(zoo.SKSError, match="is a str; give a zoo_atomistic.Structure or an object with get_cell"):
        as_structure("Cu.cif")


def test_alloys_are_the_structures_ase_builds():
    """Site order and positions of ASE's bulk(..., cubic=True).repeat(repeat), species by seed."""
    ase_build = pytest.importorskip("ase.build")
    for frac, seed, a, repeat in [((0.25, 0.25, 0, 0.25, 0.25, 0), 7, 1.0, 2), ((0.1, 0.2, 0.3, 0.1, 0.2, 0.1), 3, 3.7, 2),
                                  ((1, 0, 0, 0, 0, 0), 0, 3.6, 1)]:
        ours = random_fcc_alloy(frac, seed, repeat=repeat, a=a)
        theirs = ase_build.bulk("Cu", "fcc", a=a, cubic=True).repeat(repeat)
        np.testing.assert_allclose(ours.positions, theirs.positions, atol=1e-12)
        np.testing.assert_allclose(ours.cell, theirs.cell.array, atol=1e-12)
        counts = atom_counts(frac, len(ours))
        assert [ours.symbols.count(e) for e in ("Cu", "Ag", "Au", "Ni", "Pd", "Pt")] == counts.tolist()
    # a = 1: every coordinate a multiple of 1/2, the same bits as ASE's
    ours = random_fcc_alloy((1, 0, 0, 0, 0, 0), 0)
    np.testing.assert_array_equal(ours.positions, ase_build.bulk("Cu", "fcc", a=1.0, cubic=True).repeat(2).positions)


def test_atom_counts_largest_remainder():
    # 1/3 each of three elements on 32 sites: 10 each, then one leftover site each to the
    # two first (ties broken in ELEMENTS order): 11 + 11 + 10
    assert atom_counts((1 / 3, 1 / 3, 1 / 3, 0, 0, 0), 32).tolist() == [11, 11, 10, 0, 0, 0]
    assert atom_counts((0.1, 0.2, 0.3, 0.4, 0, 0), 32).sum() == 32
    with pytest.raises(ValueError, match="sum to 1"):
        atom_counts((0.5, 0.6, 0, 0, 0, 0), 32)
