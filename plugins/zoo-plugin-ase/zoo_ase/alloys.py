"""Random fcc alloys of Cu, Ag, Au, Ni, Pd and Pt as ``ase.Atoms``.

The builder is zoo-atomistic's (:mod:`zoo_atomistic.alloys`: one for every code, so the
labels made with one code and the physics of another see the same structures); this
module hands its structures out as ``ase.Atoms`` (``pbc=True``, ideal fcc sites), for
scripts and tests that want ASE's objects.
"""

from __future__ import annotations

from collections.abc import Sequence

from ase import Atoms
from zoo_atomistic import alloys as _alloys
from zoo_atomistic.alloys import ELEMENTS, atom_counts, composition_string

from .structures import to_atoms


def random_fcc_alloy(fractions: Sequence[float], seed: int, repeat: int = 2, a: float = 1.0) -> Atoms:
    """:func:`zoo_atomistic.alloys.random_fcc_alloy` as an ``ase.Atoms``: ``4 * repeat**3``
    atoms in a cubic cell of edge ``repeat * a`` Å, species placed by ``seed``."""
    return to_atoms(_alloys.random_fcc_alloy(fractions, seed, repeat, a))


__all__ = ["ELEMENTS", "atom_counts", "composition_string", "random_fcc_alloy"]
