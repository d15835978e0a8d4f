"""Executor benchmark: framework overhead, parallel speed-up, and time to resume.

Writes benchmarks/results/executors_speedup.{md,json}. All figures are ratios measured
side by side in one run on this machine:

* overhead: wall time of zoo's evaluation path (serial executor, cache on, failure policy
  on) divided by the time spent inside the SKS itself, for batches of a synthetic SKS whose
  queries cost 1, 5 and 20 ms of busy CPU (like a simulator), and for ASE EMT;
* speed-up: serial wall time / wall time with 2 workers, for `processes` and `dask`, with the
  pool or cluster already started (start-up is reported separately);
* resume: seconds from `zoo.train.resume` to the end of a finished run (nothing to redo).

Usage:  python benchmarks/executors_speedup.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import zoo
import zoo.train
from zoo.cache import Cache
from zoo.evaluation import Evaluator, FailurePolicy
from zoo.testing import SyntheticSource

OUT = Path(__file__).parent / "results"


def timed(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def overhead_row(sks, x, contexts=None, repeats=3) -> dict:
    tmp = Path(tempfile.mkdtemp())
    try:
        walls, inside = [], []
        for r in range(repeats):
            ev = Evaluator(zoo.executor("serial"), cache=Cache(tmp / f"c{r}.sqlite"), policy=FailurePolicy())
            t = time.perf_counter()
            ev.evaluate(sks, x, contexts)
            walls.append(time.perf_counter() - t)
            inside.append(ev.stats.sks_seconds)
        i = int(np.argmin(walls))
        return {"queries": len(x), "wall_s": walls[i], "sks_s": inside[i], "overhead": walls[i] / inside[i]}
    finally:
        shutil.rmtree(tmp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer queries (a smoke test)")
    args = ap.parse_args()
    n = 40 if args.quick else 200
    costs = [1.0, 5.0, 20.0]
    results: dict = {"overhead": [], "speedup": [], "startup_s": {}, "resume_s": None}

    for cost in costs:
        rows = max(20, int(n * 5 / max(cost, 5)))
        x = np.random.default_rng(0).uniform(-1, 1, (rows, 2))
        results["overhead"].append({"sks": f"synthetic {cost:g} ms", **overhead_row(SyntheticSource(cost_ms=cost), x)})
    try:
        from zoo_ase.alloys import random_fcc_alloy

        emt = zoo.knowledge_source("ase-emt", outputs=["pressure"])
        ctx = [random_fcc_alloy([0.5, 0.5, 0, 0, 0, 0], i) for i in range(n // 2)]
        x = np.linspace(3.8, 3.95, len(ctx))[:, None]
        results["overhead"].append({"sks": "ase-emt 32 atoms", **overhead_row(emt, x, ctx, repeats=2)})
    except Exception as exc:  # noqa: BLE001 - zoo-plugin-ase not installed
        results["overhead"].append({"sks": "ase-emt", "error": str(exc)})

    executors = {}
    for name in ("processes", "dask"):
        t = time.perf_counter()
        ex = zoo.executor(name, workers=2)
        ex.evaluate(SyntheticSource(), np.zeros((4, 2)))  # start workers, ship the SKS
        results["startup_s"][name] = time.perf_counter() - t
        executors[name] = ex
    try:
        for cost in costs:
            sks = SyntheticSource(cost_ms=cost)
            rows = max(40, int(n * 5 / max(cost, 5)))
            x = np.random.default_rng(1).uniform(-1, 1, (rows, 2))
            serial = timed(lambda: zoo.executor("serial").evaluate(sks, x))
            row = {"cost_ms": cost, "queries": rows, "serial_s": serial}
            for name, ex in executors.items():
                ex.evaluate(sks, x[:4])  # ship this SKS before timing
                wall = timed(lambda: ex.evaluate(sks, x))
                row[f"{name}_s"] = wall
                row[f"{name}_speedup"] = serial / wall
            results["speedup"].append(row)
    finally:
        for ex in executors.values():
            ex.close()

    try:
        tmp = Path(tempfile.mkdtemp())
        base = {"sks": "ase-emt", "steps": 10, "task_options": {"batch_unlabelled": 4}, "baseline": False, "out": str(tmp / "r")}
        zoo.train.run(base, progress=False, echo=lambda m: None)
        t = time.perf_counter()
        zoo.train.resume(tmp / "r", progress=False, echo=lambda m: None)
        results["resume_s"] = time.perf_counter() - t
        shutil.rmtree(tmp)
    except Exception as exc:  # noqa: BLE001
        results["resume_s"] = f"not measured: {exc}"

    OUT.mkdir(exist_ok=True)
    (OUT / "executors_speedup.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Executors: overhead and speed-up", "", "Command: `python benchmarks/executors_speedup.py`", "",
             "## Framework overhead (serial executor, cache and failure policy on)", "",
             "| SKS | queries | wall (s) | inside SKS (s) | wall / SKS time |", "| --- | --- | --- | --- | --- |"]
    for r in results["overhead"]:
        if "error" in r:
            lines.append(f"| {r['sks']} | not run: {r['error']} | | | |")
        else:
            lines.append(f"| {r['sks']} | {r['queries']} | {r['wall_s']:.3f} | {r['sks_s']:.3f} | {r['overhead']:.3f} |")
    lines += ["", "## Speed-up on 2 workers (workers already started)", "",
              "| query cost | queries | serial (s) | processes (s) | speed-up | dask (s) | speed-up |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results["speedup"]:
        lines.append(
            f"| {r['cost_ms']:g} ms | {r['queries']} | {r['serial_s']:.3f} | {r['processes_s']:.3f} | "
            f"{r['processes_speedup']:.2f}x | {r['dask_s']:.3f} | {r['dask_speedup']:.2f}x |"
        )
    lines += ["", "Start-up (first batch, workers and SKS shipped): "
              + ", ".join(f"{k} {v:.2f} s" for k, v in results["startup_s"].items()), ""]
    resume = results["resume_s"]
    lines.append(f"Resume of a finished run (load config, checkpoints, rebuild the task): "
                 f"{resume:.2f} s" if isinstance(resume, float) else f"Resume: {resume}")
    (OUT / "executors_speedup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
