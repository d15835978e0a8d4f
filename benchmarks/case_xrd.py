"""Lattice parameters from powder XRD patterns (the XRD case study) under the benchmark
protocol, beside the phase's reference lattice and direct fitting through the same code.

Task ``xrd-lattice`` (pymatgen-xrd): a network reads a noisy powder pattern of a known phase
(seven cubic and tetragonal prototypes) and predicts its lattice lengths (a, c).

* **reference lattice of the phase**: predict each prototype's reference (a, c) — zero
  labels, zero queries: what the labels-free guess is worth;
* **direct fit through pymatgen**: per test pattern, search (a, c) for the simulated pattern
  closest to the measured one (the task's own cumulative-pattern distance), on a grid over the
  task's lattice range and then a finer grid around the best point — the code used
  directly at prediction time, with its queries per pattern;
* **data-only twin** and **zoo, SKS-coupled** (pattern matching on unlabelled patterns through
  pymatgen, gradients by CGE), under the protocol.

    python benchmarks/case_xrd.py [--seeds 0 1 2 3 4] [--labels 4 8 16 32 64]

writes ``benchmarks/results/case_xrd.{md,json}``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import protocol  # noqa: E402

import zoo  # noqa: E402
from zoo.tasks import sks_options_for  # noqa: E402

TASK, SKS = "xrd-lattice", "pymatgen-xrd"


def direct_fit(task, sks, i: int, coarse: int = 41, fine: int = 21) -> tuple[np.ndarray, int]:
    """(a, c) of pattern ``i`` by grid search through the SKS, and the queries it took."""
    cubic = bool(task.cubic[i])
    ref = task.ref[i].double().numpy()
    obs = task.cdf_obs[i].double().numpy()
    ctx = task.contexts[i]

    def distance(rows: np.ndarray) -> np.ndarray:
        y = sks(rows, [ctx] * len(rows))
        cdf = np.cumsum(y, axis=1) * task.step_deg
        return ((cdf - obs) ** 2).mean(axis=1)

    def grid(center: np.ndarray, half: np.ndarray, n: int) -> np.ndarray:
        axes = [np.linspace(c - h, c + h, n) for c, h in zip(center, half)]
        if cubic:
            return np.column_stack([axes[0], axes[0]])
        a, c = np.meshgrid(axes[0], axes[1], indexing="ij")
        return np.column_stack([a.ravel(), c.ravel()])

    spread = task.spread
    half = np.array([ref[0] * spread, ref[1] * (spread + 0.04)]) * 1.05
    rows = grid(ref, half, coarse)
    best = rows[np.argmin(distance(rows))]
    step = 2 * half / (coarse - 1)
    rows2 = grid(best, step, fine)
    best = rows2[np.argmin(distance(rows2))]
    return best, len(rows) + len(rows2)


def baselines(cells: dict, n_labelled: int, seed: int, proto: protocol.Protocol, fits: dict) -> None:
    task = zoo.task(TASK, n_labelled=n_labelled, n_validation=proto.n_validation(n_labelled))
    sks = zoo.knowledge_source(SKS, **sks_options_for(task, SKS))
    task.setup(sks, seed)
    test = task.test.numpy()
    target = task.lattice[task.test].double().numpy()
    ref = task.ref[task.test].double().numpy()
    protocol.add_value(cells, "reference lattice of the phase (no labels)", n_labelled,
                       float(np.abs(ref - target).mean()))
    # the test patterns are the same for every seed and label count: fit each once, keyed by
    # the pattern itself
    keys = [task.cdf_obs[i].numpy().tobytes() for i in test]
    for key, i in zip(keys, test):
        if key not in fits:
            fits[key] = direct_fit(task, sks, int(i))
    pred = np.array([fits[k][0] for k in keys])
    per_pattern = float(np.mean([fits[k][1] for k in keys]))
    protocol.add_value(cells, "direct fit through pymatgen (grid search per pattern)", n_labelled,
                       float(np.abs(pred - target).mean()), inference_queries=per_pattern)


def main() -> None:
    proto, label_counts = protocol.command_line(__doc__, [4, 8, 16, 32, 64])
    started = time.perf_counter()
    cells: dict = {}
    fits: dict = {}
    for n in label_counts:
        for seed in proto.seeds:
            protocol.progress(f"xrd: {n} labels, seed {seed}")
            baselines(cells, n, seed, proto, fits)
            summary = protocol.run_pair({"sks": SKS, "task": TASK, **proto.settings(n)}, seed)
            protocol.collect(cells, summary, n, "test_mae")
    intro = (
        "Lattice lengths (a, c) from noisy powder XRD patterns of seven cubic and tetragonal "
        "prototypes (`xrd-lattice`, patterns from pymatgen's XRDCalculator), the same test "
        f"patterns for every method. Protocol: {proto.describe()}. The direct fit's training "
        "column is empty: it needs no labels, only queries at prediction time."
    )
    protocol.write_results("case_xrd", "XRD lattice parameters: zoo against direct fitting",
                           intro, [protocol.markdown_table(cells.values(), label_counts, "Å")],
                           {"protocol": vars(proto) | {"seeds": list(proto.seeds)},
                            "cells": [c.summary() for c in cells.values()]}, started)


if __name__ == "__main__":
    main()
