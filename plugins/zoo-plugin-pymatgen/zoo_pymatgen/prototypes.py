"""Crystal prototypes for the XRD task, built in code with ``Structure.from_spacegroup``.

Four cubic and three tetragonal structure types, each with one real compound at its
room-temperature lattice (a, c in Å, rounded). Their cells hold 2 to 6 sites, which keeps
one pymatgen XRD pattern at a few milliseconds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Prototype:
    name: str
    spacegroup: str
    species: tuple[str, ...]
    coords: tuple[tuple[float, float, float], ...]
    a: float
    c: float
    tetragonal: bool

    def structure(self, a: float | None = None, c: float | None = None):
        """A new conventional cell at (a, c) (default: the reference lattice)."""
        from pymatgen.core import Lattice

        a = self.a if a is None else a
        c = (self.c if self.tetragonal else a) if c is None else c
        s = _reference(self).copy()
        s.lattice = Lattice.tetragonal(a, c)  # the sites keep their fractional coordinates
        return s


@functools.lru_cache(maxsize=None)
def _reference(p: Prototype):
    """The cell at the reference lattice, built once: ``from_spacegroup`` takes ~0.5 s."""
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(p.spacegroup, Lattice.tetragonal(p.a, p.c), list(p.species),
                                     [list(x) for x in p.coords])


PROTOTYPES = (
    Prototype("B2-CsCl", "Pm-3m", ("Cs", "Cl"), ((0, 0, 0), (0.5, 0.5, 0.5)), 4.12, 4.12, False),
    Prototype("A2-W", "Im-3m", ("W",), ((0, 0, 0),), 3.165, 3.165, False),
    Prototype("A1-Cu", "Fm-3m", ("Cu",), ((0, 0, 0),), 3.615, 3.615, False),
    Prototype("E21-SrTiO3", "Pm-3m", ("Sr", "Ti", "O"), ((0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)), 3.905, 3.905, False),
    Prototype("L10-CuAu", "P4/mmm", ("Cu", "Au"), ((0, 0, 0), (0.5, 0.5, 0.5)), 2.80, 3.67, True),
    Prototype("A6-In", "I4/mmm", ("In",), ((0, 0, 0),), 3.25, 4.95, True),
    Prototype("C4-TiO2", "P4_2/mnm", ("Ti", "O"), ((0, 0, 0), (0.305, 0.305, 0)), 4.594, 2.959, True),
)
