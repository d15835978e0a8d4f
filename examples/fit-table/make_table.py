"""Make ``morse.csv`` and ``cell.xyz`` for the fit-table example.

64 Morse solids, each described by its dimer bond length ``r0`` (Å) and stiffness ``rho0``
(known for all: side labels), with the fcc lattice constant ``a`` (Å, the target) where
ASE's MorsePotential gives zero pressure — recorded for 16 of them only, as if measured.
``bond`` and ``stiffness`` repeat r0 and rho0 as the model's features.

    python examples/fit-table/make_table.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.io import write
from scipy.optimize import brentq

import zoo

HERE = Path(__file__).resolve().parent


def main() -> None:
    write(HERE / "cell.xyz", bulk("Cu", "fcc", a=3.6, cubic=True))
    sks = zoo.knowledge_source("ase-morse", inputs=["lattice_constant", "r0", "rho0"], outputs="pressure",
                               structure=str(HERE / "cell.xyz"))
    rng = np.random.default_rng(0)
    rows = ["# made by make_table.py: a is ASE MorsePotential's zero-pressure fcc lattice constant",
            "bond,stiffness,r0,rho0,a"]
    for i, (bond, stiffness) in enumerate(zip(rng.uniform(2.2, 2.9, 64), rng.uniform(3.0, 9.0, 64))):
        a = brentq(lambda a: sks([[a, bond, stiffness]])[0, 0], 1.0 * bond, 1.8 * bond, xtol=1e-8)
        measured = f"{a:.5f}" if i % 4 == 0 else ""
        rows.append(f"{bond:.5f},{stiffness:.4f},{bond:.5f},{stiffness:.4f},{measured}")
    (HERE / "morse.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
