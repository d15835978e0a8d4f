"""CGE (orders of accuracy, coordinate subsets, bounds) and DeepZero-style sparse CGE.

Reference function with known derivatives of every order: f(x) = sum_j exp(a_j x_j), so
f_j' = a_j e^(a_j x_j), f_j'' = a_j^2 e^(a_j x_j), f_j''' = a_j^3 e^(a_j x_j). The leading
error of a central difference is mu^2/6 f''', of a forward one mu/2 f''.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import zoo

D = 8
ALPHA = np.linspace(-1.4, 2.1, D)  # no zero: every coordinate has a derivative
Z0 = np.linspace(-0.4, 0.5, D)


def fexp(x):
    return np.exp(np.atleast_2d(x) * ALPHA).sum(axis=1, keepdims=True)


def deriv(z, order):
    return ALPHA**order * np.exp(ALPHA * z)


@pytest.mark.parametrize("mu", [1e-2, 5e-3])
def test_central_cge_error_is_mu_squared_over_six_times_f_triple_prime(mu):
    g, _ = zoo.estimator("cge", mu=mu, difference="central").vjp(fexp, Z0)
    err = g[0] - deriv(Z0, 1)
    lead = mu**2 / 6 * deriv(Z0, 3)
    # next term: mu^4/120 f^(5) (f^(5) = a^5 e^(a z) <= 120 here), rounding ~1e-14/mu
    np.testing.assert_allclose(err, lead, atol=mu**4 / 120 * np.abs(deriv(Z0, 5)).max() * 1.01 + 1e-11)


def test_central_cge_error_falls_four_times_when_mu_halves():
    errs = []
    for mu in (2e-2, 1e-2):
        g, _ = zoo.estimator("cge", mu=mu, difference="central").vjp(fexp, Z0)
        errs.append(np.abs(g[0] - deriv(Z0, 1)))
    ratio = errs[0] / errs[1]
    np.testing.assert_allclose(ratio, 4.0, rtol=0.01)  # 4 (1 + O(mu^2))


def test_forward_cge_error_is_mu_over_two_times_f_double_prime():
    mu = 1e-3
    g, _ = zoo.estimator("cge", mu=mu, difference="forward").vjp(fexp, Z0)
    # next term mu^2/6 f''' (f''' <= 30 here); rounding 1e-15 * 10 / mu
    np.testing.assert_allclose(g[0] - deriv(Z0, 1), mu / 2 * deriv(Z0, 2),
                               atol=mu**2 / 6 * np.abs(deriv(Z0, 3)).max() * 1.01 + 1e-10)


# -- coordinate subsets ------------------------------------------------------------------------


def test_random_coordinate_subsets_are_unbiased_for_full_cge():
    k, n = 3, 4000
    est = zoo.estimator("cge", coordinates=k, mu=1e-3)
    g, queries = est.vjp(fexp, np.broadcast_to(Z0, (n, D)), rng=0)
    assert queries == n * (2 * k + 1)
    full, _ = zoo.estimator("cge", mu=1e-3).vjp(fexp, Z0)
    # each coordinate: (d/k) g_j with probability k/d, else 0: Var = (d/k - 1) g_j^2
    sd = np.sqrt((D / k - 1) * full[0] ** 2)
    np.testing.assert_array_less(np.abs(g.mean(axis=0) - full[0]), 5 * sd / math.sqrt(n) + 1e-12)
    # every row differentiates exactly k coordinates, scaled by d/k
    nonzero = (g != 0).sum(axis=1)
    assert np.all(nonzero == k)
    rows, cols = np.nonzero(g)
    np.testing.assert_allclose(g[rows, cols], D / k * full[0][cols], rtol=1e-12)


def test_an_explicit_coordinate_list_gives_a_partial_gradient():
    idx = [1, 5, 6]
    est = zoo.estimator("cge", coordinates=idx, difference="central", mu=1e-4)
    g, queries = est.vjp(fexp, Z0)
    assert queries == 2 * len(idx) + 1
    expected = np.zeros(D)
    expected[idx] = deriv(Z0, 1)[idx]
    np.testing.assert_allclose(g[0], expected, atol=1e-7)


def test_coordinate_subsets_respect_bounds():
    lower, upper = -np.ones(D), np.ones(D)
    z = Z0.copy()
    z[2] = 1.0
    est = zoo.estimator("cge", coordinates=4, mu=1e-2)
    plan = est.plan(np.broadcast_to(z, (50, D)), lower, upper, np.random.default_rng(1))
    assert np.all((plan.points >= lower) & (plan.points <= upper))


@pytest.mark.parametrize("coordinates", [0, -2, [], [1, 1], [0.5], "all", True, [[1, 2]]])
def test_bad_coordinates_are_config_errors(coordinates):
    with pytest.raises(zoo.ConfigError, match="coordinates"):
        zoo.estimator("cge", coordinates=coordinates)


def test_a_coordinate_index_beyond_d_is_a_config_error():
    est = zoo.estimator("cge", coordinates=[0, D])
    with pytest.raises(zoo.ConfigError, match="out of range"):
        est.vjp(fexp, Z0)


# -- sparse CGE (DeepZero) ------------------------------------------------------------------------

#: importance of coordinate j grows by 10x every two coordinates: a clear ranking
WEIGHTS = 10.0 ** (np.arange(D) / 2.0)
IMPORTANT = np.argsort(-WEIGHTS)


def fweighted(x):
    x = np.atleast_2d(x)
    return (0.5 * (WEIGHTS * x**2).sum(axis=1) + (WEIGHTS * x).sum(axis=1))[:, None]


def gweighted(z):
    return WEIGHTS * (np.atleast_2d(z) + 1.0)


@pytest.mark.parametrize("probe", ["cge", "rge"])
def test_zo_grasp_mask_keeps_the_most_important_coordinates(probe):
    est = zoo.estimator("sparse-cge", sparsity=0.75, probe=probe, probe_q=16)
    rows = np.random.default_rng(2).uniform(-0.5, 0.5, size=(32, D))
    g, first = est.vjp(fweighted, rows, rng=3)
    # the probe's own estimate is a real gradient (central: exact on a quadratic for cge)
    if probe == "cge":
        np.testing.assert_allclose(g, gweighted(rows), rtol=1e-8)
    k = est.kept(D)
    assert k == 2
    # |g_j| = w_j |z_j + 1| with |z_j + 1| in [0.5, 1.5]: a 10x step in w_j every two
    # coordinates beats the factor 3 spread, and 32 rows x 16 RGE probes (relative noise
    # ~ sqrt(d/q/32) ~ 0.1 on the mean |g_j|) do not reorder them
    assert set(est.fixed_mask(D)) == set(IMPORTANT[:k])
    # later calls: k forward differences on the mask, zero elsewhere
    g2, n2 = est.vjp(fweighted, rows[:1], rng=4)
    assert n2 == k + 1
    mask = np.zeros(D, bool)
    mask[IMPORTANT[:k]] = True
    np.testing.assert_array_equal(g2[0][~mask], 0.0)
    mu = est.mu
    np.testing.assert_allclose(g2[0][mask], gweighted(rows[0])[0][mask] + mu / 2 * WEIGHTS[mask], rtol=1e-6)


def test_sparsity_is_a_knob_that_recuts_the_mask_without_probing_again():
    est = zoo.estimator("sparse-cge", sparsity=0.75, probe="cge")
    z = np.zeros((4, D))
    est.vjp(fweighted, z, rng=0)
    est.sparsity = 0.5  # as a schedule would set it
    _, n = est.vjp(fweighted, z, rng=1)
    assert n == 4 * (est.kept(D) + 1) == 4 * 5
    assert set(est.fixed_mask(D)) == set(IMPORTANT[:4])
    est.sparsity = 1.0
    with pytest.raises(zoo.ConfigError, match="sparsity"):
        est.vjp(fweighted, z, rng=2)


def test_random_sparse_cge_is_unbiased():
    n = 4000
    est = zoo.estimator("sparse-cge", sparsity=0.5, mask="random", difference="central")
    g, queries = est.vjp(fweighted, np.zeros((n, D)), rng=5)
    assert queries == n * (2 * est.kept(D) + 1)
    true = gweighted(np.zeros(D))[0]
    sd = np.sqrt((D / est.kept(D) - 1) * true**2)
    np.testing.assert_array_less(np.abs(g.mean(axis=0) - true), 5 * sd / math.sqrt(n) + 1e-9)


def test_layerwise_ratios_with_random_coordinates_inside_each_group():
    # DeepZero's recipe: the global top-k mask fixes how many each group keeps; the members
    # are redrawn each call and scaled so each group's estimate stays unbiased
    est = zoo.estimator("sparse-cge", sparsity=0.5, mask="zo-grasp-random", difference="central")
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    est.set_scores(WEIGHTS, groups)  # group 1 holds the 4 most important coordinates
    counts = [k for _, k in est.group_counts(D)]
    assert counts == [0, 4]
    est.set_scores(np.array([8, 1, 2, 7, 6, 3, 5, 4.0]), groups)
    assert [k for _, k in est.group_counts(D)] == [2, 2]
    n = 3000
    g, _ = est.vjp(fweighted, np.zeros((n, D)), rng=6)
    true = gweighted(np.zeros(D))[0]
    sd = np.sqrt((4 / 2 - 1) * true**2)  # within a group of 4 keeping 2
    np.testing.assert_array_less(np.abs(g.mean(axis=0) - true), 5 * sd / math.sqrt(n) + 1e-9)
    assert np.all((g[:, :4] != 0).sum(axis=1) == 2) and np.all((g[:, 4:] != 0).sum(axis=1) == 2)


@pytest.mark.parametrize("options", [dict(sparsity=1.0), dict(sparsity=-0.1), dict(mask="top"),
                                     dict(probe="cma"), dict(probe_q=0), dict(score="best")])
def test_bad_sparse_options_are_config_errors(options):
    with pytest.raises(zoo.ConfigError):
        zoo.estimator("sparse-cge", **options)


def test_grasp_scores_in_a_layer_are_a_config_error():
    est = zoo.estimator("sparse-cge", score="grasp")
    with pytest.raises(zoo.ConfigError, match="full-ZO"):
        est.vjp(fweighted, np.zeros(D))
