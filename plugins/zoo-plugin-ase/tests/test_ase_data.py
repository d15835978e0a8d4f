"""The shipped label file zoo_ase/data/fcc_alloys_eam.csv and the structures it names."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import zoo
from zoo_ase.alloys import ELEMENTS, atom_counts, random_fcc_alloy
from zoo_ase.fcc_lattice import load_dataset

# Lattice constants the Foiles-Baskes-Daw u3 EAM potentials are fitted to (Foiles, Baskes
# & Daw, Phys. Rev. B 33, 7983 (1986), Table I; the *_u3.eam files' header lines):
# an independent reference for the relaxed pure-element rows.
PUBLISHED_A0 = {"Cu": 3.615, "Ag": 4.09, "Au": 4.08, "Ni": 3.52, "Pd": 3.89, "Pt": 3.92}
N_SITES = 32


@pytest.fixture(scope="module")
def data():
    return load_dataset()


def test_shapes_and_types(data):
    n = len(data["a0"])
    assert n >= 100
    assert data["fractions"].shape == (n, len(ELEMENTS))
    assert data["seeds"].shape == (n,) and data["seeds"].dtype.kind == "i"
    assert np.all(np.isfinite(data["a0"]))


def test_fractions_sum_to_one_and_are_multiples_of_1_over_32(data):
    f = data["fractions"]
    assert np.all(f >= 0)
    # five decimals in the file: each entry is off by <= 5e-6, six entries by <= 3e-5
    np.testing.assert_allclose(f.sum(axis=1), 1.0, atol=3.1e-5)
    counts = f * N_SITES
    np.testing.assert_allclose(counts, np.round(counts), atol=N_SITES * 5.1e-6)


def test_compositions_are_distinct(data):
    keys = {tuple(np.round(r * N_SITES).astype(int)) for r in data["fractions"]}
    assert len(keys) == len(data["a0"])


def test_pure_elements_match_published_eam_lattice_constants(data):
    f = data["fractions"]
    for i, el in enumerate(ELEMENTS):
        rows = np.flatnonzero(np.isclose(f[:, i], 1.0))
        assert len(rows) == 1, f"one pure {el} row expected"
        assert abs(data["a0"][rows[0]] - PUBLISHED_A0[el]) < 0.002, (el, data["a0"][rows[0]])


def test_alloy_a0_within_pure_element_range(data):
    """A relaxed alloy's a0 lies between its smallest and largest constituent's (Vegard
    bounds hold within a few hundredths of an Å for these EAM alloys)."""
    a_el = np.array([PUBLISHED_A0[e] for e in ELEMENTS])
    for frac, a0 in zip(data["fractions"], data["a0"]):
        present = a_el[frac > 0]
        assert present.min() - 0.03 < a0 < present.max() + 0.03, (frac, a0)
    # and Vegard's law is a fair first guess (size mismatch bows it by ~1 %)
    vegard = data["fractions"] @ a_el
    assert np.abs(data["a0"] - vegard).max() < 0.05 * vegard.max()


def test_random_fcc_alloy_reproduces_each_rows_counts(data):
    for frac, seed in zip(data["fractions"], data["seeds"]):
        atoms = random_fcc_alloy(frac, int(seed))
        assert len(atoms) == N_SITES
        got = Counter(atoms.get_chemical_symbols())
        expect = {el: int(round(x * N_SITES)) for el, x in zip(ELEMENTS, frac) if round(x * N_SITES)}
        assert dict(got) == expect
        np.testing.assert_array_equal(atom_counts(frac, N_SITES), [expect.get(e, 0) for e in ELEMENTS])


def test_random_fcc_alloy_geometry_and_determinism():
    f = (0.5, 0, 0.25, 0, 0, 0.25)
    a = random_fcc_alloy(f, seed=3, a=3.9)
    b = random_fcc_alloy(f, seed=3, a=3.9)
    c = random_fcc_alloy(f, seed=4, a=3.9)
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    assert a.get_chemical_symbols() != c.get_chemical_symbols()
    np.testing.assert_allclose(a.cell.array, np.eye(3) * 7.8)
    assert a.pbc.all()
    # ideal fcc: every atom has 12 nearest neighbours at a / sqrt(2)
    from ase.neighborlist import neighbor_list

    i, dist = neighbor_list("id", a, 3.9 / np.sqrt(2) + 0.01)
    assert np.all(np.bincount(i, minlength=32) == 12)
    np.testing.assert_allclose(dist, 3.9 / np.sqrt(2), rtol=1e-12)


def test_atom_counts_largest_remainder():
    # 1/3 each of three elements on 32 sites: 10 each, then one leftover site each to the
    # two first (ties broken in ELEMENTS order): 11 + 11 + 10
    assert atom_counts((1 / 3, 1 / 3, 1 / 3, 0, 0, 0), 32).tolist() == [11, 11, 10, 0, 0, 0]
    assert atom_counts((0.1, 0.2, 0.3, 0.4, 0, 0), 32).sum() == 32
    with pytest.raises(ValueError):
        atom_counts((0.5, 0.6, 0, 0, 0, 0), 32)


def test_load_dataset_missing_file_is_config_error(tmp_path):
    with pytest.raises(zoo.ConfigError):
        load_dataset(tmp_path / "nope.csv")
