"""Estimators on a real SKS - ASE's EMT - against ASE's exact gradients, the control
variate layer, and ``zoo diagnose``.

EMT's forces and stress are analytic derivatives of its energy, so they are independent
references: dE/dx = -forces (positions, d = 96 for a rattled 32-atom Cu cell) and
dE/d(strain) = V * stress (Voigt engineering strain at zero strain, d = 6).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import zoo
from zoo.diagnose import diagnose

ase = pytest.importorskip("ase")
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def cell():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=42)
    ref = atoms.copy()
    ref.calc = EMT()
    forces = ref.get_forces().reshape(-1)
    stress = ref.get_stress(voigt=True)
    return atoms, -forces, ref.get_volume() * stress, ref.get_potential_energy()


@pytest.fixture(scope="module")
def positions_sks():
    return zoo.knowledge_source("ase-emt", inputs="positions", outputs="energy", n_atoms=32)


def _energy_fn(sks, atoms):
    def f(x):
        x = np.atleast_2d(x)
        return sks(x, [atoms] * len(x))

    return f


def test_cge_central_on_positions_is_minus_the_forces(cell, positions_sks):
    atoms, g, _, _ = cell
    x = atoms.get_positions().reshape(-1)
    est = zoo.estimator("cge", mu=1e-4, difference="central")
    est_g, n = est.vjp(_energy_fn(positions_sks, atoms), x)
    assert n == 2 * 96 + 1
    # mu^2/6 |E'''| (~10-100 eV/Å^3) ~ 1e-7 eV/Å; rounding |E| 1e-16 / mu ~ 1e-10
    np.testing.assert_allclose(est_g[0], g, atol=1e-5)


@pytest.mark.slow
def test_rge_mean_on_positions_is_unbiased(cell, positions_sks):
    atoms, g, _, _ = cell
    x = atoms.get_positions().reshape(-1)
    q, n = 16, 64  # 1024 directions, forward differences: ~1100 EMT calls
    est = zoo.estimator("rge", q=q, mu=1e-3, directions="gaussian", difference="forward")
    rows, _ = est.vjp(_energy_fn(positions_sks, atoms), np.broadcast_to(x, (n, 96)), rng=5)
    mean = rows.mean(axis=0)
    # Gaussian forward RGE has mean grad E_mu (Stein), O(mu^2) ~ 1e-6 from grad E. Per
    # direction tr Cov = (d + 1)|g|^2, plus the curvature term mu/2 (u^T H u) u, whose RMS
    # mu/2 |H| sqrt((d+2)(d+4)) ~ 0.05 |H| is < 1 % of sqrt(d + 1)|g| here. So
    # E|mean - g|^2 = (d + 1)|g|^2 / (q n); the sum of 96 squared errors is chi^2_96-like:
    # 96 + 5 sqrt(2 * 96) < 1.75 * 96, so 1.75 x the expectation is a 5-sigma bound. A
    # factor-2 scale error would give |g|^2, over 5x the bound.
    g2 = float(g @ g)
    expected = 97 * g2 / (q * n)
    err2 = float(((mean - g) ** 2).sum())
    assert err2 < 1.75 * expected, (err2, expected)
    assert 1.75 * expected < g2 / 5


def test_orthogonal_sphere_with_q_equal_d_recovers_the_strain_gradient(cell):
    atoms, _, v_stress, _ = cell
    sks = zoo.knowledge_source("ase-emt", inputs="strain", outputs="energy")
    est = zoo.estimator("rge", q=6, mu=1e-4, directions="sphere", orthogonal=True, difference="central")
    g, n = est.vjp(lambda x: sks(x, [atoms] * len(x)), np.zeros(6), rng=0)
    assert n == 13
    # (d/q) sum (g.Q_j) Q_j = g when the Q_j span R^6; central error O(mu^2) ~ 1e-6 eV
    np.testing.assert_allclose(g[0], v_stress, atol=1e-4 * max(1.0, np.abs(v_stress).max()))


def test_control_variate_layer_with_the_linearisation_as_surrogate(cell, positions_sks):
    # surrogate s(z) = E0 + g0 . (z - z0): the residual f - s has zero gradient at z0,
    # so even ONE random direction gives the exact gradient there (to O(mu^2) curvature)
    from zoo.control_variate import ControlVariateLayer

    atoms, g0, _, e0 = cell
    z0 = torch.tensor(atoms.get_positions().reshape(1, -1), dtype=torch.float64)
    g0_t = torch.tensor(g0, dtype=torch.float64)

    def surrogate(z, contexts):
        return (e0 + (z - z0) @ g0_t)[:, None]

    est = zoo.estimator("rge", q=1, mu=1e-4, difference="central")
    layer = ControlVariateLayer(positions_sks, surrogate, estimator=est, seed=0)
    z = z0.clone().requires_grad_()
    y = layer(z, [atoms])
    assert y.item() == pytest.approx(e0, abs=1e-9)  # the forward value is f itself
    y.sum().backward()
    np.testing.assert_allclose(z.grad[0].numpy(), g0, atol=1e-5)
    assert layer.queries == 3  # f(z) + 2 central queries
    # without the surrogate, one direction is nowhere near (cosine ~ 0.1 in d = 96)
    plain = zoo.SKSLayer(positions_sks, estimator=est, seed=0)
    z2 = z0.clone().requires_grad_()
    plain(z2, [atoms]).sum().backward()
    cos = float(z2.grad[0] @ g0_t / z2.grad[0].norm() / g0_t.norm())
    assert abs(cos) < 0.5


# -- diagnose ------------------------------------------------------------------------------------


def test_diagnose_emt_positions(cell, positions_sks):
    atoms, g, _, _ = cell
    report = diagnose(positions_sks, atoms.get_positions().reshape(1, -1), [atoms], seed=1, repeats=2)
    assert not report.noisy
    assert report.units == ["Å"] * 96
    # the reference is ASE's exact gradient (central CGE at the converged mu)
    np.testing.assert_allclose(report.reference_gradient[0], g, atol=1e-5)
    # EMT is smooth: the recommended forward mu keeps the error < 0.1 %, so it lies where
    # mu/2 |E''| < 1e-3 |E'|, i.e. well below 0.1 Å and above the rounding floor
    assert 1e-6 < report.recommended_mu["forward"] < 1e-2
    cge = next(e for e in report.estimators if e["label"].startswith("cge(difference=forward"))
    assert cge["cosine_mean"] > 0.999
    rge1 = next(e for e in report.estimators if e["name"] == "rge" and e["options"]["q"] == 1)
    assert rge1["cosine_mean"] < 0.4  # sqrt(1/97) ~ 0.1 in expectation
    assert report.recommendation["estimator"] == "cge"
    text = report.text()
    assert "variance, not a bug" in text and "smooth" in text
    json.dumps(report.to_dict())


class NoisySource(zoo.KnowledgeSource):
    """f(x) = |x|^2 + 1e-7 * pseudo-random noise of x: like an iterative solver's tolerance."""

    name = "zo-test-noisy"
    description = "quadratic plus evaluation noise (test)"
    input_spec = zoo.Spec(["a", "b", "c"], lower=-2.0, upper=2.0, units="Å")
    output_spec = zoo.Spec(["e"], units="eV")

    def __init__(self):
        self.options = {}

    def evaluate(self, inputs, contexts=None):
        h = np.sin(inputs @ np.array([12345.678, 23456.789, 34567.891]) * 1e3)
        return ((inputs**2).sum(axis=1) + 1e-7 * h)[:, None]


