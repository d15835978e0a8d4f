"""RGE in depth: every direction distribution, orthogonal directions, gradient reuse (prior),
the sqrt(q / (q + d)) cosine law, and the spread statistics.

Test function: f(x) = 0.5 x^T A x + b^T x (gradient A x + b). On a quadratic a central
difference is exact along any direction, so central estimates are exactly (c/q) sum (g.u) u:
their means and variances follow from moments of u alone, which is where every tolerance
below comes from (5 standard errors of the mean of N independent rows).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import zoo
from zoo.estimators.base import Plan, spread_stats

D = 6
_r = np.random.default_rng(99)
_M = _r.normal(size=(D, D))
A = 0.5 * (_M + _M.T) + D * np.eye(D)
b = _r.normal(size=D)
Z0 = _r.uniform(-0.5, 0.5, size=D)
A_NORM = np.linalg.norm(A, 2)
N = 3000


def f(x):
    x = np.atleast_2d(x)
    return (0.5 * np.einsum("ni,ij,nj->n", x, A, x) + x @ b)[:, None]


def grad(z):
    return np.atleast_2d(z) @ A + b


def _mean_estimate(est, z=Z0, n=N, seed=0, **kw):
    g, queries = est.vjp(f, np.broadcast_to(z, (n, D)), rng=seed, **kw)
    return g, queries


# -- unbiasedness of every distribution ------------------------------------------------------


def _single_direction_total_var(g, directions):
    """tr Cov of ONE direction's c (g.u) u (linear part):
    gaussian: E|(g.u) u|^2 = (d + 2)|g|^2 (Isserlis) -> (d + 1)|g|^2
    sphere (c = d): d^2 E[(g.u)^2] = d |g|^2 -> (d - 1)|g|^2
    rademacher: |(g.u) u|^2 = d (g.u)^2, E = d |g|^2 -> (d - 1)|g|^2"""
    g2 = float(g @ g)
    return {"gaussian": (D + 1) * g2, "sphere": (D - 1) * g2, "rademacher": (D - 1) * g2}[directions]


@pytest.mark.parametrize("directions", ["gaussian", "sphere", "rademacher"])
@pytest.mark.parametrize("difference", ["forward", "central"])
def test_every_direction_distribution_is_unbiased_on_a_quadratic(directions, difference):
    q, mu = 4, 1e-3
    est = zoo.estimator("rge", q=q, mu=mu, directions=directions, difference=difference)
    g, _ = _mean_estimate(est)
    true = grad(Z0)[0]
    # per-coordinate variance <= total variance; the forward curvature term c mu/2 (u^T A u) u
    # has mean 0 for all three (odd in u) and RMS <= c mu/2 |A| E[|u|^6]^(1/2) <= mu/2 |A| (d+4)^1.5
    sd = math.sqrt(_single_direction_total_var(true, directions) / q)
    if difference == "forward":
        sd += mu / 2 * A_NORM * (D + 4) ** 1.5
    tol = 5 * sd / math.sqrt(N)
    assert np.all(np.abs(g.mean(axis=0) - true) <= tol), (g.mean(axis=0) - true, tol)
    assert tol < np.abs(true).max() / 2  # a wrong scale (2x, or d vs 1) would be caught


def test_rademacher_directions_are_plus_minus_one():
    u = zoo.estimator("rge", directions="rademacher").sample_directions(np.random.default_rng(0), (50, 3, D))
    assert set(np.unique(u)) == {-1.0, 1.0}


# -- orthogonal directions -------------------------------------------------------------------


@pytest.mark.parametrize("directions", ["gaussian", "sphere"])
def test_orthogonal_directions_are_orthogonal_and_unbiased(directions):
    q = 4
    est = zoo.estimator("rge", q=q, directions=directions, orthogonal=True, difference="central")
    u = est.sample_directions(np.random.default_rng(1), (20, q, D))
    gram = np.einsum("bid,bjd->bij", u, u)
    off = gram - np.einsum("bii->bi", gram)[..., None] * np.eye(q)
    np.testing.assert_allclose(off, 0.0, atol=1e-12)
    if directions == "sphere":
        np.testing.assert_allclose(np.linalg.norm(u, axis=-1), 1.0, atol=1e-12)
    g, _ = _mean_estimate(est, seed=2)
    true = grad(Z0)[0]
    g2 = float(true @ true)
    # tr Cov of the mean of q orthogonal directions (linear f, so exact here):
    # sphere: (d/q)^2 E|P g|^2 - |g|^2 = (d/q - 1)|g|^2;
    # gaussian (chi_d lengths): (1/q^2) q E[r^4] E[(g.Q)^2] - |g|^2 = ((d + 2)/q - 1)|g|^2
    total = (D / q - 1) * g2 if directions == "sphere" else ((D + 2) / q - 1) * g2
    tol = 5 * math.sqrt(total / N)
    assert np.all(np.abs(g.mean(axis=0) - true) <= tol)
    # and the measured total variance matches the formula (sample variance of N rows;
    # its relative standard error is < 10% here, so a 30% band is a 3-sigma check)
    measured = float(((g - true) ** 2).sum(axis=1).mean())
    assert measured == pytest.approx(total, rel=0.3)


def test_orthogonal_sphere_with_q_equal_d_recovers_a_linear_gradient_exactly():
    est = zoo.estimator("rge", q=D, directions="sphere", orthogonal=True, difference="central")
    g, _ = est.vjp(f, np.broadcast_to(Z0, (5, D)), rng=3)
    np.testing.assert_allclose(g, np.broadcast_to(grad(Z0), (5, D)), atol=1e-7)


def test_orthogonal_lowers_the_variance_against_independent_directions():
    true = grad(Z0)[0]
    errs = {}
    for orth in (False, True):
        est = zoo.estimator("rge", q=3, directions="sphere", orthogonal=orth, difference="central")
        g, _ = _mean_estimate(est, seed=4)
        errs[orth] = float(((g - true) ** 2).sum(axis=1).mean())
    g2 = float(true @ true)
    # theory: (d - 1)/q |g|^2 = 1.67|g|^2 against (d/q - 1)|g|^2 = 1.0|g|^2
    assert errs[False] == pytest.approx((D - 1) / 3 * g2, rel=0.3)
    assert errs[True] == pytest.approx((D / 3 - 1) * g2, rel=0.3)


def test_orthogonal_blocks_when_q_exceeds_d():
    est = zoo.estimator("rge", q=2 * D + 1, directions="sphere", orthogonal=True)
    u = est.sample_directions(np.random.default_rng(5), (2, 2 * D + 1, D))
    assert u.shape == (2, 2 * D + 1, D)
    block = u[:, :D]
    np.testing.assert_allclose(np.einsum("bid,bjd->bij", block, block), np.broadcast_to(np.eye(D), (2, D, D)), atol=1e-12)


def test_orthogonal_rademacher_is_a_config_error():
    with pytest.raises(zoo.ConfigError, match="orthogonal"):
        zoo.estimator("rge", directions="rademacher", orthogonal=True)


# -- gradient reuse (prior) ------------------------------------------------------------------


def test_prior_estimate_is_unbiased_whatever_the_prior():
    q = 4
    est = zoo.estimator("rge", q=q, prior="previous", difference="central")
    Z = np.broadcast_to(Z0, (N, D))
    est.vjp(f, Z, rng=6)  # first call: random unit priors; sets the per-row prior
    g, _ = est.vjp(f, Z, rng=7)
    true = grad(Z0)[0]
    # (g.p) p is exact (central, quadratic); the q-1 Gaussian directions in the complement
    # have tr Cov <= (d + 1)|g|^2 / (q - 1)
    tol = 5 * math.sqrt((D + 1) * float(true @ true) / (q - 1) / N)
    assert np.all(np.abs(g.mean(axis=0) - true) <= tol)


def test_a_prior_along_the_gradient_gives_the_gradient_exactly():
    est = zoo.estimator("rge", q=3, prior="previous", difference="central", directions="sphere")
    true = grad(Z0)
    est.state["prior"] = true.copy()  # as if the previous step had estimated it perfectly
    g, _ = est.vjp(f, Z0, rng=8)
    # the random directions lie in the complement of the gradient: they add (g_perp.u) u = 0
    np.testing.assert_allclose(g, true, atol=1e-7)


def test_prior_needs_two_directions():
    with pytest.raises(zoo.ConfigError, match="q >= 2"):
        zoo.estimator("rge", q=1, prior="previous")


# -- the cosine law (done-when): 64-d quadratic ------------------------------------------------


def test_single_estimate_cosine_follows_sqrt_q_over_q_plus_d():
    d, n = 64, 600
    rng = np.random.default_rng(10)
    m = rng.normal(size=(d, d))
    a = m @ m.T / d + np.eye(d)
    bb = rng.normal(size=d)
    z = rng.normal(size=d)
    true = a @ z + bb

    def fq(x):
        return (0.5 * np.einsum("ni,ij,nj->n", x, a, x) + x @ bb)[:, None]

    for q in (8, 16, 64):
        est = zoo.estimator("rge", q=q, difference="central")
        g, _ = est.vjp(fq, np.broadcast_to(z, (n, d)), rng=q)
        cos = g @ true / np.linalg.norm(g, axis=1) / np.linalg.norm(true)
        theory = math.sqrt(q / (q + d))
        # the law is the ratio of expectations E[g.grad] / sqrt(E|g|^2) |grad| =
        # sqrt(q / (q + d + 1)); E[cos] differs from it by the delta method's second-order
        # term, O(1/q) relative (<= 1/(2q) here), plus sampling error (std of cos < 0.1)
        tol = 5 * cos.std() / math.sqrt(n) + theory / (2 * q) + abs(theory - math.sqrt(q / (q + d + 1)))
        assert abs(cos.mean() - theory) <= tol, (q, cos.mean(), theory, tol)


def test_one_gaussian_direction_has_the_exact_mean_cosine_of_a_random_unit_vector():
    # q = 1: cos = |u_hat . g_hat| with u_hat uniform on the sphere, whose mean is
    # Gamma(d/2) / (sqrt(pi) Gamma((d + 1)/2))
    d, n = 64, 4000
    z = np.random.default_rng(11).normal(size=d)

    def lin(x):
        return (x @ z)[:, None]

    g, _ = zoo.estimator("rge", q=1, difference="central").vjp(lin, np.zeros((n, d)), rng=12)
    cos = np.abs(g @ z) / np.linalg.norm(g, axis=1) / np.linalg.norm(z)
    exact = math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)
    assert abs(cos.mean() - exact) <= 5 * cos.std() / math.sqrt(n)


# -- spread statistics -------------------------------------------------------------------------


def test_spread_stats_by_hand():
    # one row, two directions whose contributions are e1/2 = (1, 0) and e2/2 = (0, 1)
    # (weights carry the 1/q): per-direction estimates (2, 0) and (0, 2), mean g = (1, 1);
    # sample variance = (|(1,-1)|^2 + |(-1,1)|^2) / (2 - 1) = 4; se = sqrt(4 / 2) = sqrt(2);
    # r = sqrt(2) / |g| = 1, so the estimate carries no information: cosine 0
    plan = Plan(points=np.zeros((1, 2, 2)), weights=np.array([[[0.5, 0.0], [0.0, 0.5]]]), groups=np.arange(2))
    fq = np.array([[[2.0], [2.0]]])
    g = np.array([[1.0, 1.0]])
    stats = spread_stats(plan, np.zeros((1, 1)), fq, np.ones((1, 1)), g)
    assert stats["relative_spread"] == pytest.approx(1.0)
    assert stats["estimated_cosine"] == 0.0
    # identical directions: no spread, cosine 1
    plan.weights = np.array([[[0.5, 0.5], [0.5, 0.5]]])
    stats = spread_stats(plan, np.zeros((1, 1)), fq, np.ones((1, 1)), np.array([[2.0, 2.0]]))
    assert stats["relative_spread"] == pytest.approx(0.0)
    assert stats["estimated_cosine"] == pytest.approx(1.0)


def test_rge_reports_its_spread_and_it_tracks_the_real_cosine():
    d, q = 32, 16
    z = np.random.default_rng(13).normal(size=d)

    def lin(x):
        return (x @ z)[:, None]

    est = zoo.estimator("rge", q=q, difference="central")
    g, _ = est.vjp(lin, np.zeros((2000, d)), rng=14)
    cos = float(np.mean(g @ z / np.linalg.norm(g, axis=1) / np.linalg.norm(z)))
    stats = est.last_stats
    assert stats["directions"] == q
    # for a linear f, E|g|^2 = |grad|^2 (d + q + 1)/q, so r^2 ~ tr Cov / E|g|^2 = (d + 1)/(d + q + 1)
    # and sqrt(1 - r^2) = sqrt(q / (d + q + 1)) = 0.57; the per-row r is a ratio of noisy
    # quantities, so allow 0.1 around both that and the measured mean cosine
    assert stats["estimated_cosine"] == pytest.approx(math.sqrt(q / (d + q + 1)), abs=0.1)
    assert stats["estimated_cosine"] == pytest.approx(cos, abs=0.1)


def test_no_spread_from_a_single_direction():
    est = zoo.estimator("rge", q=1)
    est.vjp(f, Z0, rng=0)
    assert "relative_spread" not in est.last_stats


# -- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [dict(directions="uniform"), dict(prior="best"), dict(orthogonal="yes"), dict(q=True), dict(mu=True)],
)
def test_bad_options_are_config_errors(options):
    with pytest.raises(zoo.ConfigError):
        zoo.estimator("rge", **options)


@pytest.mark.parametrize("options, per_sample", [
    (dict(q=5, directions="rademacher"), 5),
    (dict(q=5, orthogonal=True, difference="central"), 10),
    (dict(q=5, prior="previous"), 5),
])
def test_query_counts_of_the_new_variants(options, per_sample):
    est = zoo.estimator("rge", **options)
    assert est.queries_per_sample(D) == per_sample
    plan = est.plan(np.zeros((3, D)), -np.ones(D), np.ones(D), np.random.default_rng(0))
    assert plan.points.shape == (3, per_sample, D)
    assert np.all(np.abs(plan.points) <= 1.0)
