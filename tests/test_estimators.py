"""Zeroth-order estimators against analytic gradients.

Test function: f(x) = 0.5 x^T A x + b^T x in d = 5 (gradient g = A z + b), plus the
vector-valued quadratic of core_fakes for v^T J.

Statistical tests (RGE) use fixed seeds and tolerances of 5 standard deviations of the mean
of N*q independent single-direction estimates, derived per case below.
"""

from __future__ import annotations

import numpy as np
import pytest

import zoo

from core_fakes import quad_values, quad_vjp

D = 5
_r = np.random.default_rng(1234)
_M = _r.normal(size=(D, D))
A = 0.5 * (_M + _M.T) + D * np.eye(D)  # symmetric, diagonal dominant: A_jj > 0
assert np.all(np.diag(A) > 0)
b = _r.normal(size=D)
Z0 = _r.uniform(-0.5, 0.5, size=D)
A_NORM = np.linalg.norm(A, 2)


class Counted:
    """f(x) = 0.5 x^T A x + b^T x as an (m, d) -> (m, 1) batch function that logs its calls."""

    def __init__(self):
        self.calls: list[np.ndarray] = []

    def __call__(self, x):
        x = np.asarray(x)
        self.calls.append(x.copy())
        return (0.5 * np.einsum("ni,ij,nj->n", x, A, x) + x @ b)[:, None]


def grad(z):
    return np.atleast_2d(z) @ A + b  # A symmetric


# -- CGE: deterministic ----------------------------------------------------------------------

# Rounding: |f| < 50 here, so each evaluation is off by < 50 * 2.2e-16 ~ 1e-14, and a
# difference quotient by < 2e-14 / (2 mu) ~ 1e-11 for mu = 1e-3: ATOL = 1e-8 is 1000x that.
ATOL = 1e-8


def test_cge_central_is_exact_on_a_quadratic():
    Z = np.random.default_rng(0).uniform(-1, 1, size=(4, D))
    f = Counted()
    g, n = zoo.estimator("cge", difference="central", mu=1e-3).vjp(f, Z)
    np.testing.assert_allclose(g, grad(Z), rtol=0, atol=ATOL)
    assert n == 4 * (2 * D + 1)
    assert len(f.calls) == 1  # every query (and f(z)) in ONE batched call


def test_cge_forward_error_is_half_mu_times_the_diagonal():
    # (f(z + mu e_j) - f(z)) / mu = g_j + mu/2 A_jj exactly for a quadratic
    mu = 1e-2
    Z = np.random.default_rng(1).uniform(-1, 1, size=(3, D))
    g, n = zoo.estimator("cge", difference="forward", mu=mu).vjp(Counted(), Z)
    np.testing.assert_allclose(g - grad(Z), np.broadcast_to(mu / 2 * np.diag(A), (3, D)), atol=ATOL)
    assert n == 3 * (D + 1)


@pytest.mark.parametrize("difference", ["forward", "central"])
def test_cge_vector_valued_function_gives_v_transpose_j(difference):
    rng = np.random.default_rng(2)
    Z = rng.uniform(-1, 1, size=(6, 3))
    V = rng.normal(size=(6, 3))
    V[2] = 0.0  # a zero upstream vector gives a zero row
    mu = 1e-4 if difference == "forward" else 1e-3
    g, _ = zoo.estimator("cge", difference=difference, mu=mu).vjp(quad_values, Z, V)
    # forward error: mu/2 * sum_k v_k (A_k)_jj <= mu/2 * |v|_1 * 3 (max |diag|) ~ 1e-3 here
    tol = ATOL if difference == "central" else mu / 2 * 3 * np.abs(V).sum(axis=1, keepdims=True) + ATOL
    assert np.all(np.abs(g - quad_vjp(Z, V)) <= tol)
    np.testing.assert_array_equal(g[2], 0.0)


def test_vjp_with_given_f0_uses_only_the_planned_queries():
    f = Counted()
    est = zoo.estimator("cge", difference="central")
    Z = np.random.default_rng(3).uniform(-1, 1, size=(2, D))
    g, n = est.vjp(f, Z, f0=f(Z))
    f.calls.clear()
    g2, n2 = est.vjp(f, Z, f0=f(Z)[:, 0])
    assert n == n2 == 2 * 2 * D
    np.testing.assert_allclose(g, grad(Z), atol=ATOL)
    np.testing.assert_allclose(g2, g, atol=ATOL)


