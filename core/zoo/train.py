"""The training loop (hybrid mode): model -> SKS layer -> loss, with a data-only twin.

``run(config)`` trains the task's model coupled to its knowledge source, then (unless
``baseline = false``) the same model from the same initial weights on the same labels without
it, and writes one folder per run:

    config.toml      the resolved configuration (``zoo run --config`` repeats the run)
    metrics.jsonl    one JSON line per step and variant
    checkpoints/     <variant>.pt, written atomically, loaded with weights_only=True
    summary.json     final loss, SKS queries, test metrics of each variant, wall time
    loss.png         loss curves of both variants
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import checkpoint, fullzo, registry
from .cache import Cache
from .config import RunConfig, default_workers_max, read_toml, resolve
from .deprecation import legacy_estimator_state
from .errors import ConfigError, Interrupted, SKSError  # noqa: F401 - Interrupted: its old home
from .evaluation import EvaluationStats, FailurePolicy
from .layer import SKSLayer
from .optim import make_optimizer
from .rundir import RunFolder
from .tasks import sks_options_for

COUPLED, DATA_ONLY = "sks-coupled", "data-only"

try:  # tomli_w is a dependency; the fallback keeps a broken install readable
    import tomli_w
except ImportError:  # pragma: no cover
    tomli_w = None


def prepare(*layers: dict[str, Any]) -> tuple[RunConfig, Any]:
    """Resolve the run's configuration (with the task's own defaults) and build its task.

    ``layers`` are explicit settings, later winning (a config file, then flags).
    """
    explicit = resolve(*layers)
    sks_name, task_name = explicit.sks, explicit.task
    if sks_name is None and task_name is None:
        raise ConfigError("say what to train through: --sks NAME or --task NAME (zoo list sks)")
    if task_name is None:
        sks_cls = registry.get("sks", sks_name).cls
        task_name = getattr(sks_cls, "default_task", None)
        if not task_name:
            raise ConfigError(f"knowledge source {sks_name!r} has no default task; give --task")
    task_cls = registry.get("tasks", task_name).cls
    if sks_name is None:
        sks_name = task_cls.default_sks
        if not sks_name:
            raise ConfigError(f"task {task_name!r} names no knowledge source; give --sks")
    config = resolve(dict(task_cls.defaults), *layers, {"sks": sks_name, "task": task_name})
    task = registry.task(task_name, **config.task_options)
    return config, task


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
    #: (step, test metrics) every ``eval_every`` steps
    evals: list[tuple[int, dict[str, float]]] = field(default_factory=list)


class Run:
    """One ``zoo run``: owns the run folder, the SKS, the task and the variants' training."""

    def __init__(self, config: RunConfig, task: Any, run_dir: Path, resume: bool = False):
        self.config, self.task, self.dir, self.resume = config, task, Path(run_dir), resume
        self.folder = RunFolder(run_dir)
        #: SHA-256 of the config.toml this run was started with (checkpoints carry it)
        self.config_sha256 = ""
        #: what a resume found: {variant: step it continued from}, and whether it was forced
        #: past an edited config.toml
        self.resumed_from: dict[str, int] = {}
        self.config_changed = False
        #: SKS rows the task's setup evaluated itself (not through the layer)
        self.setup_queries = 0

    # -- set-up -----------------------------------------------------------------------
    def build_sks(self):
        options = {**sks_options_for(self.task, self.config.sks), **self.config.sks_options}
        return registry.knowledge_source(self.config.sks, **options)

    def build_estimator(self):
        return registry.estimator(self.config.estimator, **self.config.estimator_options)

    def build_executor(self):
        cfg = self.config
        options = dict(cfg.executor_options)
        if cfg.workers > 1 or "workers" in options:
            options.setdefault("workers", cfg.workers)
        if cfg.scheduler:
            options.setdefault("scheduler", cfg.scheduler)
        limit = cfg.workers_max or default_workers_max()
        asked = options.get("workers")
        if asked is not None and (isinstance(asked, bool) or not isinstance(asked, int) or not 1 <= asked <= limit):
            raise ConfigError(
                f"executor option workers = {asked!r} must be a whole number from 1 to {limit} "
                f"(the limit is workers_max, default 4 x the CPUs; raise it with --workers-max N)"
            )
        return registry.executor(cfg.executor, **options)

    def build_cache(self) -> Cache | None:
        where = self.config.cache
        if where == "off":
            return None
        if where == "run":  # this run's own file: exclusive, so SQLite maps no shared memory
            return Cache(self.folder.file("cache.sqlite"), exclusive=True)
        return Cache(Path(where))

    def build_policy(self) -> FailurePolicy:
        cfg = self.config
        return FailurePolicy(
            retries=cfg.retries,
            on_failure=cfg.on_failure,
            penalty=cfg.penalty,
            timeout=cfg.sks_timeout or None,
        )

    def schedule(self, knob: str):
        name = getattr(self.config, f"{knob}_schedule", "constant")
        return registry.scheduler(name, **self.config.schedule_options.get(knob, {}))

    # -- training ---------------------------------------------------------------------
    def train_variant(self, name: str, sks, executor, cache, progress: bool) -> VariantResult:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        model = self.task.make_model()
        layer = est = None
        full_zo = False
        if name == COUPLED:
            est = self.build_estimator()
            full_zo = cfg.mode == "full-zo"
            # in full-ZO the layer only evaluates (executor, cache, failure policy, bounds);
            # the estimator perturbs the model's parameters instead of the SKS inputs
            layer = SKSLayer(
                sks, "cge" if full_zo else est, executor, seed=cfg.seed, cache=cache, policy=self.build_policy()
            )
        # one optimizer for both variants: they differ only in where the gradient comes from
        opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, **cfg.optimizer_options)
        knobs = {"lr": cfg.lr}
        if est is not None:
            knobs.update({k: getattr(est, k) for k in est.knobs})
        schedules = {k: self.schedule(k) for k in knobs if k in ("lr", "mu", "q", "sparsity")}
        for knob, sched in schedules.items():
            # lr may anneal to 0; a finite-difference step of 0 divides by zero
            if knob == "mu" and not min(sched.factor(s, cfg.steps) for s in range(cfg.steps)) > 0:
                raise ConfigError(
                    f"the {knob} schedule {cfg.__dict__[knob + '_schedule']!r} reaches 0 within "
                    f"{cfg.steps} steps; give it a floor, e.g. [schedule_options.{knob}] final = 0.1"
                )

        result = VariantResult(name)
        start_step, wall0 = 0, 0.0
        ckpt_path = self.folder.subfolder("checkpoints") / f"{name}.pt"
        if self.resume and self.folder.file("checkpoints", f"{name}.pt").exists():
            state = checkpoint.load(ckpt_path)
            self.resumed_from[name] = int(state["step"])
            try:
                model.load_state_dict(state["model"])
                opt.load_state_dict(state["optimizer"])
            except (RuntimeError, ValueError, KeyError) as exc:
                raise ConfigError(
                    f"checkpoint {str(ckpt_path)!r} does not fit the model of task "
                    f"{cfg.task!r} ({str(exc).splitlines()[0]}); was config.toml edited?"
                ) from None
            torch.set_rng_state(state["torch_rng"])
            start_step, wall0 = int(state["step"]), float(state["wall_s"])
            result.losses = list(state["losses"])
            result.evals = [(int(s), dict(m)) for s, m in state.get("evals", [])]
            result.stopped = str(state.get("stopped", ""))
            if layer is not None:
                layer.set_rng_state(state["layer_rng"])
                layer.evaluator.stats = EvaluationStats(**json.loads(state["stats"]))
                if state.get("estimator"):
                    est.load_state_dict(legacy_estimator_state(state["estimator"]))
            for knob, sched_state in state.get("schedules", {}).items():
                if knob in schedules and hasattr(schedules[knob], "load_state_dict"):
                    schedules[knob].load_state_dict(sched_state)
            if state.get("done"):
                start_step = cfg.steps

        t0 = time.perf_counter()

        def boundary() -> dict[str, Any]:
            """Random states and counters as they are between two steps."""
            return {
                "torch_rng": torch.get_rng_state(),
                "layer_rng": layer.rng_state() if layer is not None else "",
                "stats": json.dumps(layer.stats.as_dict()) if layer is not None else "{}",
                "n_losses": len(result.losses),
                "n_evals": len(result.evals),
            }

        def save(step: int, done: bool = False, at: dict[str, Any] | None = None) -> None:
            at = at or boundary()
            checkpoint.save(
                {
                    "step": step,
                    "done": done,
                    "stopped": result.stopped,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "torch_rng": at["torch_rng"],
                    "layer_rng": at["layer_rng"],
                    "stats": at["stats"],
                    "wall_s": wall0 + time.perf_counter() - t0,
                    "estimator": est.state_dict() if est is not None else {},
                    "schedules": {k: v.state_dict() for k, v in schedules.items() if hasattr(v, "state_dict")},
                    "losses": result.losses[: at["n_losses"]],
                    "evals": [[s, m] for s, m in result.evals[: at["n_evals"]]],
                    "config_sha256": self.config_sha256,
                },
                ckpt_path,
            )

        step_cost = self.step_cost(sks, est, model if full_zo else None) if est is not None else 0
        bar = _progress(cfg.steps, start_step, name, progress)
        done_steps = start_step
        last_boundary = boundary()
        try:
            with self.folder.open("metrics.jsonl", mode="a") as log:
                for step in range(start_step, cfg.steps):
                    # Ctrl-C mid-step saves the state of the last completed step; the model and
                    # optimizer only change in opt.step(), the last thing a step does
                    last_boundary = boundary()
                    if layer is not None and cfg.budget and layer.queries + step_cost > cfg.budget:
                        result.stopped = (
                            f"budget: {layer.queries} of {cfg.budget} SKS queries spent; "
                            f"the next step would need about {step_cost}"
                        )
                        break
                    values = {}
                    for knob, sched in schedules.items():
                        value = knobs[knob] * sched.factor(step, cfg.steps)
                        if knob == "q":
                            value = max(1, int(round(value)))
                        values[knob] = value
                        if knob == "lr":
                            for group in opt.param_groups:
                                group["lr"] = value
                        else:
                            setattr(est, knob, value)
                    opt.zero_grad(set_to_none=True)
                    if full_zo:
                        out = fullzo.estimate_parameter_gradients(
                            model, lambda lyr: self.task.loss(model, lyr, step), layer, est,
                            seed=cfg.seed, step=step,
                        )
                        loss_value, metrics = float(out["loss"]), dict(out["metrics"])
                    else:
                        loss, metrics = self.task.loss(model, layer, step)
                        loss_value = float(loss.item())
                    if not math.isfinite(loss_value):
                        raise SKSError(
                            f"{name}: the loss became {loss_value} at step {step}; the SKS "
                            f"returned NaN/inf or the model diverged (metrics: {metrics}). "
                            f"Try a smaller lr, check the SKS's bounds, or drop non-finite "
                            f"rows from the loss so that failed queries are skipped"
                        )
                    if not full_zo:
                        loss.backward()
                    opt.step()
                    stats = getattr(est, "last_stats", None) if est is not None else None
                    for sched in schedules.values():
                        if stats and hasattr(sched, "observe"):
                            sched.observe(stats)
                    result.losses.append(loss_value)
                    row = {"variant": name, "step": step, "loss": loss_value, **metrics, **values}
                    if stats and "estimated_cosine" in stats:
                        row["estimated_cosine"] = float(stats["estimated_cosine"])
                    if layer is not None:
                        st = layer.stats
                        row.update(sks_queries=st.queries, cache_hits=st.cache_hits, failed_queries=st.failed)
                    if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps - 1):
                        test = self.test_metrics(model)
                        result.evals.append((step + 1, test))
                        row.update(test)
                    log.write(json.dumps(row) + "\n")
                    log.flush()  # one line a step, readable live (tail -f) and after a kill
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{loss_value:.3g}", refresh=False)
                    done_steps = step + 1
                    if cfg.checkpoint_every and done_steps % cfg.checkpoint_every == 0:
                        save(done_steps)
        except KeyboardInterrupt:
            save(done_steps, at=last_boundary)
            raise Interrupted(self.dir, name, done_steps) from None
        finally:
            if bar is not None:
                bar.close()
        result.steps = done_steps
        save(done_steps, done=True)
        result.final_loss = result.losses[-1] if result.losses else float("nan")
        result.wall_s = wall0 + time.perf_counter() - t0
        if layer is not None:
            result.sks_queries = layer.queries
            result.stats = layer.stats.as_dict()
            result.nan_gradient_rows = layer.nan_gradient_rows
        result.test = self.test_metrics(model)
        return result

    def step_cost(self, sks, estimator, model: torch.nn.Module | None = None) -> int:
        """SKS queries one coupled step asks for: B rows forward, B x m for the gradient.

        In full-ZO (``model`` given) every perturbation of the parameters re-evaluates all
        B rows, so m counts loss evaluations over the parameter dimension.
        """
        rows = probe_rows(self.task, sks)
        d = sum(p.numel() for p in model.parameters() if p.requires_grad) if model is not None else len(sks.input_spec)
        return rows * (1 + estimator.queries_per_sample(d))

    def test_metrics(self, model: torch.nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in self.task.evaluate(model).items()}
        model.train(was_training)
        return metrics

    def prepare(self):
        """Build the SKS, write the config (the folder exists) and set up the task.

        The SKS is built first: a wrong option then fails before anything is written.
        """
        sks = self.build_sks()
        if self.resume:
            self.config_sha256 = _sha256(self.folder.file("config.toml").read_bytes())
        else:
            text = write_config(self.config, self.folder)
            self.config_sha256 = _sha256(text.encode("utf-8"))
        self.setup_queries = setup_task(self.task, sks, self.config.seed)
        return sks

    def execute(self, progress: bool = True, echo: Callable[[str], None] = print) -> dict[str, Any]:
        cfg = self.config
        t0 = time.perf_counter()
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.threads)
        try:
            return self._execute(progress, echo, t0)
        finally:
            torch.set_num_threads(threads)

    def _execute(self, progress: bool, echo: Callable[[str], None], t0: float) -> dict[str, Any]:
        cfg = self.config
        sks = self.prepare()
        cache = self.build_cache()
        results = []
        try:
            with self.build_executor() as executor:
                variants = [COUPLED, DATA_ONLY] if cfg.baseline else [COUPLED]
                for name in variants:
                    results.append(self.train_variant(name, sks, executor, cache, progress))
        finally:
            if cache is not None:
                cache.close()
        summary = self.summarize(results, time.perf_counter() - t0, sks)
        self.folder.write_text("summary.json", json.dumps(summary, indent=2) + "\n")
        png = plot_losses(results, self.task.primary_metric, getattr(self.task, "metric_units", None))
        if png is None:
            echo("loss.png not drawn: matplotlib is missing (pip install 'zoo-core[plot]')")
        else:
            self.folder.write_bytes("loss.png", png)
        echo(comparison_table(results, self.task.primary_metric, self.task.metric_units))
        for r in results:
            if r.stopped:
                echo(f"{r.name} stopped early after {r.steps} steps: {r.stopped}")
        echo(f"run folder: {self.dir}")
        return summary

    def summarize(self, results: list[VariantResult], wall_s: float, sks=None) -> dict[str, Any]:
        main = results[0]
        about = getattr(sks, "about", None)
        return {
            "sks": self.config.sks,
            "sks_about": dict(about()) if callable(about) else {},
            "task": self.config.task,
            "estimator": self.config.estimator,
            "mode": self.config.mode,
            "optimizer": self.config.optimizer,
            "executor": self.config.executor,
            "steps": main.steps,
            "seed": self.config.seed,
            "final_loss": main.final_loss,
            "sks_queries": main.sks_queries,
            "setup_queries": self.setup_queries,
            "cache_hits": main.stats.get("cache_hits", 0),
            "failed_queries": main.stats.get("failed", 0),
            "evaluation": main.stats,
            "nan_gradient_rows": main.nan_gradient_rows,
            "stopped": main.stopped or None,
            "test": main.test,
            "data": self.task.describe_data(),
            "variants": {
                r.name: {
                    "steps": r.steps,
                    "final_loss": r.final_loss,
                    "sks_queries": r.sks_queries,
                    "wall_s": round(r.wall_s, 3),
                    "test": r.test,
                }
                for r in results
            },
            "wall_s": round(wall_s, 3),
            "config_sha256": self.config_sha256,
            "resumed": (
                {"from_steps": dict(self.resumed_from), "config_changed": self.config_changed}
                if self.resume else None
            ),
        }


