"""The SKS layer: forward through the knowledge source, backward through an estimator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import zoo

from core_fakes import QuadSKS, quad_torch, quad_values, quad_vjp

# CGE central is exact on the quadratic QuadSKS up to rounding: |f| < 100 and mu = 1e-3
# give quotient errors < 100 * 2.2e-16 * 2 / (2 mu) ~ 2e-11, so 1e-8 leaves a wide margin.
ATOL = 1e-8
B = 5


def _layer(sks=None, **kw):
    kw.setdefault("estimator", zoo.estimator("cge", difference="central"))
    return zoo.SKSLayer(sks if sks is not None else QuadSKS(), **kw)


def _inputs(seed=0, n=B):
    rng = np.random.default_rng(seed)
    z = torch.tensor(rng.uniform(-1, 1, size=(n, 3)), dtype=torch.float64, requires_grad=True)
    v = torch.tensor(rng.normal(size=(n, 3)), dtype=torch.float64)
    return z, v


def test_forward_is_the_sks_and_backward_is_v_transpose_j():
    z, v = _inputs()
    layer = _layer()
    y = layer(z)
    assert y.dtype == z.dtype and y.shape == (B, 3)
    np.testing.assert_allclose(y.detach().numpy(), quad_values(z.detach().numpy()), rtol=1e-14)
    y.backward(v)
    np.testing.assert_allclose(z.grad.numpy(), quad_vjp(z.detach().numpy(), v.numpy()), atol=ATOL)


def test_float32_model_side():
    z, v = _inputs()
    z32 = z.detach().float().requires_grad_()
    y = _layer()(z32)
    assert y.dtype == torch.float32
    y.backward(v.float())
    assert z32.grad.dtype == torch.float32
    # float32 rounding of z, v and the result: relative ~1e-6 of values of order 10
    np.testing.assert_allclose(
        z32.grad.numpy(), quad_vjp(z32.detach().double().numpy(), v.numpy()), atol=1e-4
    )


def test_gradient_flows_into_an_upstream_linear_layer():
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3).double()
    ref = torch.nn.Linear(4, 3).double()
    ref.load_state_dict(lin.state_dict())
    x = torch.randn(B, 4, dtype=torch.float64)
    scale = torch.linspace(0.5, 2.0, B, dtype=torch.float64)
    contexts = [{"scale": float(s)} for s in scale]
    target = torch.randn(B, 3, dtype=torch.float64)

    loss = ((_layer()(lin(x), contexts) - target) ** 2).sum()
    loss.backward()
    ref_loss = ((quad_torch(ref(x), scale) - target) ** 2).sum()
    ref_loss.backward()

    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-12)
    for p, q in zip(lin.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-7, atol=1e-7)


def test_contexts_are_passed_and_repeated_for_the_query_points():
    z, v = _inputs(1)
    scales = [0.5, 1.0, 2.0, 3.0, -1.0]
    contexts = [{"scale": s, "row": i} for i, s in enumerate(scales)]
    sks = QuadSKS()
    layer = _layer(sks)
    y = layer(z, contexts)
    np.testing.assert_allclose(y.detach().numpy(), quad_values(z.detach().numpy(), scales), rtol=1e-14)
    y.backward(v)
    # per-row scales change the function: a misaligned context would give a wrong row
    np.testing.assert_allclose(
        z.grad.numpy(), quad_vjp(z.detach().numpy(), v.numpy(), scales), atol=ATOL
    )
    (_, fwd_ctx), (points, bwd_ctx) = sks.calls
    assert fwd_ctx == contexts
    m = layer.estimator.queries_per_sample(3)
    assert [c["row"] for c in bwd_ctx] == [i for i in range(B) for _ in range(m)]
    # each query point lies near the row whose context it carries
    rows = np.array([c["row"] for c in bwd_ctx])
    assert np.all(np.abs(points - z.detach().numpy()[rows]).max(axis=1) <= layer.estimator.mu + 1e-15)


def test_exactly_one_sks_call_in_forward_and_one_in_backward():
    z, v = _inputs()
    sks = QuadSKS()
    layer = _layer(sks, estimator=zoo.estimator("rge", q=4))
    y = layer(z)
    assert len(sks.calls) == 1
    y.backward(v)
    assert len(sks.calls) == 2
    assert len(sks.calls[1][0]) == B * 4


def test_query_counting():
    z, v = _inputs()
    layer = _layer(estimator=zoo.estimator("rge", q=3, difference="central"))
    layer(z).backward(v)
    # forward: B rows; backward: B * 2q (f(z) reused from the forward pass)
    assert layer.queries == B + B * 6
    assert layer.gradient_queries == B * 6
    layer(z.detach())  # no grad: forward only
    assert layer.queries == 2 * B + B * 6


def test_reset_counters_resets_every_counter():
    z, v = _inputs()
    layer = _layer(estimator=zoo.estimator("rge", q=3))
    layer(z).backward(v)
    assert layer.queries > 0 and layer.gradient_queries > 0
    layer.reset_counters()
    assert layer.queries == layer.gradient_queries == layer.nan_gradient_rows == 0


def test_rows_with_zero_upstream_gradient_get_no_queries():
    z, v = _inputs(2)
    v[1] = 0.0
    v[3] = 0.0
    sks = QuadSKS()
    layer = _layer(sks)
    layer(z).backward(v)
    m = 2 * 3
    assert layer.gradient_queries == 3 * m
    points = sks.calls[1][0]
    zn = z.detach().numpy()
    near = lambda i: np.abs(points - zn[i]).max(axis=1) <= layer.estimator.mu + 1e-15  # noqa: E731
    assert not near(1).any() and not near(3).any()
    assert near(0).sum() == near(2).sum() == near(4).sum() == m
    np.testing.assert_array_equal(z.grad.numpy()[[1, 3]], 0.0)
    np.testing.assert_allclose(z.grad.numpy(), quad_vjp(zn, v.numpy()), atol=ATOL)


def test_all_zero_upstream_gradient_makes_no_backward_call():
    z, _ = _inputs()
    sks = QuadSKS()
    layer = _layer(sks)
    layer(z).backward(torch.zeros(B, 3, dtype=torch.float64))
    assert len(sks.calls) == 1 and layer.gradient_queries == 0
    np.testing.assert_array_equal(z.grad.numpy(), 0.0)


def test_out_of_bounds_clamp_evaluates_and_differentiates_at_the_nearest_point():
    # QuadSKS's inputs are bounded to [-4, 4]
    raw = np.array([[5.0, 0.2, -0.1], [0.3, -7.0, 4.0], [0.1, 0.2, 0.3]])
    z = torch.tensor(raw, requires_grad=True)
    v = torch.ones(3, 3, dtype=torch.float64)
    sks = QuadSKS()
    layer = _layer(sks, out_of_bounds="clamp")
    y = layer(z)
    clipped = np.clip(raw, -4.0, 4.0)
    np.testing.assert_allclose(y.detach().numpy(), quad_values(clipped), rtol=1e-14)
    y.backward(v)
    # the estimate at the clamped point passes straight through to z
    np.testing.assert_allclose(z.grad.numpy(), quad_vjp(clipped, v.numpy()), atol=ATOL)
    for points, _ in sks.calls:
        assert np.all((points >= -4.0) & (points <= 4.0))


def test_out_of_bounds_error_raises_a_zoo_error():
    z = torch.tensor([[0.0, 0.0, 0.0], [0.0, 9.0, 0.0]], dtype=torch.float64)
    with pytest.raises(zoo.SKSError, match="row 1"):
        _layer(out_of_bounds="error")(z)


def test_out_of_bounds_option_is_checked():
    with pytest.raises(zoo.ConfigError):
        _layer(out_of_bounds="wrap")


def test_nan_query_gives_zero_gradient_row_warning_and_count():
    # rows fail (NaN) where x0 > 0.9995: row 0 at x0 = 0.999 is fine, but its query at
    # x0 + mu = 1.000 fails; the other rows are far from the failing region
    sks = QuadSKS(nan_above=0.9995)
    z = torch.tensor([[0.999, 0.1, 0.2], [0.1, 0.2, 0.3], [-0.5, 0.5, 0.0]], dtype=torch.float64, requires_grad=True)
    v = torch.ones(3, 3, dtype=torch.float64)
    layer = _layer(sks)
    y = layer(z)
    assert torch.isfinite(y).all()
    with pytest.warns(RuntimeWarning, match="NaN"):
        y.backward(v)
    g = z.grad.numpy()
    np.testing.assert_array_equal(g[0], 0.0)
    np.testing.assert_allclose(g[1:], quad_vjp(z.detach().numpy()[1:], v.numpy()[1:]), atol=ATOL)
    assert layer.nan_gradient_rows == 1


def test_shape_and_context_count_are_checked():
    layer = _layer()
    with pytest.raises(zoo.ConfigError):
        layer(torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(zoo.ConfigError):
        layer(torch.zeros(2, 3, dtype=torch.float64), [{"scale": 1.0}])


def test_layer_seed_makes_rge_reproducible_and_rng_state_round_trips():
    z, v = _inputs(4)

    def grad_with(layer):
        zz = z.detach().clone().requires_grad_()
        layer(zz).backward(v)
        return zz.grad.numpy().copy()

    a = _layer(estimator=zoo.estimator("rge", q=2), seed=5)
    b = _layer(estimator=zoo.estimator("rge", q=2), seed=5)
    np.testing.assert_array_equal(grad_with(a), grad_with(b))
    state = a.rng_state()
    first = grad_with(a)
    a.set_rng_state(state)
    np.testing.assert_array_equal(grad_with(a), first)
    assert not np.array_equal(grad_with(a), first)  # the state moves on


def test_layer_accepts_registered_names():
    layer = zoo.SKSLayer(QuadSKS(), estimator="cge", executor="serial")
    assert layer.estimator.name == "cge" and layer.executor.name == "serial"
    with pytest.raises(zoo.UnknownNameError):
        zoo.SKSLayer(QuadSKS(), estimator="cgee")


def test_no_warning_without_nan():
    z, v = _inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _layer()(z).backward(v)
