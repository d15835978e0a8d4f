"""ase-lj and ase-morse: values equal ASE's own calculators, gradients through zoo.SKSLayer
equal ASE's exact ones, and calculator parameters as inputs behave as ASE builds them.

References are computed here with fresh ``LennardJones``/``MorsePotential`` objects on
structures built by hand. Exact gradients: forces (dE/dx = -F) and stress (dE/de = V s)
are analytic derivatives of the energy in ASE. For parameters:

* E is linear in epsilon for both potentials, so dE/d(epsilon) = E/epsilon exactly;
* both are scale-free when the cutoffs scale with the length (LJ: rc = 3 sigma and
  ro = 0.66 rc by default; Morse: rcut1 r0, rcut2 r0): E(l sigma; l X) = E(sigma; X), so
  d/dl = 0 at l = 1 gives dE/d(sigma) = -V (s_xx + s_yy + s_zz) / sigma, read off ASE's
  stress (likewise r0 for Morse);
* the rest (LJ with a fixed rc, Morse's rho0) against a Richardson-extrapolated central
  difference of ASE called directly.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.calculators.morse import MorsePotential

import zoo
from zoo.testing import check_knowledge_source

from ase_testlib import sheared

# sigma = 2.4: no pair of the test cell lies within 0.017 Å of rc = 3 sigma at scales
# 0.97 and 1 (gradients of the shifted-energy LJ have a kink where one does)
LJ_OPTS = {"epsilon": 0.2, "sigma": 2.4}
MORSE_OPTS = {"epsilon": 0.4, "r0": 2.9, "rho0": 4.0}


@pytest.fixture(scope="module")
def cell8() -> Atoms:
    """8 atoms on fcc sites near the LJ/Morse minimum above, sheared and rattled so that
    forces and all six stress components are non-zero."""
    return sheared(bulk("Cu", "fcc", a=3.65, cubic=True).repeat((2, 1, 1)), seed=4, rattle=0.05)


def ase_values(atoms: Atoms, calc) -> dict[str, np.ndarray]:
    a = atoms.copy()
    a.calc = calc
    return {
        "energy": a.get_potential_energy(),
        "forces": a.get_forces().reshape(-1),
        "stress": a.get_stress(voigt=True),
        "volume": a.get_volume(),
    }


def layer_grad(sks, z, contexts, mu=1e-4):
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=mu, difference="central"), seed=0)
    zt = torch.tensor(np.atleast_2d(z), dtype=torch.float64, requires_grad=True)
    y = layer(zt, contexts)
    y.sum().backward()
    return zt.grad.numpy(), y.detach().numpy()


def richardson(f, x: float, h: float) -> float:
    """Central difference with one Richardson step: error O(h^4)."""
    d = lambda s: (f(x + s) - f(x - s)) / (2 * s)  # noqa: E731
    return (4 * d(h / 2) - d(h)) / 3


# ---------------------------------------------------------------- registration, contract

def test_registered_with_default_tasks():
    assert type(zoo.knowledge_source("ase-lj")).default_task == "lj-alloy-eos"
    assert type(zoo.knowledge_source("ase-morse")).default_task == "morse-alloy-eos"
    tasks = zoo.registered("tasks")
    assert tasks["lj-alloy-eos"].cls.default_sks == "ase-lj"
    assert tasks["morse-alloy-eos"].cls.default_sks == "ase-morse"


@pytest.mark.parametrize("name,opts", [("ase-lj", {**LJ_OPTS, "smooth": True}), ("ase-morse", MORSE_OPTS)])
def test_contract_strain(cell8, name, opts):
    sks = zoo.knowledge_source(name, inputs="strain", outputs=["energy", "stress", "forces"], n_atoms=8, **opts)
    x = np.random.default_rng(0).uniform(-0.02, 0.02, (3, 6))
    check_knowledge_source(sks, x, [cell8] * 3)


@pytest.mark.parametrize(
    "name,params,rows",
    [
        ("ase-lj", ["epsilon", "sigma"], [[0.2, 2.3], [0.1, 2.5], [0.3, 2.2]]),
        ("ase-morse", ["epsilon", "r0", "rho0"], [[0.4, 2.9, 4.0], [0.2, 3.1, 3.5], [0.5, 2.8, 5.0]]),
    ],
)
def test_contract_parameters(cell8, name, params, rows):
    sks = zoo.knowledge_source(name, inputs="parameters", parameters=params, outputs=["energy", "pressure"])
    # rows with different parameters are independent, deterministic, pickle, and the
    # default bounds themselves are valid queries
    check_knowledge_source(sks, rows, [cell8] * 3)
    # default bounds are positive and finite, and the contract's at-bound check passed
    assert np.all(sks.input_spec.lower > 0) and np.all(np.isfinite(sks.input_spec.upper))


# ---------------------------------------------------------------- values vs ASE

@pytest.mark.parametrize(
    "name,opts,make",
    [
        ("ase-lj", LJ_OPTS, lambda: LennardJones(**LJ_OPTS)),
        ("ase-lj", {**LJ_OPTS, "rc": 5.0, "smooth": True}, lambda: LennardJones(**LJ_OPTS, rc=5.0, smooth=True)),
        ("ase-lj", {**LJ_OPTS, "rc": 6.0, "ro": 4.0, "smooth": True},
         lambda: LennardJones(**LJ_OPTS, rc=6.0, ro=4.0, smooth=True)),
        ("ase-morse", MORSE_OPTS, lambda: MorsePotential(**MORSE_OPTS)),
        ("ase-morse", {**MORSE_OPTS, "rcut1": 1.5, "rcut2": 2.0},
         lambda: MorsePotential(**MORSE_OPTS, rcut1=1.5, rcut2=2.0)),
    ],
    ids=["lj", "lj-smooth-rc5", "lj-smooth-ro", "morse", "morse-cut"],
)
def test_values_equal_ase(cell8, name, opts, make):
    sks = zoo.knowledge_source(name, inputs="scale", outputs=["energy", "stress", "forces"], n_atoms=8, **opts)
    scales = [0.97, 1.0, 1.03]
    y = sks([[s] for s in scales], [cell8] * 3)
    for row, s in zip(y, scales):
        ref_atoms = cell8.copy()
        ref_atoms.set_cell(cell8.cell * s, scale_atoms=True)
        ref = ase_values(ref_atoms, make())
        np.testing.assert_allclose(row[0], ref["energy"], rtol=1e-10)
        np.testing.assert_allclose(row[1:7], ref["stress"] / 0.006241509074460763, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(row[7:], ref["forces"], rtol=1e-8, atol=1e-10)
    # the options make a difference (else the comparison above proves little)
    plain = zoo.knowledge_source(name, inputs="scale", outputs="energy")
    assert abs(plain([[1.0]], [cell8])[0, 0] - y[1, 0]) > 1e-3


def test_parameter_rows_equal_fresh_ase_calculators(cell8):
    """Each row is LennardJones(epsilon=.., sigma=..) built anew, whatever came before:
    an unset rc follows the row's sigma (3 sigma), as ASE's constructor sets it."""
    rows = np.array([[0.2, 2.3], [0.2, 2.6], [0.2, 2.3], [0.05, 2.3], [0.05, 2.3]])
    sks = zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["epsilon", "sigma"],
                               outputs=["energy", "forces"], n_atoms=8)
    y = sks(rows, [cell8] * len(rows))
    for row, (eps, sig) in zip(y, rows):
        ref = ase_values(cell8, LennardJones(epsilon=eps, sigma=sig))
        np.testing.assert_allclose(row[0], ref["energy"], rtol=1e-12)
        np.testing.assert_allclose(row[1:], ref["forces"], rtol=1e-10, atol=1e-12)
    # rc really follows sigma: with rc pinned at 3 x 2.3 the sigma = 2.6 row differs
    pinned = ase_values(cell8, LennardJones(epsilon=0.2, sigma=2.6, rc=6.9))["energy"]
    assert abs(pinned - y[1, 0]) > 1e-4
    # fixed options still apply beside the parameter inputs
    sks_rc = zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["epsilon", "sigma"], rc=6.9)
    e = sks_rc([[0.2, 2.6]], [cell8])[0, 0] * len(cell8)
    np.testing.assert_allclose(e, pinned, rtol=1e-12)


def test_parameters_beside_a_structure_input(cell8):
    """inputs=['parameters', 'scale']: columns (epsilon, sigma, scale), in that order."""
    sks = zoo.knowledge_source("ase-lj", inputs=["parameters", "scale"], parameters=["epsilon", "sigma"],
                               outputs="energy", lower={"scale": 0.9}, upper={"sigma": 3.0})
    assert sks.input_spec.names == ("epsilon", "sigma", "scale")
    assert sks.input_spec.units == ("eV", "Å", "")
    assert sks.input_spec.lower.tolist() == [1e-3, 0.5, 0.9]
    assert sks.input_spec.upper.tolist() == [5.0, 3.0, 1.5]  # the vocabulary's default bounds
    y = sks([[0.15, 2.4, 1.02]], [cell8])
    ref_atoms = cell8.copy()
    ref_atoms.set_cell(cell8.cell * 1.02, scale_atoms=True)
    np.testing.assert_allclose(y[0, 0], ase_values(ref_atoms, LennardJones(epsilon=0.15, sigma=2.4))["energy"], rtol=1e-12)
    clone = pickle.loads(pickle.dumps(sks))
    np.testing.assert_array_equal(clone([[0.15, 2.4, 1.02]], [cell8]), y)


# ---------------------------------------------------------------- gradients vs ASE

@pytest.mark.parametrize(
    "name,opts",
    [("ase-lj", {**LJ_OPTS, "smooth": True}), ("ase-lj", LJ_OPTS), ("ase-morse", MORSE_OPTS)],
    ids=["lj-smooth", "lj-shifted", "morse"],
)
def test_positions_gradient_is_minus_forces(cell8, name, opts):
    sks = zoo.knowledge_source(name, inputs="positions", outputs="energy", n_atoms=8, **opts)
    ref = ase_values(cell8, (LennardJones if name == "ase-lj" else MorsePotential)(**opts))
    g = -ref["forces"]
    assert np.linalg.norm(g) > 0.1
    grad, y = layer_grad(sks, cell8.get_positions().reshape(-1), [cell8])
    np.testing.assert_allclose(y[0, 0], ref["energy"], rtol=1e-12)
    # central differences, mu = 1e-4 Å: truncation mu^2/6 |E'''| with |E'''| < ~1e3 eV/Å^3
    # for these stiff short-range potentials -> < 2e-6 eV/Å, round-off ~1e-11; the forces
    # are ~1 eV/Å. An O(mu) scheme or a sign error fails by orders of magnitude.
    assert np.abs(grad[0] - g).max() < 1e-5 * np.abs(g).max() + 2e-6


@pytest.mark.parametrize("name,opts", [("ase-lj", {**LJ_OPTS, "smooth": True}), ("ase-morse", MORSE_OPTS)])
def test_strain_gradient_is_volume_times_stress(cell8, name, opts):
    sks = zoo.knowledge_source(name, inputs="strain", outputs="energy", **opts)
    ref = ase_values(cell8, (LennardJones if name == "ase-lj" else MorsePotential)(**opts))
    v_sigma = ref["volume"] * ref["stress"]
    assert np.all(np.abs(v_sigma[3:]) > 1e-3), v_sigma  # shear components matter too
    grad, _ = layer_grad(sks, np.zeros(6), [cell8])
    np.testing.assert_allclose(grad[0], v_sigma, rtol=0, atol=1e-5 * np.abs(v_sigma).max())


@pytest.mark.parametrize(
    "name,params,point,cls",
    [
        ("ase-lj", ["epsilon", "sigma"], [0.2, 2.4], LennardJones),
        ("ase-lj", ["epsilon", "sigma"], [0.2, 2.4], "smooth"),
        ("ase-morse", ["epsilon", "r0"], [0.4, 2.9], MorsePotential),
    ],
    ids=["lj", "lj-smooth", "morse"],
)
def test_parameter_gradients_from_linearity_and_scale_invariance(cell8, name, params, point, cls):
    smooth = cls == "smooth"
    extra = {"smooth": True} if smooth else {}
    cls = LennardJones if name == "ase-lj" else MorsePotential
    sks = zoo.knowledge_source(name, inputs="parameters", parameters=params, outputs="energy", **extra)
    grad, y = layer_grad(sks, point, [cell8])
    ref = ase_values(cell8, cls(**dict(zip(params, point)), **extra))
    np.testing.assert_allclose(y[0, 0], ref["energy"], rtol=1e-12)
    eps, length = point
    # dE/d(epsilon) = E / epsilon: a central difference of a linear function is exact up
    # to round-off (|E| ~ 10 eV x 1e-16 / 1e-4 ~ 1e-11)
    np.testing.assert_allclose(grad[0, 0], ref["energy"] / eps, rtol=1e-8)
    # dE/d(length) = -V tr(stress) / length, from ASE's analytic stress
    expect = -ref["volume"] * ref["stress"][:3].sum() / length
    assert abs(expect) > 0.1
    np.testing.assert_allclose(grad[0, 1], expect, rtol=1e-6)


def test_lj_sigma_gradient_with_fixed_cutoff_vs_finite_difference(cell8):
    """With rc fixed the scale argument fails; compare with ASE's own finite difference."""
    sks = zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["sigma"], outputs="energy",
                               epsilon=0.2, rc=6.5, smooth=True)
    grad, _ = layer_grad(sks, [2.3], [cell8])
    e = lambda s: ase_values(cell8, LennardJones(epsilon=0.2, sigma=s, rc=6.5, smooth=True))["energy"]  # noqa: E731
    fd = richardson(e, 2.3, 1e-2)
    # both are differences of the same smooth E(sigma); Richardson's error at h = 1e-2 is
    # ~h^4 |E^(5)| ~ 1e-8 x O(1e3) eV/Å^5; zoo's mu^2/6 |E'''| ~ 1e-6. |dE/dsigma| ~ 10 eV/Å.
    assert abs(fd) > 1.0
    np.testing.assert_allclose(grad[0, 0], fd, rtol=1e-6)
    # and differs from the scale-invariance value, which holds only for rc = 3 sigma
    ref = ase_values(cell8, LennardJones(epsilon=0.2, sigma=2.3, rc=6.5, smooth=True))
    assert abs(-ref["volume"] * ref["stress"][:3].sum() / 2.3 - fd) > 1e-3


