"""One finite-difference step per SKS input (``mu`` a list), or a fraction of each input's
bound width (``relative_mu``): inputs in different units each get a step of their own."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import zoo
import zoo.train

#: f(x) = c0 x0^2 + c1 x1^2: forward CGE along axis j gives 2 c_j x_j + c_j mu_j exactly
C = np.array([3.0, 0.5])


class Quad2(zoo.KnowledgeSource):
    name = "fake-quad2"
    input_spec = zoo.Spec(["bond", "angle"], lower=[0.75, 70.0], upper=[1.4, 180.0], units=["Å", "deg"])
    output_spec = zoo.Spec(["f"])

    def evaluate(self, inputs, contexts=None):
        return (inputs**2 @ C)[:, None]


X = np.array([[1.0, 100.0], [1.2, 150.0]])


def grad_of(est, x=X):
    layer = zoo.SKSLayer(Quad2(), estimator=est)
    z = torch.tensor(x, requires_grad=True)
    layer(z).sum().backward()
    return z.grad.numpy()


def test_forward_cge_uses_each_coordinates_own_step():
    """The forward-difference bias c_j mu_j shows which step each coordinate got."""
    mu = [1e-6, 1e-2]
    g = grad_of(zoo.estimator("cge", mu=mu, difference="forward"))
    expected = 2 * C * X + C * np.array(mu)
    # rounding: eps |f| / mu_j ~ 2e-16 * 1.2e4 / 1e-6 ~ 3e-6 on the bond; the bond's step were
    # it the angle's (1e-2) would show as a bias of 0.03, the angle's were it the bond's as 0.005
    np.testing.assert_allclose(g, expected, rtol=0, atol=1e-5)
    # a scalar mu gives the same step to both: the angle's bias is then 0.5 * 1e-6, not 5e-3
    g1 = grad_of(zoo.estimator("cge", mu=1e-6, difference="forward"))
    assert abs(g1[0, 1] - 2 * C[1] * X[0, 1]) < 1e-5 < abs(g[0, 1] - 2 * C[1] * X[0, 1])


def test_relative_mu_is_a_fraction_of_each_bound_width():
    est = zoo.estimator("cge", mu=1e-3, difference="forward", relative_mu=True)
    width = np.array([1.4 - 0.75, 180.0 - 70.0])
    np.testing.assert_allclose(grad_of(est), 2 * C * X + C * 1e-3 * width, rtol=1e-9)


def test_rge_with_per_input_steps_is_unbiased_on_a_linear_function():
    """g = (s(z + mu ⊙ u) - s(z)) u / mu: E[g] = grad s for any steps. For Gaussian u and
    b = mu ⊙ a, one draw's g_j has variance (|b|^2 + b_j^2) / mu_j^2; the mean of n draws is
    checked to 5 standard errors. (Steps in proportion to the inputs' scales keep b balanced,
    which is what makes them worth having: a badly scaled mu gives a huge variance instead.)"""
    a = np.array([2.0, -0.003])
    mu = np.array([1e-4, 0.1])
    n = 20000
    f = lambda x: (x @ a)[:, None]  # noqa: E731
    est = zoo.estimator("rge", q=n, mu=mu.tolist())
    g, _ = est.vjp(f, np.array([1.0, 100.0]), lower=[0.75, 70.0], upper=[1.4, 180.0], rng=0)
    b = mu * a
    se = np.sqrt((b @ b + b**2) / mu**2 / n)
    assert np.all(np.abs(g[0] - a) < 5 * se), (g[0], a, se)
    assert np.all(5 * se < 0.1 * np.abs(a))  # and the test can tell a wrong answer apart


def test_queries_stay_inside_the_bounds_with_per_input_steps():
    est = zoo.estimator("cge", mu=[0.5, 50.0], difference="central")
    z = np.array([[1.35, 75.0]])  # within one step of the upper bond and lower angle bounds
    plan = est.plan(z, np.array([0.75, 70.0]), np.array([1.4, 180.0]), np.random.default_rng(0))
    pts = plan.points.reshape(-1, 2)
    assert np.all(pts >= np.array([0.75, 70.0]) - 1e-12) and np.all(pts <= np.array([1.4, 180.0]) + 1e-12)
    f = lambda x: (x**2 @ C)[:, None]  # noqa: E731
    g, _ = est.vjp(f, z[0], lower=[0.75, 70.0], upper=[1.4, 180.0], rng=0)
    np.testing.assert_allclose(g[0], 2 * C * z[0], rtol=1e-9)  # second order: exact on a quadratic


@pytest.mark.parametrize("mu", [[1e-3], [1e-3, 1e-2, 1e-1]])
def test_a_wrong_length_mu_is_a_config_error(mu):
    with pytest.raises(zoo.ConfigError, match="2 inputs"):
        zoo.SKSLayer(Quad2(), estimator=zoo.estimator("cge", mu=mu))


@pytest.mark.parametrize("mu", [[1e-3, 0.0], [1e-3, float("nan")], [[1e-3, 1e-2]], [], "small", [True, 1e-3]])
def test_bad_mu_values(mu):
    with pytest.raises(zoo.ConfigError, match="mu"):
        zoo.estimator("rge", mu=mu)


def test_relative_mu_needs_finite_bounds():
    class Open(Quad2):
        name = "fake-open"
        input_spec = zoo.Spec(["bond", "angle"], lower=[0.75, -np.inf], upper=[1.4, np.inf])

    with pytest.raises(zoo.ConfigError, match=r"inputs \[1\] have no finite bounds"):
        zoo.SKSLayer(Open(), estimator=zoo.estimator("cge", mu=1e-3, relative_mu=True))


def test_full_zo_needs_one_number():
    with pytest.raises(zoo.ConfigError, match="one number"):
        zoo.estimator("rge", mu=[1e-3, 1e-2]).parameter_plan(10, np.random.default_rng(0))


def test_a_run_with_per_input_mu_logs_it(fit_plugin, tmp_path, monkeypatch):
    """Through zoo run: mu=[...] from the command line, scheduled, logged as a list."""
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: b"")
    summary = zoo.train.run({"sks": "fake-square", "estimator": "cge", "steps": 3, "baseline": False,
                             "estimator_options": {"mu": [1e-3]}, "mu_schedule": "cosine",
                             "schedule_options": {"mu": {"final": 0.5}}, "out": str(tmp_path / "r")},
                            progress=False, echo=lambda m: None)
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert all(isinstance(r["mu"], list) and len(r["mu"]) == 1 for r in rows)
    assert rows[0]["mu"][0] == pytest.approx(1e-3) and rows[-1]["mu"][0] < 1e-3
    assert summary["steps"] == 3


class BondAngle(zoo.KnowledgeSource):
    """A smooth energy of a bond length relative to covalent radii (0.75-1.4) and an angle
    in degrees (70-180): the reviewer's case, where one scalar mu started at 5.53."""

    name = "fake-bond-angle"
    input_spec = zoo.Spec(["bond", "angle"], lower=[0.75, 70.0], upper=[1.4, 180.0], units=["", "deg"])
    output_spec = zoo.Spec(["energy"], units=["eV"])
    seen: list = []

    def evaluate(self, inputs, contexts=None):
        type(self).seen.append(np.array(inputs))
        r, theta = inputs[:, 0], np.radians(inputs[:, 1])
        return (2.0 * (r - 1.05) ** 2 + 0.4 * (np.cos(theta) - np.cos(np.radians(109.5))) ** 2)[:, None]


