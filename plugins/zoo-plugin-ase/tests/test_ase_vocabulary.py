"""ASE's sources speak zoo-atomistic's vocabulary: the neutral Structure as a context, every
structural kind, the pair-potential kinds, and one error line for a kind a calculator
cannot honour. References are ASE's own numbers on structures built here by hand."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.calculators.morse import MorsePotential

import zoo
from zoo_atomistic import Structure
from zoo_atomistic import alloys as neutral

from ase_testlib import ALLOY, emt_reference


def as_atoms(st: Structure) -> Atoms:
    return Atoms(list(st.symbols), positions=st.positions, cell=st.cell, pbc=st.pbc)


def test_a_neutral_structure_is_a_context_like_its_atoms():
    st = neutral.random_fcc_alloy(ALLOY, seed=7, a=3.75)
    sks = zoo.knowledge_source("ase-emt", inputs="strain", outputs=["energy", "stress"])
    x = np.array([[0.01, 0, 0, 0, 0.02, 0], [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(sks(x, [st, st]), sks(x, [as_atoms(st)] * 2))
    assert sks(x[1:], [st])[0, 0] == pytest.approx(emt_reference(as_atoms(st))["energy"][0], rel=1e-12)
    with pytest.raises(zoo.SKSError, match="context 0 is a str, not ase.Atoms or zoo_atomistic.Structure"):
        sks(x[:1], ["Cu"])


@pytest.mark.parametrize("kind,row,cell_of", [
    ("lattice_lengths", [7.2, 7.8], lambda c: c * np.array([[0.9], [0.9], [0.975]])),
    ("lattice_abc", [7.2, 7.4, 7.8], lambda c: c * np.array([[0.9], [0.925], [0.975]])),
    ("lattice_parameters", [7.5, 7.5, 8.0, 90, 90, 90], lambda c: np.diag([7.5, 7.5, 8.0])),
    ("cell", np.diag([7.6, 7.9, 8.1]).ravel(), lambda c: np.diag([7.6, 7.9, 8.1])),
])
def test_lattice_kinds_keep_fractional_coordinates(kind, row, cell_of):
    st = neutral.random_fcc_alloy(ALLOY, seed=7, a=4.0)  # an 8 Å cube
    sks = zoo.knowledge_source("ase-emt", inputs=kind, outputs="energy")
    got = sks([row], [st])[0, 0]
    atoms = as_atoms(st)
    atoms.set_cell(cell_of(st.cell), scale_atoms=True)  # by hand: the same fractions, the new cell
    assert got == pytest.approx(emt_reference(atoms)["energy"][0], rel=1e-11)


def test_frac_positions_move_atoms_in_the_cell():
    st = neutral.random_fcc_alloy(ALLOY, seed=7, a=3.75)
    frac = st.frac_positions + np.random.default_rng(0).normal(0, 0.005, (32, 3))
    sks = zoo.knowledge_source("ase-emt", inputs="frac_positions", outputs="energy", n_atoms=32)
    atoms = as_atoms(st)
    atoms.set_scaled_positions(frac)
    assert sks([frac.ravel()], [st])[0, 0] == pytest.approx(emt_reference(atoms)["energy"][0], rel=1e-11)


def test_pair_potential_kinds_are_the_calculators_keywords(cell8):
    lj = zoo.knowledge_source("ase-lj", inputs=["epsilon", "sigma"], outputs="energy")
    assert lj.input_spec.names == ("epsilon", "sigma") and lj.input_spec.units == ("eV", "Å")
    # the vocabulary's rule for potential inputs: smooth (continuous as sigma moves the cutoff)
    ref = cell8.copy()
    ref.calc = LennardJones(epsilon=0.2, sigma=2.4, smooth=True)
    assert lj([[0.2, 2.4]], [cell8])[0, 0] == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    assert "smooth" not in lj.options  # the options stay as given
    plain = zoo.knowledge_source("ase-lj", inputs=["epsilon", "sigma"], outputs="energy", smooth=False)
    ref.calc = LennardJones(epsilon=0.2, sigma=2.4)
    assert plain([[0.2, 2.4]], [cell8])[0, 0] == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    morse = zoo.knowledge_source("ase-morse", inputs=["epsilon", "r0", "rho0", "scale"], outputs="energy")
    atoms = cell8.copy()
    atoms.set_cell(cell8.cell * 1.01, scale_atoms=True)
    atoms.calc = MorsePotential(epsilon=0.4, r0=2.7, rho0=4.0)
    assert morse([[0.4, 2.7, 4.0, 1.01]], [cell8])[0, 0] == pytest.approx(atoms.get_potential_energy(), rel=1e-12)


@pytest.fixture
def cell8() -> Atoms:
    return as_atoms(neutral.random_fcc_alloy(ALLOY, seed=1, repeat=1, a=3.7))


@pytest.mark.parametrize("name,kind,takes", [
    ("ase-emt", "epsilon", "lattice_constant"),
    ("ase-lj", "r0", "epsilon, sigma"),
    ("ase-morse", "sigma", "epsilon, r0, rho0"),
    ("ase-calculator", "sigma", "frac_positions"),
])
def test_a_kind_the_calculator_cannot_honour_is_one_error_line(name, kind, takes):
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source(name, inputs=kind)
    msg = str(info.value)
    assert msg.startswith(f"{name} cannot use inputs {kind!r}") and takes in msg and "\n" not in msg


def test_old_spellings_map_to_the_new_kinds_with_a_warning():
    with pytest.warns(DeprecationWarning, match="lattice_lengths"):
        sks = zoo.knowledge_source("ase-emt", inputs="lattice_ac")
    assert sks.input_spec.names == ("a", "c")
