"""Gradients through zoo.SKSLayer(ase-emt) against ASE's exact gradients.

ASE's EMT forces and stress are analytic derivatives of its energy, so they are the
reference for zoo's finite-difference estimators:

* positions -> energy:        dE/dx = -forces
* Voigt engineering strain:   dE/d(strain) = V * stress  (at zero strain, all 6 components)
* lattice constant a:         dE/da = dE/dV * dV/da = -P * 3V/a
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT
from scipy import stats

import zoo
from zoo_ase.alloys import random_fcc_alloy

from ase_testlib import ALLOY, RecordingExecutor, emt_reference


def layer_grad(sks, estimator, z, contexts, seed=0, executor="serial"):
    """z.grad after y.sum().backward() through an SKSLayer (d_out = 1: the plain gradient)."""
    layer = zoo.SKSLayer(sks, estimator=estimator, executor=executor, seed=seed)
    zt = torch.tensor(np.atleast_2d(z), dtype=torch.float64, requires_grad=True)
    y = layer(zt, contexts)
    y.sum().backward()
    return zt.grad.numpy(), y.detach().numpy(), layer


# ---------------------------------------------------------------- positions (d = 96)

@pytest.fixture(scope="module")
def positions_case(rattled_alloy):
    atoms = rattled_alloy
    sks = zoo.knowledge_source("ase-emt", inputs="positions", outputs="energy", n_atoms=len(atoms))
    x = atoms.get_positions().reshape(-1)
    ref = emt_reference(atoms)
    g = -ref["forces"]  # exact dE/dx
    assert np.linalg.norm(g) > 1.0  # a rattled cell: a gradient worth estimating
    return sks, atoms, x, g


def test_positions_cge_central_matches_minus_forces(positions_case):
    sks, atoms, x, g = positions_case
    est = zoo.estimator("cge", mu=1e-4, difference="central")
    grad, y, layer = layer_grad(sks, est, x, [atoms])
    # Central differences: truncation error mu^2/6 * |d3E/dx3|; EMT third derivatives are
    # O(10-100) eV/Å^3, so ~1e-7 eV/Å per component against forces of ~0.5 eV/Å.
    # Round-off: |E| ~ 100 eV * 1e-16 / (2 mu) ~ 1e-10 eV/Å. Relative error < 1e-4 holds
    # with a wide margin and fails for any O(mu) (one-sided) or wrong-sign scheme.
    rel = np.linalg.norm(grad[0] - g) / np.linalg.norm(g)
    assert rel < 1e-4, rel
    assert layer.gradient_queries == 2 * 96  # central CGE: 2d queries per sample
    # and the error really is O(mu^2): 10x larger mu, ~100x larger error (round-off is
    # still 1e-3 of the truncation error at mu = 1e-4)
    grad3, _, _ = layer_grad(sks, zoo.estimator("cge", mu=1e-3, difference="central"), x, [atoms])
    rel3 = np.linalg.norm(grad3[0] - g) / np.linalg.norm(g)
    assert 30 < rel3 / rel < 300, (rel3, rel)


def test_positions_cge_forward_is_first_order(positions_case):
    sks, atoms, x, g = positions_case
    # forward difference error ~ mu/2 * |d2E/dx2| (EMT curvature ~ 1-10 eV/Å^2): at mu = 1e-3
    # the error is ~1e-3..1e-2 eV/Å per component, so the relative error sits between
    # 1e-5 and 1e-2, and it shrinks ~10x when mu shrinks 10x.
    errs = []
    for mu in (1e-3, 1e-4):
        grad, _, layer = layer_grad(sks, zoo.estimator("cge", mu=mu, difference="forward"), x, [atoms])
        errs.append(np.linalg.norm(grad[0] - g) / np.linalg.norm(g))
        assert layer.gradient_queries == 96
    assert errs[0] < 1e-2
    assert 4 < errs[0] / errs[1] < 25  # O(mu): ratio ~10


@pytest.mark.parametrize("directions", ["sphere", "gaussian"])
def test_positions_rge_statistics(positions_case, directions):
    """Many independent RGE estimates (one per batch row): cosine and unbiasedness."""
    sks, atoms, x, g = positions_case
    d, q, n = len(x), 8, 64
    est = zoo.estimator("rge", q=q, mu=1e-4, directions=directions, difference="forward")
    grad, _, layer = layer_grad(sks, est, np.tile(x, (n, 1)), [atoms] * n, seed=1234)
    assert layer.gradient_queries == n * q
    gn = np.linalg.norm(g)

    # 1. cosine of a single estimate with the true gradient: about sqrt(q/(q+d)) (0.277
    # here). Delta method: one cosine has std ~ c/sqrt(2q) (~0.07; a Monte-Carlo of the
    # ideal estimator gives 0.066), so the mean of n=64 has std ~0.009; the formula itself
    # is off by ~0.005 at q=8 (Jensen). Tolerance: 4 std + 0.01.
    cos = grad @ g / (np.linalg.norm(grad, axis=1) * gn)
    c = np.sqrt(q / (q + d))
    tol = 4 * c / np.sqrt(2 * q) / np.sqrt(n) + 0.01
    assert abs(cos.mean() - c) < tol, (cos.mean(), c, tol)

    # 2. the mean of the n estimates is unbiased for -forces. Covariance of one
    # single-direction estimate u (u.g):
    #   gaussian u ~ N(0, I):        |g|^2 I + g g^T
    #   sphere, scaled by d:         d/(d+2) (|g|^2 I + 2 g g^T) - g g^T
    # The mean over n*q directions has that covariance / (n q); the Mahalanobis norm of
    # the error is then ~chi^2 with d degrees of freedom (CLT over 512 directions).
    # Bound at the 99.9 % quantile (~147 for d=96); a bias as small as 30 % of g (e.g. a
    # wrong scale factor) roughly doubles it (~100 -> ~200 here) and a missing factor d adds ~10^4.
    outer = np.outer(g, g)
    if directions == "gaussian":
        cov = gn**2 * np.eye(d) + outer
    else:
        cov = d / (d + 2) * (gn**2 * np.eye(d) + 2 * outer) - outer
    err = grad.mean(axis=0) - g
    chi2 = n * q * err @ np.linalg.solve(cov, err)
    assert chi2 < stats.chi2.ppf(0.999, d), chi2
    # and the plain relative error is about sqrt(trace(cov)/(n q)) / |g| ~ sqrt(d/(nq))
    rel = np.linalg.norm(err) / gn
    assert rel < 1.5 * np.sqrt(np.trace(cov) / (n * q)) / gn, rel


def test_positions_rge_seed_reproducible(positions_case):
    sks, atoms, x, _ = positions_case
    est = lambda: zoo.estimator("rge", q=4, mu=1e-4, directions="sphere")  # noqa: E731
    g1, _, _ = layer_grad(sks, est(), x, [atoms], seed=5)
    g2, _, _ = layer_grad(sks, est(), x, [atoms], seed=5)
    g3, _, _ = layer_grad(sks, est(), x, [atoms], seed=6)
    np.testing.assert_array_equal(g1, g2)
    assert not np.allclose(g1, g3)


# ---------------------------------------------------------------- strain (d = 6)

def test_strain_gradient_is_volume_times_stress(triclinic_alloy):
    atoms = triclinic_alloy
    ref = emt_reference(atoms)
    v_sigma = ref["volume"][0] * ref["stress_ev"]  # eV, Voigt xx yy zz yz xz xy
    # all six components must matter for the test to mean anything
    assert np.all(np.abs(v_sigma[3:]) > 0.05), v_sigma
    sks = zoo.knowledge_source("ase-emt", inputs="strain", outputs="energy")
    est = zoo.estimator("cge", mu=1e-4, difference="central")
    grad, y, _ = layer_grad(sks, est, np.zeros(6), [atoms])
    np.testing.assert_allclose(y[0, 0], ref["energy"][0], rtol=1e-12)
    # central difference: error ~ mu^2/6 * d3E/de3 ~ 1e-8/6 * O(V * 10 eV/Å^3) ~ 1e-5 eV,
    # round-off ~1e-12 eV / 2e-4 ~ 1e-8 eV; |V sigma| ~ 5-20 eV, so 1e-5 relative to the
    # largest component is a safe bound. A factor 2 on the shear components (tensor
    # instead of engineering shear) would be a 50 % error.
    np.testing.assert_allclose(grad[0], v_sigma, rtol=0, atol=1e-5 * np.abs(v_sigma).max())


def test_energy_per_atom_strain_gradient_scaled_by_n(triclinic_alloy):
    ref = emt_reference(triclinic_alloy)
    sks = zoo.knowledge_source("ase-emt", inputs="strain", outputs="energy_per_atom")
    grad, _, _ = layer_grad(sks, zoo.estimator("cge", mu=1e-4, difference="central"), np.zeros(6), [triclinic_alloy])
    expect = ref["volume"][0] * ref["stress_ev"] / len(triclinic_alloy)
    np.testing.assert_allclose(grad[0], expect, rtol=0, atol=1e-5 * np.abs(expect).max())


# ---------------------------------------------------------------- lattice constant (d = 1)

@pytest.mark.parametrize("a", [3.55, 3.75, 3.95])
def test_lattice_constant_gradient_is_minus_p_dv_da(alloy, a):
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs="energy")
    grad, _, _ = layer_grad(sks, zoo.estimator("cge", mu=1e-4, difference="central"), [a], [alloy])
    ref = emt_reference(random_fcc_alloy(ALLOY, seed=7, a=a))
    p = -ref["stress_ev"][:3].mean()  # eV/Å^3
    v = ref["volume"][0]
    expect = -p * 3 * v / a
    assert abs(expect) > 1.0  # away from equilibrium, so a relative check is meaningful
    # central difference in a: error mu^2/6 * E''' with E''' ~ 9 V B / a^3 * few ~ 1e3 eV/Å^3
    # -> 2e-6 eV/Å against |dE/da| of several eV/Å.
    assert abs(grad[0, 0] - expect) < 1e-5 * abs(expect) + 1e-6, (grad[0, 0], expect)


def test_pressure_gradient_sign(alloy):
    """dP/da < 0 (compressing raises pressure), of size ~3B/a ~ 100 GPa/Å for these metals."""
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs="pressure")
    grad, _, _ = layer_grad(sks, zoo.estimator("cge", mu=1e-3), [3.75], [alloy])
    # compare with a finite difference of ASE's own pressure
    h = 1e-3
    p = [emt_reference(random_fcc_alloy(ALLOY, seed=7, a=3.75 + s * h))["pressure"][0] for s in (1, -1)]
    fd = (p[0] - p[1]) / (2 * h)
    assert -400 < fd < -30
    assert abs(grad[0, 0] - fd) < 1e-3 * abs(fd)


# ---------------------------------------------------------------- input bounds

@pytest.mark.parametrize(
    "estimator",
    [
        ("cge", {"mu": 1e-2, "difference": "central"}),
        ("cge", {"mu": 1e-2, "difference": "forward"}),
        ("rge", {"q": 6, "mu": 1e-2, "directions": "gaussian", "difference": "central"}),
        ("rge", {"q": 6, "mu": 1e-2, "directions": "sphere", "difference": "forward"}),
    ],
    ids=["cge-central", "cge-forward", "rge-central", "rge-forward"],
)
def test_queries_stay_inside_bounds(alloy, estimator):
    lo, hi = 3.6, 3.9
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs="energy", lower=lo, upper=hi)
    assert sks.input_spec.lower[0] == lo and sks.input_spec.upper[0] == hi
    name, opts = estimator
    rec = RecordingExecutor()
    z = np.array([[lo], [hi], [lo + 0.005]])  # on both bounds, and closer than mu to one
    grad, _, _ = layer_grad(sks, zoo.estimator(name, **opts), z, [alloy] * 3, seed=3, executor=rec)
    queries = rec.queries[:, 0]
    assert len(queries) > 3  # forward evaluation plus gradient queries were recorded
    assert queries.min() >= lo and queries.max() <= hi, (queries.min(), queries.max())
    # the estimates at the bounds are still gradients of E(a): -P 3V/a, up to the
    # scheme's error (one-sided first order at mu = 1e-2: |E''| mu/2 ~ 500 eV/Å^2 * 5e-3
    # ~ 2.5 eV/Å, i.e. < 10 % of |dE/da| ~ 30-60 eV/Å; second order: < 1 %).
    if name == "rge" and opts["directions"] == "gaussian":
        return  # d = 1: a random multiple (chi^2_q / q) of the gradient; bounds checked above
    # d = 1 sphere directions are +-1, so sphere RGE is a (randomly signed) CGE here
    second_order = opts["difference"] == "central"
    tol = 0.01 if second_order else 0.1
    for zi, gi in zip(z[:, 0], grad[:, 0]):
        ref = emt_reference(random_fcc_alloy(ALLOY, seed=7, a=zi))
        expect = 3 * ref["volume"][0] / zi * ref["stress_ev"][:3].mean()  # -P 3V/a
        assert abs(gi - expect) < tol * abs(expect), (zi, gi, expect)


def test_clamped_input_evaluates_at_bound(alloy):
    """out_of_bounds='clamp' (default): a model output below the bound is computed at it."""
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs="energy", lower=3.6, upper=3.9)
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge"), seed=0)
    y = layer(torch.tensor([[3.0]], dtype=torch.float64), [alloy]).detach().numpy()
    a = random_fcc_alloy(ALLOY, seed=7, a=3.6)
    a.calc = EMT()
    np.testing.assert_allclose(y[0, 0], a.get_potential_energy(), rtol=1e-12)
    strict = zoo.SKSLayer(sks, estimator=zoo.estimator("cge"), out_of_bounds="error")
    with pytest.raises(zoo.SKSError):
        strict(torch.tensor([[3.0]], dtype=torch.float64), [alloy])
