"""pymatgen-ewald against Madelung constants, pymatgen's EwaldSummation called directly, and
finite differences of its own energy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import zoo
from zoo.testing import check_knowledge_source

from pmg_testlib import (COULOMB, MADELUNG_CSCL, MADELUNG_NACL, cscl, ewald_reference, rattled,
                         rocksalt, with_matrix)

NACL = {"Na": 1, "Cl": -1}


def test_registered_with_default_task():
    sks = zoo.knowledge_source("pymatgen-ewald")
    assert type(sks).default_task == "rocksalt-lattice-energy"
    assert "rocksalt-lattice-energy" in zoo.registered("tasks")
    assert sks.input_spec.names == ("scale",)
    assert sks.output_spec.names == ("energy", "energy_per_atom")
    assert sks.output_spec.units == ("eV", "eV/atom")


@pytest.mark.parametrize("a", [4.0, 5.64, 7.0])
def test_rock_salt_energy_is_the_madelung_energy(nacl, a):
    """E = -M e^2 / (4 pi eps0 r0) per ion pair, r0 = a/2, 4 pairs in the conventional cell."""
    sks = zoo.knowledge_source("pymatgen-ewald", inputs="lattice_constant", oxidation_states=NACL, atoms_per_cell=8)
    e, e_atom = sks([[a]], [nacl])[0]
    expect = -4 * MADELUNG_NACL * COULOMB / (a / 2)
    assert e == pytest.approx(expect, rel=2e-6)  # M is given to 7 digits
    assert e_atom == pytest.approx(expect / 8, rel=2e-6)


def test_cscl_energy_is_its_madelung_energy():
    """CsCl: one pair per cell at r0 = a sqrt(3) / 2, M = 1.762675; charges guessed here."""
    sks = zoo.knowledge_source("pymatgen-ewald", inputs="scale", outputs="energy")
    for scale in (0.9, 1.0, 1.2):
        e = sks([[scale]], [cscl(4.12)])[0, 0]
        assert e == pytest.approx(-MADELUNG_CSCL * COULOMB / (4.12 * scale * np.sqrt(3) / 2), rel=2e-6)


def test_three_ways_to_the_charges_agree(nacl, nacl_ions):
    """The option, the structure's own oxidation states and pymatgen's guess give one answer;
    a guess is made once per composition and cached."""
    x = [[1.0], [1.05]]
    by_option = zoo.knowledge_source("pymatgen-ewald", oxidation_states=NACL)(x, [nacl, nacl])
    by_species = zoo.knowledge_source("pymatgen-ewald")(x, [nacl_ions, nacl_ions])
    guessing = zoo.knowledge_source("pymatgen-ewald")
    by_guess = guessing(x, [nacl, nacl])
    np.testing.assert_array_equal(by_option, by_species)
    np.testing.assert_array_equal(by_option, by_guess)
    assert guessing._guesses == {"Na4 Cl4": {"Na": 1.0, "Cl": -1.0}}
    # the option wins over the species' own states: doubled charges, four times the energy
    doubled = zoo.knowledge_source("pymatgen-ewald", oxidation_states={"Na": 2, "Cl": -2})(x, [nacl_ions] * 2)
    np.testing.assert_allclose(doubled, 4 * by_option, rtol=1e-12)


@pytest.mark.parametrize("inputs", ["strain", "lattice_abc", "frac_positions", "positions"])
def test_energies_match_ewald_summation_directly(rattled_nacl, inputs):
    s = rattled_nacl
    rng = np.random.default_rng(3)
    if inputs == "strain":
        rows = rng.uniform(-0.03, 0.03, (2, 6))
        exx, eyy, ezz, gyz, gxz, gxy = rows[1]
        eps = np.array([[exx, gxy / 2, gxz / 2], [gxy / 2, eyy, gyz / 2], [gxz / 2, gyz / 2, ezz]])
        ref = with_matrix(s, s.lattice.matrix @ (np.eye(3) + eps))
    elif inputs == "lattice_abc":
        rows = np.array([[5.6, 5.7, 5.8], [5.5, 5.64, 5.9]])
        ref = with_matrix(s, np.diag([5.5, 5.64, 5.9]))
    elif inputs == "frac_positions":
        rows = s.frac_coords.reshape(1, -1) + rng.uniform(-0.01, 0.01, (2, 24))
        ref = Structure(s.lattice, s.species, rows[1].reshape(8, 3))
    else:
        rows = s.cart_coords.reshape(1, -1) + rng.uniform(-0.05, 0.05, (2, 24))
        ref = Structure(s.lattice, s.species, rows[1].reshape(8, 3), coords_are_cartesian=True)
    sks = zoo.knowledge_source("pymatgen-ewald", inputs=inputs, n_atoms=8)
    y = sks(rows, [s, s])
    e_ref, _ = ewald_reference(ref)
    assert y[1, 0] == pytest.approx(e_ref, rel=1e-12)
    assert y[1, 1] == pytest.approx(e_ref / 8, rel=1e-12)


def test_forces_are_minus_the_energy_gradient(rattled_nacl):
    """EwaldSummation's forces against central differences of the SKS's own energy, and
    against pymatgen's forces computed directly."""
    s = rattled_nacl
    sks = zoo.knowledge_source("pymatgen-ewald", inputs="positions", outputs=["energy", "forces"], n_atoms=8)
    x0 = s.cart_coords.reshape(-1)
    y0 = sks([x0], [s])[0]
    forces = y0[1:]
    _, f_ref = ewald_reference(s, forces=True)
    np.testing.assert_allclose(forces, f_ref.reshape(-1), rtol=1e-10, atol=1e-12)
    assert np.linalg.norm(forces) > 0.5  # a rattled crystal: forces worth checking
    h = 1e-4
    rows = np.array([x0 + s_ * h * e for e in np.eye(24) for s_ in (1, -1)])
    e = sks(rows, [s] * len(rows))[:, 0]
    grad = (e[0::2] - e[1::2]) / (2 * h)
    # central differences: truncation ~ h^2/6 |E'''| ~ 1e-8 * 100 eV/Å^3; round-off
    # ~ 1e-16 * 36 eV / 1e-4 Å ~ 4e-11 eV/Å
    np.testing.assert_allclose(-grad, forces, atol=1e-5)