def test_single_point_and_scalar_bounds_are_accepted():
    g, n = zoo.estimator("cge").vjp(Counted(), Z0, lower=-10, upper=10)
    assert g.shape == (1, D)
    np.testing.assert_allclose(g[0], grad(Z0)[0], atol=ATOL)


# -- RGE: statistical ------------------------------------------------------------------------

N_ROWS, Q = 2000, 8  # N*q = 16000 directions per check


def _linear_var(g, directions):
    """Per-coordinate variance of ONE direction's estimate of the linear part, (g.u) u * c.

    gaussian (c = 1): Cov = E[(g.u)^2 u u^T] - g g^T = |g|^2 I + 2 g g^T - g g^T (Isserlis),
        so Var_j = |g|^2 + g_j^2.
    sphere (c = d, u uniform on the unit sphere): E[u_i u_j u_k u_l] = (d_ij d_kl + d_ik d_jl
        + d_il d_jk) / (d (d + 2)), so d^2 E[(g.u)^2 u u^T] = d/(d+2) (|g|^2 I + 2 g g^T) and
        Var_j = d/(d+2) (|g|^2 + 2 g_j^2) - g_j^2.
    """
    g2 = float(g @ g)
    if directions == "gaussian":
        return g2 + g**2
    return D / (D + 2) * (g2 + 2 * g**2) - g**2


def _mu_term_rms(mu, directions, difference):
    """RMS of one direction's deviation from (g.u) u * c caused by the curvature (interior z).

    central: f(z + mu u) - f(z - mu u) = 2 mu g.u exactly for a quadratic -> 0.
    forward: the quotient is g.u + mu/2 u^T A u, so the deviation is c mu/2 (u^T A u) u_j with
        |u^T A u| <= |A| |u|^2. gaussian: E[|u|^4 u_j^2] = E[|u|^6] / d = (d+2)(d+4), so the
        RMS is <= mu/2 |A| sqrt((d+2)(d+4)); sphere (|u| = 1, c = d): <= d mu/2 |A|.
    Its mean is zero (an odd function of u, and u ~ -u), so it adds variance, not bias.
    """
    if difference == "central":
        return 0.0
    if directions == "gaussian":
        return mu / 2 * A_NORM * np.sqrt((D + 2) * (D + 4))
    return D * mu / 2 * A_NORM


def _check_unbiased(est, z, lower=-np.inf, upper=np.inf, seed=0, bias=0.0):
    f = Counted()
    Z = np.broadcast_to(z, (N_ROWS, D))
    g, n = est.vjp(f, Z, lower=lower, upper=upper, rng=seed)
    assert n == N_ROWS * (est.queries_per_sample(D) + 1)
    pts = f.calls[0]
    assert np.all((pts >= lower) & (pts <= upper)), "a query left the domain"
    mean = g.mean(axis=0)
    true = grad(z)[0]
    # std of a sum is at most the sum of the stds: sqrt(Var_lin) + RMS of the mu term
    sd_one = np.sqrt(_linear_var(true, est.directions)) + _mu_term_rms(est.mu, est.directions, est.difference)
    tol = 5 * sd_one / np.sqrt(N_ROWS * est.q) + bias
    assert np.all(np.abs(mean - true) <= tol), (mean - true, tol)
    return mean, true, tol


@pytest.mark.parametrize("directions", ["gaussian", "sphere"])
@pytest.mark.parametrize("difference", ["forward", "central"])
def test_rge_is_unbiased_on_a_quadratic(directions, difference):
    est = zoo.estimator("rge", q=Q, mu=1e-3, directions=directions, difference=difference)
    mean, true, tol = _check_unbiased(est, Z0)
    # the test can fail: a scale off by 2x (or sphere directions without the factor d)
    # moves the mean by >= |g_j| / 2, far beyond the tolerance
    assert np.all(tol < np.abs(true) / 2)


def test_rge_directions_differ_by_seed_and_repeat_with_it():
    est = zoo.estimator("rge", q=4)
    a, _ = est.vjp(Counted(), Z0, rng=7)
    b_, _ = est.vjp(Counted(), Z0, rng=7)
    c, _ = est.vjp(Counted(), Z0, rng=8)
    np.testing.assert_array_equal(a, b_)
    assert not np.allclose(a, c)


def test_sphere_directions_are_unit_vectors():
    est = zoo.estimator("rge", directions="sphere")
    u = est.sample_directions(np.random.default_rng(0), (10, 4, D))
    np.testing.assert_allclose(np.linalg.norm(u, axis=-1), 1.0, atol=1e-12)