class _ProbeLayer(torch.nn.Module):
    """Stands in for the SKS layer to count the rows a step sends, without querying."""

    def __init__(self, sks):
        super().__init__()
        self.sks, self.rows = sks, 0

    def forward(self, z: torch.Tensor, contexts=None) -> torch.Tensor:
        self.rows += z.shape[0]
        return torch.zeros(z.shape[0], len(self.sks.output_spec), dtype=z.dtype)


def setup_task(task: Any, sks, seed: int) -> int:
    """``task.setup(sks, seed)``; return how many SKS rows it evaluated directly.

    Setup may call the SKS (labels, a starting point) without the layer: those rows bypass
    the executor, cache and budget, so they are counted here and reported on their own.
    """
    if "evaluate" in getattr(sks, "__dict__", {}):  # already patched per instance: leave it
        task.setup(sks, seed)
        return 0
    counted = {"rows": 0}
    evaluate = sks.evaluate

    def counting(inputs, contexts=None):
        counted["rows"] += len(inputs)
        return evaluate(inputs, contexts)

    sks.evaluate = counting  # an instance attribute, removed again below: pickles stay clean
    try:
        task.setup(sks, seed)
    finally:
        del sks.evaluate
    return counted["rows"]


def probe_rows(task: Any, sks) -> int:
    """SKS rows one step of ``task`` evaluates in forward, found by a query-free probe."""
    probe = _ProbeLayer(sks)
    torch.manual_seed(0)
    model = task.make_model()
    with torch.no_grad():
        task.loss(model, probe, 0)
    return probe.rows


