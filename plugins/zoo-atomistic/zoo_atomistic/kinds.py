"""The input vocabulary: what an input row of an atomistic knowledge source can set.

One table, :data:`KINDS`: every kind has one meaning, one set of column names, units and
default bounds, whichever code computes. A knowledge source takes ``inputs=KIND`` or a list
of kinds, e.g. ``inputs=["epsilon", "r0", "rho0"]`` or ``inputs="lattice_constant"``; the
row's columns are the kinds' columns in the order given. At most one kind may change the
structure (a *lattice*, *atoms* or *bonds* kind); potential parameters may stand beside it.

Lattice kinds change the cell and keep the atoms' fractional coordinates; atoms kinds move
the atoms and keep the cell; the bonds kind ``bond_length`` stretches a molecule's bonds from
its central atom (:mod:`zoo_atomistic.geometry` computes all three, and says which
structures a kind cannot change: a lattice kind needs a periodic cell). Potential kinds
are the parameters of a pair potential (:data:`PAIR_POTENTIALS`), named once for every
code: a code whose own parameters differ (LAMMPS's Morse takes D0, alpha, r0) converts
inside its plugin.

A code that cannot honour a kind says so in one error line (:func:`parse_inputs` with
``honoured``); a code with kinds of its own (ASE's ``parameters``: any calculator keyword)
passes them as ``extra``, under names the vocabulary does not use.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo import ConfigError, Spec

#: the groups of kinds: at most one kind of the first three per input row
LATTICE, ATOMS, BONDS, POTENTIAL, OWN = "lattice", "atoms", "bonds", "potential", "own"
STRUCTURAL = (LATTICE, ATOMS, BONDS)

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")
LENGTHS, ANGLES = (1.5, 15.0), (60.0, 115.0)


@dataclass(frozen=True)
class Kind:
    """One kind of input: its group, columns, default bounds, units and meaning.

    ``columns`` of a per-atom kind (``per_atom``) are templates ``"x{i}"`` repeated for
    atoms 0 .. n_atoms - 1. A bound or unit may be one value for every column.
    """

    name: str
    group: str
    columns: tuple[str, ...]
    lower: float | tuple[float, ...]
    upper: float | tuple[float, ...]
    units: str | tuple[str, ...]
    meaning: str
    per_atom: bool = False

    def names(self, n_atoms: int | None = None) -> tuple[str, ...]:
        if not self.per_atom:
            return self.columns
        if not n_atoms or int(n_atoms) < 1:
            raise ConfigError(f"inputs {self.name!r} needs the option n_atoms (atoms per structure)")
        return tuple(c.format(i=i) for i in range(int(n_atoms)) for c in self.columns)

    def defaults(self, which: str, n: int) -> np.ndarray:
        """The default ``lower`` or ``upper`` bounds of ``n`` columns (NaN: none; give one)."""
        value = getattr(self, which)
        if isinstance(value, tuple) and len(value) != n:  # per-atom: repeat per atom
            value = value * (n // len(value))
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()

    def unit_list(self, n: int) -> tuple[str, ...]:
        units = self.units
        if isinstance(units, str):
            return (units,) * n
        return tuple(units) * (n // len(units))


def _kinds(*kinds: Kind) -> dict[str, Kind]:
    return {k.name: k for k in kinds}


#: every input kind, by name
KINDS: dict[str, Kind] = _kinds(
    Kind("lattice_constant", LATTICE, ("a",), 2.0, 10.0, "Å",
         "the cubic lattice constant whose conventional cell of atoms_per_cell atoms has the "
         "structure's volume per atom, a = (atoms_per_cell V / N)^(1/3); the cell scales uniformly"),
    Kind("lattice_lengths", LATTICE, ("a", "c"), LENGTHS[0], LENGTHS[1], "Å",
         "the lengths a (= b) and c of a tetragonal or hexagonal cell: the first two lattice "
         "vectors scale together (b/a kept), the third on its own; angles kept"),
    Kind("lattice_abc", LATTICE, ("a", "b", "c"), LENGTHS[0], LENGTHS[1], "Å",
         "the three lattice-vector lengths, each vector scaled on its own; angles kept"),
    Kind("lattice_parameters", LATTICE, ("a", "b", "c", "alpha", "beta", "gamma"),
         (LENGTHS[0],) * 3 + (ANGLES[0],) * 3, (LENGTHS[1],) * 3 + (ANGLES[1],) * 3,
         ("Å",) * 3 + ("deg",) * 3,
         "lattice lengths and angles (every angle triple inside the default bounds closes a "
         "cell; hexagonal gamma = 120 needs upper={gamma = ...})"),
    Kind("scale", LATTICE, ("scale",), 0.5, 1.5, "", "a factor on every lattice vector"),
    Kind("strain", LATTICE, tuple(f"{p}_{c}" for p, c in zip("eeeggg", VOIGT)), -0.2, 0.2, "",
         "Voigt engineering strain (e_xx, e_yy, e_zz, g_yz, g_xz, g_xy): cell' = cell (I + eps), "
         "so dE/d(strain) = V stress"),
    Kind("cell", LATTICE, tuple(f"{v}_{c}" for v in "abc" for c in "xyz"), -np.inf, np.inf, "Å",
         "the three lattice vectors (a_x, a_y, a_z, b_x, ...) as rows"),
    Kind("positions", ATOMS, ("x{i}", "y{i}", "z{i}"), -np.inf, np.inf, "Å",
         "Cartesian coordinates of every atom (needs n_atoms)", per_atom=True),
    Kind("frac_positions", ATOMS, ("fx{i}", "fy{i}", "fz{i}"), -np.inf, np.inf, "",
         "coordinates of every atom in units of the lattice vectors (needs n_atoms)", per_atom=True),
    Kind("bond_length", BONDS, ("r",), 0.5, 4.0, "Å",
         "the symmetric stretch of a molecule: every bond from its central atom (a diatomic's "
         "first atom, else the one atom that is every other atom's nearest neighbour, as C in "
         "CH4) set to r, directions kept"),
    Kind("epsilon", POTENTIAL, ("epsilon",), 1e-3, 5.0, "eV",
         "depth of the pair potential's well (Lennard-Jones and Morse)"),
    Kind("sigma", POTENTIAL, ("sigma",), 0.5, 6.0, "Å",
         "Lennard-Jones length: where the pair energy crosses zero"),
    Kind("r0", POTENTIAL, ("r0",), 0.5, 6.0, "Å", "Morse equilibrium pair distance"),
    Kind("rho0", POTENTIAL, ("rho0",), 0.5, 20.0, "",
         "Morse stiffness, alpha r0 (the exponent's rate times r0)"),
)

#: old spellings still understood, with a DeprecationWarning
DEPRECATED: dict[str, str] = {"lattice": "lattice_parameters", "lattice_ac": "lattice_lengths"}


@dataclass(frozen=True)
class PairPotential:
    """A pair potential in the vocabulary: its parameters (input kinds) in order, the one
    that sets its length scale, and its form."""

    name: str
    parameters: tuple[str, ...]
    length: str
    formula: str


PAIR_POTENTIALS: dict[str, PairPotential] = {
    p.name: p for p in (
        PairPotential("lennard-jones", ("epsilon", "sigma"), "sigma",
                      "V(r) = 4 epsilon ((sigma/r)^12 - (sigma/r)^6)"),
        PairPotential("morse", ("epsilon", "r0", "rho0"), "r0",
                      "V(r) = epsilon (exp(-2 rho0 (r/r0 - 1)) - 2 exp(-rho0 (r/r0 - 1)))"),
    )
}


def pair_potential_of(parameters: Collection[str]) -> PairPotential | None:
    """The one pair potential whose parameters include all of ``parameters`` (None if no
    parameter is given or they fit none or several, as ``epsilon`` alone does)."""
    fits = [p for p in PAIR_POTENTIALS.values() if parameters and set(parameters) <= set(p.parameters)]
    return fits[0] if len(fits) == 1 else None


@dataclass(frozen=True)
class Inputs:
    """The resolved ``inputs`` option: the kinds in column order, with ``n_atoms``."""

    kinds: tuple[Kind, ...]
    n_atoms: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for k in self.kinds for n in k.names(self.n_atoms))

    @property
    def structural(self) -> Kind | None:
        """The kind that changes the structure, if any."""
        return next((k for k in self.kinds if k.group in STRUCTURAL), None)

    @property
    def potential(self) -> tuple[str, ...]:
        """Names of the potential parameters among the inputs (vocabulary names)."""
        return tuple(k.name for k in self.kinds if k.group == POTENTIAL)

    def columns(self) -> dict[str, slice]:
        """Each kind's columns of an input row."""
        out, at = {}, 0
        for k in self.kinds:
            width = len(k.names(self.n_atoms))
            out[k.name] = slice(at, at + width)
            at += width
        return out

    def spec(self, lower: Any = None, upper: Any = None) -> Spec:
        """The input Spec; ``lower``/``upper`` override the default bounds: a number (every
        input), a list (one per input) or a table ``{name: bound}`` (those inputs only)."""
        names = self.names
        units = tuple(u for k in self.kinds for u in k.unit_list(len(k.names(self.n_atoms))))
        return Spec(names, lower=self.bounds(lower, "lower"), upper=self.bounds(upper, "upper"), units=units)

    def bounds(self, value: Any, which: str) -> np.ndarray:
        default = np.concatenate([k.defaults(which, len(k.names(self.n_atoms))) for k in self.kinds])
        return resolve_bounds(self.names, default, value, which)


