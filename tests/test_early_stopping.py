"""Early stopping on a validation metric, and restoring the best weights (zoo.early_stopping).

The fake task ``fake-overfit`` (tests/core_fakes.py) is fake-fit with validation rows that
prefer theta = THETA_VAL = 1.3, between the start (1.0) and the training optimum 1.5: the
validation error |theta - 1.3| falls, then rises once training passes 1.3. Plain gradient
descent moves theta monotonically, so the expected best step, stopping step and restored
weights follow from the trajectory, computed here in plain Python (no zoo).
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

import zoo
import zoo.plugins
import zoo.train
from zoo import checkpoint
from zoo.early_stopping import EarlyStopping

from core_fakes import SCALES, THETA_STAR, THETA_VAL, OverfitPlugin

LR, INIT, STEPS, PATIENCE = 0.004, 1.0, 40, 3


@pytest.fixture(autouse=True)
def no_plot(monkeypatch):
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: None)


@pytest.fixture
def fit_plugin(fit_plugin):
    """fake-square and fake-fit (conftest), and fake-overfit."""
    assert zoo.plugins.register_plugin(OverfitPlugin(), "fake-overfit-plugin")
    return fit_plugin


def _settings(out, **over):
    cfg = {
        "sks": "fake-square", "task": "fake-overfit", "estimator": "cge",
        "estimator_options": {"difference": "central", "mu": 1e-3},
        "optimizer": "sgd", "optimizer_options": {"momentum": 0.0}, "lr": LR, "steps": STEPS,
        "eval_every": 1, "early_stopping_patience": PATIENCE, "checkpoint_every": 5,
        "task_options": {"init": INIT}, "seed": 0, "out": str(out),
    }
    cfg.update(over)
    return cfg


def _trajectory(variant: str, steps: int = STEPS) -> list[float]:
    """theta after 0, 1, ..., steps steps of gradient descent with exact gradients."""
    ms2 = sum(s * s for s in SCALES) / len(SCALES)
    mean_y = sum(s * THETA_STAR**2 for s in SCALES) / len(SCALES)
    thetas = [INIT]
    for _ in range(steps):
        t = thetas[-1]
        if variant == "sks-coupled":  # d/dt mean((s t^2 - s t*^2)^2) = 4 t (t^2 - t*^2) mean(s^2)
            grad = 4 * t * (t * t - THETA_STAR**2) * ms2
        else:  # the twin predicts y = s t*^2 with t itself: d/dt mean((t - y)^2)
            grad = 2 * (t - mean_y)
        thetas.append(t - LR * grad)
    return thetas


def _expected(variant: str, every: int = 1, patience: int = PATIENCE) -> dict[str, float]:
    """Best step, stopping step and their thetas, by the rule: stop after ``patience``
    evaluations in a row with no value below the best so far."""
    thetas = _trajectory(variant)
    evals = [k + 1 for k in range(STEPS) if k % every == 0 or k == STEPS - 1]
    best, best_at, since = math.inf, 0, 0
    for done in evals:
        value = abs(thetas[done] - THETA_VAL)
        if value < best:
            best, best_at, since = value, done, 0
        else:
            since += 1
        if since >= patience:
            return {"best_step": best_at, "stop": done, "best_theta": thetas[best_at], "last_theta": thetas[done]}
    raise AssertionError("the fake run must stop early for this test to mean anything")


def _theta(run_dir, variant):
    return float(checkpoint.load(run_dir / "checkpoints" / f"{variant}.pt")["model"]["theta"])


def _run(out, **over):
    return zoo.train.run(_settings(out, **over), progress=False, echo=lambda _m: None)


@pytest.mark.parametrize("every", [1, 3])
def test_both_variants_stop_where_validation_stops_improving_and_restore_the_best(fit_plugin, tmp_path, every):
    summary = _run(tmp_path / "run", eval_every=every)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for variant in ("sks-coupled", "data-only"):
        want = _expected(variant, every)
        assert want["stop"] < STEPS and want["best_step"] < want["stop"]
        got = summary["variants"][variant]
        assert got["steps"] == want["stop"] and got["best_step"] == want["best_step"]
        assert got["stopped_early"] is True and "val_mae" in got["stop_reason"]
        assert got["restored_best"] is True
        assert got["validation"]["metric"] == "val_mae"
        assert got["validation"]["best"] == pytest.approx(abs(want["best_theta"] - THETA_VAL), abs=1e-9)
        # the final test evaluation is of the restored weights, not of the last ones
        assert got["test"]["test_mae"] == pytest.approx(abs(want["best_theta"] - THETA_STAR), abs=1e-9)
        # the checkpoint keeps the last weights (a resume continues from them) and the best
        assert _theta(tmp_path / "run", variant) == pytest.approx(want["last_theta"], abs=1e-9)
        mine = [r for r in rows if r["variant"] == variant]
        assert [r["step"] for r in mine] == list(range(want["stop"]))
        logged = [r for r in mine if "val_mae" in r]  # validation logged at every evaluation
        assert [r["step"] + 1 for r in logged] == [d for d in range(1, want["stop"] + 1) if (d - 1) % every == 0]
        assert logged[-1]["val_mae"] == pytest.approx(abs(want["last_theta"] - THETA_VAL), abs=1e-9)
    assert summary["stopped"] == summary["variants"]["sks-coupled"]["stop_reason"]


def test_without_restore_best_the_last_weights_are_tested(fit_plugin, tmp_path):
    summary = _run(tmp_path / "run", restore_best=False)
    want = _expected("sks-coupled")
    got = summary["variants"]["sks-coupled"]
    assert got["steps"] == want["stop"] and got["restored_best"] is False
    assert got["test"]["test_mae"] == pytest.approx(abs(want["last_theta"] - THETA_STAR), abs=1e-9)


def test_restore_best_alone_trains_every_step_and_restores(fit_plugin, tmp_path):
    summary = _run(tmp_path / "run", early_stopping_patience=0, restore_best=True)
    thetas = _trajectory("sks-coupled")
    best = min(range(1, STEPS + 1), key=lambda t: abs(thetas[t] - THETA_VAL))
    got = summary["variants"]["sks-coupled"]
    assert got["steps"] == STEPS and got["stopped_early"] is False and got["best_step"] == best
    assert got["test"]["test_mae"] == pytest.approx(abs(thetas[best] - THETA_STAR), abs=1e-9)


def _comparable(summary):
    """A summary without what differs between two runs of the same settings: times, the
    run folder's config hash, whether it was resumed."""
    drop = {"wall_s", "resumed", "config_sha256"}
    out = {k: v for k, v in summary.items() if k not in drop}
    out["evaluation"] = {k: v for k, v in summary["evaluation"].items() if k != "sks_seconds"}
    out["variants"] = {n: {k: v for k, v in r.items() if k != "wall_s"} for n, r in summary["variants"].items()}
    return out