def test_diagnose_sweeps_each_kind_of_input_on_its_own_scale():
    from zoo.diagnose import diagnose

    BondAngle.seen = []
    x = np.array([[0.9, 100.0], [1.2, 150.0], [1.0, 120.0]])
    report = diagnose(BondAngle(), x, None, repeats=2)
    assert [g["inputs"] for g in report.groups] == [["bond"], ["angle"]]
    assert report.groups[0]["h0"] == pytest.approx(0.1 * 0.65) and report.groups[1]["h0"] == pytest.approx(11.0)
    # never a probe outside an input's range, and no step wider than it
    pts = np.concatenate(BondAngle.seen)
    assert np.all(pts >= [0.75, 70.0]) and np.all(pts <= [1.4, 180.0])
    assert not report.noisy  # smooth: before, clamped probes read as convergence, then NOISY
    mu_f = report.recommended_mu["forward"]
    assert isinstance(mu_f, list) and len(mu_f) == 2
    assert mu_f[0] < 0.65 and mu_f[1] < 110.0 and mu_f[1] > 10 * mu_f[0]  # degrees get the larger step
    # the recommendation feeds straight into an estimator, whose gradient matches the reference
    est = zoo.estimator("cge", mu=mu_f, difference="forward")
    g, _ = est.vjp(lambda z: BondAngle()(z), x, lower=[0.75, 70.0], upper=[1.4, 180.0])
    ref = np.array(report.reference_gradient)
    # "< 0.1 % error" is the median error relative to the typical derivative of each group
    typical = np.median(np.abs(ref), axis=0)
    assert np.median(np.abs(g - ref), axis=0) @ (1 / typical) < 2 * 1e-3
    assert np.all(np.abs(g - ref) < 3e-3 * typical)
    assert "one per input" in report.text()