def resolve_bounds(names: Sequence[str], default: np.ndarray, value: Any, which: str) -> np.ndarray:
    """Bounds of the inputs ``names``: ``default`` overridden by ``value`` — a number, a list
    of one per input, or a table ``{name: bound}``. A NaN default left standing is an error
    that asks for the bound."""
    names = tuple(names)
    if value is None:
        out = np.array(default, dtype=np.float64)
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names), key=str)
        if unknown:
            raise ConfigError(f"{which} names {unknown}, which are not inputs; inputs are {list(names)}")
        out = np.array(default, dtype=np.float64)
        for key, bound in value.items():
            out[names.index(key)] = _number(bound, which)
    elif isinstance(value, (list, tuple, np.ndarray)):
        out = np.array([_number(v, which) for v in np.ravel(np.asarray(value, dtype=object))])
        if out.shape != (len(names),):
            raise ConfigError(
                f"{which} has {len(out)} bounds for {len(names)} inputs {list(names)}; give one "
                f"number, one per input, or a table {{name = bound}}"
            )
    else:
        out = np.full(len(names), _number(value, which))
    missing = [n for n, b in zip(names, out) if np.isnan(b)]
    if missing:
        raise ConfigError(
            f"no default {which} bound for input(s) {missing}; give them, e.g. {which}={{{missing[0]} = ...}}"
        )
    return out