def test_morse_rho0_gradient_vs_finite_difference(cell8):
    sks = zoo.knowledge_source("ase-morse", inputs="parameters", parameters=["rho0"], outputs="energy",
                               epsilon=0.4, r0=2.9)
    grad, _ = layer_grad(sks, [4.0], [cell8])
    e = lambda r: ase_values(cell8, MorsePotential(epsilon=0.4, r0=2.9, rho0=r))["energy"]  # noqa: E731
    fd = richardson(e, 4.0, 1e-2)
    assert abs(fd) > 0.1
    np.testing.assert_allclose(grad[0, 0], fd, rtol=1e-6)


def test_parameter_pressure_gradient_batch(cell8):
    """A batch of rows with different parameters and cells: each row's gradient is its own
    (the per-row calculators do not leak between rows)."""
    sks = zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["epsilon", "sigma"], outputs="energy")
    # ideal fcc at a = 3.7 Å: shells at 2.616 sqrt(n) Å, none within 0.2 Å of rc = 3 sigma
    # for these sigmas (with the shifted-energy cutoff, E(sigma) has a kink where one is)
    small = bulk("Cu", "fcc", a=3.7, cubic=True)
    z = np.array([[0.2, 2.4], [0.1, 2.45], [0.3, 2.45]])
    ctx = [cell8, small, cell8]
    grad, y = layer_grad(sks, z, ctx)
    for i, ((eps, sig), atoms) in enumerate(zip(z, ctx)):
        ref = ase_values(atoms, LennardJones(epsilon=eps, sigma=sig))
        np.testing.assert_allclose(y[i, 0], ref["energy"], rtol=1e-12)
        np.testing.assert_allclose(grad[i, 0], ref["energy"] / eps, rtol=1e-8)
        # truncation mu^2/6 |d3E/dsigma3| with |d3E/dsigma3| ~ 12*13*14 |E|/sigma^3 ~ 1e2 eV/Å^3
        # -> ~2e-7 eV/Å, which matters where dE/dsigma (~ pressure) is small
        np.testing.assert_allclose(grad[i, 1], -ref["volume"] * ref["stress"][:3].sum() / sig, rtol=1e-6, atol=2e-6)


