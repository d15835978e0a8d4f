"""The main job as a user runs it, five times: ``zoo run --sks ase-emt --seed N``.

The README's default-run table comes from here: each seed's test MAE of the SKS-coupled model
and its data-only twin (default settings: 8 labels, 150 steps, no early stopping), its SKS
queries and wall time, and the label-free textbook rules on the same 60 test alloys (they
do not depend on the seed): Vegard's and Zen's laws over the pure-element EAM lattice
constants, and which EMT ran (``sks_about``).

    python benchmarks/default_run.py [--seeds 0 1 2 3 4]

writes ``benchmarks/results/default_run.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import protocol  # noqa: E402
from case_fcc import vegard, zen  # noqa: E402

ZOO = str(Path(sys.executable).with_name("zoo"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            protocol.progress(f"default run, seed {seed}")
            out = Path(tmp) / f"run{seed}"
            t0 = time.perf_counter()
            subprocess.run([ZOO, "run", "--sks", "ase-emt", "--seed", str(seed), "--no-progress", "--out", str(out)],
                           check=True, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            summary = json.loads((out / "summary.json").read_text())
            v = summary["variants"]
            rows.append({"seed": seed, "coupled": v["sks-coupled"]["test"]["test_mae"],
                         "data_only": v["data-only"]["test"]["test_mae"], "queries": summary["sks_queries"],
                         "wall_s": round(wall, 1), "emt": summary["sks_about"].get("emt", "")})
    import zoo
    from zoo.tasks import split
    from zoo_atomistic.tasks.labels import lattice_labels

    data = lattice_labels("eam", None)
    test = split(len(data.a0), n_labelled=8, seed=0, split_seed=0, test_fraction=0.25).test
    x, a0 = data.fractions[test], data.a0[test]
    rules = {"Vegard's law (pure EAM a0)": float(np.abs(vegard(x) - a0).mean()),
             "Zen's law (pure EAM volumes)": float(np.abs(zen(x) - a0).mean())}
    lines = ["| seed | zoo, SKS-coupled (8 labels + EMT) | data-only twin (8 labels) | SKS queries | wall s |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['coupled']:.4f} | {r['data_only']:.4f} | {r['queries']:,} | {r['wall_s']} |")
    lines.append(f"| mean | {np.mean([r['coupled'] for r in rows]):.4f} | "
                 f"{np.mean([r['data_only'] for r in rows]):.4f} | | |")
    rule_lines = ["| label-free rule on the same test alloys | test MAE (Å) |", "|---|---|"]
    rule_lines += [f"| {k} | {v:.4f} |" for k, v in rules.items()]
    intro = (
        "`zoo run --sks ase-emt --seed N` with its defaults (fcc-alloy-lattice: 8 EAM labels, EMT's "
        "zero-pressure condition on unlabelled alloys, 150 steps, cosine lr, no early stopping); test "
        f"MAE (Å) on the task's 60 test alloys. EMT: {rows[0]['emt'] if rows else '?'}."
    )
    protocol.write_results("default_run", "The main job, five seeds", intro,
                           ["\n".join(lines), "", "\n".join(rule_lines)], {"runs": rows, "rules": rules,
                                                                          "zoo": zoo.__version__}, started)


if __name__ == "__main__":
    main()
