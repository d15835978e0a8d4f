"""One variant of a run, the SKS-coupled model or its data-only twin: build, resume, step, finish.

:class:`Variant` holds everything one variant trains with - model, optimizer, schedules,
and for the coupled one the estimator and SKS layer - and the :class:`VariantResult` it
fills. :mod:`zoo.train` makes one per variant and calls :meth:`Variant.train`.

Both variants are built by the same code from the same seed, step with the same optimizer
(:mod:`zoo.optim`) and learning rate, and are evaluated by the same rule; the only
difference is where the gradient comes from (backprop through the SKS layer's ZO estimate,
ZO on the parameters in full-ZO mode, or plain backprop for the twin).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from . import checkpoint, fullzo
from .config import SCHEDULED
from .deprecation import legacy_estimator_state
from .early_stopping import EarlyStopping, default_metric
from .errors import ConfigError, Interrupted, SKSError
from .evaluation import EvaluationStats
from .layer import SKSLayer
from .optim import make_optimizer

COUPLED, DATA_ONLY = "sks-coupled", "data-only"


@dataclass
class VariantResult:
    name: str
    steps: int = 0
    final_loss: float = float("nan")
    sks_queries: int = 0
    nan_gradient_rows: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    stopped: str = ""
    wall_s: float = 0.0
    test: dict[str, float] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    #: (step, validation and test metrics) every ``eval_every`` steps
    evals: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    #: with early stopping or restore_best: the validation metric watched, its best value,
    #: the steps done when it was measured, and whether those weights were restored
    validation_metric: str = ""
    best_validation: float = float("nan")
    best_step: int | None = None
    restored_best: bool = False


class Variant:
    """One variant's training, from its first step (or its checkpoint) to its result.

    ``run`` is the :class:`zoo.train.Run` it belongs to: its configuration, task, folder
    and builders.
    """

    def __init__(self, run: Any, name: str, sks: Any, executor: Any, cache: Any):
        cfg = self.cfg = run.config
        self.run, self.name, self.task = run, name, run.task
        torch.manual_seed(cfg.seed)
        self.model = self.task.make_model()
        self.estimator = self.layer = None
        self.full_zo = name == COUPLED and cfg.mode == "full-zo"
        if name == COUPLED:
            self.estimator = run.build_estimator()
            # in full-ZO the layer only evaluates (executor, cache, failure policy, bounds);
            # the estimator perturbs the model's parameters instead of the SKS inputs
            self.layer = SKSLayer(sks, "cge" if self.full_zo else self.estimator, executor, seed=cfg.seed,
                                  cache=cache, policy=run.build_policy())
        self.optimizer = make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, **cfg.optimizer_options)
        #: base values the schedules multiply: lr, and the estimator's knobs (mu, q, ...)
        self.base = {"lr": cfg.lr}
        if self.estimator is not None:
            self.base.update({k: getattr(self.estimator, k) for k in self.estimator.knobs})
        self.schedules = self._schedules()
        self.sks, self.step_cost = sks, 0
        self.result = VariantResult(name)
        self.stopping = self._early_stopping()
        self.path = run.folder.subfolder("checkpoints") / f"{name}.pt"
        self.start_step, self.wall0, self.t0 = 0, 0.0, time.perf_counter()
        #: the checkpoint says this variant stopped early (budget, early stopping): no more steps
        self.finished = False

    # -- build ------------------------------------------------------------------------
    def _schedules(self) -> dict[str, Any]:
        cfg = self.cfg
        schedules = {k: self.run.schedule(k) for k in self.base if k in SCHEDULED}
        mu = schedules.get("mu")
        # lr may anneal to 0; a finite-difference step of 0 divides by zero
        if mu is not None and not min(mu.factor(s, cfg.steps) for s in range(cfg.steps)) > 0:
            raise ConfigError(
                f"the mu schedule {cfg.mu_schedule!r} reaches 0 within {cfg.steps} steps; give it "
                f"a floor, e.g. [schedule_options.mu] final = 0.1"
            )
        return schedules

    def _early_stopping(self) -> EarlyStopping | None:
        """The rule of :mod:`zoo.early_stopping`, when the run watches validation; checked
        against the task's validate() before any step (a wrong metric spends no query)."""
        cfg = self.cfg
        if not cfg.watches_validation:
            return None
        metric = cfg.validation_metric or default_metric(self.task.primary_metric)
        stopping = EarlyStopping(metric, cfg.early_stopping_patience, cfg.restores_best)
        stopping.check_metrics(self.run.validation_metrics(self.model), cfg.task)
        self.result.validation_metric = metric
        return stopping

    # -- resume -----------------------------------------------------------------------
    def resume(self) -> None:
        """Continue from this variant's checkpoint, when the run is resumed and has one."""
        if not (self.run.resume and self.run.folder.file("checkpoints", self.path.name).exists()):
            return
        state = checkpoint.load(self.path)
        self.run.resumed_from[self.name] = int(state["step"])
        self._load_weights(state)
        torch.set_rng_state(state["torch_rng"])
        self.start_step, self.wall0 = int(state["step"]), float(state["wall_s"])
        self.result.losses = list(state["losses"])
        self.result.evals = [(int(s), dict(m)) for s, m in state.get("evals", [])]
        self.result.stopped = str(state.get("stopped", ""))
        if self.layer is not None:
            self.layer.set_rng_state(state["layer_rng"])
            self.layer.evaluator.stats = EvaluationStats(**json.loads(state["stats"]))
        if self.estimator is not None and state.get("estimator"):
            self.estimator.load_state_dict(legacy_estimator_state(state["estimator"]))
        for knob, sched_state in state.get("schedules", {}).items():
            if knob in self.schedules and hasattr(self.schedules[knob], "load_state_dict"):
                self.schedules[knob].load_state_dict(sched_state)
        if self.stopping is not None and state.get("stopping"):
            self.stopping.load_state_dict(state["stopping"])
        # a run that stopped early stays stopped; one that ran all its steps continues only
        # if config.toml now asks for more (resumed with --force)
        self.finished = bool(state.get("done") and self.result.stopped)

    def _load_weights(self, state: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"checkpoint {str(self.path)!r} does not fit the model of task {self.cfg.task!r} "
                f"({str(exc).splitlines()[0]}); was config.toml edited?"
            ) from None

    # -- checkpoints ------------------------------------------------------------------
    def boundary(self) -> dict[str, Any]:
        """Random states and counters as they are between two steps."""
        layer = self.layer
        return {
            "torch_rng": torch.get_rng_state(),
            "layer_rng": layer.rng_state() if layer is not None else "",
            "stats": json.dumps(layer.stats.as_dict()) if layer is not None else "{}",
            "n_losses": len(self.result.losses),
            "n_evals": len(self.result.evals),
            "stopping": self.stopping.state_dict() if self.stopping is not None else None,
        }

    def save(self, step: int, done: bool = False, at: dict[str, Any] | None = None) -> None:
        """Write the checkpoint after ``step`` steps (random states and counters ``at`` a
        step boundary: Ctrl-C mid-step saves those of the last completed step)."""
        at = at or self.boundary()
        result = self.result
        checkpoint.save(
            {
                "step": step,
                "done": done,
                "stopped": result.stopped,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "torch_rng": at["torch_rng"],
                "layer_rng": at["layer_rng"],
                "stats": at["stats"],
                "wall_s": self.wall0 + time.perf_counter() - self.t0,
                "estimator": self.estimator.state_dict() if self.estimator is not None else {},
                "schedules": {k: v.state_dict() for k, v in self.schedules.items() if hasattr(v, "state_dict")},
                "losses": result.losses[: at["n_losses"]],
                "evals": [[s, m] for s, m in result.evals[: at["n_evals"]]],
                "stopping": at["stopping"],
                "config_sha256": self.run.config_sha256,
            },
            self.path,
        )

    # -- the steps --------------------------------------------------------------------
    def train(self, progress: bool) -> VariantResult:
        """Resume if there is a checkpoint, take the remaining steps, and finish."""
        self.resume()
        if self.estimator is not None:  # after resume: a checkpoint that does not fit says so first
            self.step_cost = self.run.step_cost(self.sks, self.estimator, self.model if self.full_zo else None)
        cfg = self.cfg
        self.t0 = time.perf_counter()
        bar = _progress(cfg.steps, self.start_step, self.name, progress)
        done = self.start_step
        end = self.start_step if self.finished else cfg.steps
        last = self.boundary()
        try:
            with self.run.folder.open("metrics.jsonl", mode="a") as log:
                for step in range(self.start_step, end):
                    # the model and optimizer only change in opt.step(), late in a step
                    last = self.boundary()
                    if self._over_budget():
                        break
                    row = self.step(step)
                    log.write(json.dumps(row) + "\n")
                    log.flush()  # one line a step, readable live (tail -f) and after a kill
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{row['loss']:.3g}", refresh=False)
                    done = step + 1
                    if cfg.checkpoint_every and done % cfg.checkpoint_every == 0:
                        self.save(done)
                    if self.result.stopped:
                        break
        except KeyboardInterrupt:
            self.save(done, at=last)
            raise Interrupted(self.run.dir, self.name, done) from None
        finally:
            if bar is not None:
                bar.close()
        return self.finish(done)

    def _over_budget(self) -> bool:
        layer, budget = self.layer, self.cfg.budget
        if layer is None or not budget or layer.queries + self.step_cost <= budget:
            return False
        self.result.stopped = (
            f"budget: {layer.queries} of {budget} SKS queries spent; the next step would need "
            f"about {self.step_cost}"
        )
        return True

    def step(self, step: int) -> dict[str, Any]:
        """Take training step ``step``; return its metrics.jsonl row."""
        values = self._set_knobs(step)
        self.optimizer.zero_grad(set_to_none=True)
        loss_value, metrics = self._loss_and_gradient(step)
        self.optimizer.step()
        stats = self.estimator.last_stats if self.estimator is not None else None
        for sched in self.schedules.values():
            if stats and hasattr(sched, "observe"):
                sched.observe(stats)
        self.result.losses.append(loss_value)
        row = {"variant": self.name, "step": step, "loss": loss_value, **metrics, **values}
        if stats and "estimated_cosine" in stats:
            row["estimated_cosine"] = float(stats["estimated_cosine"])
        if self.layer is not None:
            st = self.layer.stats
            row.update(sks_queries=st.queries, cache_hits=st.cache_hits, failed_queries=st.failed)
        row.update(self._evaluate(step))
        return row

    def _set_knobs(self, step: int) -> dict[str, float]:
        """This step's lr and estimator knobs, from their schedules; returned for the log."""
        values = {}
        for knob, sched in self.schedules.items():
            value = self.base[knob] * sched.factor(step, self.cfg.steps)
            if knob == "q":
                value = max(1, int(round(value)))
            values[knob] = value.tolist() if hasattr(value, "tolist") else value  # per-input mu: a list
            if knob == "lr":
                for group in self.optimizer.param_groups:
                    group["lr"] = value
            else:
                setattr(self.estimator, knob, value)
        return values

    def _loss_and_gradient(self, step: int) -> tuple[float, dict[str, float]]:
        """The loss at ``step`` with its gradient in every ``p.grad``: ZO on the parameters
        in full-ZO mode, backprop otherwise (through the SKS layer's ZO estimate, if any)."""
        model = self.model
        if self.full_zo:
            out = fullzo.estimate_parameter_gradients(
                model, lambda lyr: self.task.loss(model, lyr, step), self.layer, self.estimator,
                seed=self.cfg.seed, step=step,
            )
            loss_value, metrics = float(out["loss"]), dict(out["metrics"])
            self._check_finite(loss_value, step, metrics)
            return loss_value, metrics
        loss, metrics = self.task.loss(model, self.layer, step)
        loss_value = float(loss.item())
        self._check_finite(loss_value, step, metrics)
        loss.backward()
        return loss_value, metrics

    def _check_finite(self, loss_value: float, step: int, metrics: dict[str, float]) -> None:
        if not math.isfinite(loss_value):
            raise SKSError(
                f"{self.name}: the loss became {loss_value} at step {step}; the SKS returned NaN/inf "
                f"or the model diverged (metrics: {metrics}). Try a smaller lr, check the SKS's "
                f"bounds, or drop non-finite rows from the loss so that failed queries are skipped"
            )

    def _evaluate(self, step: int) -> dict[str, float]:
        """Validation and test metrics after ``step``, every ``eval_every`` steps and after
        the last; the early-stopping rule sees the validation ones."""
        every = self.cfg.eval_every
        if not every or not (step % every == 0 or step == self.cfg.steps - 1):
            return {}
        metrics = {**self.run.validation_metrics(self.model), **self.run.test_metrics(self.model)}
        self.result.evals.append((step + 1, metrics))
        if self.stopping is not None:
            self.result.stopped = self.stopping.observe(step + 1, metrics, self.model)
        return metrics

    # -- the end ----------------------------------------------------------------------
    def finish(self, done_steps: int) -> VariantResult:
        """Write the final checkpoint (the last weights; the best ones ride in its early-
        stopping state), restore the best weights if asked, and fill in the result with the
        test metrics of the model as it ends."""
        result = self.result
        result.steps = done_steps
        self.save(done_steps, done=True)
        if self.stopping is not None:
            result.restored_best = self.stopping.restore(self.model)
            if self.stopping.best_step:
                result.best_validation, result.best_step = self.stopping.best, self.stopping.best_step
        result.final_loss = result.losses[-1] if result.losses else float("nan")
        result.wall_s = self.wall0 + time.perf_counter() - self.t0
        if self.layer is not None:
            result.sks_queries = self.layer.queries
            result.stats = self.layer.stats.as_dict()
            result.nan_gradient_rows = self.layer.nan_gradient_rows
        result.test = self.run.test_metrics(self.model)
        return result


def _progress(total: int, initial: int, name: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=name, unit="step", leave=False, dynamic_ncols=True)
