"""Gradients through zoo.SKSLayer(xtb) against references that do not come from zoo.

* energy -> r: xTB's analytic gradient gives dE/dr = -n x bond_force exactly (n bonds).
* bond_force -> r: xTB has no analytic second derivative here; a tight central difference
  (h = 1e-5 Å) stands in. It is a finite difference, but of a smooth function: measured,
  the central differences at h = 1e-4, 1e-5, 1e-6 agree to 1e-8 relative (N2, CH4, Li2,
  O2), so it is exact for the tolerances below.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo

from tblite_testlib import g2_molecule

NAMES = ("N2", "CH4", "Li2", "O2", "BF3")


def layer_grad(sks, estimator, r, mols, executor="serial"):
    """d(sum of the layer's single output)/dr per row, from the layer's backward."""
    layer = zoo.SKSLayer(sks, estimator=estimator, executor=executor, seed=0)
    z = torch.tensor(np.asarray(r, float)[:, None], requires_grad=True, dtype=torch.float64)
    y = layer(z, mols)
    y.sum().backward()
    return z.grad.numpy()[:, 0], y.detach().numpy()[:, 0], layer


@pytest.fixture(scope="module")
def case():
    mols = [g2_molecule(n) for n in NAMES]
    # 3 % stretched: off equilibrium, so neither quantity is near zero
    r = np.array([m.bond_lengths()[0] * 1.03 for m in mols])
    return mols, r


def test_energy_gradient_matches_xtbs_analytic_bond_force(case):
    mols, r = case
    # accuracy 0.01: the SCF converged tightly enough that xTB's gradient is the derivative
    # of its energy to ~1e-7. At tblite's default (1.0) they differ by up to 2e-5 relative
    # (BF3; measured): the gradient's error is first order in the density's, the energy's
    # second order
    energy = zoo.knowledge_source("xtb", outputs="energy", accuracy=0.01)
    force = zoo.knowledge_source("xtb", outputs="bond_force", accuracy=0.01)
    n_bonds = np.array([len(m.star()[1]) for m in mols])
    exact = -n_bonds * force(r[:, None], mols)[:, 0]  # dE/dr from xTB's own gradient
    grad, _, layer = layer_grad(energy, zoo.estimator("cge", mu=1e-4, difference="central"), r, mols)
    # central: truncation mu^2/6 |E'''| ~ 2e-9 x O(1000) eV/Å^3; round-off ~1e-13 x 200 eV / 1e-4
    np.testing.assert_allclose(grad, exact, rtol=1e-5, atol=1e-6)
    assert layer.gradient_queries == 2 * len(mols)
    assert np.all(np.abs(exact) > 0.05)


def test_bond_force_gradient_cge_against_a_tight_central_difference(case):
    mols, r = case
    force = zoo.knowledge_source("xtb", outputs="bond_force")
    h = 1e-5
    ref = (force((r + h)[:, None], mols) - force((r - h)[:, None], mols))[:, 0] / (2 * h)
    assert np.all(ref < 0)  # the bond force falls as the bonds lengthen (a minimum nearby)

    central, _, _ = layer_grad(force, zoo.estimator("cge", mu=1e-4, difference="central"), r, mols)
    np.testing.assert_allclose(central, ref, rtol=1e-5)

    # forward difference (the task's estimator): error mu/2 |F''|, first order in mu
    errors = []
    for mu in (1e-3, 1e-4):
        forward, y, layer = layer_grad(force, zoo.estimator("cge", mu=mu, difference="forward"), r, mols)
        assert layer.gradient_queries == len(mols)  # f(z) is reused from the forward pass
        errors.append(np.abs(forward - ref) / np.abs(ref))
    assert np.all(errors[0] < 2e-2)
    ratio = errors[0] / errors[1]
    assert np.all((ratio > 5) & (ratio < 20)), ratio  # O(mu): ~10x smaller for 10x smaller mu


def test_processes_executor_gives_the_serial_values(case):
    """The SKS and its Molecule contexts travel to worker processes by pickle; the values
    and the gradient must not change on the way (the gradient, a difference over mu = 1e-3,
    magnifies a 1e-16 change of a value to ~1e-13)."""
    mols, r = case
    force = zoo.knowledge_source("xtb", outputs="bond_force")
    est = zoo.estimator("cge", mu=1e-3, difference="forward")
    serial = layer_grad(force, est, r, mols)
    with zoo.executor("processes", workers=2) as pool:
        parallel = layer_grad(force, est, r, mols, executor=pool)
    # equal to rounding: a worker's BLAS may sum in another order (1 ulp seen for CH4)
    np.testing.assert_allclose(parallel[1], serial[1], rtol=1e-12)
    np.testing.assert_allclose(parallel[0], serial[0], rtol=1e-9)
    assert parallel[2].queries == serial[2].queries == 2 * len(mols)
