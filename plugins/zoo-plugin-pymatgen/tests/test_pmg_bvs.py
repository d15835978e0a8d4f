"""pymatgen-bvs against pymatgen's bond_valence functions called directly, the exponential
law of a single neighbour shell, and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Species, Structure

import zoo
from zoo.testing import check_knowledge_source

from pmg_testlib import rocksalt

B = 0.31  # pymatgen's bond-valence softness in calculate_bv_sum


def direct(structure: Structure, cutoff: float = 8.0):
    """(BVS per site, valence per site, GII) from pymatgen's functions, site by site."""
    from pymatgen.analysis.bond_valence import calculate_bv_sum, calculate_bv_sum_unordered

    # the ordered sum reads one species per neighbour, so any disorder needs the unordered one
    fn = calculate_bv_sum if structure.is_ordered else calculate_bv_sum_unordered
    bvs, val = [], []
    for site in structure:
        bvs.append(fn(site, structure.get_neighbors(site, cutoff)))
        val.append(sum(sp.oxi_state * occ for sp, occ in site.species.items()))
    bvs, val = np.array(bvs), np.array(val)
    return bvs, val, np.sqrt(np.mean((bvs - val) ** 2))


def test_registered_with_default_task():
    sks = zoo.knowledge_source("pymatgen-bvs")
    assert type(sks).default_task == "rocksalt-bvs-lattice"
    assert "rocksalt-bvs-lattice" in zoo.registered("tasks")
    assert sks.output_spec.names == ("gii",) and sks.output_spec.units == ("v.u.",)


def test_matches_pymatgen_directly(rattled_nacl):
    s = rattled_nacl
    sks = zoo.knowledge_source("pymatgen-bvs", inputs="positions", n_atoms=8,
                               outputs=["gii", "bvs", "bvs_deviation"])
    rows = s.cart_coords.reshape(1, -1) + np.random.default_rng(2).uniform(-0.05, 0.05, (2, 24))
    y = sks(rows, [s, s])
    ref_s = Structure(s.lattice, s.species, rows[1].reshape(8, 3), coords_are_cartesian=True)
    bvs, val, gii = direct(ref_s)
    np.testing.assert_allclose(y[1, 0], gii, rtol=1e-12)
    np.testing.assert_allclose(y[1, 1:9], bvs, rtol=1e-12)
    np.testing.assert_allclose(y[1, 9:], bvs - val, rtol=1e-12, atol=1e-14)
    assert np.all(bvs[:4] > 0) and np.all(bvs[4:] < 0)  # cations positive, anions negative


def test_one_neighbour_shell_follows_the_exponential_law():
    """With the cut-off between the first (a/2) and second (a sqrt(3)/2) Na-Cl shells, each
    ion has 6 bonds: BVS = +/- 6 exp((R - a/2) / b). So ln BVS falls by (a2 - a1) / 2b,
    GII = |BVS - 1|, and dGII/da = BVS / 2b where BVS < 1."""
    s = rocksalt(oxidized=True)
    # the vocabulary's lattice_constant: the cubic a of the volume per atom, 8 atoms per
    # conventional rock-salt cell
    sks = zoo.knowledge_source("pymatgen-bvs", inputs="lattice_constant", outputs=["gii", "bvs"],
                               n_atoms=8, cutoff=3.6, atoms_per_cell=8)
    a1, a2 = 5.64, 5.80
    y = sks([[a1], [a2]], [s, s])
    for row, a in zip(y, (a1, a2)):
        assert 3.6 < a * np.sqrt(3) / 2 and a / 2 < 3.6  # precondition: one shell inside
        np.testing.assert_allclose(row[1:5], row[1], rtol=1e-12)
        np.testing.assert_allclose(row[5:], -row[1], rtol=1e-12)
        assert row[0] == pytest.approx(abs(row[1] - 1), rel=1e-12)
    assert np.log(y[0, 1] / y[1, 1]) == pytest.approx((a2 - a1) / (2 * B), rel=1e-10)
    bvs = y[1, 1]
    assert bvs < 1
    layer = zoo.SKSLayer(
        zoo.knowledge_source("pymatgen-bvs", inputs="lattice_constant", cutoff=3.6, atoms_per_cell=8),
        estimator=zoo.estimator("cge", mu=1e-4, difference="central"), seed=0,
    )
    z = torch.tensor([[a2]], dtype=torch.float64, requires_grad=True)
    layer(z, [s]).sum().backward()
    # central difference error: (mu/2b)^2 / 6 ~ 4e-9 relative
    assert z.grad.item() == pytest.approx(bvs / (2 * B), rel=1e-7)


