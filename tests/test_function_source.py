"""``zoo.FunctionSource``: a lambda or closure as a knowledge source, on every executor,
with gradients checked against the function's analytic derivative."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import zoo
from zoo.testing import check_knowledge_source

#: f(a, b) = [a^2 b, sin(a) + b^3] and its Jacobian, written independently of zoo
A0 = np.array([[0.3, 1.2], [-0.7, 0.4], [1.1, -0.5]])


def jac(x):
    a, b = x
    return np.array([[2 * a * b, a * a], [np.cos(a), 3 * b * b]])


def make(vectorized=True, **kw):
    if vectorized:
        fn = lambda x: np.stack([x[:, 0] ** 2 * x[:, 1], np.sin(x[:, 0]) + x[:, 1] ** 3], axis=1)  # noqa: E731
    else:
        fn = lambda r: [r[0] ** 2 * r[1], np.sin(r[0]) + r[1] ** 3]  # noqa: E731
    return zoo.FunctionSource(fn, zoo.Spec(["a", "b"], lower=-3, upper=3), ["y1", "y2"], vectorized=vectorized, **kw)


@pytest.mark.parametrize("vectorized", [True, False])
def test_contract_and_values(vectorized):
    sks = make(vectorized)
    y = sks(A0)
    np.testing.assert_allclose(y[:, 0], A0[:, 0] ** 2 * A0[:, 1])
    np.testing.assert_allclose(y[:, 1], np.sin(A0[:, 0]) + A0[:, 1] ** 3)
    check_knowledge_source(sks, A0)
    assert sks.name == "function" and sks.input_spec.names == ("a", "b")


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_central_cge_gradient_through_the_layer_is_exact(executor):
    """A lambda, pickled to worker processes with cloudpickle: central CGE at mu 1e-4 has
    O(mu^2) error on these smooth functions, far inside 1e-5 of the analytic v^T J."""
    sks = make()
    options = {"workers": 2} if executor == "processes" else {}
    with zoo.executor(executor, **options) as ex:
        layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-4, difference="central"), executor=ex)
        z = torch.tensor(A0, requires_grad=True)
        v = torch.tensor([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0]], dtype=torch.float64)
        (layer(z) * v).sum().backward()
    exact = np.stack([v[i].numpy() @ jac(A0[i]) for i in range(len(A0))])
    np.testing.assert_allclose(z.grad.numpy(), exact, atol=1e-5)


def test_a_closure_trains_a_model_through_the_layer():
    """The closure captures a target; Adam through the layer drives the model to it."""
    target = np.array([1.5, -0.5])

    def misfit(x):
        return ((x - target) ** 2).sum(axis=1, keepdims=True)

    sks = zoo.FunctionSource(misfit, zoo.Spec(["u", "v"], lower=-5, upper=5), ["loss"])
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-3), executor="processes")
    theta = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=0.1)
    for _ in range(150):
        opt.zero_grad()
        layer(theta).sum().backward()
        opt.step()
    layer.evaluator.executor.close()
    np.testing.assert_allclose(theta.detach().numpy()[0], target, atol=1e-2)


def test_row_by_row_failures_are_nan_rows_and_all_failed_is_an_error():
    def fragile(row):
        if row[0] < 0:
            raise ValueError("negative")
        return [np.sqrt(row[0])]

    sks = zoo.FunctionSource(fragile, ["x"], ["y"], vectorized=False)
    y = sks([[4.0], [-1.0], [9.0]])
    assert y[0, 0] == 2.0 and np.isnan(y[1, 0]) and y[2, 0] == 3.0
    with pytest.raises(zoo.SKSError, match="every row failed.*negative"):
        sks([[-1.0], [-2.0]])


def test_contexts_reach_a_function_that_takes_them():
    sks = zoo.FunctionSource(lambda x, ctx: x * np.array([c["k"] for c in ctx])[:, None], ["x"], ["y"])
    np.testing.assert_array_equal(sks([[1.0], [2.0]], [{"k": 3.0}, {"k": 5.0}]), [[3.0], [10.0]])


def test_wrong_shapes_and_bad_arguments_are_config_errors():
    with pytest.raises(zoo.ConfigError, match="expected"):
        zoo.FunctionSource(lambda x: x[:, :1], ["a", "b"], ["y1", "y2"])(A0)
    with pytest.raises(zoo.ConfigError, match="callable"):
        zoo.FunctionSource(3, ["a"], ["y"])
    with pytest.raises(zoo.ConfigError, match="strings"):
        zoo.FunctionSource(lambda x: x, [1], ["y"])


def test_the_function_is_part_of_the_cache_key():
    from zoo.cache import sks_fingerprint

    one = zoo.FunctionSource(lambda x: x * 2.0, ["x"], ["y"], name="f")
    two = zoo.FunctionSource(lambda x: x * 3.0, ["x"], ["y"], name="f")
    assert sks_fingerprint(one) != sks_fingerprint(two)
    clone = pickle.loads(pickle.dumps(one))
    assert sks_fingerprint(clone) == sks_fingerprint(one)
    np.testing.assert_array_equal(clone([[2.0]]), [[4.0]])
