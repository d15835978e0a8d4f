"""Benchmark: MP2 bond lengths of G2 molecules from few labels, with and without xTB.

The case study of zoo-plugin-tblite (examples/g2-bond-lengths): predict the MP2(full)/6-31G*
bond length of the 41 G2 molecules whose geometry is one bond length (task
``g2-bond-length``), from element properties, with ``n_labelled`` labels. Every method is
scored on the same 10 test molecules (fixed by the task's ``split_seed`` = 0); ``seed``
draws which molecules are labelled (and the initial weights).

Methods:

(a) covalent-radius sum r_cov(A) + r_cov(X) (Cordero 2008): no labels, no queries.
(b) the sum plus the labels' mean offset; and a ridge regression of (label - sum) on the
    task's standardised features, fitted to all labelled molecules (train + validation),
    its penalty chosen by leave-one-out over a grid.
(c) xTB at prediction time: per molecule, root-solve xTB's bond force = 0 through the SKS
    (``zoo_tblite.equilibrium_bond_length``, bracket from the covalent sum, Brent to 1e-5 Å),
    plus the mean offset (label - xTB) over the labelled molecules; also xTB alone (no
    offset, no labels), and with the median offset (robust to the alkali outliers). Training queries: the root solves of the labelled molecules;
    queries per prediction: one root solve.
(d) the data-only twin and (e) the SKS-coupled model: one ``zoo.train.run`` each (it
    trains both from the same seed), the task's defaults (forward CGE, mu 1e-3 Å, Adam,
    lr 3e-3), at most ``--steps`` steps, evaluated every 10. Model selection on the
    validation molecules (``n_validation`` of the labelled ones, never trained on): with
    the core's early stopping when this zoo has it (``early_stopping_patience``,
    ``restore_best``), else the evaluation with the best ``val_mae`` is picked from
    metrics.jsonl after a run of the full ``--steps`` (``--selection`` forces either; the
    results say which ran).

Usage::

    python benchmarks/g2_bond_lengths.py              # 4, 8, 16 labels x 5 seeds, ~15 min
    python benchmarks/g2_bond_lengths.py --quick      # 8 labels x 2 seeds, 100 steps, ~1 min
    python benchmarks/g2_bond_lengths.py --report-only  # the .md and .png again, from the .json

Writes results/g2_bond_lengths.{md,json,png} (``--out`` elsewhere). Runs one thing at a time
on one core (torch and tblite one thread each): the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
#: validation molecules carved out of n labels
VALIDATION = {4: 1, 8: 2, 16: 4}
METHODS = [
    ("cov", "(a) covalent-radius sum"),
    ("cov_offset", "(b) covalent sum + label offset"),
    ("ridge", "(b) ridge on features"),
    ("xtb", "(c) xTB alone (root solve)"),
    ("xtb_offset", "(c) xTB root solve + label offset"),
    ("xtb_median", "(c) xTB root solve + median label offset"),
    ("data_only", "(d) MLP, data-only twin"),
    ("coupled", "(e) MLP + xTB physics (zoo)"),
    ("data_only_fixed", "(d) data-only twin, every step, last weights"),
    ("coupled_fixed", "(e) zoo-coupled, every step, last weights"),
]
RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- (c): xTB's own bond lengths ------------------------------------------------------------
def xtb_equilibria(records) -> dict[str, Any]:
    """Root-solve the bond force of every molecule once (they do not depend on the seed)."""
    import zoo
    from zoo_tblite import equilibrium_bond_length

    sks = zoo.knowledge_source("xtb", outputs="bond_force")
    r, queries, wall = [], [], []
    for rec in records:
        t0 = time.perf_counter()
        sol = equilibrium_bond_length(sks, rec.context, rec.covalent_sum)
        wall.append(time.perf_counter() - t0)
        r.append(sol.r if sol.converged else float("nan"))
        queries.append(sol.queries)
    return {"r": np.array(r), "queries": np.array(queries), "wall_s": np.array(wall)}


# -- (b): ridge regression -------------------------------------------------------------------
def ridge_fit_predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> tuple[np.ndarray, float]:
    """Ridge (intercept unpenalised) with the penalty of least leave-one-out error."""
    xm, ym = x.mean(axis=0), y.mean()
    xc, yc = x - xm, y - ym

    def solve(alpha: float) -> np.ndarray:
        return np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)

    def loo(alpha: float) -> float:
        if len(y) < 3:
            return 0.0  # too few to leave one out: the grid's first (weakest) alpha is not used
        errs = []
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            xk, yk = x[keep], y[keep]
            xkm, ykm = xk.mean(axis=0), yk.mean()
            w = np.linalg.solve((xk - xkm).T @ (xk - xkm) + alpha * np.eye(x.shape[1]), (xk - xkm).T @ (yk - ykm))
            errs.append(abs((x[i] - xkm) @ w + ykm - y[i]))
        return float(np.mean(errs))

    grid = RIDGE_GRID if len(y) >= 3 else (RIDGE_GRID[-1],)
    alpha = min(grid, key=loo)
    return (x_new - xm) @ solve(alpha) + ym, alpha


def baselines(task, eq: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """(a), (b), (c) on this seed's split of ``task`` (already set up)."""
    x = task.x.double().numpy()
    feats, cov = x[:, :-1], x[:, -1]
    y = task.y.double().numpy()
    lab = np.concatenate([task.rows("train"), task.rows("validation")])
    test = task.rows("test")
    out: dict[str, dict[str, Any]] = {}

    def score(pred: np.ndarray) -> dict[str, Any]:
        err = np.abs(pred - y[test])
        return {"test_mae": float(np.nanmean(err)), "errors": dict(zip(names(task, test), err.tolist()))}

    out["cov"] = {**score(cov[test]), "train_queries": 0, "queries_per_prediction": 0.0}
    offset = float(np.mean(y[lab] - cov[lab]))
    out["cov_offset"] = {**score(cov[test] + offset), "train_queries": 0, "queries_per_prediction": 0.0}
    pred, alpha = ridge_fit_predict(feats[lab], y[lab] - cov[lab], feats[test])
    out["ridge"] = {**score(cov[test] + pred), "alpha": alpha, "train_queries": 0, "queries_per_prediction": 0.0}
    r_xtb, q = eq["r"], eq["queries"]
    per_prediction = float(np.mean(q[test]))
    wall_per_prediction = float(np.mean(eq["wall_s"][test]))
    out["xtb"] = {**score(r_xtb[test]), "train_queries": 0, "queries_per_prediction": per_prediction,
                  "wall_per_prediction_s": wall_per_prediction}
    xtb_offset = float(np.nanmean(y[lab] - r_xtb[lab]))
    out["xtb_offset"] = {**score(r_xtb[test] + xtb_offset), "offset": xtb_offset,
                         "train_queries": int(q[lab].sum()), "train_wall_s": float(eq["wall_s"][lab].sum()),
                         "queries_per_prediction": per_prediction, "wall_per_prediction_s": wall_per_prediction}
    # the mean offset follows the labelled alkali molecules, where xTB is 0.3-0.5 Å short; the
    # median is what one would use knowing that (not asked for; shown beside the mean)
    xtb_median = float(np.nanmedian(y[lab] - r_xtb[lab]))
    out["xtb_median"] = {**out["xtb_offset"], **score(r_xtb[test] + xtb_median), "offset": xtb_median}
    return out


