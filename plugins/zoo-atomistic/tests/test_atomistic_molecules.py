"""Molecules in the shared vocabulary: the bonds kind ``bond_length`` (the symmetric stretch
about a central atom), and the structures a kind cannot change (a lattice kind on a molecule).

Expected geometries are built here by hand from the definitions (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo_atomistic import KINDS, parse_inputs
from zoo_atomistic import geometry
from zoo_atomistic.kinds import ATOMS, BONDS, LATTICE, STRUCTURAL

# CH4: carbon at the origin, hydrogens on alternate corners of a cube (C-H = sqrt(3) * 0.63)
TETRA = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
CH4 = np.vstack([[0.0, 0.0, 0.0], 0.63 * TETRA])
# H2O with O as the last atom and unequal O-H bonds: the centre is found, not assumed first
H2O = np.array([[0.76, 0.59, 0.0], [-0.80, 0.55, 0.0], [0.0, 0.0, 0.0]])
# ethane-like chain C-C with one H on each C: no atom is everyone's nearest neighbour
CHAIN = np.array([[0.0, 0, 0], [1.54, 0, 0], [-0.7, 0.8, 0], [2.24, 0.8, 0]])
NO_CELL = np.zeros((3, 3))


def test_bond_length_is_one_structural_kind_of_its_own():
    kind = KINDS["bond_length"]
    assert kind.group == BONDS and BONDS in STRUCTURAL
    assert kind.columns == ("r",) and kind.units == "Å" and (kind.lower, kind.upper) == (0.5, 4.0)
    inputs = parse_inputs("bond_length")
    assert inputs.names == ("r",) and inputs.structural is kind
    with pytest.raises(zoo.ConfigError, match="one lattice or atoms kind at a time, or bond_length"):
        parse_inputs(["bond_length", "positions"], n_atoms=3)
    # a code that honours only the lattice and atoms kinds refuses it in one line
    honoured = [k for k, v in KINDS.items() if v.group in (LATTICE, ATOMS)]
    with pytest.raises(zoo.ConfigError, match=r"^code cannot use inputs 'bond_length' \(the symmetric stretch"):
        parse_inputs("bond_length", honoured=honoured, who="code")


@pytest.mark.parametrize("xyz,centre,ligands", [
    (CH4, 0, (1, 2, 3, 4)), (H2O, 2, (0, 1)), (np.array([[0, 0, 0], [0, 0, 1.13]]), 0, (1,)),
])
def test_star_finds_the_central_atom(xyz, centre, ligands):
    assert geometry.star(xyz) == (centre, ligands)


@pytest.mark.parametrize("xyz,why", [
    (CHAIN, "no atom is the nearest neighbour"), (np.zeros((1, 3)), "one atom"),
    (np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0]]), "one spot"),
])
def test_star_refuses_what_one_length_cannot_describe(xyz, why):
    with pytest.raises(ValueError, match=why):
        geometry.star(xyz)


def test_stretch_sets_every_bond_from_the_centre_and_keeps_directions():
    rows = np.array([[1.0], [1.2], [0.0]])
    out = geometry.stretch(rows, CH4)
    assert out.shape == (3, 5, 3)
    for row, r in zip(out[:2], rows[:2, 0]):
        np.testing.assert_allclose(row[0], [0, 0, 0])  # the centre stays
        np.testing.assert_allclose(row[1:], r * TETRA / np.sqrt(3), atol=1e-15)
    assert np.isnan(out[2]).all()  # r = 0 makes no molecule: a NaN row
    # H2O: both bonds to 1.0 Å from the oxygen (the last atom), the H-O-H angle kept
    water = geometry.stretch([[1.0]], H2O)[0]
    np.testing.assert_allclose(np.linalg.norm(water[:2] - water[2], axis=1), [1.0, 1.0])
    cos = lambda v: v[0] @ v[1] / np.linalg.norm(v[0]) / np.linalg.norm(v[1])  # noqa: E731
    assert cos(water[:2] - water[2]) == pytest.approx(cos(H2O[:2] - H2O[2]), rel=1e-14)


def test_deform_stretches_too():
    cell = 10.0 * np.eye(3)  # a molecule in a box: the cell is kept
    cells, pos = geometry.deform("bond_length", [[1.1]], cell, CH4)
    np.testing.assert_array_equal(cells[0], cell)
    np.testing.assert_allclose(pos[0, 1:], 1.1 * TETRA / np.sqrt(3), atol=1e-15)


@pytest.mark.parametrize("kind", ["lattice_constant", "scale", "strain", "lattice_abc", "cell", "frac_positions"])
def test_cell_kinds_do_not_fit_a_molecule(kind):
    why = geometry.unfit(kind, NO_CELL, H2O, False)
    assert f"inputs {kind!r}" in why and "not periodic" in why and "'positions' or 'bond_length'" in why
    # a molecule in a box is no lattice either, while it is not periodic
    assert "not periodic" in geometry.unfit(kind, 10 * np.eye(3), H2O, (False, False, False))
    # periodic, but a cell without volume
    assert "no volume" in geometry.unfit(kind, np.diag([5.0, 5.0, 0.0]), H2O, True)
    # a crystal takes it
    assert geometry.unfit(kind, 4 * np.eye(3), H2O, True) is None
    assert geometry.unfit(kind, 4 * np.eye(3), H2O, (True, True, False)) is None


def test_what_fits_a_molecule():
    assert geometry.unfit("positions", NO_CELL, H2O, False) is None
    assert geometry.unfit("bond_length", NO_CELL, CH4, False) is None
    why = geometry.unfit("bond_length", NO_CELL, CHAIN, False)
    assert "no atom is the nearest neighbour" in why and "use inputs 'positions'" in why