def test_interrupted_after_the_best_step_resumes_to_the_same_result(fit_plugin, tmp_path):
    """Ctrl-C after the coupled variant's best evaluation, before it stops: the best
    weights must come back from the checkpoint, or the restored model would differ."""
    straight = _run(tmp_path / "straight", checkpoint_every=1)
    want = _expected("sks-coupled")
    fit_plugin.FitTask.interrupt_at = want["best_step"] + 1
    with pytest.raises((KeyboardInterrupt, zoo.ZooError)):
        _run(tmp_path / "resumed", checkpoint_every=1)
    saved = checkpoint.load(tmp_path / "resumed" / "checkpoints" / "sks-coupled.pt")
    assert saved["step"] == want["best_step"] + 1 and saved["stopping"]["best_weights"] is not None
    resumed = zoo.train.resume(tmp_path / "resumed", progress=False, echo=lambda _m: None)
    assert _comparable(resumed) == _comparable(straight)
    for variant in ("sks-coupled", "data-only"):
        assert _theta(tmp_path / "resumed", variant) == _theta(tmp_path / "straight", variant)
    logged = {run: [json.loads(r) for r in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
              for run in ("straight", "resumed")}
    assert logged["resumed"] == logged["straight"]


def test_resuming_a_run_that_stopped_early_recomputes_nothing(fit_plugin, tmp_path):
    first = _run(tmp_path / "run")
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "run", copy)
    rows = fit_plugin.SquareSKS.rows_evaluated
    again = zoo.train.resume(copy, progress=False, echo=lambda _m: None)
    assert fit_plugin.SquareSKS.rows_evaluated == rows
    assert _comparable(again) == _comparable(first)  # steps too: where it stopped, not STEPS


def test_a_task_without_the_validation_metric_is_refused_before_any_query(fit_plugin, tmp_path):
    with pytest.raises(zoo.ConfigError, match="'val_mae'.*fake-fit.*validate"):
        _run(tmp_path / "a", task="fake-fit")
    with pytest.raises(zoo.ConfigError, match="'val_rmse'.*val_mae"):
        _run(tmp_path / "b", validation_metric="val_rmse")
    assert fit_plugin.SquareSKS.rows_evaluated == 0
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    with pytest.raises(zoo.ConfigError, match="eval_every"):
        _run(tmp_path / "c", eval_every=0)


def test_restore_best_defaults_to_early_stopping():
    from zoo.config import resolve

    assert resolve().restores_best is False
    assert resolve({"early_stopping_patience": 2}).restores_best is True
    assert resolve({"early_stopping_patience": 2, "restore_best": False}).restores_best is False
    assert resolve({"restore_best": True}).restores_best is True
    with pytest.raises(zoo.ConfigError, match="restore_best"):
        resolve({"restore_best": "yes"})
    with pytest.raises(zoo.ConfigError, match="early_stopping_patience"):
        resolve({"early_stopping_patience": -1})


def test_the_rule_on_its_own():
    model = torch.nn.Linear(1, 1)
    rule = EarlyStopping("val_x", patience=2)
    reasons = []
    for step, value in enumerate([3.0, 2.0, float("nan"), 2.0, 1.0, 1.5, 1.0], start=1):
        with torch.no_grad():
            model.bias.fill_(value)
        reasons.append(rule.observe(step, {"val_x": value}, model))
    # NaN and an equal value are no improvement; 1.0 at step 5 resets the count
    assert [bool(r) for r in reasons] == [False, False, False, True, False, False, True]
    assert rule.best == 1.0 and rule.best_step == 5
    with torch.no_grad():
        model.bias.fill_(7.0)
    assert rule.restore(model) and float(model.bias.detach()) == 1.0
