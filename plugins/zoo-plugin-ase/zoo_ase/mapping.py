"""How an input row becomes a structure (and calculator parameters), and how a calculation
becomes an output row.

An ASE knowledge source is "take the context's ``Atoms``, change it according to the input
row, run the calculator, read properties". The *input mapping* (what the model controls: a
lattice constant, a scale, a strain, positions, or the calculator's own parameters) and the
*outputs* (energy, pressure, ...) are options, so one knowledge source serves many tasks.
Units are ASE's (eV, Å), pressure and stress in GPa.

Inputs may combine at most one structure mapping with calculator parameters, e.g.
``inputs=["parameters", "lattice_constant"]``: the row is cut into the mappings' columns in
the order given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms, units

from zoo import ConfigError, Spec

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")

#: (lower, upper, units) default bounds of one calculator parameter used as an input
ParameterBounds = Mapping[str, tuple[float, float, str]]


@dataclass(frozen=True)
class InputMapping:
    """Names, default bounds and units of the inputs, and how a row changes the Atoms."""

    names: tuple[str, ...]
    lower: float | tuple[float, ...]
    upper: float | tuple[float, ...]
    units: str | tuple[str, ...]
    apply: Callable[[Atoms, np.ndarray], None]
    #: the calculator parameters the row sets (``inputs="parameters"``); () for structure inputs
    parameters: tuple[str, ...] = ()

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


def _no_structure_change(atoms: Atoms, row: np.ndarray) -> None:
    """Calculator parameters leave the structure as the context has it."""


def input_mapping(
    kind: str,
    atoms_per_cell: int = 4,
    n_atoms: int | None = None,
    parameters: Sequence[str] | None = None,
    parameter_bounds: ParameterBounds | None = None,
    known_parameters: Sequence[str] | None = None,
) -> InputMapping:
    """The input mapping called ``kind``.

    ``positions`` needs ``n_atoms``. ``parameters`` needs the parameter names; their default
    bounds come from ``parameter_bounds`` (NaN where it has none, so the user must give
    them), and where ``known_parameters`` is given a name outside it is an error.
    """
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
    if kind == "parameters":
        return _parameter_mapping(parameters, parameter_bounds or {}, known_parameters)
    raise ConfigError(f"unknown inputs {kind!r}; choose one of {', '.join(INPUTS)}")


def _parameter_mapping(
    names: Sequence[str] | None, bounds: ParameterBounds, known: Sequence[str] | None
) -> InputMapping:
    if known is not None and not known:
        raise ConfigError("this knowledge source has no calculator parameters that can be inputs")
    if names is None or len(names) == 0:
        hint = f" (this calculator's: {', '.join(known)})" if known else ""
        raise ConfigError(
            f"inputs='parameters' needs the option parameters=[NAME, ...] naming the "
            f"calculator parameters the model sets{hint}"
        )
    if isinstance(names, str):
        names = [names]
    names = tuple(names)
    bad = [n for n in names if not isinstance(n, str) or not n.isidentifier()]
    if bad:
        raise ConfigError(f"parameters must be names of calculator keywords, got {bad}")
    if len(set(names)) != len(names):
        raise ConfigError(f"parameters lists a name twice: {list(names)}")
    if known is not None:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(
                f"parameters {unknown} cannot be inputs; choose from {', '.join(known)}"
            )
    nan = (np.nan, np.nan, "")
    return InputMapping(
        names,
        tuple(float(bounds.get(n, nan)[0]) for n in names),
        tuple(float(bounds.get(n, nan)[1]) for n in names),
        tuple(bounds.get(n, nan)[2] for n in names),
        _no_structure_change,
        parameters=names,
    )


INPUTS = ("lattice_constant", "scale", "strain", "positions", "parameters")


@dataclass(frozen=True)
class Inputs:
    """The input row of an ASE knowledge source: one mapping, or a structure mapping and
    calculator parameters side by side (columns in the order the mappings are given)."""

    mappings: tuple[InputMapping, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for m in self.mappings for n in m.names)

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(p for m in self.mappings for p in m.parameters)

    def spec(self, lower: Any = None, upper: Any = None) -> Spec:
        """The input Spec; ``lower``/``upper`` override the defaults: a number (every
        input), a list (one per input) or a table ``{name: bound}`` (those inputs only)."""
        units = tuple(u for m in self.mappings for u in _per_name(m.units, len(m.names)))
        return Spec(
            self.names,
            lower=self._bounds(lower, "lower"),
            upper=self._bounds(upper, "upper"),
            units=units,
        )

    def _bounds(self, value: Any, which: str) -> np.ndarray:
        names = self.names
        default = np.concatenate(
            [np.broadcast_to(np.asarray(getattr(m, which), float), (len(m.names),)) for m in self.mappings]
        )
        if value is None:
            out = default
        elif isinstance(value, Mapping):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ConfigError(f"{which} names {unknown}, which are not inputs; inputs are {list(names)}")
            out = default.copy()
            for key, bound in value.items():
                out[names.index(key)] = _number(bound, which)
        elif isinstance(value, (list, tuple, np.ndarray)):
            out = np.array([_number(v, which) for v in np.ravel(np.asarray(value, dtype=object))])
            if out.shape != default.shape:
                raise ConfigError(
                    f"{which} has {len(out)} bounds for {len(names)} inputs {list(names)}; give "
                    f"one number, one per input, or a table {{name = bound}}"
                )
        else:
            out = np.full(default.shape, _number(value, which))
        missing = [n for n, b in zip(names, out) if np.isnan(b)]
        if missing:
            raise ConfigError(
                f"no default {which} bound for input(s) {missing}; give them, e.g. "
                f"{which}={{{missing[0]} = ...}}"
            )
        return out

    def apply(self, atoms: Atoms, row: np.ndarray) -> dict[str, float]:
        """Change ``atoms`` by the structure columns of ``row``; return the calculator
        parameters its parameter columns set (empty when there are none)."""
        params: dict[str, float] = {}
        start = 0
        for m in self.mappings:
            part = row[start : start + len(m.names)]
            start += len(m.names)
            if m.parameters:
                params.update(zip(m.parameters, (float(v) for v in part)))
            else:
                m.apply(atoms, part)
        return params


def _number(value: Any, which: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{which} bounds must be numbers, got {value!r}")
    return float(value)


def _per_name(value: str | tuple[str, ...], n: int) -> tuple[str, ...]:
    return (value,) * n if isinstance(value, str) else tuple(value)


def inputs(
    kinds: str | Sequence[str],
    atoms_per_cell: int = 4,
    n_atoms: int | None = None,
    parameters: Sequence[str] | None = None,
    parameter_bounds: ParameterBounds | None = None,
    known_parameters: Sequence[str] | None = None,
) -> Inputs:
    """The input row for ``kinds``: one kind, or ``"parameters"`` beside one structure kind."""
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if not kinds or not all(isinstance(k, str) for k in kinds):
        raise ConfigError(f"inputs must be one of {', '.join(INPUTS)}, or a list of them; got {kinds!r}")
    if len(set(kinds)) != len(kinds):
        raise ConfigError(f"inputs lists a kind twice: {kinds}")
    structural = [k for k in kinds if k != "parameters"]
    if len(structural) > 1:
        raise ConfigError(
            f"inputs combines {structural}; use one structure input at a time "
            f"(optionally beside 'parameters')"
        )
    if parameters and "parameters" not in kinds:
        raise ConfigError(
            "the option parameters=... only applies with inputs='parameters' "
            "(or inputs=['parameters', STRUCTURE_INPUT])"
        )
    return Inputs(
        tuple(
            input_mapping(k, atoms_per_cell, n_atoms, parameters, parameter_bounds, known_parameters)
            for k in kinds
        )
    )


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
