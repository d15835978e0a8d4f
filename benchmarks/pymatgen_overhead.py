"""What zoo-plugin-pymatgen's knowledge sources cost beyond pymatgen itself.

For each SKS, the same input rows are evaluated (a) through the SKS, one batched call, and
(b) by calling pymatgen directly the cheapest way we know: one scratch copy of the structure
whose lattice is set row by row, then the analyzer (XRDCalculator.get_pattern,
EwaldSummation, calculate_bv_sum over get_all_neighbors). For XRD the direct path is shown
with and without the Gaussian broadening onto the grid (the plugin's own ``broaden``
function, so the comparison isolates the SKS's plumbing), since the broadening is part of
what the SKS computes, not overhead.

The two paths alternate, ``--repeats`` times (which goes first alternates too). Each path's
time per row is its minimum over the repeats of the process CPU time (``time.process_time``):
on a shared machine wall-clock time swings by tens of per cent with other processes' load,
CPU time much less, and the minimum is the run least disturbed. Wall-clock minima are
recorded beside it. Results go to benchmarks/results/pymatgen_overhead.{md,json}.

    python benchmarks/pymatgen_overhead.py [--rows 40] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def rocksalt(a: float, oxidized: bool):
    from pymatgen.core import Lattice, Species, Structure

    na, cl = (Species("Na", 1), Species("Cl", -1)) if oxidized else ("Na", "Cl")
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    return Structure(Lattice.cubic(a), [na] * 4 + [cl] * 4, np.vstack([fcc, (fcc + 0.5) % 1.0]))


def cscl(a: float, oxidized: bool):
    from pymatgen.core import Lattice, Species, Structure

    species = [Species("Cs", 1), Species("Cl", -1)] if oxidized else ["Cs", "Cl"]
    return Structure(Lattice.cubic(a), species, [[0, 0, 0], [0.5, 0.5, 0.5]])


def cases(n_rows: int):
    """(label, sks name, sks options, context, rows, direct function of (context, rows))."""
    import zoo
    from pymatgen.analysis.bond_valence import calculate_bv_sum
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.core import Lattice
    from zoo_pymatgen.xrd import broaden

    rng = np.random.default_rng(0)
    xrd_opts = {"inputs": "lattice_abc", "two_theta_min": 10.0, "two_theta_max": 90.0, "step": 0.1, "fwhm": 0.3}
    grid = np.linspace(10.0, 90.0, 801)

    def xrd_direct(with_broadening: bool):
        calc = XRDCalculator()
        rng_2t = (10.0 - 1.5, 90.0 + 1.5)

        def run(ctx, rows):
            s = ctx.copy()
            abc = np.array(ctx.lattice.abc)
            for row in rows:
                s.lattice = Lattice(ctx.lattice.matrix * (row / abc)[:, None])
                p = calc.get_pattern(s, scaled=False, two_theta_range=rng_2t)
                if with_broadening:
                    y = broaden(np.asarray(p.x), np.asarray(p.y), grid, 0.3)
                    y /= y.sum() * 0.1
        return run

    def ewald_direct(ctx, rows):
        s = ctx.copy()
        for row in rows:
            s.lattice = Lattice(ctx.lattice.matrix * row[0])
            EwaldSummation(s).total_energy  # noqa: B018 - the computation is the point

    def bvs_direct(ctx, rows):
        s = ctx.copy()
        for row in rows:
            s.lattice = Lattice(ctx.lattice.matrix * row[0])
            nn = s.get_all_neighbors(8.0)
            bvs = np.array([calculate_bv_sum(site, n) for site, n in zip(s, nn)])
            val = np.array([site.specie.oxi_state for site in s])
            math.sqrt(np.mean((bvs - val) ** 2))

    out = []
    for label, ctx_fn, a in (("CsCl (2 sites)", cscl, 4.12), ("NaCl (8 sites)", rocksalt, 5.64)):
        plain, ions = ctx_fn(a, False), ctx_fn(a, True)
        abc_rows = a * (1 + rng.uniform(-0.03, 0.03, (n_rows, 3)))
        scale_rows = 1 + rng.uniform(-0.03, 0.03, (n_rows, 1))
        out += [
            ("pymatgen-xrd", label, xrd_opts, plain, abc_rows, {"direct get_pattern": xrd_direct(False),
                                                                 "direct + broadening": xrd_direct(True)}),
            ("pymatgen-ewald", label, {"inputs": "scale", "outputs": "energy"}, ions, scale_rows,
             {"direct EwaldSummation": ewald_direct}),
            ("pymatgen-bvs", label, {"inputs": "scale", "outputs": "gii"}, ions, scale_rows,
             {"direct calculate_bv_sum": bvs_direct}),
        ]
    return [(name, label, zoo.knowledge_source(name, **opts), ctx, rows, direct)
            for name, label, opts, ctx, rows, direct in out]


def measure(n_rows: int, repeats: int) -> list[dict]:
    results = []
    for name, label, sks, ctx, rows, directs in cases(n_rows):
        contexts = [ctx] * len(rows)
        sks(rows[:2], contexts[:2])  # warm caches (imports, scattering tables)
        for fn in directs.values():
            fn(ctx, rows[:2])
        def one_row_calls():
            for i in range(len(rows)):
                sks(rows[i : i + 1], contexts[:1])

        paths = {"sks": lambda: sks(rows, contexts), "sks, 1 row per call": one_row_calls,
                 **{k: (lambda fn=fn: fn(ctx, rows)) for k, fn in directs.items()}}
        cpu = {k: [] for k in paths}
        wall = {k: [] for k in paths}
        for rep in range(repeats):
            order = list(paths) if rep % 2 == 0 else list(paths)[::-1]
            for key in order:
                w, c = time.perf_counter(), time.process_time()
                paths[key]()
                cpu[key].append((time.process_time() - c) / len(rows))
                wall[key].append((time.perf_counter() - w) / len(rows))
        med = {k: min(v) for k, v in cpu.items()}
        base_key = list(directs)[-1]  # the direct path doing the same work as the SKS
        results.append({
            "sks": name, "structure": label, "rows": len(rows), "repeats": repeats,
            "cpu_ms_per_row": {k: round(v * 1e3, 4) for k, v in med.items()},
            "wall_ms_per_row_min": {k: round(min(v) * 1e3, 4) for k, v in wall.items()},
            "wall_ms_per_row_median": {k: round(statistics.median(v) * 1e3, 4) for k, v in wall.items()},
            "calls_per_s": {k: round(1.0 / v, 1) for k, v in med.items()},
            "baseline": base_key,
            "overhead_pct": round(100.0 * (med["sks"] / med[base_key] - 1.0), 2),
            "overhead_1_row_pct": round(100.0 * (med["sks, 1 row per call"] / med[base_key] - 1.0), 2),
        })
        print(f"{name:15s} {label:15s} sks {med['sks'] * 1e3:8.3f} ms/row   "
              + "   ".join(f"{k} {v * 1e3:8.3f}" for k, v in med.items() if k != "sks")
              + f"   overhead {results[-1]['overhead_pct']:+.1f} % / {results[-1]['overhead_1_row_pct']:+.1f} %",
              flush=True)
    return results


def write(results: list[dict], args) -> None:
    import pymatgen.core

    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "pymatgen": pymatgen.core.__version__,
            "machine": platform.machine(), "processor": platform.processor() or "?",
            "rows": args.rows, "repeats": args.repeats, "date": time.strftime("%Y-%m-%d %H:%M")}
    (RESULTS / "pymatgen_overhead.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = [
        "# zoo-plugin-pymatgen: SKS calls/s against pymatgen called directly",
        "",
        f"{meta['date']}, pymatgen {meta['pymatgen']}, Python {meta['python']}, {meta['machine']}; "
        f"{args.rows} rows per call; per-row CPU time, best of {args.repeats} alternating repeats. "
        "Overhead = SKS time / time of the direct path doing the same work - 1 "
        "(for XRD that path includes the broadening onto the 801-point grid).",
        "",
        "Two ways of calling the SKS: all rows in one call, and one row per call on the same "
        "context (what training does: a few rows per context per call; the prepared context "
        "is cached between calls).",
        "",
        "| SKS | structure | direct rows/s | baseline | SKS rows/s | overhead | SKS rows/s, 1 row per call | overhead |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        cps = r["calls_per_s"]
        lines.append(f"| {r['sks']} | {r['structure']} | {cps[r['baseline']]:.1f} | {r['baseline']} | "
                     f"{cps['sks']:.1f} | {r['overhead_pct']:+.1f} % | {cps['sks, 1 row per call']:.1f} | "
                     f"{r['overhead_1_row_pct']:+.1f} % |")
    xrd = [r for r in results if r["sks"] == "pymatgen-xrd"]
    if xrd:
        lines += ["", "XRD without the broadening (get_pattern alone):", "",
                  "| structure | get_pattern calls/s | SKS calls/s | SKS / get_pattern - 1 |", "|---|---:|---:|---:|"]
        for r in xrd:
            cps = r["calls_per_s"]
            lines.append(f"| {r['structure']} | {cps['direct get_pattern']:.1f} | {cps['sks']:.1f} | "
                         f"{100 * (cps['direct get_pattern'] / cps['sks'] - 1):+.1f} % |")
    (RESULTS / "pymatgen_overhead.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    write(measure(args.rows, args.repeats), args)


if __name__ == "__main__":
    main()
