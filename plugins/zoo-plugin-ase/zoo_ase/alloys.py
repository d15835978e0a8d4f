"""Random fcc alloys of the six late transition metals shared by ASE's EMT and
the LAMMPS ``*_u3.eam`` potentials.

Why this module exists
----------------------
zoo's default ASE task learns a property of random fcc alloys *through* ASE's
EMT calculator, while the labels come from a different model (LAMMPS EAM, see
``scripts/make_fcc_alloy_data.py`` and ``zoo_ase/data/fcc_alloys_eam.csv``).
Both sides must build *exactly* the same atomic structure for a given row of
the dataset, so the structure builder lives here, in one place, and depends on
nothing but numpy and ASE (no LAMMPS needed to import it or to train).

A structure is fully determined by ``(fractions, seed, repeat)``:

* the cell is the conventional cubic fcc cell of ``ase.build.bulk`` repeated
  ``repeat`` times along each axis (``4 * repeat**3`` sites; 32 for the default
  ``repeat=2``);
* the fractions are turned into integer atom counts by largest-remainder
  rounding, so the counts always add up to the number of sites;
* species are put on sites by a permutation drawn from
  ``numpy.random.default_rng(seed)``.

The lattice parameter ``a`` only scales the cell; callers that search for an
equilibrium lattice constant build once and rescale the cell.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk

#: The elements, in the fixed order used for fraction vectors, LAMMPS atom
#: types and CSV columns.  These are the fcc metals that both ASE's EMT and the
#: LAMMPS ``*_u3.eam`` (Foiles universal-3) funcfl potentials parameterise.
ELEMENTS: tuple[str, ...] = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt")


def _as_fractions(fractions: Sequence[float]) -> np.ndarray:
    """Validate a fraction vector over :data:`ELEMENTS` and return it as floats.

    Fractions must be non-negative and sum to 1 (to 1e-6); they are then
    renormalised exactly so rounding noise from e.g. ``1/3`` does not matter.
    """
    f = np.asarray(fractions, dtype=float).reshape(-1)
    if f.shape != (len(ELEMENTS),):
        raise ValueError(
            f"fractions must have length {len(ELEMENTS)} (one per element of "
            f"{ELEMENTS}), got shape {f.shape}"
        )
    if not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"fractions must be finite and non-negative, got {f.tolist()}")
    total = f.sum()
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got sum {total!r}")
    return f / total


def atom_counts(fractions: Sequence[float], n_atoms: int) -> np.ndarray:
    """Integer atom counts for ``fractions`` on ``n_atoms`` sites.

    Largest-remainder (Hamilton) rounding: every element first gets
    ``floor(f_i * n_atoms)`` atoms, and the sites left over go one each to the
    elements with the largest fractional remainders (ties broken by the order
    of :data:`ELEMENTS`, so the result is deterministic).  The counts always sum
    to ``n_atoms``, and each count differs from ``f_i * n_atoms`` by less than 1.
    """
    f = _as_fractions(fractions)
    n_atoms = int(n_atoms)
    if n_atoms < 1:
        raise ValueError(f"n_atoms must be positive, got {n_atoms}")
    exact = f * n_atoms
    counts = np.floor(exact + 1e-9).astype(int)
    counts = np.minimum(counts, n_atoms)
    left = n_atoms - int(counts.sum())
    if left > 0:
        remainder = exact - counts
        # stable sort on -remainder: larger remainder first, then ELEMENTS order
        order = np.argsort(-remainder, kind="stable")
        counts[order[:left]] += 1
    elif left < 0:  # only possible through the 1e-9 guard; undo from the smallest
        remainder = exact - counts
        order = np.argsort(remainder, kind="stable")
        for i in order:
            if left == 0:
                break
            if counts[i] > 0:
                counts[i] -= 1
                left += 1
    assert counts.sum() == n_atoms and np.all(counts >= 0)
    return counts


def random_fcc_alloy(
    fractions: Sequence[float], seed: int, repeat: int = 2, a: float = 1.0
) -> Atoms:
    """Build a randomly decorated fcc supercell.

    Parameters
    ----------
    fractions:
        Length-6 sequence of non-negative fractions over :data:`ELEMENTS`
        summing to 1.  They are rounded to integer counts with
        :func:`atom_counts` (largest remainder); the returned structure's
        actual composition is ``counts / len(atoms)``.
    seed:
        Seed for ``numpy.random.default_rng``; the site permutation is the
        only random choice, so the same ``(fractions, seed, repeat, a)`` always
        gives the same structure.
    repeat:
        Repetitions of the 4-atom cubic fcc cell along each axis
        (``4 * repeat**3`` atoms).
    a:
        Cubic lattice parameter in Å (the supercell edge is ``repeat * a``).

    Returns
    -------
    ase.Atoms
        Periodic (``pbc=True``) cubic cell with ideal fcc positions.
    """
    repeat = int(repeat)
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    atoms = bulk("Cu", "fcc", a=float(a), cubic=True).repeat(repeat)
    n = len(atoms)
    counts = atom_counts(fractions, n)
    species = np.repeat(np.array(ELEMENTS), counts)
    perm = np.random.default_rng(int(seed)).permutation(n)
    symbols = np.empty(n, dtype=object)
    symbols[perm] = species
    atoms.set_chemical_symbols(list(symbols))
    atoms.pbc = True
    return atoms


def composition_string(fractions: Sequence[float], digits: int = 2) -> str:
    """Compact label such as ``"Cu0.50Ni0.50"``; zero fractions are skipped.

    Elements appear in :data:`ELEMENTS` order, each with ``digits`` decimals.
    Meant for tables, plot legends and log lines, not for parsing back.
    """
    f = np.asarray(fractions, dtype=float).reshape(-1)
    if f.shape != (len(ELEMENTS),):
        raise ValueError(f"fractions must have length {len(ELEMENTS)}, got shape {f.shape}")
    return "".join(
        f"{el}{x:.{digits}f}" for el, x in zip(ELEMENTS, f) if x > 0
    )


__all__ = ["ELEMENTS", "atom_counts", "random_fcc_alloy", "composition_string"]
