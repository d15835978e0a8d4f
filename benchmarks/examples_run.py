"""Every example's command, run as its README shows it, with the numbers its README quotes.

    python benchmarks/examples_run.py

runs ``zoo run --config examples/<name>/config.toml`` (and the variants the READMEs mention)
once each, seed 0, and writes ``benchmarks/results/examples.{md,json}``: per run, the test
metrics of the SKS-coupled model and its data-only twin, SKS queries and wall time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import protocol  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ZOO = str(Path(sys.executable).with_name("zoo"))

#: (label, example folder, extra flags, metrics to report)
RUNS = [
    ("potential-parameters, lammps (the config)", "potential-parameters", [], ["test_mae", "extrap_mae"]),
    ("potential-parameters, --sks ase-morse", "potential-parameters", ["--sks", "ase-morse"], ["test_mae", "extrap_mae"]),
    ("potential-parameters, --task lj-alloy-eos", "potential-parameters", ["--task", "lj-alloy-eos"],
     ["test_mae", "extrap_mae"]),
    ("xrd-lattice (the config)", "xrd-lattice", [], ["test_mae", "test_mae_a", "test_mae_c"]),
    ("g2-bond-lengths (the config)", "g2-bond-lengths", [], ["test_mae"]),
    ("fit-table (the config)", "fit-table", [], ["test_mae_a"]),
]


def main() -> None:
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, example, flags, metrics in RUNS:
            protocol.progress(label)
            out = Path(tmp) / f"run{len(rows)}"
            t0 = time.perf_counter()
            subprocess.run([ZOO, "run", "--config", str(ROOT / "examples" / example / "config.toml"), *flags,
                            "--no-progress", "--out", str(out)], check=True, capture_output=True, text=True,
                           cwd=ROOT)
            summary = json.loads((out / "summary.json").read_text())
            v = summary["variants"]
            rows.append({"run": label, "command": " ".join(["zoo run --config", f"examples/{example}/config.toml", *flags]),
                         "metrics": metrics, "wall_s": round(time.perf_counter() - t0, 1),
                         "sks_queries": summary["sks_queries"],
                         **{f"{variant}:{m}": v[variant]["test"].get(m) for variant in v for m in metrics}})
    lines = ["| run | metric | SKS-coupled | data-only | SKS queries | wall s |", "|---|---|---|---|---|---|"]
    for r in rows:
        for m in r["metrics"]:
            lines.append(f"| `{r['command']}` | {m} | {r['sks-coupled:' + m]:.4g} | {r['data-only:' + m]:.4g} | "
                         f"{r['sks_queries']:,} | {r['wall_s']} |")
    intro = ("Each example's command, run once as its README shows it (seed 0, the config's settings); "
             "test metrics in the task's units (GPa for the potential parameters, Å otherwise).")
    protocol.write_results("examples", "The examples, as their READMEs run them", intro, ["\n".join(lines)],
                           {"runs": rows}, started)


if __name__ == "__main__":
    main()
