"""Full-ZO mode (zoo.fullzo), the optimizers it steps with (zoo.optim), and the old names.

References are torch's own backprop gradients (the thing full-ZO replaces) and closed forms.
For a loss that is quadratic in the parameters the Gaussian-smoothed gradient *is* the
gradient, and a central difference along any direction is exact, so each RGE direction
gives exactly (g.u) u and the tolerances follow from moments of u.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import zoo
from zoo import fullzo
from zoo.deprecation import ZooDeprecationWarning
from zoo.optim import SignSGD, make_optimizer


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: torch's thread pool only adds contention on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _linear_problem(seed=0, n=32, d_in=5, d_out=2):
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(d_in, d_out).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    y = torch.randn(n, d_out, generator=g, dtype=torch.float64)
    return model, x, y


def _backprop(model, loss_fn):
    model.zero_grad()
    loss_fn(None).backward()
    out = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).clone()
    model.zero_grad()
    return out


def _flat_grad(model):
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


# -- correctness --------------------------------------------------------------------------------


def test_central_cge_full_zo_matches_backprop_on_a_nonlinear_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)).double()
    x, y = torch.randn(20, 3, dtype=torch.float64), torch.randn(20, 1, dtype=torch.float64)

    def loss_fn(_layer):
        return ((model(x) - y) ** 2).mean()

    true = _backprop(model, loss_fn)
    est = zoo.estimator("cge", mu=1e-4, difference="central")
    out = fullzo.estimate_parameter_gradients(model, loss_fn, None, est, seed=0)
    P = sum(p.numel() for p in model.parameters())
    assert out["evaluations"] == 2 * P + 1
    # error mu^2/6 |L'''| ~ 1e-9 here; rounding 1e-16 / mu ~ 1e-12
    torch.testing.assert_close(_flat_grad(model), true, rtol=0, atol=1e-7)
    assert out["loss"] == pytest.approx(loss_fn(None).item(), rel=1e-15)


@pytest.mark.slow
@pytest.mark.parametrize("directions", ["gaussian", "sphere", "rademacher"])
def test_rge_full_zo_mean_is_the_backprop_gradient(directions):
    model, x, y = _linear_problem()

    def loss_fn(_layer):
        return ((model(x) - y) ** 2).mean()

    true = _backprop(model, loss_fn).numpy()
    P, q, n = true.size, 12, 450
    est = zoo.estimator("rge", q=q, mu=1e-3, directions=directions, difference="central")
    mean = np.zeros(P)
    for step in range(n):
        fullzo.estimate_parameter_gradients(model, loss_fn, None, est, seed=1, step=step)
        mean += _flat_grad(model).numpy() / n
    # quadratic loss + central differences: each direction gives exactly c (g.u) u, whose
    # total variance is (P + 1)|g|^2 (gaussian) or (P - 1)|g|^2 (sphere, rademacher)
    g2 = float(true @ true)
    total = ((P + 1) if directions == "gaussian" else (P - 1)) * g2 / q
    tol = 5 * math.sqrt(total / n)
    assert np.all(np.abs(mean - true) <= tol), (np.abs(mean - true).max(), tol)
    assert tol < np.abs(true).max() / 2


def test_gradient_reuse_prior_beats_plain_rge_at_a_fixed_point():
    model, x, y = _linear_problem(seed=3, d_in=20)

    def loss_fn(_layer):
        return ((model(x) - y) ** 2).mean()

    true = _backprop(model, loss_fn).numpy()
    cos = {}
    for prior in ("none", "previous"):
        est = zoo.estimator("rge", q=4, prior=prior, difference="central")
        vals = []
        for step in range(100):
            fullzo.estimate_parameter_gradients(model, loss_fn, None, est, seed=2, step=step)
            g = _flat_grad(model).numpy()
            vals.append(g @ true / np.linalg.norm(g) / np.linalg.norm(true))
        cos[prior] = float(np.mean(vals[20:]))
    # plain RGE: sqrt(q / (q + P)) = 0.29 for P = 42. With the running mean of past estimates
    # as direction 1, the estimates average out at a fixed point and the prior's exact
    # directional derivative carries most of the gradient. Per-step cosines vary by < 0.2,
    # so over 80 steps a margin of 0.3 is many standard errors.
    assert cos["none"] == pytest.approx(math.sqrt(4 / 46), abs=0.1)
    assert cos["previous"] > cos["none"] + 0.3, cos


def test_parameters_are_restored_exactly_and_with_subtract_to_rounding():
    model, x, y = _linear_problem(seed=4)
    before = [p.detach().clone() for p in model.parameters()]

    def loss_fn(_layer):
        return ((model(x) - y) ** 2).mean()

    fullzo.estimate_parameter_gradients(model, loss_fn, None, zoo.estimator("rge", q=5), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    fullzo.estimate_parameter_gradients(model, loss_fn, None, zoo.estimator("cge"), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    fullzo.estimate_parameter_gradients(model, loss_fn, None, zoo.estimator("rge", q=5), seed=0, restore="subtract")
    for a, b in zip(before, model.parameters()):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-15)  # (theta + h u) - h u


def test_same_seed_and_step_give_the_same_directions():
    model, x, y = _linear_problem(seed=5)

    def loss_fn(_layer):
        return ((model(x) - y) ** 2).mean()

    est = zoo.estimator("rge", q=3)
    grads = []
    for step in (7, 7, 8):
        fullzo.estimate_parameter_gradients(model, loss_fn, None, est, seed=11, step=step)
        grads.append(_flat_grad(model).clone())
    assert torch.equal(grads[0], grads[1])
    assert not torch.allclose(grads[0], grads[2])


def test_no_direction_matrix_is_ever_generated():
    # every random draw is at most one parameter tensor: directions are regenerated chunk by
    # chunk, never stored as a (q, P) matrix (nor as one P-vector)
    model = torch.nn.Sequential(torch.nn.Linear(50, 40), torch.nn.Linear(40, 30))
    largest = max(p.numel() for p in model.parameters())
    x = torch.randn(8, 50)
    sizes = []
    real_randn = torch.randn

    def spy(*args, **kwargs):
        out = real_randn(*args, **kwargs)
        sizes.append(out.numel())
        return out

    torch.randn = spy
    try:
        est = zoo.estimator("rge", q=16, directions="sphere")
        fullzo.estimate_parameter_gradients(model, lambda _l: model(x).pow(2).mean(), None, est, seed=0)
    finally:
        torch.randn = real_randn
    assert sizes and max(sizes) <= largest


@pytest.mark.slow
def test_peak_memory_is_about_one_model_not_q_models():
    # P = 16M float32 parameters (64 MB) in 8 tensors, q = 8: a stored (q, P) direction
    # matrix alone would be 512 MB. Extra peak memory allowed: the gradient itself (1 P),
    # the restore copy (1 P), one tensor-sized draw and slack: < 3 P floats = 192 MB.
    script = textwrap.dedent(
        """
        import resource, torch, zoo
        from zoo import fullzo
        torch.set_num_threads(1)
        model = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(2_000_000)) for _ in range(8)])
        def loss_fn(_layer):
            return sum((p * p).sum() for p in model)
        loss_fn(None)
        est = zoo.estimator("rge", q=8)
        fullzo.estimate_parameter_gradients(model, loss_fn, None, zoo.estimator("rge", q=1), seed=0)
        for p in model:
            p.grad = None
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fullzo.estimate_parameter_gradients(model, loss_fn, None, est, seed=1)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((peak - base) * 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    extra = int(out.stdout.strip().splitlines()[-1])
    P_bytes = 16_000_000 * 4
    # the warm-up call already held one gradient and one copy, so the growth is small
    assert extra < 3 * P_bytes, extra / P_bytes


# -- SKS queries: one batched call per step ---------------------------------------------------------


class CountingSquare(zoo.KnowledgeSource):
    """f(z; s) = s z^2 (two outputs: s z^2 and z), counting its calls."""

    name = "zo-test-square"
    description = "test"
    input_spec = zoo.Spec(["z"], lower=-10.0, upper=10.0)
    output_spec = zoo.Spec(["y", "z"])

    def __init__(self, nan_above=None):
        self.options = {}
        self.calls = []
        self.nan_above = nan_above

    def evaluate(self, inputs, contexts=None):
        self.calls.append(len(inputs))
        s = np.ones(len(inputs)) if contexts is None else np.array([c["s"] for c in contexts])
        out = np.stack([s * inputs[:, 0] ** 2, inputs[:, 0]], axis=1)
        if self.nan_above is not None:
            out[inputs[:, 0] > self.nan_above] = np.nan
        return out


def _sks_problem(nan_above=None):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    x = torch.randn(6, 2, dtype=torch.float64)
    target = torch.randn(6, dtype=torch.float64)
    contexts = [{"s": 0.5 + i} for i in range(6)]
    sks = CountingSquare(nan_above)
    layer = zoo.SKSLayer(sks, estimator="cge")

    def loss_fn(lyr):
        y = lyr(model(x), contexts)[:, 0]
        return ((y - target) ** 2).mean(), {"n": 6.0}

    def reference(_):  # the same loss in torch, differentiable
        s = torch.tensor([c["s"] for c in contexts], dtype=torch.float64)
        return ((s * model(x)[:, 0] ** 2 - target) ** 2).mean()

    return model, sks, layer, loss_fn, reference


def test_all_queries_of_a_step_go_in_one_batched_sks_call():
    model, sks, layer, loss_fn, reference = _sks_problem()
    est = zoo.estimator("rge", q=5, difference="central")
    out = fullzo.estimate_parameter_gradients(model, loss_fn, layer, est, seed=0)
    assert sks.calls == [6 * (1 + 10)]  # L(theta) + 10 perturbations, 6 rows each, ONE call
    assert out["queries"] == 66 and out["sks_calls"] == 1 and out["evaluations"] == 11
    assert out["metrics"] == {"n": 6.0}
    assert out["loss"] == pytest.approx(reference(None).item(), rel=1e-12)
    batched = _flat_grad(model).clone()
    # the sequential path (one SKS call per loss evaluation) gives the same numbers
    sks.calls.clear()
    out = fullzo.estimate_parameter_gradients(model, loss_fn, layer, est, seed=0, batched=False)
    assert sks.calls == [6] * 11
    torch.testing.assert_close(_flat_grad(model), batched, rtol=1e-13, atol=0)


def test_full_zo_through_an_sks_matches_backprop_of_the_same_loss_in_torch():
    model, sks, layer, loss_fn, reference = _sks_problem()
    true = _backprop(model, reference)
    fullzo.estimate_parameter_gradients(model, loss_fn, layer, zoo.estimator("cge", mu=1e-5), seed=0)
    # central CGE: mu^2 / 6 |L'''| with |L'''| = O(10) here -> 1e-9; rounding 1e-16/mu
    torch.testing.assert_close(_flat_grad(model), true, rtol=0, atol=1e-7)


def test_sks_inputs_that_depend_on_sks_outputs_fall_back_to_sequential():
    model, sks, layer, _, reference = _sks_problem()
    x = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def chained(lyr):  # the second query's input is the first query's output
        first = lyr(model(x))
        second = lyr(first[:, :1] * 0.1)
        return second[:, 0].sum()

    def chained_torch(_):
        z = model(x)[:, 0]
        return ((0.1 * z**2) ** 2).sum()

    true = _backprop(model, chained_torch)
    est = zoo.estimator("cge", mu=1e-5)
    with pytest.warns(RuntimeWarning, match="sequentially"):
        out = fullzo.estimate_parameter_gradients(model, chained, layer, est, seed=0)
    assert out["batched"] is True and out["sks_calls"] > 1
    torch.testing.assert_close(_flat_grad(model), true, rtol=0, atol=1e-7)
    sks.calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fullzo.estimate_parameter_gradients(model, chained, layer, est, seed=0, step=1)
    assert out["batched"] is False  # remembered: later steps go sequentially
    torch.testing.assert_close(_flat_grad(model), true, rtol=0, atol=1e-7)


def test_nan_losses_at_perturbed_points_drop_only_those_directions():
    model, x, y = _linear_problem(seed=6)
    calls = {"n": 0}

    def loss_fn(_layer):
        calls["n"] += 1
        loss = ((model(x) - y) ** 2).mean()
        return loss if calls["n"] != 3 else loss * float("nan")  # the 2nd perturbation fails

    est = zoo.estimator("cge", difference="forward")
    with pytest.warns(RuntimeWarning, match="NaN"):
        out = fullzo.estimate_parameter_gradients(model, loss_fn, None, est, seed=0)
    assert out["nan_directions"] == 1
    g = _flat_grad(model)
    assert g[1] == 0 and torch.all(torch.isfinite(g))


# -- ZO-GraSP in full-ZO --------------------------------------------------------------------------


def test_zo_grasp_scores_equal_theta_times_hessian_gradient_on_a_quadratic():
    # L = 1/2 sum_j w_j (theta_j - t_j)^2: g_j = w_j (theta_j - t_j), H g = w^2 (theta - t),
    # so GraSP's kept score theta * Hg is known in closed form; central CGE probes are exact
    w = torch.tensor([0.1, 5.0, 1.0, 20.0, 0.5, 3.0], dtype=torch.float64)
    t = torch.tensor([0.3, -0.2, 1.0, 0.4, -1.0, 0.0], dtype=torch.float64)
    a = torch.nn.Parameter(torch.tensor([1.0, 0.5, -0.5], dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor([0.2, 2.0, 1.5], dtype=torch.float64))
    model = torch.nn.ParameterList([a, b])

    def loss_fn(_layer):
        theta = torch.cat([a, b])
        return 0.5 * (w * (theta - t) ** 2).sum()

    est = zoo.estimator("sparse-cge", sparsity=0.5, probe="cge", mu=1e-4)
    out = fullzo.estimate_parameter_gradients(model, loss_fn, None, est, seed=0)
    theta = torch.cat([a, b]).detach()
    expected = (theta * w**2 * (theta - t)).numpy()
    np.testing.assert_allclose(est.scores, expected, rtol=1e-5, atol=1e-6)
    keep = set(np.argsort(-expected)[:3])
    assert set(est.fixed_mask(6)) == keep
    assert est.groups.tolist() == [0, 0, 0, 1, 1, 1]
    # probe: 2 x (1 + 12) evaluations (g and g' at theta + delta g/|g|), then 3 forward
    assert out["evaluations"] == 26 + 4
    g = _flat_grad(model).numpy()
    true = (w * (theta - t)).numpy()
    mask = np.zeros(6, bool)
    mask[list(keep)] = True
    np.testing.assert_array_equal(g[~mask], 0.0)
    np.testing.assert_allclose(g[mask], true[mask] + est.mu / 2 * w.numpy()[mask], rtol=1e-6)


# -- optimisers -------------------------------------------------------------------------------------


def test_signsgd_steps_by_lr_times_the_sign():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    opt = SignSGD([p], lr=0.1)
    p.grad = torch.tensor([0.5, -1e-6, 0.0])
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([0.9, -1.9, 3.0]))


@pytest.mark.parametrize("name, cls, momentum", [("adam", torch.optim.Adam, None), ("sgd", torch.optim.SGD, 0.9),
                                                 ("signsgd", SignSGD, 0.0)])
def test_each_optimizer_row_builds_its_torch_optimizer(name, cls, momentum):
    opt = make_optimizer(name, [torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.1
    if momentum is not None:
        assert opt.param_groups[0]["momentum"] == momentum
    with pytest.raises(zoo.ConfigError, match="momentum"):
        make_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    with pytest.raises(zoo.ConfigError, match="lr"):
        make_optimizer(name, [torch.nn.Parameter(torch.zeros(1))], lr=-1)
    with pytest.raises(zoo.ConfigError, match="full-zo"):
        make_optimizer("zo-lbfgs", [torch.nn.Parameter(torch.zeros(1))], lr=0.1)


@pytest.mark.parametrize("old, cls, momentum", [("zo-sgd", torch.optim.SGD, 0.0), ("zo-sgd-mmt", torch.optim.SGD, 0.9),
                                                ("zo-signsgd", SignSGD, 0.0), ("zo-adam", torch.optim.Adam, None)])
def test_old_full_zo_estimator_names_still_work_with_a_deprecation_warning(old, cls, momentum):
    with pytest.warns(ZooDeprecationWarning, match="mode = \"full-zo\""):
        est = zoo.estimator(old, q=4, mu=1e-3)
    # no wrapper: the estimator it held, itself, with its knobs where a schedule sets them
    assert type(est) is type(zoo.estimator("rge")) and est.q == 4 and est.knobs == ("mu", "q")
    opt = est.make_optimizer([torch.nn.Parameter(torch.zeros(2))], lr=0.1)  # as old scripts call it
    assert type(opt) is cls
    if momentum is not None:
        assert opt.param_groups[0]["momentum"] == momentum
    with pytest.warns(ZooDeprecationWarning):
        assert type(make_optimizer(old, [torch.nn.Parameter(torch.zeros(1))], lr=0.1)) is cls


def test_old_full_zo_names_can_hold_another_estimator_and_reject_bad_options():
    with pytest.warns(ZooDeprecationWarning):
        est = zoo.estimator("zo-sgd", estimator="sparse-cge", sparsity=0.5)
        assert est.name == "sparse-cge" and est.knobs == ("mu", "sparsity")
        with pytest.raises(zoo.ConfigError, match="direction estimator"):
            zoo.estimator("zo-adam", estimator="zo-sgd")
        with pytest.raises(zoo.ConfigError, match="q"):
            zoo.estimator("zo-adam", q=0)
        with pytest.raises(zoo.ConfigError, match="momentum"):
            zoo.estimator("zo-adam", momentum=0.9)  # not an Adam option, nor an RGE one


def test_old_full_zo_estimator_setting_becomes_mode_and_optimizer():
    from zoo.config import resolve

    with pytest.warns(ZooDeprecationWarning, match="zo-sgd") as caught:
        cfg = resolve({"estimator": "zo-sgd", "estimator_options": {"estimator": "cge", "mu": 1e-4,
                                                                     "weight_decay": 0.1}})
    assert len(caught) == 1
    assert (cfg.mode, cfg.optimizer, cfg.estimator) == ("full-zo", "sgd", "cge")
    assert cfg.estimator_options == {"mu": 1e-4}
    assert cfg.optimizer_options == {"momentum": 0.0, "weight_decay": 0.1}


@pytest.mark.parametrize("name, options, lr", [("sgd", {"momentum": 0.0}, 0.05), ("sgd", {}, 0.02),
                                               ("signsgd", {}, 0.02), ("adam", {}, 0.05)],
                         ids=["zo-sgd", "zo-sgd-mmt", "zo-signsgd", "zo-adam"])
def test_each_zo_optimizer_trains_a_linear_model(name, options, lr):
    model, x, y = _linear_problem(seed=7)

    def loss_fn(_layer):
        return ((model(x) - y) ** 2).mean()

    with torch.no_grad():
        best = torch.linalg.lstsq(torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1), y).residuals
    floor = float(best.sum() / y.numel())
    start = loss_fn(None).item()
    est = zoo.estimator("rge", q=8)
    opt = make_optimizer(name, model.parameters(), lr=lr, **options)
    for step in range(150):
        opt.zero_grad(set_to_none=True)
        fullzo.estimate_parameter_gradients(model, loss_fn, None, est, seed=0, step=step)
        opt.step()
    end = loss_fn(None).item()
    # most of the way from the start to the least-squares floor
    assert end - floor < 0.25 * (start - floor), (start, end, floor)


def test_estimators_are_listed_and_the_optimizers_are_not():
    from zoo.cli import cli

    result = CliRunner().invoke(cli, ["list", "estimators", "--json"])
    assert result.exit_code == 0, result.output
    names = {row["name"] for row in json.loads(result.output)}
    assert {"rge", "cge", "sparse-cge"} <= names
    assert not {n for n in names if n.startswith("zo-")}


def test_orthogonal_rge_is_refused_in_full_zo():
    model, x, y = _linear_problem()
    with pytest.raises(zoo.ConfigError, match="orthogonal"):
        fullzo.estimate_parameter_gradients(model, lambda _l: model(x).sum(), None,
                                            zoo.estimator("rge", orthogonal=True), seed=0)


def test_estimator_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    model, x, y = _linear_problem(seed=8)

    def loss_fn(_layer):
        return ((model(x) - y) ** 2).mean()

    est = zoo.estimator("rge", q=3, prior="previous")
    for step in range(3):
        fullzo.estimate_parameter_gradients(model, loss_fn, None, est, seed=0, step=step)
    sparse = zoo.estimator("sparse-cge", sparsity=0.5, probe="cge")
    sparse.vjp(lambda z: (z**2).sum(axis=1, keepdims=True), np.ones((2, 4)) * [1, 2, 3, 4])
    torch.save({"a": est.state_dict(), "b": sparse.state_dict()}, tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    est2, sparse2 = zoo.estimator("rge", q=3, prior="previous"), zoo.estimator("sparse-cge", sparsity=0.5)
    est2.load_state_dict(state["a"])
    sparse2.load_state_dict(state["b"])
    np.testing.assert_array_equal(sparse2.scores, sparse.scores)
    assert list(sparse2.fixed_mask(4)) == [2, 3]
    # the resumed estimator draws the same estimate at the next step; one without the
    # state (no prior yet) does not
    grads = []
    for e in (est, est2, zoo.estimator("rge", q=3, prior="previous")):
        fullzo.estimate_parameter_gradients(model, loss_fn, None, e, seed=0, step=3)
        grads.append(_flat_grad(model).clone())
    assert torch.equal(grads[0], grads[1])
    assert not torch.allclose(grads[0], grads[2])


def test_a_checkpoint_from_before_the_state_dict_loads():
    """Old checkpoints saved attributes by name, and the zo-* entries nested an ``inner`` one."""
    from zoo.deprecation import legacy_estimator_state

    prior = [torch.ones(2), torch.zeros(1)]
    old = {"inner": {"_prior": {"ndarray": torch.ones(1, 3)}}, "_fullzo_prior": prior, "_fullzo_sequential": True}
    est = zoo.estimator("rge", q=3, prior="previous")
    est.load_state_dict(legacy_estimator_state(old))
    np.testing.assert_array_equal(est.state["prior"], np.ones((1, 3)))
    assert est.state[fullzo.STATE_KEY]["sequential"] is True
    assert all(torch.equal(a, b) for a, b in zip(est.state[fullzo.STATE_KEY]["prior"], prior, strict=True))
    current = est.state_dict()
    assert legacy_estimator_state(current).keys() == current.keys()  # current ones pass through


# -- full-ZO runs: the optimizer both variants use, and resume ---------------------------------------


def _fit_run(tmp_path, name, **settings):
    import zoo.train

    cfg = {"sks": "fake-square", "task": "fake-fit", "estimator": "cge", "seed": 0, "steps": 7, "lr": 0.05,
           "eval_every": 0, "out": str(tmp_path / name), **settings}
    return zoo.train.run(cfg, progress=False, echo=lambda _m: None)


def _thetas(run_dir):
    from zoo import checkpoint

    return {v: float(checkpoint.load(run_dir / "checkpoints" / f"{v}.pt")["model"]["theta"])
            for v in ("sks-coupled", "data-only")}


def test_full_zo_run_steps_both_variants_with_the_same_optimizer(fit_plugin, tmp_path, monkeypatch):
    """sign-SGD moves theta by exactly lr a step while the gradient keeps its sign: from
    theta = 1 toward 1.5 (coupled, through s z^2) and toward mean(y) = 2.81 (the twin, which
    fits y with theta directly), 7 steps of 0.05 give 1.35 for both. Adam, the old twin's
    optimizer, would not step by exactly lr after the first step."""
    import zoo.train

    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: None)
    summary = _fit_run(tmp_path, "sign", mode="full-zo", optimizer="signsgd")
    assert summary["mode"] == "full-zo" and summary["optimizer"] == "signsgd"
    assert _thetas(tmp_path / "sign") == pytest.approx({"sks-coupled": 1.35, "data-only": 1.35}, abs=1e-12)
    with pytest.warns(ZooDeprecationWarning):
        _fit_run(tmp_path, "old", estimator="zo-signsgd", estimator_options={"estimator": "cge"})
    assert _thetas(tmp_path / "old") == _thetas(tmp_path / "sign")
    _fit_run(tmp_path, "adam", mode="full-zo", optimizer="adam")
    assert _thetas(tmp_path / "adam")["data-only"] != pytest.approx(1.35, abs=1e-4)


def test_interrupted_full_zo_run_resumes_to_the_same_weights(fit_plugin, tmp_path, monkeypatch):
    """RGE with a prior carries its running prior direction (parameter space) between steps:
    the checkpoint must hold it, or the resumed run draws other directions."""
    import zoo.train

    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: None)
    rge = {"mode": "full-zo", "optimizer": "adam", "estimator": "rge", "checkpoint_every": 1,
           "estimator_options": {"q": 2, "prior": "previous"}, "task_options": {"init": 1.0}}
    straight = _fit_run(tmp_path, "straight", **rge)
    fit_plugin.FitTask.interrupt_at = 4
    with pytest.raises((KeyboardInterrupt, zoo.ZooError)):
        _fit_run(tmp_path, "resumed", **rge)
    from zoo import checkpoint

    saved = checkpoint.load(tmp_path / "resumed" / "checkpoints" / "sks-coupled.pt")
    assert saved["step"] == 4 and saved["estimator"][fullzo.STATE_KEY]["prior"]
    resumed = zoo.train.resume(tmp_path / "resumed", progress=False, echo=lambda _m: None)
    assert _thetas(tmp_path / "resumed") == _thetas(tmp_path / "straight")
    assert resumed["final_loss"] == straight["final_loss"]
