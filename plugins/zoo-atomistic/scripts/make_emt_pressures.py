#!/usr/bin/env python
"""Make zoo_atomistic/data/fcc_alloys_emt_pressures.csv: ASE EMT pressures of random fcc
alloys at strained lattice constants, the labels of ``lj-alloy-eos`` and ``morse-alloy-eos``.

Those tasks fit a pair potential (through ASE's LJ or Morse, or LAMMPS) to the pressures of
a different model, ASE's EMT. The labels are computed here once, so the tasks run where ASE
is not installed (a LAMMPS-only install). For every alloy of ``fcc_alloys_eam.csv``
(its fractions and decoration seeds) the 32-atom structure
``zoo_atomistic.alloys.random_fcc_alloy(fractions, seed, repeat=2)``, ideal sites, is put at
``a = a_V (1 + s)`` for each strain s, with ``a_V`` Vegard's law over ASE's reference fcc
lattice constants, and ASE's own EMT (not asap3) gives P = -trace(stress)/3 in GPa. One
column ``p+0.030`` per strain; values with 17 significant digits (they read back exactly).

Needs ASE. Run from the repository root (about 30 s):

    python plugins/zoo-atomistic/scripts/make_emt_pressures.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

PLUGIN_DIR = Path(__file__).resolve().parents[1]
DATA = PLUGIN_DIR / "zoo_atomistic" / "data"
sys.path.insert(0, str(PLUGIN_DIR))

from zoo_atomistic.alloys import ELEMENTS, random_fcc_alloy  # noqa: E402
from zoo_atomistic.tasks.labels import lattice_labels, vegard_lattice_constant  # noqa: E402

#: -6 % to +6 % in steps of 1 %: k / 100 is the double nearest each decimal, as a literal is
STRAINS = [k / 100 for k in range(-6, 7)]


def emt_pressures(fractions: np.ndarray, seed: int, lattice_constants: np.ndarray) -> np.ndarray:
    """ASE EMT pressure (GPa) of the 32-atom random alloy at each lattice constant."""
    from ase import Atoms
    from ase.calculators.emt import EMT
    from ase.units import GPa

    st = random_fcc_alloy(fractions, seed, repeat=2, a=1.0)
    template = Atoms(st.symbols, positions=st.positions, cell=st.cell, pbc=True)
    calc = EMT()
    out = []
    for a in lattice_constants:
        atoms = template.copy()
        atoms.set_cell(atoms.cell * a, scale_atoms=True)
        atoms.calc = calc
        out.append(-atoms.get_stress(voigt=True)[:3].mean() / GPa)
    return np.array(out)


def table(strains: list[float]) -> list[str]:
    """The CSV rows (header first) for the alloys of the EAM label file."""
    alloys = lattice_labels("eam")
    cols = ["id", *ELEMENTS, "seed", "a_vegard", *(f"p{s:+.3f}" for s in strains)]
    lines = [",".join(cols)]
    for i, (f, seed) in enumerate(zip(alloys.fractions, alloys.seeds)):
        a_v = vegard_lattice_constant(f)
        p = emt_pressures(f, int(seed), a_v * (1 + np.array(strains)))
        lines.append(",".join([str(i), *(f"{x:.5f}" for x in f), str(seed), repr(a_v), *(repr(float(x)) for x in p)]))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strains", type=float, nargs="+", default=STRAINS, help="strains s (default -0.06 ... 0.06)")
    ap.add_argument("--out", type=Path, default=DATA / "fcc_alloys_emt_pressures.csv")
    args = ap.parse_args(argv)
    import ase

    t0 = time.perf_counter()
    rows = table(list(args.strains))
    default = args.strains == STRAINS
    header = [
        "ASE EMT pressures of random fcc alloys at a = a_Vegard (1 + s) (labels of zoo's lj-alloy-eos, morse-alloy-eos).",
        "Made by: python plugins/zoo-atomistic/scripts/make_emt_pressures.py"
        + ("" if default else " --strains " + " ".join(repr(s) for s in args.strains)),
        f"Model: ASE {ase.__version__} EMT (ase.calculators.emt, pure Python), one calculator per alloy.",
        "Alloys: the fractions and decoration seeds of fcc_alloys_eam.csv; structures "
        "zoo_atomistic.alloys.random_fcc_alloy(fractions, seed, repeat=2): 32-atom cubic cells, ideal sites.",
        "a_vegard: fractions @ ASE's reference fcc lattice constants (Cu 3.61, Ag 4.09, Au 4.08, Ni 3.52, "
        "Pd 3.89, Pt 3.92 Angstrom); column p<s>: pressure (GPa) = -trace(stress)/3 at a = a_vegard (1 + s).",
    ]
    args.out.write_text("\n".join([f"# {h}" for h in header] + rows) + "\n")
    print(f"wrote {len(rows) - 1} alloys x {len(args.strains)} strains to {args.out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