def test_layer_gradient_is_minus_the_forces(rattled_nacl):
    s = rattled_nacl
    sks = zoo.knowledge_source("pymatgen-ewald", inputs="positions", outputs="energy", n_atoms=8)
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-4, difference="central"), seed=0)
    z = torch.tensor(s.cart_coords.reshape(1, -1), dtype=torch.float64, requires_grad=True)
    layer(z, [s]).sum().backward()
    _, f_ref = ewald_reference(s, forces=True)
    np.testing.assert_allclose(z.grad.numpy()[0], -f_ref.reshape(-1), atol=1e-5)
    assert layer.gradient_queries == 48


def test_scale_derivative_is_minus_energy_over_scale(nacl_ions):
    """Point charges: E(s) = E(1) / s, so dE/ds = -E / s (an analytic check of the lattice path)."""
    sks = zoo.knowledge_source("pymatgen-ewald", outputs="energy")
    est = zoo.estimator("cge", mu=1e-5, difference="central")
    grad, _ = est.vjp(lambda x: sks(x, [nacl_ions] * len(x)), [[1.1]])
    e = sks([[1.1]], [nacl_ions])[0, 0]
    assert grad[0, 0] == pytest.approx(-e / 1.1, rel=1e-7)


def test_contract(nacl, nacl_ions):
    sks = zoo.knowledge_source("pymatgen-ewald", inputs="frac_positions", outputs=["energy", "forces"],
                               n_atoms=8, oxidation_states=NACL)
    base = nacl.frac_coords.reshape(-1)
    rows = base + np.random.default_rng(0).uniform(-0.02, 0.02, (3, 24))
    coincident = base.copy()
    coincident[3:6] = coincident[0:3] + [0, 1, 0]  # site 1 on a periodic image of site 0
    check_knowledge_source(sks, rows, [nacl, nacl_ions, nacl], failing_row=(coincident, nacl))
    # the lattice inputs at their default bounds too
    check_knowledge_source(zoo.knowledge_source("pymatgen-ewald"), [[0.9], [1.1]], [nacl, cscl()])


