"""The shared atomistic vocabulary (zoo-atomistic) in ASE's terms: how an input row changes
an ``ase.Atoms`` (and sets calculator parameters), and how a calculation becomes an output
row.

Input kinds, their meaning, bounds and the ``outputs`` option are zoo-atomistic's
(:mod:`zoo_atomistic.kinds`, :mod:`zoo_atomistic.quantities`); this module only applies
them. Lattice kinds set the cell with ``set_cell(..., scale_atoms=True)`` (atoms keep their
fractional coordinates), atoms kinds set the positions, ``bond_length`` stretches a
molecule's bonds from its central atom, and the pair-potential kinds
(``epsilon``, ``sigma``, ``r0``, ``rho0``) set the calculator keywords of those names,
which ASE's LennardJones and MorsePotential use with the vocabulary's meaning.

ASE adds one kind of its own, ``parameters``: any calculator keyword named by the option
``parameters`` (e.g. ``rc``), with bounds from the calculator's table or from the user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from ase import Atoms, units

from zoo import ConfigError
from zoo_atomistic import geometry
from zoo_atomistic.kinds import BONDS, KINDS, LATTICE, OWN, POTENTIAL, STRUCTURAL, Inputs, Kind, parse_inputs
from zoo_atomistic.quantities import Outputs, parse_outputs

#: (lower, upper, units) default bounds of calculator keywords outside the vocabulary
ParameterBounds = Mapping[str, tuple[float, float, str]]

#: structural kinds: every ASE calculator takes them
STRUCTURAL_KINDS = tuple(k for k, kind in KINDS.items() if kind.group in STRUCTURAL)


def _stress_gpa(atoms: Atoms) -> np.ndarray:
    return atoms.get_stress(voigt=True) / units.GPa


#: how each output quantity is read off a calculated Atoms
READERS: dict[str, Callable[[Atoms], np.ndarray]] = {
    "energy": lambda a: np.array([a.get_potential_energy()]),
    "energy_per_atom": lambda a: np.array([a.get_potential_energy() / len(a)]),
    "pressure": lambda a: np.array([-_stress_gpa(a)[:3].mean()]),
    "stress": _stress_gpa,
    "volume": lambda a: np.array([a.get_volume()]),
    "volume_per_atom": lambda a: np.array([a.get_volume() / len(a)]),
    "forces": lambda a: a.get_forces().reshape(-1),
}


def parameters_kind(
    names: str | Sequence[str] | None, bounds: ParameterBounds, known: Sequence[str] | None,
    potential: Sequence[str] = (),
) -> Kind:
    """ASE's own kind ``parameters``: the calculator keywords ``names``. Their default bounds
    come from the vocabulary (for the ``potential`` kinds the calculator takes with the
    vocabulary's meaning) or from ``bounds`` (NaN where neither has one, so the user must
    give them); where ``known`` is given a name outside it is an error."""
    if known is not None and not known:
        raise ConfigError("this knowledge source has no calculator parameters that can be inputs")
    if not names:
        hint = f" (this calculator's: {', '.join(known)})" if known else ""
        raise ConfigError(f"inputs='parameters' needs the option parameters=[NAME, ...] naming the "
                          f"calculator parameters the model sets{hint}")
    names = (names,) if isinstance(names, str) else tuple(names)
    bad = [n for n in names if not isinstance(n, str) or not n.isidentifier()]
    if bad:
        raise ConfigError(f"parameters must be names of calculator keywords, got {bad}")
    if len(set(names)) != len(names):
        raise ConfigError(f"parameters lists a name twice: {list(names)}")
    unknown = [n for n in names if known is not None and n not in known]
    if unknown:
        raise ConfigError(f"parameters {unknown} cannot be inputs; choose from {', '.join(known)}")
    table = {**bounds, **{n: (KINDS[n].lower, KINDS[n].upper, KINDS[n].units) for n in potential}}
    nan = (np.nan, np.nan, "")
    return Kind("parameters", OWN, names, tuple(float(table.get(n, nan)[0]) for n in names),
                tuple(float(table.get(n, nan)[1]) for n in names), tuple(table.get(n, nan)[2] for n in names),
                "calculator keywords named by the option parameters")


@dataclass(frozen=True)
class AseInputs:
    """The resolved ``inputs`` of an ASE source, and how a row changes an Atoms."""

    inputs: Inputs
    atoms_per_cell: int = 4

    @property
    def parameters(self) -> tuple[str, ...]:
        """The calculator keywords the row sets, in column order."""
        return tuple(n for k in self.inputs.kinds if k.group in (POTENTIAL, OWN) for n in k.names())

    @cached_property
    def _plan(self) -> list[tuple[Kind, slice]]:
        return list(zip(self.inputs.kinds, self.inputs.columns().values()))

    def apply(self, atoms: Atoms, row: np.ndarray) -> dict[str, float]:
        """Change ``atoms`` by the row's structural columns; return the calculator keywords
        its parameter columns set (empty when there are none)."""
        params: dict[str, float] = {}
        for kind, cols in self._plan:
            part = row[cols]
            if kind.group in (POTENTIAL, OWN):
                params.update(zip(kind.names(), (float(v) for v in part)))
            elif kind.group == LATTICE:
                cell = geometry.cells(kind.name, part[None], atoms.cell.array, len(atoms), self.atoms_per_cell)[0]
                if not np.all(np.isfinite(cell)):
                    raise ValueError(f"inputs {kind.name} {part.tolist()} make no cell")
                atoms.set_cell(cell, scale_atoms=True)
            elif kind.group == BONDS:
                atoms.set_positions(self._finite(kind, part, geometry.stretch(part[None], atoms.positions)[0]))
            else:
                atoms.set_positions(geometry.positions(kind.name, part[None], atoms.cell.array)[0])
        return params

    @staticmethod
    def _finite(kind: Kind, part: np.ndarray, positions: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(positions)):
            raise ValueError(f"inputs {kind.name} {part.tolist()} make no structure")
        return positions

    def unfit(self, atoms: Atoms) -> str | None:
        """Why this row's structural kind cannot change ``atoms`` (a lattice kind on a
        molecule, bond_length on a chain), in words; None where it can."""
        kind = self.inputs.structural
        if kind is None:
            return None
        return geometry.unfit(kind.name, atoms.cell.array, atoms.positions, atoms.pbc)


def inputs(
    value: str | Sequence[str],
    *,
    n_atoms: int | None,
    atoms_per_cell: int,
    potential: Sequence[str],
    parameters: str | Sequence[str] | None,
    parameter_bounds: ParameterBounds | None,
    who: str,
) -> AseInputs:
    """The input row for ``value`` (a kind or a list of kinds); ``potential`` names the
    vocabulary's pair-potential kinds this calculator takes, ``parameter_bounds`` (None:
    any keyword, bounds from the user) the keywords ASE's ``parameters`` kind may set."""
    listed = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
    if parameters and "parameters" not in listed:
        raise ConfigError("the option parameters=... only applies with inputs='parameters' "
                          "(or inputs=['parameters', STRUCTURE_INPUT])")
    extra = {}
    if "parameters" in listed:
        table = parameter_bounds
        known = None if table is None else (*potential, *table)
        extra["parameters"] = parameters_kind(parameters, table or {}, known, potential)
    resolved = parse_inputs(value, n_atoms=n_atoms, honoured=(*STRUCTURAL_KINDS, *potential), extra=extra, who=who)
    apc = int(atoms_per_cell)
    if apc < 1:
        raise ConfigError("atoms_per_cell must be >= 1 (4 for fcc, 2 for bcc)")
    return AseInputs(resolved, apc)


OUTPUTS = tuple(READERS)
#: outputs that mean nothing without a periodic cell (a molecule's volume would be 0 at every input)
CELL_OUTPUTS = ("pressure", "stress", "volume", "volume_per_atom")


def outputs(value: str | Sequence[str], n_atoms: int | None, who: str) -> Outputs:
    return parse_outputs(value, offered=OUTPUTS, n_atoms=n_atoms, who=who)


def read(outputs: Outputs, atoms: Atoms) -> np.ndarray:
    """The output row of a calculated ``atoms``."""
    return np.concatenate([READERS[name](atoms) for name in outputs.names])


__all__ = ["AseInputs", "CELL_OUTPUTS", "OUTPUTS", "READERS", "inputs", "outputs", "parameters_kind", "read"]
