"""Random fcc alloys of the six late transition metals that ASE's EMT and the LAMMPS
``*_u3.eam`` potentials both describe, as neutral :class:`~zoo_atomistic.Structure`\\ s.

The alloy tasks train through one code while their labels come from another, on the very
same structures (``scripts/make_fcc_alloy_data.py``, ``scripts/make_emt_labels.py``), so
the builder lives in one place and needs nothing but numpy.

A structure is fixed by ``(fractions, seed, repeat)``:

* the cell is the conventional cubic fcc cell repeated ``repeat`` times along each axis
  (``4 * repeat**3`` sites, 32 for the default ``repeat=2``), sites in the order of ASE's
  ``bulk("Cu", "fcc", cubic=True).repeat(repeat)``;
* the fractions become integer atom counts by largest-remainder rounding, so the counts
  always add up to the number of sites;
* species go on the sites by a permutation drawn from ``numpy.random.default_rng(seed)``.

The lattice constant ``a`` only scales the cell; callers that search for an equilibrium
lattice constant build once (``a=1``) and rescale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .structure import Structure

#: The elements, in the fixed order of fraction vectors, label-file columns and LAMMPS atom
#: types: the fcc metals that both ASE's EMT and LAMMPS's Foiles u3 funcfl files cover.
ELEMENTS: tuple[str, ...] = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt")

_BASIS = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])


def as_fractions(fractions: Sequence[float]) -> np.ndarray:
    """A fraction vector over :data:`ELEMENTS`, checked (non-negative, summing to 1 within
    1e-6) and renormalised exactly, so rounding noise from e.g. ``1/3`` does not matter."""
    f = np.asarray(fractions, dtype=float).reshape(-1)
    if f.shape != (len(ELEMENTS),):
        raise ValueError(f"fractions must have length {len(ELEMENTS)} (one per element of {ELEMENTS}), "
                         f"got shape {f.shape}")
    if not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"fractions must be finite and non-negative, got {f.tolist()}")
    if abs(f.sum() - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got sum {f.sum()!r}")
    return f / f.sum()


def atom_counts(fractions: Sequence[float], n_atoms: int) -> np.ndarray:
    """Integer atom counts for ``fractions`` on ``n_atoms`` sites.

    Largest-remainder (Hamilton) rounding: every element first gets ``floor(f_i n_atoms)``
    atoms, and the sites left over go one each to the largest remainders (ties to the
    earlier element of :data:`ELEMENTS`). The counts sum to ``n_atoms``, and each differs
    from ``f_i n_atoms`` by less than 1.
    """
    f = as_fractions(fractions)
    n_atoms = int(n_atoms)
    if n_atoms < 1:
        raise ValueError(f"n_atoms must be positive, got {n_atoms}")
    exact = f * n_atoms
    counts = np.minimum(np.floor(exact + 1e-9).astype(int), n_atoms)
    left = n_atoms - int(counts.sum())
    if left > 0:
        counts[np.argsort(-(exact - counts), kind="stable")[:left]] += 1
    elif left < 0:  # only through the 1e-9 guard: take back from the smallest remainders
        for i in np.argsort(exact - counts, kind="stable"):
            if left == 0:
                break
            if counts[i] > 0:
                counts[i] -= 1
                left += 1
    return counts


def fcc_sites(repeat: int, a: float = 1.0) -> np.ndarray:
    """Cartesian sites of the cubic fcc cell repeated ``repeat`` times along each axis."""
    shifts = np.array([(i, j, k) for i in range(repeat) for j in range(repeat) for k in range(repeat)])
    return ((shifts[:, None, :] + _BASIS[None]) * a).reshape(-1, 3)


def random_fcc_alloy(fractions: Sequence[float], seed: int, repeat: int = 2, a: float = 1.0) -> Structure:
    """A randomly decorated cubic fcc supercell: ``4 * repeat**3`` atoms, edge ``repeat * a``
    (Å), periodic; the same ``(fractions, seed, repeat, a)`` always give the same structure."""
    repeat = int(repeat)
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    positions = fcc_sites(repeat, float(a))
    n = len(positions)
    species = np.repeat(np.array(ELEMENTS), atom_counts(fractions, n))
    symbols = np.empty(n, dtype=object)
    symbols[np.random.default_rng(int(seed)).permutation(n)] = species
    return Structure(np.eye(3) * repeat * float(a), positions, tuple(symbols))


def composition_string(fractions: Sequence[float], digits: int = 2) -> str:
    """A label such as ``"Cu0.50Ni0.50"`` (zero fractions skipped), for tables and logs."""
    f = np.asarray(fractions, dtype=float).reshape(-1)
    if f.shape != (len(ELEMENTS),):
        raise ValueError(f"fractions must have length {len(ELEMENTS)}, got shape {f.shape}")
    return "".join(f"{el}{x:.{digits}f}" for el, x in zip(ELEMENTS, f) if x > 0)


__all__ = ["ELEMENTS", "as_fractions", "atom_counts", "composition_string", "fcc_sites", "random_fcc_alloy"]