def test_failing_rows_are_nan_and_all_failing_raises(nacl):
    cu = Structure(Lattice.cubic(3.6), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    sks = zoo.knowledge_source("pymatgen-ewald")
    y = sks([[1.0], [1.0], [1.02]], [nacl, cu, nacl])  # metallic Cu: no ionic charges to guess
    assert np.all(np.isnan(y[1])) and np.all(np.isfinite(y[[0, 2]]))
    assert y[0, 0] == pytest.approx(ewald_reference(nacl, NACL)[0], rel=1e-12)
    with pytest.raises(zoo.SKSError, match="oxidation_states"):
        sks([[1.0]], [cu])
    missing = zoo.knowledge_source("pymatgen-ewald", oxidation_states={"Na": 1})
    with pytest.raises(zoo.SKSError, match="no state for Cl"):
        missing([[1.0]], [nacl])
    with pytest.raises(zoo.SKSError, match="sites per structure|n_atoms|positions"):
        zoo.knowledge_source("pymatgen-ewald", inputs="positions", n_atoms=2)([np.zeros(6)], [nacl])


@pytest.mark.parametrize("options,fragment", [
    ({"outputs": ["energy", "dipole"]}, "unknown outputs \\['dipole'\\]; choose from energy"),
    ({"outputs": []}, "at least one"),
    ({"outputs": "forces"}, "needs the option n_atoms"),
    ({"oxidation_states": {"Na": 1, "Xx": -1}}, "'Xx', which is not an element"),
    ({"oxidation_states": {"Na": "one"}}, "must be a number"),
    ({"oxidation_states": [1, -1]}, "must be a table"),
    ({"acc_factor": 0}, "acc_factor must be a positive number"),
    ({"eta": -1.0}, "eta must be a positive number"),
    ({"inputs": "charges"}, "unknown inputs 'charges'"),
])
def test_bad_options_are_config_errors(options, fragment):
    with pytest.raises(zoo.ConfigError, match=fragment):
        zoo.knowledge_source("pymatgen-ewald", **options)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("pymatgen-ewald", oxidation_state={"Na": 1})
    for name in ("oxidation_state", "oxidation_states", "acc_factor", "outputs", "inputs"):
        assert name in str(info.value)


def test_ewald_settings_pass_through(rattled_nacl):
    """A coarser sum (acc_factor 4) differs from pymatgen's default, as pymatgen's own does."""
    from pymatgen.analysis.ewald import EwaldSummation

    coarse = zoo.knowledge_source("pymatgen-ewald", outputs="energy", acc_factor=4.0)([[1.0]], [rattled_nacl])[0, 0]
    assert coarse == pytest.approx(EwaldSummation(rattled_nacl, acc_factor=4.0).total_energy, rel=1e-12)
    assert coarse != pytest.approx(ewald_reference(rattled_nacl)[0], rel=1e-9)


def test_ase_atoms_context():
    ase_build = pytest.importorskip("ase.build")
    atoms = ase_build.bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    sks = zoo.knowledge_source("pymatgen-ewald", oxidation_states=NACL)
    np.testing.assert_allclose(sks([[1.0]], [atoms]), sks([[1.0]], [rocksalt()]), rtol=1e-12)


def test_rattled_helper_keeps_the_lattice():
    s = rattled(rocksalt(), 0.1, seed=0)
    np.testing.assert_array_equal(s.lattice.matrix, rocksalt().lattice.matrix)
    assert 0 < np.abs(s.cart_coords - rocksalt().cart_coords).max() <= 0.1
