"""The shipped label files (zoo_atomistic/data) and the structures they name, against
independent references: published EAM lattice constants, a fresh ASE EMT (where ASE is
installed), and Vegard bounds."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import zoo
from zoo_atomistic.alloys import ELEMENTS, atom_counts, random_fcc_alloy
from zoo_atomistic.tasks.labels import REFERENCE_A, lattice_labels, pressure_labels, vegard_lattice_constant

# Lattice constants the Foiles-Baskes-Daw u3 EAM potentials are fitted to (Foiles, Baskes
# & Daw, Phys. Rev. B 33, 7983 (1986), Table I; the *_u3.eam files' header lines):
# an independent reference for the relaxed pure-element rows.
PUBLISHED_A0 = {"Cu": 3.615, "Ag": 4.09, "Au": 4.08, "Ni": 3.52, "Pd": 3.89, "Pt": 3.92}
N_SITES = 32


@pytest.fixture(scope="module", params=["eam", "emt"])
def data(request):
    return lattice_labels(request.param)


def test_shapes_and_types(data):
    n = len(data.a0)
    assert n == 240
    assert data.fractions.shape == (n, len(ELEMENTS))
    assert data.seeds.shape == (n,) and data.seeds.dtype.kind == "i"
    assert np.all(np.isfinite(data.a0))


def test_fractions_sum_to_one_and_are_multiples_of_1_over_32(data):
    f = data.fractions
    assert np.all(f >= 0)
    # five decimals in the file: each entry is off by <= 5e-6, six entries by <= 3e-5
    np.testing.assert_allclose(f.sum(axis=1), 1.0, atol=3.1e-5)
    counts = f * N_SITES
    np.testing.assert_allclose(counts, np.round(counts), atol=N_SITES * 5.1e-6)


def test_compositions_are_distinct(data):
    keys = {tuple(np.round(r * N_SITES).astype(int)) for r in data.fractions}
    assert len(keys) == len(data.a0)


def test_pure_eam_rows_match_published_lattice_constants():
    data = lattice_labels("eam")
    for i, el in enumerate(ELEMENTS):
        rows = np.flatnonzero(np.isclose(data.fractions[:, i], 1.0))
        assert len(rows) == 1, f"one pure {el} row expected"
        assert abs(data.a0[rows[0]] - PUBLISHED_A0[el]) < 0.002, (el, data.a0[rows[0]])


def test_pure_emt_rows_match_an_independent_emt_fit():
    """Pure metals have no internal relaxation, so a0 is where the EMT energy of the ideal
    cubic cell is lowest: fit E(a) on 7 points with ASE's EquationOfState (a method
    independent of the label script's BFGS + cell filter). Fit error ~1e-4 Å."""
    pytest.importorskip("ase")
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.eos import EquationOfState

    data = lattice_labels("emt")
    for k, el in enumerate(ELEMENTS[:3]):
        a_label = data.a0[int(np.flatnonzero(data.fractions[:, k] == 1.0)[0])]
        vols, energies = [], []
        for a in a_label * np.linspace(0.98, 1.02, 7):
            atoms = bulk(el, "fcc", a=a, cubic=True)
            atoms.calc = EMT()
            vols.append(atoms.get_volume())
            energies.append(atoms.get_potential_energy())
        v0, _, _ = EquationOfState(vols, energies).fit()
        assert abs(v0 ** (1 / 3) - a_label) < 5e-4, (el, v0 ** (1 / 3), a_label)


def test_alloy_a0_within_pure_element_range(data):
    """A relaxed alloy's a0 lies between its smallest and largest constituent's (Vegard
    bounds hold within a few hundredths of an Å for these alloys)."""
    a_el = np.array([PUBLISHED_A0[e] for e in ELEMENTS])
    for frac, a0 in zip(data.fractions, data.a0):
        present = a_el[frac > 0]
        assert present.min() - 0.05 < a0 < present.max() + 0.03, (frac, a0)
    vegard = data.fractions @ a_el
    assert np.abs(data.a0 - vegard).max() < 0.05 * vegard.max()


def test_random_fcc_alloy_reproduces_each_rows_counts(data):
    for frac, seed in zip(data.fractions[:60], data.seeds[:60]):
        st = random_fcc_alloy(frac, int(seed))
        assert len(st) == N_SITES
        expect = {el: int(round(x * N_SITES)) for el, x in zip(ELEMENTS, frac) if round(x * N_SITES)}
        assert dict(Counter(st.symbols)) == expect
        np.testing.assert_array_equal(atom_counts(frac, N_SITES), [expect.get(e, 0) for e in ELEMENTS])


def test_unknown_labels_and_missing_file_are_config_errors(tmp_path):
    with pytest.raises(zoo.ConfigError, match="labels must be one of eam, emt"):
        lattice_labels("dft")
    with pytest.raises(zoo.ConfigError, match="cannot read"):
        lattice_labels("eam", tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,Cu,seed\n0,1.0,3\n")
    with pytest.raises(zoo.ConfigError, match="lacks columns"):
        lattice_labels("eam", bad)


# ------------------------------------------------------------------ EMT pressures

def test_vegard_uses_ase_reference_lattice_constants():
    ase_data = pytest.importorskip("ase.data")
    ref = [ase_data.reference_states[ase_data.atomic_numbers[e]]["a"] for e in ELEMENTS]
    np.testing.assert_array_equal(REFERENCE_A, ref)
    assert vegard_lattice_constant([0.5, 0, 0, 0.5, 0, 0]) == pytest.approx((3.61 + 3.52) / 2)


def test_pressure_file_holds_the_eam_files_alloys_at_thirteen_strains():
    p, eam = pressure_labels(), lattice_labels("eam")
    np.testing.assert_array_equal(p.fractions, eam.fractions)
    np.testing.assert_array_equal(p.seeds, eam.seeds)
    assert sorted(p.pressures) == pytest.approx([k / 100 for k in range(-6, 7)])
    table = p.at(np.array([-0.06, -0.03, 0.0, 0.03, 0.06]), "t")
    assert table.shape == (240, 5)
    assert np.all(np.diff(table, axis=1) < 0)  # a larger cell, a lower pressure, every alloy
    with pytest.raises(zoo.ConfigError, match="no EMT pressures at strain.*0.025.*make_emt_pressures"):
        p.at(np.array([0.025]), "t")


def test_pressures_equal_a_fresh_ase_emt_on_structures_built_by_ase():
    """Rows of the shipped file against ASE computed here: the structure from ase.build
    (not zoo's builder), decorated with the row's species, at a = a_V (1 + s)."""
    pytest.importorskip("ase")
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.units import GPa

    p = pressure_labels()
    for i, s in [(0, -0.06), (17, 0.0), (123, 0.03), (239, 0.05)]:
        f, seed = p.fractions[i], int(p.seeds[i])
        a = vegard_lattice_constant(f) * (1 + s)
        atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(2)
        atoms.set_chemical_symbols(list(random_fcc_alloy(f, seed).symbols))
        atoms.calc = EMT()
        expect = -atoms.get_stress(voigt=True)[:3].mean() / GPa
        assert p.pressures[round(s, 9)][i] == pytest.approx(expect, rel=1e-10, abs=1e-10)
