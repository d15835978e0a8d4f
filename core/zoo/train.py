"""A training run: the model coupled to a knowledge source, beside its data-only twin.

``run(config)`` trains the task's model coupled to its knowledge source, then (unless
``baseline = false``) the same model from the same initial weights on the same labels without
it, and writes one folder per run:

    config.toml      the resolved configuration (``zoo run --config`` repeats the run)
    metrics.jsonl    one JSON line per step and variant
    checkpoints/     <variant>.pt, written atomically, loaded with weights_only=True
    summary.json     final loss, SKS queries, test metrics of each variant, wall time
    loss.png         loss curves of both variants

This module sets a run up (configuration, task, SKS, executor, cache, folder), resumes and
summarises it; each variant's steps are :class:`zoo.variant.Variant`'s, and the table and
plot :mod:`zoo.report`'s.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import torch

from . import checkpoint, registry
from .cache import Cache
from .config import RunConfig, default_workers_max, read_toml, resolve
from .errors import ConfigError, Interrupted  # noqa: F401 - Interrupted: its old home
from .evaluation import FailurePolicy
from .report import comparison_table, plot_losses
from .rundir import RunFolder
from .tasks import sks_options_for
from .variant import COUPLED, DATA_ONLY, Variant, VariantResult  # noqa: F401 - also zoo.train's

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
        if not task_name and "data" in explicit.task_options:
            task_name = "fit"  # a table was given: train from it
        if not task_name:
            raise ConfigError(
                f"knowledge source {sks_name!r} has no default task: give --task NAME (zoo list tasks), "
                f"or train it from a table with --task fit --task-option data=FILE.csv (columns named "
                f"like its inputs or outputs are labels; see the fit task in the docs)"
            )
    task_cls = registry.get("tasks", task_name).cls
    if sks_name is None:
        sks_name = task_cls.default_sks
        if not sks_name:
            raise ConfigError(f"task {task_name!r} names no knowledge source; give --sks")
    config = resolve(dict(task_cls.defaults), *layers, {"sks": sks_name, "task": task_name})
    task = registry.task(task_name, **config.task_options)
    return config, task


def build_sks(config: RunConfig, task: Any):
    """The run's knowledge source: the task's ``sks_options`` for it, under the config's."""
    options = {**sks_options_for(task, config.sks), **config.sks_options}
    return registry.knowledge_source(config.sks, **options)


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
        return build_sks(self.config, self.task)

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
        """Train one variant (resuming it from its checkpoint if there is one)."""
        return Variant(self, name, sks, executor, cache).train(progress)

    def step_cost(self, sks, estimator, model: torch.nn.Module | None = None) -> int:
        """SKS queries one coupled step asks for: B rows forward, B x m for the gradient.

        In full-ZO (``model`` given) every perturbation of the parameters re-evaluates all
        B rows, so m counts loss evaluations over the parameter dimension.
        """
        rows = probe_rows(self.task, sks)
        d = sum(p.numel() for p in model.parameters() if p.requires_grad) if model is not None else len(sks.input_spec)
        return rows * (1 + estimator.queries_per_sample(d))

    def test_metrics(self, model: torch.nn.Module) -> dict[str, float]:
        """The task's test metrics of ``model`` (in eval mode, without gradients)."""
        return _measure(self.task.evaluate, model)

    def validation_metrics(self, model: torch.nn.Module) -> dict[str, float]:
        """The task's validation metrics of ``model`` ({} for a task without validate)."""
        validate = getattr(self.task, "validate", None)  # a task need not subclass zoo.Task
        return _measure(validate, model) if validate is not None else {}

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
                variants = [v for v, on in ((COUPLED, cfg.coupled), (DATA_ONLY, cfg.baseline)) if on]
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
                    "stopped_early": bool(r.stopped),
                    "stop_reason": r.stopped or None,
                    **_validation_summary(r),
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


def _measure(metrics: Callable[[torch.nn.Module], dict[str, Any]], model: torch.nn.Module) -> dict[str, float]:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = {k: float(v) for k, v in metrics(model).items()}
    model.train(was_training)
    return out


def _validation_summary(r: VariantResult) -> dict[str, Any]:
    """What early stopping / restore_best saw: the metric, its best value and step."""
    if not r.validation_metric:
        return {}
    best = r.best_validation if r.best_step else None
    return {"validation": {"metric": r.validation_metric, "best": best},
            "best_step": r.best_step, "restored_best": r.restored_best}


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
    with torch.random.fork_rng(devices=[]):  # the probe's model must not move the run's seed
        torch.manual_seed(0)
        model = task.make_model()
        with torch.no_grad():
            task.loss(model, probe, 0)
    return probe.rows


def write_config(config: RunConfig, folder: RunFolder) -> str:
    """Write ``config.toml`` into the run folder (atomically); return its text."""
    data = config.to_dict()
    text = tomli_w.dumps(data) if tomli_w else json.dumps(data, indent=2)
    folder.write_text("config.toml", text)
    return text


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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

    Parameters
    ----------
    *layers
        Settings, each a dict of the keys of a run's ``config.toml`` (``sks``, ``task``,
        ``steps``, ``estimator_options``, ...); later ones win, and ``*_options`` tables
        merge key by key. The task's own ``defaults`` come before all of them.
    progress
        Whether to show a progress bar.
    echo
        Where the comparison table and the run folder's path are printed.

    Returns
    -------
    dict
        The run's summary, as written to ``summary.json``: per variant (``sks-coupled``,
        ``data-only``) the steps, final loss, SKS queries and test metrics.

    Raises
    ------
    ConfigError
        A setting that is unknown or of the wrong type, an SKS without a default task and
        no ``task`` (nor ``task_options.data``), or a run folder that already holds a run.
    UnknownNameError
        An SKS, task, estimator, schedule or executor no plugin registers.
    Interrupted
        Ctrl-C: the checkpoints are written; :func:`resume` continues.

    Examples
    --------
    ::

        summary = zoo.run({"sks": "ase-emt", "steps": 50, "out": "runs/emt"})
        print(summary["variants"]["sks-coupled"]["test"]["test_mae"])
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
