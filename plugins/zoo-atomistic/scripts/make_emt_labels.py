#!/usr/bin/env python
"""Make zoo_atomistic/data/fcc_alloys_emt.csv: ASE-EMT equilibrium lattice constants of
random fcc alloys, the labels of ``eam-alloy-lattice`` (``fcc-alloy-lattice`` with
``labels="emt"``).

That task trains THROUGH LAMMPS EAM (the ``lammps`` knowledge source), so its labels come
from a different model, ASE's EMT, on exactly the structures the task builds
(``zoo_atomistic.alloys.random_fcc_alloy``). Each structure is relaxed in EMT: atom positions
and an isotropic cell (``UnitCellFilter(hydrostatic_strain=True)`` and BFGS until every force
and the virial per atom are below 1e-4 eV/Å, so |P| < ~1e-3 GPa), and a0 = (4 V / N)^(1/3).

Needs ASE (zoo-atomistic itself does not). Run from the repo root:

    python plugins/zoo-atomistic/scripts/make_emt_labels.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

PLUGIN_DIR = Path(__file__).resolve().parents[1]
DEFAULT_OUT = PLUGIN_DIR / "zoo_atomistic" / "data" / "fcc_alloys_emt.csv"
sys.path.insert(0, str(PLUGIN_DIR))

from zoo_atomistic.alloys import ELEMENTS, atom_counts, random_fcc_alloy  # noqa: E402

#: EMT lattice constants of the pure metals, only the Vegard's-law starting guess
A_GUESS = {"Cu": 3.59, "Ag": 4.07, "Au": 4.06, "Ni": 3.50, "Pd": 3.93, "Pt": 3.94}
N_SITES = 32
N_COMPONENT_PROBS = {2: 0.35, 3: 0.30, 4: 0.15, 5: 0.10, 6: 0.10}
FMAX, PMAX_GPA = 1e-4, 5e-3


def compositions(n: int, seed: int) -> list[tuple[np.ndarray, int]]:
    """6 pure metals, 15 equimolar binaries, then random alloys (no repeats)."""
    k = len(ELEMENTS)
    fixed = [np.eye(k, dtype=int)[i] * N_SITES for i in range(k)]
    fixed += [(np.eye(k, dtype=int)[i] + np.eye(k, dtype=int)[j]) * (N_SITES // 2)
              for i in range(k) for j in range(i + 1, k)]
    rng = np.random.default_rng(seed)
    rows = [(c, int(rng.integers(0, 2**31 - 1))) for c in fixed]
    seen = {tuple(c) for c in fixed}
    sizes = np.array(sorted(N_COMPONENT_PROBS))
    probs = np.array([N_COMPONENT_PROBS[s] for s in sizes])
    while len(rows) < n:
        chosen = np.sort(rng.choice(k, size=int(rng.choice(sizes, p=probs)), replace=False))
        frac = np.zeros(k)
        frac[chosen] = rng.dirichlet(np.ones(len(chosen)))
        counts = atom_counts(frac, N_SITES)
        if np.any(counts[chosen] == 0) or tuple(counts) in seen:
            continue
        seen.add(tuple(counts))
        rows.append((counts, int(rng.integers(0, 2**31 - 1))))
    return rows


def relax(fractions: np.ndarray, seed: int) -> tuple[float, float, float, int]:
    from ase import Atoms
    from ase.calculators.emt import EMT
    from ase.filters import UnitCellFilter
    from ase.optimize import BFGS
    from ase.units import GPa

    a0 = float(sum(f * A_GUESS[e] for f, e in zip(fractions, ELEMENTS)))
    st = random_fcc_alloy(fractions, seed, repeat=2, a=a0)
    atoms = Atoms(st.symbols, positions=st.positions, cell=st.cell, pbc=True)
    atoms.calc = EMT()
    filt = UnitCellFilter(atoms, hydrostatic_strain=True)
    opt = BFGS(filt, logfile=None)
    # fmax on the filter covers the atom forces and the virial / N (V sigma / N < FMAX:
    # |P| < ~1e-3 GPa, i.e. a0 to ~1e-5 A at dP/da ~ 100 GPa/A)
    opt.run(fmax=FMAX, steps=2000)
    p = -atoms.get_stress()[:3].mean() / GPa
    fmax = float(np.abs(atoms.get_forces()).max())
    if fmax > FMAX or abs(p) > PMAX_GPA:
        raise RuntimeError(f"relaxation did not converge: fmax {fmax}, P {p} GPa")
    a = (4 * atoms.get_volume() / len(atoms)) ** (1 / 3)
    return a, atoms.get_potential_energy() / len(atoms), p, opt.nsteps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=240)
    ap.add_argument("--seed", type=int, default=20250722)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    import ase

    t0 = time.perf_counter()
    rows = compositions(args.n, args.seed)
    out = []
    max_p = 0.0
    for i, (counts, seed) in enumerate(rows):
        frac = counts / N_SITES
        a, epa, p, steps = relax(frac, seed)
        max_p = max(max_p, abs(p))
        out.append(",".join([str(i), *(f"{f:.5f}" for f in frac), str(seed), f"{a:.6f}", f"{epa:.6f}"]))
    header = [
        "EMT equilibrium lattice constants of random fcc alloys (labels of zoo's eam-alloy-lattice task).",
        f"Made by: python plugins/zoo-atomistic/scripts/make_emt_labels.py --n {args.n} --seed {args.seed}",
        f"Model: ASE {ase.__version__} EMT (NOT the LAMMPS EAM the task trains through).",
        "Structures: zoo_atomistic.alloys.random_fcc_alloy(fractions, seed, repeat=2): 32-atom cubic fcc "
        "cells, largest-remainder counts, sites permuted by numpy default_rng(seed).",
        "Compositions: 6 pure, 15 equimolar binaries, random rest (2-6 components, Dirichlet(1)); "
        "fractions are exact count/32.",
        f"Relaxation: positions + isotropic cell, UnitCellFilter(hydrostatic_strain=True) + BFGS "
        f"to fmax {FMAX} eV/A; max |P| after relaxation {max_p:.1e} GPa.",
        "a0_emt = (4 V / N)^(1/3) [Angstrom]; energy_per_atom_emt [eV].",
    ]
    cols = ["id", *ELEMENTS, "seed", "a0_emt", "energy_per_atom_emt"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join([f"# {h}" for h in header] + [",".join(cols)] + out) + "\n")
    print(f"wrote {len(out)} rows to {args.out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
