"""Contexts and input mappings: how an input row becomes a pymatgen ``Structure``.

Every knowledge source here is "take the context structure, change it according to the
input row, run a pymatgen analyzer". What the model controls (lattice parameters, a scale,
a strain, atomic positions) is the ``inputs`` option, shared by all of them.

Lattice inputs keep the fractional coordinates; position inputs keep the lattice. Units are
ASE's: Å and degrees.

Contexts are pymatgen ``Structure`` objects, or ``ase.Atoms``, converted with
``pymatgen.io.ase.AseAtomsAdaptor`` (imported only when an Atoms is actually passed, so
ASE is not a dependency of the plugin).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymatgen.core import IStructure, Lattice, Structure

from zoo import ConfigError, SKSError, Spec

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")

#: A row sets the changed part of ``work`` completely from ``ref`` (the untouched context),
#: so one scratch copy per context serves every row of a call.
Apply = Callable[[Structure, Structure, np.ndarray], None]


@dataclass(frozen=True)
class InputMapping:
    """Names, default bounds and units of the inputs, and how a row changes a structure."""

    kind: str
    names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    units: tuple[str, ...]
    apply: Apply

    def spec(self, lower: Any = None, upper: Any = None) -> Spec:
        return Spec(
            self.names,
            lower=self.lower if lower is None else lower,
            upper=self.upper if upper is None else upper,
            units=self.units,
        )


def checked_lattice(matrix: np.ndarray) -> Lattice:
    """A Lattice from ``matrix`` (rows are vectors), refusing non-finite or flat cells.

    pymatgen builds a zero-volume Lattice without complaint (and ``from_parameters`` even
    clamps impossible angles), and analyzers then divide by the volume; the row must come
    back NaN instead, so the caller can see it failed.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if not np.all(np.isfinite(matrix)):
        raise ValueError("the lattice has non-finite entries")
    lengths = np.linalg.norm(matrix, axis=1)
    volume = abs(np.linalg.det(matrix))
    if np.any(lengths <= 0) or volume <= 1e-6 * np.prod(lengths):
        raise ValueError(f"the lattice is degenerate (volume {volume:.3g} Å^3)")
    return Lattice(matrix)


def _lattice(ref: Structure, work: Structure, row: np.ndarray) -> None:
    a, b, c, alpha, beta, gamma = row
    if min(a, b, c) <= 0:
        raise ValueError(f"lattice lengths must be positive, got {a, b, c}")
    ca, cb, cg = np.cos(np.radians([alpha, beta, gamma]))
    # V = abc * sqrt(1 - ca^2 - cb^2 - cg^2 + 2 ca cb cg): zero or imaginary for angles that
    # close no cell (e.g. alpha + beta < gamma); from_parameters would clamp them silently
    if 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg <= 1e-12:
        raise ValueError(f"the angles {alpha, beta, gamma} close no cell")
    work.lattice = checked_lattice(Lattice.from_parameters(a, b, c, alpha, beta, gamma).matrix)


def _scale_rows(ref: Structure, work: Structure, factors: np.ndarray) -> None:
    work.lattice = checked_lattice(ref.lattice.matrix * np.asarray(factors)[:, None])


def _lattice_abc(ref: Structure, work: Structure, row: np.ndarray) -> None:
    # scaling each lattice vector keeps the angles and the orientation exactly
    _scale_rows(ref, work, row / np.asarray(ref.lattice.abc))


def _lattice_ac(ref: Structure, work: Structure, row: np.ndarray) -> None:
    a0, _, c0 = ref.lattice.abc
    f_a, f_c = row[0] / a0, row[1] / c0
    _scale_rows(ref, work, np.array([f_a, f_a, f_c]))


def _lattice_constant(ref: Structure, work: Structure, row: np.ndarray) -> None:
    _scale_rows(ref, work, np.full(3, row[0] / ref.lattice.a))


def _scale(ref: Structure, work: Structure, row: np.ndarray) -> None:
    _scale_rows(ref, work, np.full(3, row[0]))


def _strain(ref: Structure, work: Structure, row: np.ndarray) -> None:
    # Voigt engineering strain (e_xx, e_yy, e_zz, g_yz, g_xz, g_xy), as zoo-plugin-ase applies
    # it to an ASE cell (rows are lattice vectors in both libraries): dE/de = V * sigma
    exx, eyy, ezz, gyz, gxz, gxy = row
    eps = np.array([[exx, gxy / 2, gxz / 2], [gxy / 2, eyy, gyz / 2], [gxz / 2, gyz / 2, ezz]])
    work.lattice = checked_lattice(ref.lattice.matrix @ (np.eye(3) + eps))


def _set_frac(work: Structure, frac: np.ndarray) -> None:
    if len(frac) != len(work):
        raise ValueError(f"the input row has {len(frac)} positions for {len(work)} sites")
    for site, f in zip(work, frac):
        site.frac_coords = f


def _frac_positions(ref: Structure, work: Structure, row: np.ndarray) -> None:
    _set_frac(work, row.reshape(-1, 3))


