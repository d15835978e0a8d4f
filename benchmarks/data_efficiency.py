"""Benchmark: test error versus the number of labelled samples, data-only vs SKS-coupled.

The claim zoo rests on (Tsaknakis et al., arXiv 2206.02785): with few labels, a model
coupled to a knowledge source and trained through it with zeroth-order gradients beats the
same model trained on the labels alone. This script measures it on three tasks, each run
through ``zoo.train.run`` exactly as ``zoo run`` does (one run trains the SKS-coupled model
and its data-only twin on the same labels, from the same seed):

* ``fcc-alloy-lattice`` (ase-emt, d = 1): EAM labels, EMT zero-pressure term on unlabelled
  alloys. Variants: data-only; hybrid CGE (forward, mu 1e-3 Å, the task's default); hybrid
  RGE (q = 1, Gaussian, forward: in one dimension an unbiased but noisier CGE); and
  "exact" - EMT gives no dP/da, so a tight central CGE (mu 1e-5 Å, relative error far
  below 1e-4) stands in for the exact gradient. It is a finite difference, not an analytic
  gradient, and it is charged its queries.
* ``morse-alloy-eos/lammps`` (case study 1, d = 3): composition -> Morse parameters,
  the pressures computed by LAMMPS (``morse/smooth/linear``, one ``lmp`` process per step),
  fitted to EMT pressures. Variants: data-only; hybrid CGE (forward, mu 1e-3); hybrid RGE
  (q = 1: a third of CGE's gradient queries); "exact": LAMMPS gives no derivative of the
  pressure with respect to r0 or rho0 (only the energy scale's, P/epsilon), so a central
  CGE at mu 1e-5 stands in, as above.
* ``xrd-lattice`` (case study 2, pymatgen-xrd, d = 2): powder pattern -> (a, c), a
  pattern-matching term on unlabelled patterns. Variants: data-only; hybrid CGE (forward,
  mu 1e-4 Å, the task's default); hybrid RGE (q = 1, forward, mu 1e-4: half of CGE's
  gradient queries). No exact gradient: the binned pattern has none, and ZO's smoothing is
  what makes the term usable; no "exact" row.

Costs are cut to fit in about 20 minutes on 2 shared cores (settings in ``TASKS`` below,
all written to the results): fcc 100 steps with 4 unlabelled alloys a step, Morse 100
steps of 8 labelled alloys (so even 128 labels are seen 6 times; fcc and XRD see all their
labels every step), XRD 80 steps with 8 unlabelled patterns a step. ``eval_every = 0`` (test metrics only at
the end), no cache, no intermediate checkpoints. The test sets depend only on the tasks'
split seeds, so every cell of a task is scored on the same test samples; ``seed`` picks
which samples are labelled, the initial weights and the estimator's directions.

Usage::

    python benchmarks/data_efficiency.py            # 4 ... 128 labels x 3 seeds, ~20 min
    python benchmarks/data_efficiency.py --quick    # 4, 16 labels x 1 seed, ~2 minutes
    python benchmarks/data_efficiency.py --labels 4 8 --seeds 0 1 2 --tasks fcc-alloy-lattice

Writes results/data_efficiency.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

#: per task: common settings, then the extra runs (besides CGE + data-only twin)
TASKS: dict[str, dict[str, Any]] = {
    "fcc-alloy-lattice": {
        "settings": {
            "task": "fcc-alloy-lattice",
            "steps": 100,
            "estimator": "cge",
            "estimator_options": {"mu": 1e-3, "difference": "forward"},
            "task_options": {"batch_unlabelled": 4},
        },
        "extra": {
            "ZO RGE (q 1)": {
                "estimator": "rge", "estimator_options": {"q": 1, "mu": 1e-3, "difference": "forward"},
            },
            "exact (central CGE, mu 1e-5)": {
                "estimator": "cge", "estimator_options": {"mu": 1e-5, "difference": "central"},
            },
        },
        "units": "Å",
    },
    "morse-alloy-eos/lammps": {
        "settings": {
            "task": "morse-alloy-eos",
            "sks": "lammps",
            "steps": 100,
            "estimator": "cge",
            "estimator_options": {"mu": 1e-3, "difference": "forward"},
            "task_options": {"batch_alloys": 8},
        },
        "extra": {
            "ZO RGE (q 1)": {
                "estimator": "rge", "estimator_options": {"q": 1, "mu": 1e-3, "difference": "forward"},
            },
            "exact (central CGE, mu 1e-5)": {
                "estimator": "cge", "estimator_options": {"mu": 1e-5, "difference": "central"},
            },
        },
        "units": "GPa",
    },
    "xrd-lattice": {
        "settings": {
            "task": "xrd-lattice",
            "steps": 80,
            "estimator": "cge",
            "estimator_options": {"mu": 1e-4, "difference": "forward"},
            "task_options": {"batch_unlabelled": 8},
        },
        "extra": {
            "ZO RGE (q 1)": {
                "estimator": "rge",
                "estimator_options": {"q": 1, "mu": 1e-4, "difference": "forward"},
            },
        },
        "units": "Å",
    },
}
DATA_ONLY, CGE = "data-only", "ZO CGE"


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = {**out.get(key, {}), **value} if key.endswith("_options") else value
    return out


def one_run(task: str, labels: int, seed: int, variant: str, overrides: dict[str, Any]) -> list[dict]:
    """Train one configuration through zoo.train.run; rows for each variant it yields."""
    import torch

    torch.set_num_threads(1)  # the jobs run side by side: one thread each
    import zoo.train

    baseline = variant == CGE  # the CGE run also trains the data-only twin
    settings = merge(TASKS[task]["settings"], overrides)
    settings = merge(settings, {
        "seed": seed, "eval_every": 0, "checkpoint_every": 0, "cache": "off",
        "baseline": baseline, "task_options": {"n_labelled": labels},
    })
    with tempfile.TemporaryDirectory(prefix="zoo-data-eff-") as tmp:
        settings["out"] = str(Path(tmp) / "run")
        t0 = time.perf_counter()
        summary = zoo.train.run(settings, progress=False, echo=lambda m: None)
        wall = time.perf_counter() - t0
    rows = []
    for name, v in summary["variants"].items():
        rows.append({
            "task": task, "labels": labels, "seed": seed,
            "variant": DATA_ONLY if name == "data-only" else variant,
            "test": v["test"], "sks_queries": v["sks_queries"], "train_wall_s": v["wall_s"],
            "run_wall_s": round(wall, 2),
            "settings": {k: v for k, v in settings.items() if k != "out"},
        })
    return rows


def plan(tasks: list[str], labels: list[int], seeds: list[int]) -> list[tuple]:
    jobs = []
    for task in tasks:
        variants = {CGE: {}, **TASKS[task]["extra"]}
        for n in labels:
            for seed in seeds:
                for variant, overrides in variants.items():
                    jobs.append((task, n, seed, variant, overrides))
    return jobs


def aggregate(rows: list[dict]) -> dict[tuple, dict[str, float]]:
    import numpy as np

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["variant"], r["labels"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        mae = np.array([r["test"]["test_mae"] for r in rs])
        out[key] = {
            "mean": float(mae.mean()), "min": float(mae.min()), "max": float(mae.max()),
            "n": len(rs), "queries": float(np.mean([r["sks_queries"] for r in rs])),
            "train_wall_s": float(np.mean([r["train_wall_s"] for r in rs])),
        }
    return out


def markdown(rows: list[dict], args, wall: float) -> str:
    agg = aggregate(rows)
    tasks = [t for t in TASKS if any(r["task"] == t for r in rows)]
    cmd = "python benchmarks/data_efficiency.py " + " ".join(args.argv)
    lines = [
        "# Data efficiency: test error vs labelled samples, data-only vs SKS-coupled",
        "",
        f"Command: `{cmd.strip()}` (run from the repository root). Wall time {wall / 60:.1f} min "
        f"with {args.jobs} runs side by side on 2 shared CPU cores.",
        "",
        "Each cell: test MAE, mean over seeds, with [min, max] over seeds "
        f"(seeds {sorted({r['seed'] for r in rows})}). Lower is better; **bold** = lowest mean "
        "in the row. Queries = SKS queries per coupled run; time = training wall time of one "
        "model (s, under contention), SKS-coupled runs only. Data-only and ZO CGE come from the "
        "same `zoo.train.run` call (the twin trains on the same labels from the same seed).",
        "",
    ]
    for task in tasks:
        spec = TASKS[task]
        variants = [DATA_ONLY, CGE, *spec["extra"]]
        settings = {k: v for k, v in spec["settings"].items()}
        lines += [f"## {task} (test MAE, {spec['units']})", "", f"Settings: `{json.dumps(settings)}`; "
                  f"variants besides CGE: `{json.dumps(spec['extra'])}`.", ""]
        head = ["labels", *variants, *(f"queries / time: {v}" for v in variants[1:])]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for n in sorted({r["labels"] for r in rows if r["task"] == task}):
            cells = [agg.get((task, v, n)) for v in variants]
            best = min((c["mean"] for c in cells if c), default=None)
            row = [str(n)]
            for c in cells:
                if c is None:
                    row.append("-")
                    continue
                text = f"{c['mean']:.4g} [{c['min']:.3g}, {c['max']:.3g}]"
                row.append(f"**{text}**" if c["mean"] == best else text)
            for c in cells[1:]:
                row.append("-" if c is None else f"{c['queries']:.0f} / {c['train_wall_s']:.0f} s")
            lines.append("| " + " | ".join(row) + " |")
        twin = [agg[(task, DATA_ONLY, n)]["train_wall_s"] for n in sorted({r["labels"] for r in rows
                if r["task"] == task}) if (task, DATA_ONLY, n) in agg]
        if twin:
            lines += ["", f"Data-only twin: {sum(twin) / len(twin):.1f} s a run, no SKS queries."]
        lines.append("")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = aggregate(rows)
    tasks = [t for t in TASKS if any(r["task"] == t for r in rows)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.8), dpi=100, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for variant in [DATA_ONLY, CGE, *TASKS[task]["extra"]]:
            pts = sorted((n, c) for (t, v, n), c in agg.items() if t == task and v == variant)
            if not pts:
                continue
            x = [n for n, _ in pts]
            y = [c["mean"] for _, c in pts]
            err = [[c["mean"] - c["min"] for _, c in pts], [c["max"] - c["mean"] for _, c in pts]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=variant)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set(xlabel="labelled samples", ylabel=f"test MAE ({TASKS[task]['units']})", title=task)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("test error vs labels: mean over seeds, bars = min..max", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="4 and 16 labels, one seed")
    p.add_argument("--labels", type=int, nargs="+", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--jobs", type=int, default=2, help="runs side by side (processes)")
    p.add_argument("--out", default=str(RESULTS / "data_efficiency"), help="path stem of the results")
    args = p.parse_args(argv)
    args.argv = argv
    labels = args.labels or ([4, 16] if args.quick else [4, 8, 16, 32, 64, 128])
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    jobs = plan(args.tasks, labels, seeds)
    # the costliest first, so the pool does not end on one long run
    jobs.sort(key=lambda j: (j[0] != "fcc-alloy-lattice", j[3] == CGE))
    stem = Path(args.out)
    stem.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows: list[dict] = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(one_run, *job): job for job in jobs}
        for i, fut in enumerate(as_completed(futures), 1):
            job = futures[fut]
            new = fut.result()
            rows.extend(new)
            maes = ", ".join(f"{r['variant']} {r['test']['test_mae']:.4g}" for r in new)
            print(f"[{i}/{len(jobs)} {time.perf_counter() - t0:6.0f} s] {job[0]} labels={job[1]} "
                  f"seed={job[2]}: {maes} ({new[0]['run_wall_s']:.0f} s)", flush=True)
            # partial results survive an interrupted benchmark
            stem.with_suffix(".json").write_text(json.dumps({"rows": rows, "complete": False}, indent=1))
    wall = time.perf_counter() - t0
    agg = aggregate(rows)
    stem.with_suffix(".json").write_text(json.dumps({
        "command": "python benchmarks/data_efficiency.py " + " ".join(argv),
        "wall_s": round(wall, 1), "jobs": args.jobs, "complete": True,
        "tasks": {t: TASKS[t] for t in args.tasks},
        "summary": [{"task": t, "variant": v, "labels": n, **c} for (t, v, n), c in sorted(agg.items())],
        "rows": rows,
    }, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(rows, args, wall))
    plot(rows, stem.with_suffix(".png"))
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
