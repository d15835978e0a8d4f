"""How an input row becomes a structure, and how a calculation becomes an output row.

An ASE knowledge source is "take the context's ``Atoms``, change it according to the input
row, run the calculator, read properties". The *input mapping* (what the model controls: a
lattice constant, a scale, a strain, positions) and the *outputs* (energy, pressure, ...)
are options, so one knowledge source serves many tasks. Units are ASE's (eV, Å), pressure
and stress in GPa.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units

from zoo import ConfigError, Spec

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")


@dataclass(frozen=True)
class InputMapping:
    """Names, default bounds and units of the inputs, and how a row changes the Atoms."""

    names: tuple[str, ...]
    lower: float
    upper: float
    units: str
    apply: Callable[[Atoms, np.ndarray], None]

    def spec(self, lower: float | None, upper: float | None) -> Spec:
        return Spec(
            self.names,
            lower=self.lower if lower is None else lower,
            upper=self.upper if upper is None else upper,
            units=self.units,
        )


def _lattice_constant(atoms_per_cell: int) -> Callable[[Atoms, np.ndarray], None]:
    def apply(atoms: Atoms, row: np.ndarray) -> None:
        # the cubic lattice constant whose cell of ``atoms_per_cell`` atoms has the
        # context's volume per atom: a = (atoms_per_cell * V / N)^(1/3)
        a_now = (atoms_per_cell * atoms.get_volume() / len(atoms)) ** (1.0 / 3.0)
        atoms.set_cell(atoms.cell * (row[0] / a_now), scale_atoms=True)

    return apply


def _scale(atoms: Atoms, row: np.ndarray) -> None:
    atoms.set_cell(atoms.cell * row[0], scale_atoms=True)


def _strain(atoms: Atoms, row: np.ndarray) -> None:
    # Voigt engineering strain (e_xx, e_yy, e_zz, g_yz, g_xz, g_xy): with it, dE/de = V * sigma
    exx, eyy, ezz, gyz, gxz, gxy = row
    eps = np.array([[exx, gxy / 2, gxz / 2], [gxy / 2, eyy, gyz / 2], [gxz / 2, gyz / 2, ezz]])
    atoms.set_cell(atoms.cell @ (np.eye(3) + eps), scale_atoms=True)


def _positions(atoms: Atoms, row: np.ndarray) -> None:
    atoms.set_positions(row.reshape(len(atoms), 3))


def input_mapping(kind: str, atoms_per_cell: int = 4, n_atoms: int | None = None) -> InputMapping:
    """The input mapping called ``kind``; ``positions`` needs ``n_atoms``."""
    if kind == "lattice_constant":
        return InputMapping(("a",), 2.0, 6.0, "Å", _lattice_constant(int(atoms_per_cell)))
    if kind == "scale":
        return InputMapping(("scale",), 0.7, 1.3, "", _scale)
    if kind == "strain":
        names = ("e_xx", "e_yy", "e_zz", "g_yz", "g_xz", "g_xy")
        return InputMapping(names, -0.2, 0.2, "", _strain)
    if kind == "positions":
        if not n_atoms:
            raise ConfigError("inputs='positions' needs the option n_atoms (atoms per structure)")
        names = tuple(f"{c}{i}" for i in range(int(n_atoms)) for c in "xyz")
        return InputMapping(names, -np.inf, np.inf, "Å", _positions)
    raise ConfigError(f"unknown inputs {kind!r}; choose one of {', '.join(INPUTS)}")


INPUTS = ("lattice_constant", "scale", "strain", "positions")


@dataclass(frozen=True)
class Output:
    """One output quantity: its column names, units and how to read it off a calculation."""

    names: tuple[str, ...]
    units: str
    read: Callable[[Atoms], np.ndarray]


def _stress_gpa(atoms: Atoms) -> np.ndarray:
    return atoms.get_stress(voigt=True) / units.GPa


OUTPUTS: dict[str, Callable[[int | None], Output]] = {
    "energy": lambda n: Output(("energy",), "eV", lambda a: np.array([a.get_potential_energy()])),
    "energy_per_atom": lambda n: Output(
        ("energy_per_atom",), "eV/atom", lambda a: np.array([a.get_potential_energy() / len(a)])
    ),
    "pressure": lambda n: Output(("pressure",), "GPa", lambda a: np.array([-_stress_gpa(a)[:3].mean()])),
    "stress": lambda n: Output(tuple(f"stress_{c}" for c in VOIGT), "GPa", _stress_gpa),
    "volume": lambda n: Output(("volume",), "Å^3", lambda a: np.array([a.get_volume()])),
    "volume_per_atom": lambda n: Output(
        ("volume_per_atom",), "Å^3/atom", lambda a: np.array([a.get_volume() / len(a)])
    ),
    "forces": lambda n: _forces(n),
}


def _forces(n_atoms: int | None) -> Output:
    if not n_atoms:
        raise ConfigError("outputs 'forces' needs the option n_atoms (atoms per structure)")
    names = tuple(f"f{c}{i}" for i in range(int(n_atoms)) for c in "xyz")
    return Output(names, "eV/Å", lambda a: a.get_forces().reshape(-1))


def outputs(kinds: str | Sequence[str], n_atoms: int | None = None) -> list[Output]:
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if not kinds:
        raise ConfigError("outputs must name at least one quantity")
    unknown = [k for k in kinds if k not in OUTPUTS]
    if unknown:
        raise ConfigError(f"unknown outputs {unknown}; choose from {', '.join(OUTPUTS)}")
    return [OUTPUTS[k](n_atoms) for k in kinds]