# ---------------------------------------------------------------- errors

def test_unknown_option_lists_valid_ones():
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("ase-lj", sigmma=2.0)
    msg = str(info.value)
    assert "sigmma" in msg
    for name in ("epsilon", "sigma", "rc", "ro", "smooth", "inputs", "parameters"):
        assert name in msg
    with pytest.raises(zoo.ConfigError, match="rho0"):
        zoo.knowledge_source("ase-morse", rho=4.0)


def test_parameter_input_errors():
    with pytest.raises(zoo.ConfigError, match="parameters=") as info:
        zoo.knowledge_source("ase-lj", inputs="parameters")
    assert "epsilon" in str(info.value)  # says which parameters there are
    with pytest.raises(zoo.ConfigError, match="smooth") as info:
        zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["epsilon", "smooth"])
    assert "sigma" in str(info.value)
    with pytest.raises(zoo.ConfigError, match="both"):
        zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["sigma"], sigma=2.0)
    with pytest.raises(zoo.ConfigError, match="only applies"):
        zoo.knowledge_source("ase-lj", parameters=["sigma"])
    with pytest.raises(zoo.ConfigError, match="twice"):
        zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["sigma", "sigma"])
    with pytest.raises(zoo.ConfigError, match="one lattice or atoms kind at a time"):
        zoo.knowledge_source("ase-lj", inputs=["scale", "strain"])
    with pytest.raises(zoo.ConfigError, match="sgma"):
        zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["sigma"], lower={"sgma": 1.0})
    with pytest.raises(zoo.ConfigError, match="3 bounds for 2 inputs"):
        zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["epsilon", "sigma"], lower=[0.1, 1, 2])
    with pytest.raises(zoo.ConfigError):
        zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["sigma"], lower=3.0, upper=2.0)
    # ase-emt has no numeric parameters to learn
    with pytest.raises(zoo.ConfigError, match="no calculator parameters that can be inputs"):
        zoo.knowledge_source("ase-emt", inputs="parameters", parameters=["asap_cutoff"])


def test_failing_parameter_row_is_nan(cell8):
    """A sigma of zero makes ASE's LJ divide by zero; that row is NaN, the others intact."""
    sks = zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["epsilon", "sigma"],
                               outputs="energy", lower=0.0)
    y = sks([[0.2, 2.3], [0.2, 0.0], [0.2, 2.3]], [cell8] * 3)
    ref = ase_values(cell8, LennardJones(epsilon=0.2, sigma=2.3))["energy"]
    assert np.isfinite(y[[0, 2], 0]).all() and np.allclose(y[[0, 2], 0], ref, rtol=1e-12)
    assert np.isnan(y[1, 0])