def test_central_differences_converge_with_the_default_cutoff(rattled_nacl):
    sks = zoo.knowledge_source("pymatgen-bvs", inputs="strain")
    x0 = np.array([0.01, -0.01, 0.02, 0.01, 0.0, -0.01])
    e = np.array([1.0, 0.5, -0.3, 0.2, 0.4, -0.1])
    mus = [4e-3, 2e-3, 1e-3, 5e-4]
    rows = np.array([x0 + s * mu * e for mu in mus for s in (1, -1)])
    y = sks(rows, [rattled_nacl] * len(rows))[:, 0]
    d = [(y[2 * i] - y[2 * i + 1]) / (2 * mu) for i, mu in enumerate(mus)]
    steps = [abs(d[i] - d[i + 1]) for i in range(len(mus) - 1)]
    for big, small in zip(steps, steps[1:]):
        assert 3.0 < big / small < 5.0, steps
    assert abs(d[-1]) > 0.1


def test_disordered_sites_use_the_unordered_sum():
    lattice = Lattice.cubic(5.9)
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    mixed = {Species("Na", 1): 0.5, Species("K", 1): 0.5}
    s = Structure(lattice, [mixed] * 4 + [Species("Cl", -1)] * 4, np.vstack([fcc, fcc + 0.5]))
    y = zoo.knowledge_source("pymatgen-bvs", outputs=["gii", "bvs"], n_atoms=8)([[1.0]], [s])[0]
    bvs, _, gii = direct(s)
    np.testing.assert_allclose(y, np.concatenate([[gii], bvs]), rtol=1e-12)


def test_contract(nacl, rattled_nacl):
    aucl = Structure(Lattice.cubic(5.5), ["Au", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # no BV parameters for Au
    sks = zoo.knowledge_source("pymatgen-bvs", outputs=["gii", "bvs"], n_atoms=8,
                               oxidation_states={"Na": 1, "Cl": -1, "Au": 1})
    check_knowledge_source(sks, [[0.95], [1.0], [1.1]], [nacl, rattled_nacl, nacl],
                           failing_row=([1.0], aucl))


def test_failures(nacl):
    aucl = Structure(Lattice.cubic(5.5), ["Au", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(zoo.SKSError, match="no bond-valence parameters for Au"):
        zoo.knowledge_source("pymatgen-bvs", oxidation_states={"Au": 1, "Cl": -1})([[1.0]], [aucl])
    with pytest.raises(zoo.SKSError, match="n_atoms says 4"):
        zoo.knowledge_source("pymatgen-bvs", outputs="bvs", n_atoms=4)([[1.0]], [nacl])


@pytest.mark.parametrize("options,fragment", [
    ({"outputs": "valence"}, "unknown outputs \\['valence'\\]; choose from gii, bvs, bvs_deviation"),
    ({"outputs": "bvs"}, "outputs 'bvs' needs the option n_atoms"),
    ({"outputs": "energy"}, "pymatgen-bvs cannot compute outputs 'energy'"),
    ({"cutoff": 0}, "cutoff must be a positive number"),
    ({"scale_factor": "1"}, "scale_factor must be a positive number"),
    ({"oxidation_states": {"Na": True}}, "must be a number"),
])
def test_bad_options_are_config_errors(options, fragment):
    with pytest.raises(zoo.ConfigError, match=fragment):
        zoo.knowledge_source("pymatgen-bvs", **options)
