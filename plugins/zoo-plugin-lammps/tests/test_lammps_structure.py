"""Structures without ASE: the Structure record, duck-typed ase.Atoms, and the files the
``structure=PATH`` option reads (written here by ASE's own writers, an independent
implementation of both formats)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import zoo
from zoo import ConfigError, SKSError
from zoo_lammps import Structure, read_structure
from zoo_lammps.alloys import random_fcc_alloy
from zoo_lammps.structure import as_structure

from lammps_testlib import distorted, rotation, to_atoms

ase = pytest.importorskip("ase")


def alloy() -> Structure:
    return distorted(random_fcc_alloy((0.5, 0.25, 0, 0.25, 0, 0), seed=3, a=3.7), seed=2)


def test_the_structure_is_zoo_atomistics_neutral_one():
    """zoo_lammps.Structure is the neutral context every atomistic code takes (its checks are
    tested with zoo-atomistic); LAMMPS adds one rule: periodic in all three directions."""
    import zoo_atomistic

    assert Structure is zoo_atomistic.Structure
    st = alloy()
    slab = Structure(st.cell, st.positions, st.symbols, pbc=(True, True, False))
    with pytest.raises(SKSError, match="not periodic in all directions"):
        zoo.knowledge_source("lammps", inputs="scale", outputs="energy")([[1.0]], [slab])


def test_ase_atoms_are_used_duck_typed():
    st = alloy()
    atoms = to_atoms(st)
    got = as_structure(atoms)
    assert got == st
    atoms.pbc = [True, True, False]
    with pytest.raises(SKSError, match="periodic"):
        as_structure(atoms)
    with pytest.raises(SKSError, match="get_cell"):
        as_structure({"symbols": "Cu"})


def test_extxyz_written_by_ase_reads_back(tmp_path):
    """ASE writes 8 decimals: equal to 1e-8 Å."""
    import ase.io

    st = alloy()
    path = tmp_path / "alloy.extxyz"
    ase.io.write(path, to_atoms(st), format="extxyz")
    got = read_structure(str(path))
    assert got.symbols == st.symbols
    np.testing.assert_allclose(got.cell, st.cell, rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.positions, st.positions, rtol=0, atol=1e-8)


@pytest.mark.parametrize("masses", [True, False], ids=["masses-with-comments", "elements-option"])
def test_lammps_data_written_by_ase_gives_the_same_physics(tmp_path, masses):
    """ASE's lammps-data writer rotates a general cell into LAMMPS's frame, so compare what
    is frame-independent: energy, pressure, cell lengths, and the SKS's results."""
    import ase.io

    st = alloy()
    st = Structure(st.cell @ rotation(1), st.positions @ rotation(1), st.symbols)
    path = tmp_path / "alloy.data"
    ase.io.write(path, to_atoms(st), format="lammps-data", masses=masses, specorder=["Ag", "Cu", "Ni"])
    got = read_structure(str(path), elements=None if masses else ["Ag", "Cu", "Ni"])
    assert sorted(got.symbols) == sorted(st.symbols)
    np.testing.assert_allclose(np.linalg.norm(got.cell, axis=1), np.linalg.norm(st.cell, axis=1), rtol=1e-9)
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs=["energy", "pressure"])
    np.testing.assert_allclose(sks([[1.0]], [got]), sks([[1.0]], [st]), rtol=1e-8, atol=1e-8)


def test_lammps_data_masses_without_comments_name_elements_by_mass(tmp_path):
    path = tmp_path / "ni.data"
    path.write_text(
        "Ni fcc\n\n4 atoms\n1 atom types\n\n0 3.52 xlo xhi\n0 3.52 ylo yhi\n0 3.52 zlo zhi\n\n"
        "Masses\n\n1 58.6934\n\nAtoms # atomic\n\n1 1 0 0 0\n2 1 0 1.76 1.76\n3 1 1.76 0 1.76\n4 1 1.76 1.76 0\n"
    )
    st = read_structure(str(path))
    assert st.symbols == ("Ni",) * 4
    np.testing.assert_allclose(st.cell, np.eye(3) * 3.52)
    path.write_text(path.read_text().replace("58.6934", "1000.0"))
    with pytest.raises(ConfigError, match="give the option elements"):
        read_structure(str(path))


@pytest.mark.parametrize("text", ["garbage\nnot a structure\n", "2\nLattice=\"1 0 0 0 1 0 0 0 1\"\nCu 0 0 0\n"])
def test_unreadable_structure_files_are_config_errors(tmp_path, text):
    path = tmp_path / "bad.xyz"
    path.write_text(text)
    with pytest.raises(ConfigError, match="bad.xyz"):
        read_structure(str(path))
    with pytest.raises(ConfigError, match="does not exist"):
        read_structure(str(tmp_path / "missing.xyz"))


def test_structure_option_is_used_without_contexts_and_travels(tmp_path):
    import ase.io

    st = alloy()
    path = tmp_path / "s.extxyz"
    ase.io.write(path, to_atoms(st), format="extxyz")
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs=["energy"], structure=str(path))
    y = sks([[1.0], [0.99]])
    np.testing.assert_allclose(y, sks([[1.0], [0.99]], [st, st]), rtol=1e-9)  # 8 decimals
    clone = pickle.loads(pickle.dumps(sks))
    path.unlink()
    np.testing.assert_allclose(clone([[1.0], [0.99]]), y, rtol=1e-12)