def _positions(ref: Structure, work: Structure, row: np.ndarray) -> None:
    cart = row.reshape(-1, 3)
    _set_frac(work, ref.lattice.get_fractional_coords(cart))


#: lattice lengths (Å) and angles (degrees) the defaults allow: wide enough for any small
#: cell, narrow enough that an XRD pattern at the bound has few thousand reflections
LENGTH, ANGLE = (1.5, 15.0), (30.0, 150.0)


def input_mapping(kind: str, n_atoms: int | None = None) -> InputMapping:
    """The input mapping called ``kind``; the position kinds need ``n_atoms``."""
    if kind == "lattice":
        names = ("a", "b", "c", "alpha", "beta", "gamma")
        return InputMapping(kind, names, (LENGTH[0],) * 3 + (ANGLE[0],) * 3,
                            (LENGTH[1],) * 3 + (ANGLE[1],) * 3, ("Å",) * 3 + ("deg",) * 3, _lattice)
    if kind == "lattice_abc":
        return InputMapping(kind, ("a", "b", "c"), (LENGTH[0],) * 3, (LENGTH[1],) * 3, ("Å",) * 3, _lattice_abc)
    if kind == "lattice_ac":
        return InputMapping(kind, ("a", "c"), (LENGTH[0],) * 2, (LENGTH[1],) * 2, ("Å",) * 2, _lattice_ac)
    if kind == "lattice_constant":
        return InputMapping(kind, ("a",), (LENGTH[0],), (LENGTH[1],), ("Å",), _lattice_constant)
    if kind == "scale":
        return InputMapping(kind, ("scale",), (0.5,), (1.5,), ("",), _scale)
    if kind == "strain":
        names = ("e_xx", "e_yy", "e_zz", "g_yz", "g_xz", "g_xy")
        return InputMapping(kind, names, (-0.2,) * 6, (0.2,) * 6, ("",) * 6, _strain)
    if kind in ("frac_positions", "positions"):
        if not n_atoms or int(n_atoms) < 1:
            raise ConfigError(f"inputs={kind!r} needs the option n_atoms (sites per structure)")
        n = int(n_atoms)
        prefix = "f" if kind == "frac_positions" else ""
        names = tuple(f"{prefix}{c}{i}" for i in range(n) for c in "xyz")
        unit = "" if kind == "frac_positions" else "Å"
        fn = _frac_positions if kind == "frac_positions" else _positions
        return InputMapping(kind, names, (-np.inf,) * 3 * n, (np.inf,) * 3 * n, (unit,) * 3 * n, fn)
    raise ConfigError(f"unknown inputs {kind!r}; choose one of {', '.join(INPUTS)}")


INPUTS = ("lattice", "lattice_abc", "lattice_ac", "lattice_constant", "scale", "strain",
          "frac_positions", "positions")

INPUTS_HELP = """\
inputs: what the input row sets, keeping the rest of the context structure:
    ``lattice``          (a, b, c, alpha, beta, gamma) in Å and degrees; fractional
                         coordinates kept
    ``lattice_abc``      (a, b, c): each lattice vector scaled, angles kept
    ``lattice_ac``       (a, c): a and b scaled together (b/a kept), c on its own; for
                         tetragonal and hexagonal cells
    ``lattice_constant`` (a,): isotropic scaling so that the first lattice length is a
    ``scale``            isotropic factor on the lattice vectors
    ``strain``           Voigt engineering strain (e_xx, e_yy, e_zz, g_yz, g_xz, g_xy)
    ``frac_positions``   fractional coordinates of every site (needs n_atoms)
    ``positions``        Cartesian coordinates in Å of every site (needs n_atoms)"""


def as_structure(ctx: Any, index: int, who: str) -> Structure:
    """A context as a pymatgen ``Structure`` (ase.Atoms converted); raises SKSError otherwise."""
    if isinstance(ctx, Structure):
        return ctx
    if isinstance(ctx, IStructure):
        return Structure.from_sites(list(ctx), charge=ctx.charge)
    if type(ctx).__module__.split(".")[0] == "ase" and type(ctx).__name__ == "Atoms":
        from pymatgen.io.ase import AseAtomsAdaptor  # only when an Atoms is actually passed

        try:
            return AseAtomsAdaptor.get_structure(ctx)
        except Exception as exc:  # noqa: BLE001 - any failure is the user's Atoms
            raise SKSError(f"{who}: context {index} (ase.Atoms) cannot become a pymatgen "
                           f"Structure: {exc}; give it a cell and periodic boundaries") from None
    raise SKSError(
        f"{who}: context {index} is a {type(ctx).__name__}; pass pymatgen Structures or ase.Atoms"
    )


def read_structure(path: str) -> Structure:
    """A structure file (CIF, POSCAR, extxyz, ... anything ``Structure.from_file`` reads)."""
    try:
        return Structure.from_file(path)
    except FileNotFoundError:
        raise ConfigError(f"structure file {path!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise ConfigError(f"cannot read structure file {path!r} with pymatgen: {exc}") from None