def _progress(total: int, initial: int, name: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=name, unit="step", leave=False, dynamic_ncols=True)


def write_config(config: RunConfig, folder: RunFolder) -> str:
    """Write ``config.toml`` into the run folder (atomically); return its text."""
    data = config.to_dict()
    text = tomli_w.dumps(data) if tomli_w else json.dumps(data, indent=2)
    folder.write_text("config.toml", text)
    return text


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def comparison_table(
    results: list[VariantResult], primary: str, units: dict[str, str] | None = None
) -> str:
    """A plain-text table of the variants' test metrics, primary metric first."""
    units = units or {}
    keys = sorted({k for r in results for k in r.test}, key=lambda k: (k != primary, k))
    header = ["model", "final loss", "SKS queries", *(f"{k} ({units[k]})" if k in units else k for k in keys)]
    rows = [
        [r.name, f"{r.final_loss:.4g}", str(r.sks_queries), *(f"{r.test.get(k, float('nan')):.4g}" for k in keys)]
        for r in results
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    lines = [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    return "\n".join(lines)


def plot_losses(
    results: list[VariantResult], primary: str, units: dict[str, str] | None = None
) -> bytes | None:
    """Training loss (left) and the primary test metric (right) of every variant, as PNG
    bytes (the caller writes them into the run folder), or None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = (units or {}).get(primary)
    label = f"{primary} ({unit})" if unit else primary
    fig, (ax, ax_test) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for r in results:
        if r.losses:
            ax.plot(np.arange(1, len(r.losses) + 1), r.losses, label=r.name)
        points = [(s, m[primary]) for s, m in r.evals if primary in m]
        if points:
            ax_test.plot(*zip(*points), marker=".", label=r.name)
    ax.set(xlabel="step", ylabel="training loss", title="training loss")
    ax_test.set(xlabel="step", ylabel=label, title=f"{primary} on the test set (lower is better)")
    for axis, values in ((ax, [v for r in results for v in r.losses]),
                         (ax_test, [m.get(primary, 1) for r in results for _, m in r.evals])):
        if values and all(v > 0 for v in values):
            axis.set_yscale("log")
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
        axis.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def default_run_dir(config: RunConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.sks}-{stamp}"


def run(
    *layers: dict[str, Any],
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train as ``zoo run`` does; ``layers`` are settings dicts, later winning.

    A start that is refused (a wrong option, an SKS that cannot be built, a task that fails
    to set up) leaves no run folder behind, so the same ``--out`` can be used again.
    """
    config, task = prepare(*layers)
    run_dir = Path(config.out) if config.out else default_run_dir(config)
    folder = RunFolder(run_dir)
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise ConfigError(
            f"run folder {str(run_dir)!r} already holds a run; continue it with "
            f"`zoo run --resume {run_dir}` or choose another --out"
        )
    config.out = str(run_dir)
    created = folder.create()
    try:
        return Run(config, task, run_dir).execute(progress=progress, echo=echo)
    except BaseException:
        if created and not _began(folder):
            folder.remove()
        raise


def _began(folder: RunFolder) -> bool:
    """Whether a run did any step worth resuming (a metrics line or a checkpoint)."""
    metrics = folder.path / "metrics.jsonl"
    ckpts = folder.path / "checkpoints"
    return (metrics.is_file() and metrics.stat().st_size > 0) or (
        ckpts.is_dir() and any(ckpts.glob("*.pt"))
    )


def dry_run(*layers: dict[str, Any]) -> dict[str, Any]:
    """What a run would cost in SKS queries, without spending any."""
    config, task = prepare(*layers)
    run = Run(config, task, Path(config.out or "."))
    sks = run.build_sks()
    setup_task(task, sks, config.seed)
    estimator = run.build_estimator()
    rows = probe_rows(task, sks)
    full_zo = config.mode == "full-zo"
    per_step = run.step_cost(sks, estimator, task.make_model() if full_zo else None)
    return {
        "sks": config.sks,
        "task": config.task,
        "estimator": config.estimator,
        "steps": config.steps,
        "rows_per_step": rows,
        "queries_per_row": per_step // max(rows, 1),
        "queries_per_step": per_step,
        "queries": per_step * config.steps,
        "budget": config.budget or None,
        "note": "an upper bound: cache hits and skipped rows lower it, retries raise it",
    }


def resume(
    run_dir: str | Path,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    force: bool = False,
) -> dict[str, Any]:
    """Continue an interrupted run from its checkpoints, with its saved configuration.

    The folder is data: a symbolic link in it is refused before anything is written, and a
    ``config.toml`` edited since the last checkpoint is refused unless ``force`` (the
    summary then says the configuration changed on resume).
    """
    folder = RunFolder(run_dir)
    if not folder.path.is_dir() or not (folder.path / "config.toml").exists():
        raise ConfigError(f"{str(folder)!r} is not a zoo run folder (no config.toml)")
    folder.check_links()
    cfg_path = folder.file("config.toml")
    changed = _config_changed(folder, _sha256(cfg_path.read_bytes()))
    if changed and not force:
        raise ConfigError(
            f"{str(cfg_path)!r} changed since the run's last checkpoint ({changed}); a resume "
            f"continues the run that was started. Restore the file, start a new run with "
            f"--config, or pass --force to continue with the edited settings"
        )
    config, task = prepare(read_toml(cfg_path))
    _truncate_metrics(folder)
    run = Run(config, task, folder.path, resume=True)
    run.config_changed = bool(changed)
    return run.execute(progress=progress, echo=echo)


def _checkpoints(folder: RunFolder) -> dict[str, dict[str, Any]]:
    ckpt_dir = folder.path / "checkpoints"
    if not ckpt_dir.is_dir():
        return {}
    return {p.stem: checkpoint.load(folder.file("checkpoints", p.name)) for p in sorted(ckpt_dir.glob("*.pt"))}


def _config_changed(folder: RunFolder, sha: str) -> str:
    """Which checkpoints were written under another config.toml ('' if none)."""
    stale = [name for name, state in _checkpoints(folder).items()
             if state.get("config_sha256") and state["config_sha256"] != sha]
    return f"checkpoint(s) {', '.join(stale)} were written under another config.toml" if stale else ""


def _truncate_metrics(folder: RunFolder) -> None:
    """Drop metric lines past each variant's checkpoint, so a resumed log stays continuous.

    Lines that are not JSON objects (cut short by a kill, or damaged) are dropped too.
    """
    path = folder.file("metrics.jsonl")
    if not path.exists():
        return
    last = {name: int(state["step"]) for name, state in _checkpoints(folder).items()}
    kept = []
    for line in folder.read_text("metrics.jsonl").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by the kill
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            continue
        if row["step"] < last.get(row.get("variant"), 0):
            kept.append(line)
    folder.write_text("metrics.jsonl", "".join(k + "\n" for k in kept))