def _number(value: Any, which: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{which} bounds must be numbers, got {value!r}")
    return float(value)


def kind_names(value: Any) -> list[str]:
    """The ``inputs`` option as a list of kind names, old spellings replaced (with a
    DeprecationWarning); not yet checked against the vocabulary."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(k, str) for k in names):
        raise ConfigError(f"inputs must be a kind or a list of kinds (e.g. 'lattice_constant'), got {value!r}")
    out = []
    for name in names:
        if name in DEPRECATED:
            warnings.warn(f"inputs {name!r} is now called {DEPRECATED[name]!r}; the old name will go",
                          DeprecationWarning, stacklevel=3)
            name = DEPRECATED[name]
        out.append(name)
    return out


def parse_inputs(
    value: Any,
    *,
    n_atoms: int | None = None,
    honoured: Collection[str] | None = None,
    extra: Mapping[str, Kind] | None = None,
    who: str = "this knowledge source",
) -> Inputs:
    """Resolve the ``inputs`` option against the vocabulary.

    ``honoured`` names the vocabulary kinds this code computes (None: all); ``extra`` holds
    kinds of the code's own. A vocabulary kind outside ``honoured`` is one error line that
    says what the code takes instead.
    """
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(KINDS))
    if clash:  # a bug in the plugin, not the user's: a name with two meanings
        raise AssertionError(f"{who} redefines vocabulary kinds {clash}")
    offered = [k for k in KINDS if honoured is None or k in honoured] + list(extra)
    kinds = []
    for name in kind_names(value):
        if name in extra:
            kinds.append(extra[name])
        elif name in KINDS and name in offered:
            kinds.append(KINDS[name])
        elif name in KINDS:
            raise ConfigError(f"{who} cannot use inputs {name!r} ({KINDS[name].meaning}); it takes "
                              f"{', '.join(offered)}")
        else:
            raise ConfigError(f"unknown inputs {name!r}; choose from {', '.join(offered)}")
    if len({k.name for k in kinds}) != len(kinds):
        raise ConfigError(f"inputs lists a kind twice: {[k.name for k in kinds]}")
    structural = [k.name for k in kinds if k.group in STRUCTURAL]
    if len(structural) > 1:
        raise ConfigError(f"inputs combines {structural}; one lattice or atoms kind at a time, or "
                          f"bond_length (potential parameters may stand beside it)")
    if n_atoms is not None:
        n_atoms = _count(n_atoms)
    inputs = Inputs(tuple(kinds), n_atoms)
    inputs.names  # noqa: B018 - raises for a per-atom kind without n_atoms
    return inputs


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"n_atoms must be a whole number >= 1, got {value!r}")
    return int(value)


__all__ = [
    "DEPRECATED", "Inputs", "KINDS", "Kind", "PAIR_POTENTIALS", "PairPotential", "kind_names",
    "pair_potential_of", "parse_inputs", "resolve_bounds",
]