def test_rge_vector_valued_function_gives_v_transpose_j():
    # s = v . f is a quadratic with gradient quad_vjp(z, v); central differences are exact
    # per direction, so the mean of N*q Gaussian directions has Var_j = |g|^2 + g_j^2.
    rng = np.random.default_rng(5)
    z, v = rng.uniform(-1, 1, size=3), rng.normal(size=3)
    est = zoo.estimator("rge", q=Q, difference="central")
    g, _ = est.vjp(quad_values, np.broadcast_to(z, (N_ROWS, 3)), np.broadcast_to(v, (N_ROWS, 3)), rng=1)
    true = quad_vjp(z, v)[0]
    tol = 5 * np.sqrt((true @ true + true**2) / (N_ROWS * Q))
    assert np.all(np.abs(g.mean(axis=0) - true) <= tol)


# -- bounds ----------------------------------------------------------------------------------

LOWER, UPPER = -np.ones(D), np.ones(D)


def _edge_point(mu):
    z = Z0.copy()
    z[0] = LOWER[0]  # exactly on the lower bound
    z[1] = UPPER[1] - mu / 3  # within mu of the upper bound
    z[2] = UPPER[2]  # exactly on the upper bound
    return z


@pytest.mark.parametrize("difference", ["forward", "central"])
def test_cge_at_bounds_keeps_queries_inside(difference):
    mu = 1e-2
    z = _edge_point(mu)
    f = Counted()
    g, _ = zoo.estimator("cge", difference=difference, mu=mu).vjp(f, z, lower=LOWER, upper=UPPER)
    pts = f.calls[0]
    assert np.all((pts >= LOWER) & (pts <= UPPER))
    err = g[0] - grad(z)[0]
    if difference == "central":
        # (-3 f(z) + 4 f(z + h e) - f(z + 2h e)) / 2h is exact on a quadratic, like central
        np.testing.assert_allclose(err, 0.0, atol=ATOL)
    else:
        # forward where there is room (+mu/2 A_jj); backward difference on coordinates 1 and
        # 2, which have less than mu to their upper bound: (f(z) - f(z - mu e))/mu = g - mu/2 A_jj
        sign = np.array([1.0, -1.0, -1.0, 1.0, 1.0])
        np.testing.assert_allclose(err, sign * mu / 2 * np.diag(A), atol=ATOL)


def test_cge_in_a_box_narrower_than_mu():
    # room on both sides < mu: the step shrinks to fit, and central stays exact
    lower, upper = Z0 - 2e-4, Z0 + 3e-4
    f = Counted()
    g, _ = zoo.estimator("cge", mu=1e-2).vjp(f, Z0, lower=lower, upper=upper)
    assert np.all((f.calls[0] >= lower) & (f.calls[0] <= upper))
    np.testing.assert_allclose(g[0], grad(Z0)[0], atol=1e-6)  # rounding / h, h ~ 1.5e-4


@pytest.mark.parametrize("where", ["on-bound", "within-mu"])
@pytest.mark.parametrize("directions", ["gaussian", "sphere"])
@pytest.mark.parametrize("difference", ["forward", "central"])
def test_rge_at_a_bound_stays_inside_and_accurate(where, directions, difference):
    mu = 1e-3
    z = Z0.copy()
    if where == "on-bound":
        z[0] = LOWER[0]
    else:
        z[1] = UPPER[1] - mu / 3
    est = zoo.estimator("rge", q=Q, mu=mu, directions=directions, difference=difference)
    # central: the one-sided second-order scheme is exact on a quadratic, so each direction
    # still gives c (g.u) u: same mean and variance as inside (bias 0).
    # forward: directions without room go backwards, (f(z - h u) - f(z)) / -h = g.u - h/2 u^TAu,
    # and the sign now depends on u, so the curvature term may not average out: its mean is
    # bounded by c mu/2 |A| E[|u|^2 |u_j|] <= mu/2 |A| sqrt(d (d+2)) (gaussian, Cauchy-Schwarz)
    # or d mu/2 |A| (sphere).
    if difference == "central":
        bias = 0.0
    elif directions == "gaussian":
        bias = mu / 2 * A_NORM * np.sqrt(D * (D + 2))
    else:
        bias = D * mu / 2 * A_NORM
    _check_unbiased(est, z, lower=LOWER, upper=UPPER, seed=3, bias=bias)