def test_diagnose_detects_a_noisy_sks_and_says_why():
    x = np.array([[0.3, -0.5, 0.8], [1.0, 0.2, -0.4]])
    report = diagnose(NoisySource(), x, None, repeats=2)
    assert report.noisy
    # noise 1e-7 against |grad| ~ 2: a central difference's noise ~ 1e-7 / mu beats its
    # truncation (zero: quadratic) below mu ~ 1e-4, so the best mu sits well above 1e-6
    assert report.mu_reference > 1e-6
    assert 1e-8 < report.noise_level < 1e-5
    assert any("noisy" in line for line in report.explanations)
    np.testing.assert_allclose(report.reference_gradient, 2 * x, atol=1e-3)


# -- the command ---------------------------------------------------------------------------------


def _cli():
    from zoo.cli import ZooGroup
    from zoo.default_plugins.diagnose import register_commands

    group = ZooGroup()
    register_commands(group)
    return group


@pytest.mark.slow
def test_zoo_diagnose_command_on_the_default_task():
    from click.testing import CliRunner

    result = CliRunner().invoke(_cli(), ["diagnose", "--sks", "ase-emt", "--points", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["d"] == 1 and data["upstream"] == "pressure" and data["units"] == ["Å"]
    assert data["recommendation"]["estimator"] == "cge"
    text = CliRunner().invoke(_cli(), ["diagnose", "--sks", "ase-emt", "--points", "1"]).output
    assert "recommended mu" in text and "reference: central CGE" in text


def test_zoo_diagnose_without_a_task_says_what_to_do():
    from click.testing import CliRunner

    class Plugin:
        @zoo.hookimpl
        def register_knowledge_sources(self, register):
            register(NoisySource)

    zoo.plugins.register_plugin(Plugin(), "zo-test-noisy-plugin")
    result = CliRunner().invoke(_cli(), ["diagnose", "--sks", "zo-test-noisy"])
    assert result.exit_code == 2
    assert "--task" in result.output
    result = CliRunner().invoke(_cli(), ["diagnose", "--sks", "ase-emt", "--output", "nope", "--points", "1"])
    assert result.exit_code == 2 and "unknown output" in result.output
