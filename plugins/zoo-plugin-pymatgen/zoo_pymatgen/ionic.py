"""Rock-salt AX compounds, built in code from pymatgen's element data (no files, no network).

The data behind the default tasks of ``pymatgen-bvs`` and ``pymatgen-ewald``: 48 AX
compounds of an alkali (Li-Cs) with a halide, or of Mg, Ca, Sr, Ba, Ni, Cd, Zn with a
chalcogenide (O-Te), all put on the rock-salt (B1) lattice.

Labels come from models other than the knowledge sources the tasks train through:

* lattice constant: the additive-radii rule a = 2 (r_cation + r_anion) with Shannon's
  six-coordinate ionic radii (``Species.get_shannon_radius("VI")``), which the radii were
  fitted to reproduce;
* lattice energy: the Born-Lande equation U = -M z^2 e^2 / (4 pi eps0 r0) (1 - 1/n) per
  formula unit, at r0 = a/2 from the radii, with the rock-salt Madelung constant
  M = 1.747565 and the Born exponent n averaged over the two ions (Pauling's values by
  noble-gas core: He 5, Ne 7, Ar 9, Kr 10, Xe 12; d10 ions as the noble gas below them).

The model sees only element descriptors (period, group, Pauling electronegativity,
pymatgen's empirical atomic radius, charge), never the Shannon radii.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: e^2 / (4 pi eps0) in eV Å (CODATA)
COULOMB = 14.399645
#: rock-salt Madelung constant, referred to the nearest-neighbour distance
MADELUNG_ROCKSALT = 1.747565

CATIONS = {1: ("Li", "Na", "K", "Rb", "Cs"), 2: ("Mg", "Ca", "Sr", "Ba", "Ni", "Cd", "Zn")}
ANIONS = {1: ("F", "Cl", "Br", "I"), 2: ("O", "S", "Se", "Te")}
#: Born exponents by core (Pauling): He 5, Ne 7, Ar 9, Kr 10, Xe 12; Ni2+, Zn2+ ~ Ar (9), Cd2+ ~ Kr (10)
BORN_EXPONENT = {
    "Li": 5, "Na": 7, "K": 9, "Rb": 10, "Cs": 12, "Mg": 7, "Ca": 9, "Sr": 10, "Ba": 12,
    "Ni": 9, "Zn": 9, "Cd": 10, "F": 7, "Cl": 9, "Br": 10, "I": 12, "O": 7, "S": 9, "Se": 10, "Te": 12,
}


@dataclass(frozen=True)
class Compound:
    cation: str
    anion: str
    charge: int
    #: rock-salt lattice constant from Shannon's radii, Å
    a_shannon: float

    @property
    def formula(self) -> str:
        return f"{self.cation}{self.anion}"

    @property
    def born_exponent(self) -> float:
        return 0.5 * (BORN_EXPONENT[self.cation] + BORN_EXPONENT[self.anion])

    def born_lande_energy(self, a: float | None = None) -> float:
        """Lattice energy in eV per formula unit at lattice constant ``a`` (default: Shannon's)."""
        r0 = 0.5 * (self.a_shannon if a is None else a)
        return -MADELUNG_ROCKSALT * self.charge**2 * COULOMB / r0 * (1.0 - 1.0 / self.born_exponent)

    def primitive(self, a: float | None = None):
        """The 2-site primitive rock-salt cell (oxidation states set) at lattice constant ``a``.

        Its lattice vectors are (0, a/2, a/2), ...; their length is a / sqrt(2).
        """
        from pymatgen.core import Lattice, Species, Structure

        a = self.a_shannon if a is None else a
        h = a / 2.0
        lattice = Lattice([[0.0, h, h], [h, 0.0, h], [h, h, 0.0]])
        species = [Species(self.cation, self.charge), Species(self.anion, -self.charge)]
        return Structure(lattice, species, [[0, 0, 0], [0.5, 0.5, 0.5]])


def compounds() -> list[Compound]:
    """The 48 rock-salt compounds, in a fixed order."""
    from pymatgen.core import Species

    out = []
    for z in (1, 2):
        for cat in CATIONS[z]:
            for an in ANIONS[z]:
                r = Species(cat, z).get_shannon_radius("VI") + Species(an, -z).get_shannon_radius("VI")
                out.append(Compound(cat, an, z, 2.0 * float(r)))
    return out


def descriptors(compound: Compound) -> list[float]:
    """Cation then anion: period, group, Pauling electronegativity, atomic radius; then |z|."""
    from pymatgen.core import Element

    row = []
    for symbol in (compound.cation, compound.anion):
        el = Element(symbol)
        row += [float(el.row), float(el.group), float(el.X), float(el.atomic_radius)]
    return row + [float(compound.charge)]


def feature_matrix(items: list[Compound]) -> np.ndarray:
    """Descriptors of ``items``, standardised column by column over the whole set."""
    x = np.array([descriptors(c) for c in items])
    return (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)


#: atoms in the conventional rock-salt cell, whose edge is the lattice constant a: with it,
#: the vocabulary's lattice_constant of a primitive cell (2 atoms, a^3 / 4) is a itself
ATOMS_PER_CELL = 8