@pytest.mark.parametrize(
    "options", [dict(q=4), dict(q=4, difference="central"), dict(q=2, directions="sphere")]
)
def test_rge_plan_points_inside_bounds_everywhere(options):
    rng = np.random.default_rng(11)
    Z = rng.uniform(-1, 1, size=(200, D))
    Z[::4, 0] = -1.0
    Z[1::4, 3] = 1.0 - 1e-4
    est = zoo.estimator("rge", mu=1e-2, **options)
    plan = est.plan(Z, LOWER, UPPER, rng)
    assert np.all((plan.points >= LOWER) & (plan.points <= UPPER))


# -- query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, options, per_sample",
    [
        ("rge", dict(q=3), 3),
        ("rge", dict(q=3, difference="central"), 6),
        ("rge", dict(q=2, directions="sphere", difference="central"), 4),
        ("cge", dict(difference="forward"), D),
        ("cge", dict(difference="central"), 2 * D),
    ],
)
def test_query_counts(name, options, per_sample):
    est = zoo.estimator(name, **options)
    assert est.queries_per_sample(D) == per_sample
    B = 7
    Z = np.zeros((B, D))
    plan = est.plan(Z, LOWER, UPPER, np.random.default_rng(0))
    assert plan.points.shape == plan.weights.shape == (B, per_sample, D)
    assert plan.n_queries == B * per_sample
    f = Counted()
    _, n = est.vjp(f, Z)
    assert n == B * (per_sample + 1) == len(f.calls[0])
    _, n = est.vjp(f, Z, f0=np.zeros((B, 1)))
    assert n == B * per_sample == len(f.calls[-1])


# -- invalid options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, options",
    [
        ("rge", dict(q=0)),
        ("rge", dict(q=-2)),
        ("rge", dict(q=1.5)),
        ("rge", dict(mu=0)),
        ("rge", dict(mu=-1e-3)),
        ("rge", dict(mu=float("nan"))),
        ("rge", dict(mu=float("inf"))),
        ("rge", dict(directions="uniform")),
        ("rge", dict(difference="backward")),
        ("rge", dict(nonsense=1)),
        ("cge", dict(difference="backward")),
        ("cge", dict(mu=0.0)),
        ("cge", dict(q=4)),  # cge has no q
    ],
)
def test_invalid_options_raise_config_error(name, options):
    with pytest.raises(zoo.ConfigError):
        zoo.estimator(name, **options)


@pytest.mark.parametrize("options", [dict(q="abc"), dict(mu="abc"), dict(q=None)])
def test_option_of_the_wrong_type_is_a_config_error(options):
    """``zoo run --estimator-option q=abc`` passes the bare string "abc" on: a user error."""
    with pytest.raises(zoo.ConfigError):
        zoo.estimator("rge", **options)


def test_knob_set_out_of_range_between_steps_is_caught_at_plan():
    est = zoo.estimator("rge", q=4)
    est.mu = 0.0  # as a schedule would set it
    with pytest.raises(zoo.ConfigError, match="mu"):
        est.plan(np.zeros((1, D)), LOWER, UPPER, np.random.default_rng(0))
    est.mu, est.q = 1e-3, 0
    with pytest.raises(zoo.ConfigError, match="q"):
        est.plan(np.zeros((1, D)), LOWER, UPPER, np.random.default_rng(0))


# -- state carried between steps, and the old home of the control variate -------------------------


def test_state_dict_holds_the_rge_prior_and_nothing_else():
    est = zoo.estimator("rge", q=3, prior="previous")
    fresh = zoo.estimator("rge", q=3, prior="previous")
    assert est.state_dict() == {}
    counted = Counted()
    est.vjp(counted, Z0, rng=0)
    saved = est.state_dict()
    assert list(saved) == ["prior"] and saved["prior"]["ndarray"].shape == (1, D)
    fresh.load_state_dict(saved)
    np.testing.assert_array_equal(fresh.state["prior"], est.state["prior"])
    # the restored prior is used: the same next estimate as the estimator that made it
    np.testing.assert_array_equal(fresh.vjp(counted, Z0, rng=5)[0], est.vjp(counted, Z0, rng=5)[0])


def test_control_variate_layer_moved_beside_the_layer_with_an_alias():
    import importlib
    import sys

    from zoo.control_variate import ControlVariateLayer
    from zoo.deprecation import ZooDeprecationWarning

    sys.modules.pop("zoo.estimators.control_variate", None)
    with pytest.warns(ZooDeprecationWarning, match="zoo.control_variate"):
        old = importlib.import_module("zoo.estimators.control_variate")
    assert old.ControlVariateLayer is ControlVariateLayer
