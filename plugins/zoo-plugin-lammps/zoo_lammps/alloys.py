"""Random fcc alloys of Cu, Ag, Au, Ni, Pd, Pt as :class:`Structure` (no ASE).

The six fcc metals that both ASE's EMT and LAMMPS's ``<El>_u3.eam`` potentials cover. The
default task (:mod:`zoo_lammps.alloy_task`) trains through LAMMPS EAM on these structures
while its labels come from ASE's EMT on the very same structures
(``scripts/make_emt_labels.py``), so the builder lives in one place.

A structure is fixed by ``(fractions, seed, repeat)``, built the way zoo-plugin-ase builds
it (``ase.build.bulk(..., cubic=True).repeat(repeat)`` site order, largest-remainder atom
counts, sites permuted by ``numpy.random.default_rng(seed)``), so both plugins give the
same alloy for the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .structure import Structure

ELEMENTS: tuple[str, ...] = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt")

_BASIS = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])


def atom_counts(fractions: Sequence[float], n_atoms: int) -> np.ndarray:
    """Integer counts for ``fractions`` on ``n_atoms`` sites, largest-remainder rounding
    (ties to the earlier element), always summing to ``n_atoms``."""
    f = np.asarray(fractions, dtype=float).reshape(-1)
    if f.shape != (len(ELEMENTS),) or not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"fractions must be {len(ELEMENTS)} non-negative numbers, got {f.tolist()}")
    if abs(f.sum() - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {f.sum()!r}")
    exact = f / f.sum() * n_atoms
    counts = np.minimum(np.floor(exact + 1e-9).astype(int), n_atoms)
    left = n_atoms - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:left]] += 1
    return counts


def fcc_sites(repeat: int, a: float = 1.0) -> np.ndarray:
    """Cartesian sites of the cubic fcc cell repeated ``repeat`` times along each axis."""
    shifts = np.array([(i, j, k) for i in range(repeat) for j in range(repeat) for k in range(repeat)])
    return ((shifts[:, None, :] + _BASIS[None]) * a).reshape(-1, 3)


def random_fcc_alloy(fractions: Sequence[float], seed: int, repeat: int = 2, a: float = 1.0) -> Structure:
    """A randomly decorated cubic fcc supercell (``4 * repeat**3`` atoms, edge ``repeat*a``)."""
    repeat = int(repeat)
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    positions = fcc_sites(repeat, float(a))
    n = len(positions)
    species = np.repeat(np.array(ELEMENTS), atom_counts(fractions, n))
    symbols = np.empty(n, dtype=object)
    symbols[np.random.default_rng(int(seed)).permutation(n)] = species
    return Structure(np.eye(3) * repeat * float(a), positions, tuple(symbols))
