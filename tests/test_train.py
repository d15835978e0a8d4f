"""End to end: a tiny task and SKS from a test plugin, trained through ``zoo.train``.

The fake task (tests/core_fakes.py) learns one parameter theta through the SKS
f(z; s) = s z^2 with per-row contexts s in SCALES, on labels y_i = s_i THETA_STAR^2, with an
MSE loss, so the optimum is theta = THETA_STAR exactly.
"""

from __future__ import annotations

import json
import math
import shutil
import sys

import pytest
import torch

import zoo
import zoo.plugins
import zoo.train
from zoo import checkpoint

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from core_fakes import SCALES, THETA_STAR

B = len(SCALES)
STEPS, LR, INIT, MU = 50, 0.02, 1.4, 1e-3


def _config(out, **over):
    cfg = {
        "sks": "fake-square",
        "task": "fake-fit",
        "estimator": "cge",
        "estimator_options": {"difference": "central", "mu": MU},
        "optimizer": "sgd",
        "lr": LR,
        "steps": STEPS,
        "seed": 3,
        "checkpoint_every": 10,
        "task_options": {"init": INIT},
        "out": str(out),
    }
    cfg.update(over)
    return cfg


def _run(cfg, *more):
    lines = []
    summary = zoo.train.run(cfg, *more, progress=False, echo=lines.append)
    return summary, lines


