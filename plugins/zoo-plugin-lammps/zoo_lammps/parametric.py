"""The parametric pair styles: Lennard-Jones and Morse, one set of parameters for every pair.

Their parameters are zoo-atomistic's pair-potential kinds (``epsilon``, ``sigma``; ``epsilon``,
``r0``, ``rho0``), as options or as model inputs; :class:`Family` turns them into LAMMPS's
``pair_coeff`` numbers (Morse: D0 = epsilon, alpha = rho0 / r0, r0). LAMMPS's own Morse
names ``D0`` and ``alpha`` are still understood, with a DeprecationWarning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from zoo_atomistic import PAIR_POTENTIALS

from . import safety
from .potentials import PairModel


@dataclass(frozen=True)
class Family:
    """A parametric pair style, in zoo-atomistic's vocabulary: the pair potential it
    computes (its parameters named as :data:`zoo_atomistic.PAIR_POTENTIALS` names them),
    LAMMPS's ``pair_coeff`` parameters in order, and the default cutoff in units of the
    potential's length parameter.

    ``slots`` lists, per vocabulary parameter, the names that may give it: the vocabulary's
    first, then LAMMPS's own where it differs (deprecated: Morse's ``D0`` is the
    vocabulary's epsilon, ``alpha`` is rho0 / r0).
    """

    styles: tuple[str, ...]
    potential: str
    coeffs: tuple[str, ...]
    cutoff_scale: float
    slots: tuple[tuple[str, ...], ...]

    @property
    def parameters(self) -> tuple[str, ...]:
        return PAIR_POTENTIALS[self.potential].parameters

    @property
    def length(self) -> str:
        return PAIR_POTENTIALS[self.potential].length

    @property
    def names(self) -> tuple[str, ...]:
        """Every name that gives one of its parameters (vocabulary, then LAMMPS's own)."""
        return tuple(n for slot in self.slots for n in slot)

    def coefficients(self, v: dict[str, float]) -> tuple[float, ...]:
        """LAMMPS's ``pair_coeff`` numbers from a complete set of parameters."""
        if self.potential == "morse":  # E = D0 [e^(-2 alpha (r - r0)) - 2 e^(-alpha (r - r0))]
            alpha = v["alpha"] if "alpha" in v else v["rho0"] / v["r0"]
            return (v["D0"] if "D0" in v else v["epsilon"], alpha, v["r0"])
        return tuple(v[n] for n in self.coeffs)


#: ``lj/cut`` and ``morse`` shift the pair energy to zero at the cutoff (``pair_modify
#: shift yes``, as ASE's LennardJones with ``smooth=False``) but the force still jumps
#: there, so the pressure jumps whenever a neighbour shell crosses the cutoff. The
#: ``*/smooth/linear`` styles are force-shifted (energy and force both reach zero at the
#: cutoff), which keeps the pressure continuous in the lattice constant and in a length
#: parameter the cutoff follows: what finite-difference gradients need, and the style
#: this source picks when the potential's parameters are inputs and no pair_style is
#: given. Default cutoffs: 3 sigma (ASE's LennardJones) and 2.7 r0 (ASE's MorsePotential
#: outer cutoff).
FAMILIES = (
    Family(("lj/cut", "lj/smooth/linear"), "lennard-jones", ("epsilon", "sigma"), 3.0,
           (("epsilon",), ("sigma",))),
    Family(("morse", "morse/smooth/linear"), "morse", ("D0", "alpha", "r0"), 2.7,
           (("epsilon", "D0"), ("r0",), ("rho0", "alpha"))),
)
#: LAMMPS's own names of Morse parameters: still understood, with a DeprecationWarning
DEPRECATED = {"D0": "epsilon (the same number)", "alpha": "rho0 = alpha r0"}
#: every name of a pair parameter these styles take (options and inputs)
PAIR_PARAMETERS = tuple(dict.fromkeys(n for f in FAMILIES for n in f.names))


@dataclass
class Parametric(PairModel):
    """One parametric pair style (see :data:`FAMILIES`) with one set of parameters for all
    pairs, whatever the species: fixed ones from the options, the others (``params``) from
    each input row.

    ``cutoff`` (Å) None means ``cutoff_scale`` times the length parameter of the row.
    ``shift`` applies to the styles that are not force-shifted.
    """

    family: Family | None = None
    fixed: dict[str, float] = field(default_factory=dict)
    cutoff: float | None = None
    cutoff_scale: float = 1.0
    shift: bool = True
    #: species-blind: every batch can share one set of atom types
    species_blind: ClassVar[bool] = True

    def values(self, row: dict[str, float] | None) -> tuple[float, ...] | None:
        """The ``pair_coeff`` numbers of a row (parameters, then cutoff), or None if they
        are not physical (that row is NaN)."""
        merged = {**self.fixed, **(row or {})}
        if not all(v == v and abs(v) < float("inf") for v in merged.values()):
            return None
        if any(v < 0 or (v == 0 and n not in ("epsilon", "D0")) for n, v in merged.items()):
            return None
        vals = self.family.coefficients(merged)
        cut = self.cutoff if self.cutoff is not None else self.cutoff_scale * merged[self.family.length]
        if not all(v == v and abs(v) < float("inf") for v in (*vals, cut)) or cut <= 0:
            return None
        return (*vals, cut)

    def lines(self, types, link, values=None):
        out = [f"pair_style {self.style} {safety.fmt(self.values(values)[-1])}"]
        out += self.row_lines(types, values)
        if self.shift and not self.style.endswith("/smooth/linear"):
            out.append("pair_modify shift yes")
        return out

    def row_lines(self, types, values):
        return ["pair_coeff * * " + " ".join(safety.fmt(v) for v in self.values(values))]
