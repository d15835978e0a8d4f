"""Gradients through zoo.SKSLayer(lammps) against exact ones.

The SKS's stress is the derivative of its energy (LAMMPS computes the virial
analytically), and ASE's EAM is an independent one, so:

* Voigt engineering strain:  dE/d(strain) = V * stress   (all six components)
* lattice constant a:        dE/da = -P * 3V/a
* lj/cut epsilon:            dE/d(epsilon) = E/epsilon   (E is linear in epsilon)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo

from lammps_testlib import EV_A3_GPA, ase_eam, reference


def layer_grad(sks, z, contexts, mu=1e-4):
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=mu, difference="central"), seed=0)
    zt = torch.tensor(np.atleast_2d(z), dtype=torch.float64, requires_grad=True)
    y = layer(zt, contexts)
    y.sum().backward()
    return zt.grad.numpy(), y.detach().numpy(), layer


def test_strain_gradient_is_volume_times_stress(cu_distorted):
    """Central CGE (12 queries in one lmp call) against V*stress. Truncation ~ mu^2/6 *
    d3E/de3 ~ 1e-8/6 * O(1e3 eV) ~ 1e-6 eV; round-off 1e-13 eV / 2e-4 ~ 1e-9 eV; |V sigma|
    ~ 2-25 eV. A tensor (not engineering) shear would be off by 2x on g_yz, g_xz, g_xy."""
    st = cu_distorted
    stress_sks = zoo.knowledge_source("lammps", inputs="strain", outputs=["stress", "volume"])
    s = stress_sks(np.zeros((1, 6)), [st])[0]
    v_sigma = s[6] * s[:6] / EV_A3_GPA  # eV
    assert np.all(np.abs(v_sigma[3:]) > 0.1), v_sigma
    sks = zoo.knowledge_source("lammps", inputs="strain", outputs="energy")
    grad, _, layer = layer_grad(sks, np.zeros(6), [st])
    assert layer.gradient_queries == 12
    np.testing.assert_allclose(grad[0], v_sigma, rtol=0, atol=1e-5 * np.abs(v_sigma).max())
    pytest.importorskip("ase")
    ref = reference(st, ase_eam("Cu_u3.eam"))  # independent code: interpolation gap 2e-4 GPa
    np.testing.assert_allclose(grad[0], ref["volume"][0] * ref["stress"] / EV_A3_GPA, atol=5e-3)


@pytest.mark.parametrize("a", [3.5, 3.75])
def test_lattice_constant_gradient_is_minus_p_dv_da(cu, a):
    sks = zoo.knowledge_source("lammps", inputs="lattice_constant", outputs="energy")
    grad, _, _ = layer_grad(sks, [a], [cu])
    p_sks = zoo.knowledge_source("lammps", inputs="lattice_constant", outputs=["pressure", "volume"])
    p, v = p_sks([[a]], [cu])[0]
    expect = -p / EV_A3_GPA * 3 * v / a
    assert abs(expect) > 5.0
    assert abs(grad[0, 0] - expect) < 1e-5 * abs(expect)


def test_lj_epsilon_gradient_is_energy_over_epsilon():
    from zoo_lammps import Structure

    ar = Structure(np.eye(3) * 5.2, [[0, 0, 0], [0, 2.6, 2.6], [2.6, 0, 2.6], [2.6, 2.6, 0.1]], ("Ar",) * 4)
    sks = zoo.knowledge_source("lammps", pair_style="lj/cut", inputs=["epsilon", "sigma"], outputs="energy")
    grad, y, _ = layer_grad(sks, [0.0104, 3.4], [ar], mu=1e-5)
    np.testing.assert_allclose(grad[0, 0], y[0, 0] / 0.0104, rtol=1e-7)
    # d/dsigma agrees with a 100x wider central difference (relative error ~ h^2/6 *
    # E'''/E' ~ 1e-6 * O(10) at h = 1e-3 Å)
    e = sks([[0.0104, 3.399], [0.0104, 3.401]], [ar, ar])[:, 0]
    np.testing.assert_allclose(grad[0, 1], (e[1] - e[0]) / 0.002, rtol=1e-4)