def _theta(run_dir, variant="sks-coupled"):
    return checkpoint.load(run_dir / "checkpoints" / f"{variant}.pt")["model"]["theta"]


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _reference_theta(steps=STEPS):
    """The same training with exact gradients, written in plain torch (no zoo)."""
    s = torch.tensor(SCALES, dtype=torch.float64)
    theta = torch.nn.Parameter(torch.tensor([INIT], dtype=torch.float64))
    opt = torch.optim.SGD([theta], lr=LR, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        torch.mean((s * theta**2 - s * THETA_STAR**2) ** 2).backward()
        opt.step()
    return theta.detach()


def _heavy_ball_bound(steps):
    """|theta_T - theta*| for heavy ball (momentum b = 0.9) on the loss linearised at theta*.

    L(theta) = mean((s theta^2 - s t*^2)^2) has L''(t*) = a = 8 t*^2 mean(s^2). The error obeys
    e_{t+1} = (1 + b - lr a) e_t - b e_{t-1}, e_1 = (1 - lr a) e_0; with complex roots
    r e^{+-i phi}, r = sqrt(b), e_t = r^t (c1 cos t phi + c2 sin t phi), so
    |e_t| <= r^t sqrt(c1^2 + c2^2) with c1 = e_0, c2 = (e_1 / r - e_0 cos phi) / sin phi.
    """
    b = 0.9
    a = 8 * THETA_STAR**2 * sum(x * x for x in SCALES) / B
    r = math.sqrt(b)
    cos_phi = (1 + b - LR * a) / (2 * r)
    assert abs(cos_phi) < 1  # complex roots: the contraction rate is exactly sqrt(b)
    sin_phi = math.sqrt(1 - cos_phi**2)
    e0 = INIT - THETA_STAR
    c2 = ((1 - LR * a) * e0 / r - e0 * cos_phi) / sin_phi
    return r**steps * math.hypot(e0, c2)


@pytest.fixture
def no_plot(monkeypatch):
    """Skip loss.png (about 1.5 s of matplotlib per run) where a test is not about it."""
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *args, **kwargs: None)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One full run (both variants, with loss.png), shared by the tests that inspect it.

    Returns (run folder, summary, echoed lines, rows the SKS evaluated). Tests that resume
    it work on a copy, so the folder stays as the run left it.
    """
    import core_fakes

    zoo.plugins.reset()
    core_fakes.reset_fit_counters()
    zoo.plugins.register_plugin(core_fakes.FitPlugin(), "fake-fit-plugin")
    try:
        run_dir = tmp_path_factory.mktemp("e2e") / "run"
        summary, lines = _run(_config(run_dir))
        return run_dir, summary, lines, core_fakes.SquareSKS.rows_evaluated
    finally:
        zoo.plugins.reset()
        core_fakes.reset_fit_counters()


def test_run_folder_contents(finished_run):
    run_dir, summary, lines, rows_evaluated = finished_run
    assert {p.name for p in run_dir.iterdir()} >= {
        "checkpoints", "config.toml", "loss.png", "metrics.jsonl", "summary.json",
    }
    # config.toml: parseable, the resolved settings (explicit ones, task defaults, defaults)
    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    assert cfg["sks"] == "fake-square" and cfg["task"] == "fake-fit"
    assert cfg["steps"] == STEPS and cfg["lr"] == LR and cfg["seed"] == 3
    assert cfg["estimator"] == "cge"
    assert cfg["estimator_options"] == {"difference": "central", "mu": MU}
    assert cfg["task_options"] == {"init": INIT}
    assert cfg["optimizer"] == "sgd" and cfg["executor"] == "serial"
    assert cfg["out"] == str(run_dir)

    # metrics.jsonl: one line per step per variant
    rows = _metrics(run_dir)
    for variant in ("sks-coupled", "data-only"):
        assert [r["step"] for r in rows if r["variant"] == variant] == list(range(STEPS))
    coupled = [r for r in rows if r["variant"] == "sks-coupled"]
    # every coupled step costs B forward rows + B * 2d central-difference queries (d = 1)
    assert [r["sks_queries"] for r in coupled] == [3 * B * (t + 1) for t in range(STEPS)]
    assert all(r["lr"] == LR and r["mu"] == MU for r in coupled)

    # checkpoints
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert ckpts == ["data-only.pt", "sks-coupled.pt"]
    state = checkpoint.load(run_dir / "checkpoints" / "sks-coupled.pt")
    assert state["step"] == STEPS and state["done"] is True

    # summary.json
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk == summary
    assert summary["final_loss"] == coupled[-1]["loss"]
    assert summary["sks_queries"] == STEPS * (B + B * 2) == rows_evaluated
    theta = _theta(run_dir).item()
    assert summary["test"] == {"test_mae": pytest.approx(abs(theta - THETA_STAR), abs=1e-15)}
    assert set(summary["variants"]) == {"sks-coupled", "data-only"}
    assert summary["variants"]["data-only"]["sks_queries"] == 0
    assert summary["data"] == {"n_train": B}

    # loss.png and the comparison table that was echoed
    assert (run_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("sks-coupled" in line and "data-only" in line for line in lines)


def test_coupled_model_follows_exact_gradients_to_the_optimum(finished_run):
    run_dir = finished_run[0]
    theta = _theta(run_dir)
    # CGE central is exact on s z^2 up to rounding (|f| < 10, mu = 1e-3: ~1e-12 per step), and
    # heavy ball is contractive here, so the run must match plain-torch training to 1e-9.
    torch.testing.assert_close(theta, _reference_theta(), rtol=0, atol=1e-9)
    # ... and reach the analytic optimum within the heavy-ball bound, doubled for the
    # curvature's variation (L'' changes by < 25 % over |theta - t*| <= 0.1)
    bound = _heavy_ball_bound(STEPS)
    assert bound < 0.1 * abs(INIT - THETA_STAR)  # the check is not vacuous
    assert abs(theta.item() - THETA_STAR) <= 2 * bound


def test_resolved_config_repeats_the_run(finished_run, fit_plugin, tmp_path, no_plot):
    run_dir, summary = finished_run[:2]
    again, _ = _run(zoo.config.read_toml(run_dir / "config.toml"), {"out": str(tmp_path / "again")})
    assert again["final_loss"] == summary["final_loss"]
    assert torch.equal(_theta(tmp_path / "again"), _theta(run_dir))


def test_resume_of_a_finished_run_recomputes_nothing(finished_run, fit_plugin, tmp_path, no_plot):
    fakes = fit_plugin
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run[0], run_dir)
    summary = finished_run[1]
    theta = _theta(run_dir)
    n_lines = len(_metrics(run_dir))
    calls, rows = fakes.SquareSKS.calls, fakes.SquareSKS.rows_evaluated
    again = zoo.train.resume(run_dir, progress=False, echo=lambda _m: None)
    assert fakes.SquareSKS.calls == calls and fakes.SquareSKS.rows_evaluated == rows
    assert again["sks_queries"] == summary["sks_queries"]
    assert again["final_loss"] == summary["final_loss"]
    assert again["test"] == summary["test"]
    assert len(_metrics(run_dir)) == n_lines
    assert torch.equal(_theta(run_dir), theta)


def test_a_used_run_folder_is_refused(finished_run, fit_plugin):
    with pytest.raises(zoo.ConfigError, match="--resume"):
        _run(_config(finished_run[0]))


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(zoo.ZooError, match="config.toml"):
        zoo.train.resume(tmp_path)


# -- interrupted runs ---------------------------------------------------------------------------

RGE = {"estimator": "rge", "estimator_options": {"q": 2, "mu": 1e-3}, "optimizer": "adam", "lr": 0.05}
SHORT = 12


def _interrupted_vs_straight(tmp_path, interrupt):
    """Run straight through; run again interrupted by ``interrupt()`` and resumed. Compare."""
    straight = tmp_path / "straight"
    s1, _ = _run(_config(straight, steps=SHORT, checkpoint_every=1, **RGE))

    run_dir = tmp_path / "interrupted"
    interrupt()
    # Ctrl-C ends the run (as KeyboardInterrupt, or as a zoo error saying how to resume)
    with pytest.raises((KeyboardInterrupt, zoo.ZooError)):
        _run(_config(run_dir, steps=SHORT, checkpoint_every=1, **RGE))
    assert (run_dir / "checkpoints" / "sks-coupled.pt").exists()
    s2 = zoo.train.resume(run_dir, progress=False, echo=lambda _m: None)
    return straight, run_dir, s1, s2


def test_interrupted_run_resumes_to_the_same_result(fit_plugin, tmp_path, no_plot):
    # KeyboardInterrupt at the start of step 5 (task.loss), before any SKS query of that step
    def interrupt():
        fit_plugin.SquareSKS.rows_evaluated = 0
        fit_plugin.FitTask.interrupt_at = 5

    straight, resumed, s1, s2 = _interrupted_vs_straight(tmp_path, interrupt)
    for variant in ("sks-coupled", "data-only"):
        assert torch.equal(_theta(resumed, variant), _theta(straight, variant))
    assert s2["sks_queries"] == s1["sks_queries"] == SHORT * (B + B * 2)
    # the SKS really ran only once per step in total across both halves
    assert fit_plugin.SquareSKS.rows_evaluated == s1["sks_queries"]
    assert s2["final_loss"] == s1["final_loss"]
    # the resumed log is continuous: each step once per variant
    rows = _metrics(resumed)
    for variant in ("sks-coupled", "data-only"):
        assert [r["step"] for r in rows if r["variant"] == variant] == list(range(SHORT))


def test_run_interrupted_during_an_sks_query_resumes_to_the_same_result(fit_plugin, tmp_path, no_plot):
    """Ctrl-C most often lands inside a long SKS call: here the backward query of step 5.

    The checkpoint written on interrupt must describe the state at the start of step 5 (as
    the regular checkpoint after step 4 does), not carry the direction-generator state and
    query count that the half-done step already consumed.
    """
    calls_per_step = 2  # one forward, one backward call

    def interrupt():
        fit_plugin.SquareSKS.calls = 0
        fit_plugin.SquareSKS.interrupt_on_call = 5 * calls_per_step + 2

    straight, resumed, s1, s2 = _interrupted_vs_straight(tmp_path, interrupt)
    assert torch.equal(_theta(resumed), _theta(straight))
    # the interrupted step's forward rows were cached before Ctrl-C: the resumed run answers
    # them from the cache, so queries + cache hits match the uninterrupted run
    assert s2["sks_queries"] + s2["cache_hits"] == s1["sks_queries"] + s1["cache_hits"]
    assert s2["sks_queries"] <= s1["sks_queries"]


def test_a_decaying_mu_schedule_does_not_break_the_last_step(fit_plugin, tmp_path, no_plot):
    """``mu_schedule = "cosine"`` decays mu to final * mu; with the default final = 0 the last
    step would ask for mu = 0. Either the run completes, or it is refused before training."""
    run_dir = tmp_path / "run"
    try:
        summary, _ = _run(_config(run_dir, steps=5, mu_schedule="cosine", **RGE))
    except zoo.ConfigError:
        rows = _metrics(run_dir) if (run_dir / "metrics.jsonl").exists() else []
        assert rows == [], "refused only after training steps had run"
    else:
        assert math.isfinite(summary["final_loss"])


def test_coupled_false_trains_the_twin_alone(fit_plugin, tmp_path, monkeypatch):
    import core_fakes

    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: b"")
    summary = zoo.train.run({"sks": "fake-square", "coupled": False, "steps": 3, "out": str(tmp_path / "r")},
                            progress=False, echo=lambda m: None)
    assert list(summary["variants"]) == ["data-only"]
    assert summary["sks_queries"] == 0 and core_fakes.SquareSKS.rows_evaluated == 0
    with pytest.raises(zoo.ConfigError, match="nothing to train"):
        zoo.train.run({"sks": "fake-square", "coupled": False, "baseline": False, "out": str(tmp_path / "n")},
                      progress=False, echo=lambda m: None)