def names(task, rows) -> list[str]:
    return [task.records[i].name for i in rows]


# -- (d), (e): zoo runs ----------------------------------------------------------------------
def core_has_early_stopping() -> bool:
    from zoo.config import FIELDS

    return {"early_stopping_patience", "restore_best"} <= set(FIELDS)


def zoo_run(n_labelled: int, seed: int, steps: int, mode: str, patience: int) -> dict[str, Any]:
    """(d) and (e) from one zoo.train.run (it trains both from the same seed).

    ``mode``: ``core`` (the core's early stopping and restore_best: the test MAE of the
    restored weights), ``posthoc`` (all ``steps``; the evaluation with the lowest val_mae in
    metrics.jsonl) or ``fixed`` (all ``steps``; the last weights, no selection).
    """
    import zoo.train

    settings: dict[str, Any] = {
        "sks": "xtb", "task": "g2-bond-length", "steps": steps, "seed": seed, "eval_every": 10,
        "checkpoint_every": 0, "cache": "off", "baseline": True,
        "task_options": {"n_labelled": n_labelled, "n_validation": VALIDATION.get(n_labelled, max(1, n_labelled // 4))},
    }
    if mode == "core":
        settings.update(early_stopping_patience=patience, restore_best=True)
    elif core_has_early_stopping():  # say so explicitly: no stopping, no restoring
        settings.update(early_stopping_patience=0, restore_best=False)
    with tempfile.TemporaryDirectory(prefix="zoo-g2-") as tmp:
        settings["out"] = str(Path(tmp) / "run")
        summary = zoo.train.run(settings, progress=False, echo=lambda m: None)
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    out = {}
    for variant, key in (("sks-coupled", "coupled"), ("data-only", "data_only")):
        v = summary["variants"][variant]
        evals = [r for r in rows if r["variant"] == variant and "test_mae" in r]
        if mode == "posthoc":  # the lowest validation MAE (the earliest of ties)
            if not all("val_mae" in r for r in evals):
                raise SystemExit("--selection posthoc needs val_mae in metrics.jsonl: a zoo whose loop logs Task.validate")
            best = min(evals, key=lambda r: r["val_mae"])
            test_mae, best_step, queries = best["test_mae"], best["step"] + 1, best.get("sks_queries", 0)
        else:
            test_mae, queries = v["test"]["test_mae"], v["sks_queries"]
            best_step = v.get("best_step") if mode == "core" else v["steps"]
        out[key] = {
            "test_mae": float(test_mae), "best_step": best_step, "steps_run": v["steps"],
            "train_queries": int(queries), "run_queries": int(v["sks_queries"]),
            "train_wall_s": float(v["wall_s"]), "queries_per_prediction": 0.0,
            "delta": evals[-1].get("delta"),
        }
        if mode == "posthoc":  # the same run, read without selection
            out[key + "_fixed"] = {**out[key], "test_mae": float(evals[-1]["test_mae"]),
                                   "best_step": v["steps"], "train_queries": int(v["sks_queries"])}
    out["settings"] = {k: v for k, v in settings.items() if k != "out"}
    return out


# -- aggregation and reports -----------------------------------------------------------------
def interval(values: list[float]) -> dict[str, float]:
    """Mean and the two-sided 95 % t interval of the mean."""
    from scipy import stats

    a = np.asarray(values, dtype=float)
    mean = float(a.mean())
    if len(a) < 2:
        return {"mean": mean, "lo": float("nan"), "hi": float("nan"), "n": len(a)}
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": len(a)}


def aggregate(cells: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for n in sorted({c["n_labelled"] for c in cells}):
        group = [c for c in cells if c["n_labelled"] == n]
        for key, _ in METHODS:
            runs = [c["methods"][key] for c in group if key in c["methods"]]
            if not runs:
                continue
            out[f"{key}@{n}"] = {
                "method": key, "n_labelled": n, "test_mae": interval([r["test_mae"] for r in runs]),
                **({"steps_run": float(np.mean([r["steps_run"] for r in runs])),
                    "best_step": float(np.mean([r["best_step"] or 0 for r in runs]))}
                   if "steps_run" in runs[0] else {}),
                "train_queries": float(np.mean([r.get("train_queries", 0) for r in runs])),
                "train_wall_s": float(np.mean([r.get("train_wall_s", 0.0) for r in runs])),
                "queries_per_prediction": float(np.mean([r.get("queries_per_prediction", 0.0) for r in runs])),
            }
    return out


def fmt_mae(t: dict[str, float]) -> str:
    if not np.isfinite(t["lo"]):
        return f"{t['mean']:.3f}"
    return f"{t['mean']:.3f} [{t['lo']:.3f}, {t['hi']:.3f}]"


def markdown(report: dict[str, Any]) -> str:
    agg, meta = report["aggregate"], report["meta"]
    labels = sorted({a["n_labelled"] for a in agg.values()})
    lines = [
        "# G2 bond lengths from few MP2 labels: zoo + GFN2-xTB against the alternatives",
        "",
        f"Command: `{meta['command']}` (from the repository root), {meta['date']}. "
        f"Wall time {meta['wall_s'] / 60:.1f} min on {meta['machine']} "
        f"(load average {meta['load_before'][0]:.2f} before, {meta['load_after'][0]:.2f} after; a shared machine, "
        f"so times are indicative). ASE {meta['ase']}, tblite {meta['tblite']}, torch {meta['torch']}.",
        "",
        f"Data: {meta['data']['molecules']} molecules (28 diatomics, 13 symmetric AXn) of `ase.collections.g2`, "
        f"labels the MP2(full)/6-31G* bond lengths. Test set (split_seed 0, the same for every cell): "
        f"{', '.join(meta['data']['test_molecules'])}. Seeds {meta['seeds']} draw the labelled molecules; "
        "validation molecules per label count: "
        + ", ".join(f"{n} labels: {v}" for n, v in meta["validation"].items()) + ".",
        "",
        f"Model selection for (d) and (e): {meta['selection_text']}",
        "",
        "Test MAE in Å: mean over seeds [95 % t interval of the mean]. Queries: SKS (xTB) single points "
        f"spent on training ({'until the run stopped' if meta['selection'] == 'core' else 'up to the selected step'} "
        "for (e); the labelled molecules' root solves for (c)); "
        "per prediction: single points needed to predict one new molecule. Wall: training time of one "
        "model (s, mean over seeds).",
        "",
    ]
    for n in labels:
        lines += [f"## {n} labelled molecules", "",
                  "| method | test MAE (Å) | queries (training) | queries per prediction | wall (s) |",
                  "|---|---|---|---|---|"]
        best = min(agg[f"{k}@{n}"]["test_mae"]["mean"] for k, _ in METHODS if f"{k}@{n}" in agg)
        for key, label in METHODS:
            a = agg.get(f"{key}@{n}")
            if a is None:
                continue
            mae = fmt_mae(a["test_mae"])
            if a["test_mae"]["mean"] == best:
                mae = f"**{mae}**"
            lines.append(f"| {label} | {mae} | {a['train_queries']:.0f} | {a['queries_per_prediction']:.1f} | "
                         f"{a['train_wall_s']:.1f} |")
        steps = [f"{label.split(')')[0]}) {agg[f'{k}@{n}']['steps_run']:.0f} (weights of step "
                 f"{agg[f'{k}@{n}']['best_step']:.0f})" for k, label in METHODS[-4:-2] if f"{k}@{n}" in agg]
        if steps:
            lines += ["", "Steps run with model selection, mean over seeds: " + ", ".join(steps) + "."]
        lines.append("")
    eq = report["xtb_equilibria"]
    lines += [
        "## The molecules: rule of thumb, xTB, MP2",
        "",
        "Bond lengths (Å). xTB: GFN2-xTB's own equilibrium (root of the bond force), "
        f"{eq['mean_queries']:.1f} single points a molecule on average, {eq['mean_wall_ms']:.0f} ms. "
        "T = a test molecule.",
        "",
        "| molecule | n bonds | covalent sum | xTB | MP2 (label) | sum - MP2 | xTB - MP2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in eq["molecules"]:
        mark = " T" if m["name"] in meta["data"]["test_molecules"] else ""
        lines.append(f"| {m['name']}{mark} | {m['n_bonds']} | {m['covalent_sum']:.3f} | {m['xtb']:.3f} | "
                     f"{m['mp2']:.3f} | {m['covalent_sum'] - m['mp2']:+.3f} | {m['xtb'] - m['mp2']:+.3f} |")
    lines += ["", f"Over all 41: MAE of the covalent sum {eq['mae_cov']:.3f} Å, of xTB {eq['mae_xtb']:.3f} Å "
              f"(median {eq['median_abs_xtb']:.3f} Å).", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = report["aggregate"]
    fig, (ax, ax_q) = plt.subplots(1, 2, figsize=(12, 5.6), dpi=100)
    for i, (key, label) in enumerate(METHODS):
        pts = sorted((a["n_labelled"], a) for a in agg.values() if a["method"] == key)
        if not pts:
            continue
        x = np.array([n for n, _ in pts]) * 2 ** (0.045 * (i - len(METHODS) / 2))  # side by side
        m = np.array([a["test_mae"]["mean"] for _, a in pts])
        lo = np.array([a["test_mae"]["lo"] for _, a in pts])
        hi = np.array([a["test_mae"]["hi"] for _, a in pts])
        # a log axis: an interval reaching below zero is drawn down to 5e-3 Å
        err = np.nan_to_num(np.array([m - np.maximum(lo, 5e-3), hi - m]))
        ax.errorbar(x, m, yerr=err, marker="o", capsize=3, label=label)
        if key in ("xtb_offset", "coupled"):
            ax_q.plot([n for n, _ in pts], [a["train_queries"] + 1 for _, a in pts], marker="o", label=f"{label}: training")
        if key == "xtb_offset":
            ax_q.plot([n for n, _ in pts], [a["queries_per_prediction"] for _, a in pts], marker="s",
                      linestyle="--", label=f"{label}: per prediction")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set(xlabel="labelled molecules", ylabel="test MAE (Å)", title="test error (mean, 95 % t interval)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    ax_q.set_xscale("log", base=2)
    ax_q.set_yscale("log")
    ax_q.set(xlabel="labelled molecules", ylabel="xTB single points", title="xTB queries")
    ax_q.grid(alpha=0.3, which="both")
    ax_q.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--labels", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=400, help="most training steps of (d), (e)")
    p.add_argument("--patience", type=int, default=10, help="evaluations without improvement (core early stopping)")
    p.add_argument("--selection", choices=["auto", "core", "posthoc"], default="auto")
    p.add_argument("--quick", action="store_true", help="8 labels, seeds 0 1, 100 steps")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--report-only", action="store_true",
                   help="rewrite the .md and .png from the .json in --out, without running anything")
    args = p.parse_args(argv)
    if args.report_only:
        report = json.loads((args.out / "g2_bond_lengths.json").read_text())
        (args.out / "g2_bond_lengths.md").write_text(markdown(report))
        plot(report, args.out / "g2_bond_lengths.png")
        return
    if args.quick:
        args.labels, args.seeds, args.steps = [8], [0, 1], 100
    selection = args.selection
    if selection == "auto":
        selection = "core" if core_has_early_stopping() else "posthoc"
    if selection == "core" and not core_has_early_stopping():
        p.error("--selection core: this zoo has no early_stopping_patience / restore_best settings")

    import torch

    torch.set_num_threads(1)
    import ase

    import zoo
    from zoo.tasks import sks_options_for
    from zoo_tblite.xtb import tblite_version

    t_start = time.perf_counter()
    load_before = os.getloadavg()
    log(f"g2 bond lengths: labels {args.labels}, seeds {args.seeds}, <= {args.steps} steps, "
        f"selection {selection}; load {load_before[0]:.2f}")

    probe_task = zoo.task("g2-bond-length", n_labelled=8, n_validation=2)
    sks = zoo.knowledge_source("xtb", **sks_options_for(probe_task, "xtb"))
    probe_task.setup(sks, seed=0)
    records = probe_task.records
    log("xTB root solves of the 41 molecules ...")
    eq = xtb_equilibria(records)
    log(f"  done: {eq['queries'].sum()} single points, {eq['wall_s'].sum():.1f} s, "
        f"{int(np.isnan(eq['r']).sum())} failed")

    cells = []
    for n in args.labels:
        for seed in args.seeds:
            task = zoo.task("g2-bond-length", n_labelled=n, n_validation=VALIDATION.get(n, max(1, n // 4)))
            task.setup(sks, seed=seed)
            methods = baselines(task, eq)
            t0 = time.perf_counter()
            run = zoo_run(n, seed, args.steps, selection, args.patience)
            settings = [run.pop("settings")]
            if selection == "core":  # the same models trained every step, for comparison
                fixed = zoo_run(n, seed, args.steps, "fixed", args.patience)
                settings.append(fixed.pop("settings"))
                run.update(coupled_fixed=fixed["coupled"], data_only_fixed=fixed["data_only"])
            methods.update(run)
            cells.append({"n_labelled": n, "seed": seed, "methods": methods, "settings": settings,
                          "labelled": names(task, np.concatenate([task.rows("train"), task.rows("validation")]))})
            log(f"  n={n:2d} seed={seed}: coupled {run['coupled']['test_mae']:.3f} "
                f"(step {run['coupled']['best_step']}, {run['coupled']['train_queries']} q; last step "
                f"{run['coupled_fixed']['test_mae']:.3f}), data-only {run['data_only']['test_mae']:.3f} (last "
                f"{run['data_only_fixed']['test_mae']:.3f}), xTB+offset {methods['xtb_offset']['test_mae']:.3f}, "
                f"ridge {methods['ridge']['test_mae']:.3f}, cov {methods['cov']['test_mae']:.3f}  "
                f"[{time.perf_counter() - t0:.0f} s]")

    wall = time.perf_counter() - t_start
    y = np.array([r.r_mp2 for r in records])
    cov = np.array([r.covalent_sum for r in records])
    selection_text = (
        f"the core's early stopping (`early_stopping_patience = {args.patience}` evaluations of every 10 steps, "
        f"`restore_best = true`), at most {args.steps} steps."
        + f" The last two rows train the same models all {args.steps} steps and keep the last weights "
        "(no selection; a second run each)."
        if selection == "core" else
        f"post hoc: every run trains the full {args.steps} steps (the core's early stopping was "
        f"{'not used (--selection posthoc)' if core_has_early_stopping() else 'not there yet'}); the "
        "evaluation (every 10 steps) with the lowest validation MAE is picked from metrics.jsonl and its "
        "test MAE reported; training queries are those spent up to that step. The last two rows read the "
        "same runs at their last step."
    )
    data = probe_task.describe_data()
    report = {
        "meta": {
            "command": " ".join(["python benchmarks/g2_bond_lengths.py", *argv]),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_s": round(wall, 1),
            "load_before": list(load_before), "load_after": list(os.getloadavg()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "ase": ase.__version__, "tblite": tblite_version(), "torch": torch.__version__,
            "zoo": zoo.__version__, "seeds": args.seeds, "labels": args.labels, "steps": args.steps,
            "selection": selection, "selection_text": selection_text,
            "validation": {n: VALIDATION.get(n, max(1, n // 4)) for n in args.labels},
            "data": {"molecules": len(records), "test_molecules": data["test_molecules"],
                     "source": data["source"], "labels": data["labels"]},
        },
        "aggregate": aggregate(cells),
        "xtb_equilibria": {
            "molecules": [
                {"name": r.name, "n_bonds": r.n_bonds, "covalent_sum": float(c), "xtb": float(x), "mp2": float(m),
                 "queries": int(q), "wall_s": float(w)}
                for r, c, x, m, q, w in zip(records, cov, eq["r"], y, eq["queries"], eq["wall_s"])
            ],
            "mean_queries": float(eq["queries"].mean()), "mean_wall_ms": float(1e3 * eq["wall_s"].mean()),
            "mae_cov": float(np.mean(np.abs(cov - y))), "mae_xtb": float(np.nanmean(np.abs(eq["r"] - y))),
            "median_abs_xtb": float(np.nanmedian(np.abs(eq["r"] - y))),
        },
        "cells": cells,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "g2_bond_lengths.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (args.out / "g2_bond_lengths.md").write_text(markdown(report))
    plot(report, args.out / "g2_bond_lengths.png")
    log(f"wrote {args.out}/g2_bond_lengths.{{md,json,png}} in {wall / 60:.1f} min")


if __name__ == "__main__":
    main()
