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

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymatgen.core import IStructure, Lattice, Structure

from zoo import ConfigError, SKSError, Spec

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")

#: A row sets the changed part of ``work`` completely from ``ref``, the context's (immutable)
#: Lattice, and the row: lattice inputs set the lattice and keep the fractional coordinates,
#: position inputs set the coordinates and keep the lattice. So one scratch copy per
#: context serves every row, whatever rows came before.
Apply = Callable[[Lattice, Structure, np.ndarray], None]


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
    # plain floats: numpy's det/norm/cross cost more than a small Ewald sum's bookkeeping
    (ax, ay, az), (bx, by, bz), (cx, cy, cz) = matrix.tolist()
    if not all(math.isfinite(v) for v in (ax, ay, az, bx, by, bz, cx, cy, cz)):
        raise ValueError("the lattice has non-finite entries")
    volume = abs(ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx))
    lengths = math.hypot(ax, ay, az) * math.hypot(bx, by, bz) * math.hypot(cx, cy, cz)
    if not volume > 1e-6 * lengths:
        raise ValueError(f"the lattice is degenerate (volume {volume:.3g} Å^3)")
    return Lattice(matrix)


def _lattice(ref: Lattice, work: Structure, row: np.ndarray) -> None:
    a, b, c, alpha, beta, gamma = row
    if min(a, b, c) <= 0:
        raise ValueError(f"lattice lengths must be positive, got {a, b, c}")
    ca, cb, cg = np.cos(np.radians([alpha, beta, gamma]))
    # V = abc * sqrt(1 - ca^2 - cb^2 - cg^2 + 2 ca cb cg): zero or imaginary for angles that
    # close no cell (e.g. alpha + beta < gamma); from_parameters would clamp them silently
    if 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg <= 1e-12:
        raise ValueError(f"the angles {alpha, beta, gamma} close no cell")
    work.lattice = checked_lattice(Lattice.from_parameters(a, b, c, alpha, beta, gamma).matrix)


def _scale_rows(ref: Lattice, work: Structure, factors: np.ndarray | float) -> None:
    # a scalar scales every vector; an array of three scales each (row) vector
    f = factors if np.isscalar(factors) else np.asarray(factors)[:, None]
    work.lattice = checked_lattice(ref.matrix * f)


def _lattice_abc(ref: Lattice, work: Structure, row: np.ndarray) -> None:
    # scaling each lattice vector keeps the angles and the orientation exactly
    _scale_rows(ref, work, row / np.asarray(ref.abc))


def _lattice_ac(ref: Lattice, work: Structure, row: np.ndarray) -> None:
    a0, _, c0 = ref.abc
    f_a, f_c = row[0] / a0, row[1] / c0
    _scale_rows(ref, work, np.array([f_a, f_a, f_c]))


def _lattice_constant(ref: Lattice, work: Structure, row: np.ndarray) -> None:
    _scale_rows(ref, work, float(row[0]) / ref.a)


def _scale(ref: Lattice, work: Structure, row: np.ndarray) -> None:
    _scale_rows(ref, work, float(row[0]))


def _strain(ref: Lattice, work: Structure, row: np.ndarray) -> None:
    # Voigt engineering strain (e_xx, e_yy, e_zz, g_yz, g_xz, g_xy), as zoo-plugin-ase applies
    # it to an ASE cell (rows are lattice vectors in both libraries): dE/de = V * sigma
    exx, eyy, ezz, gyz, gxz, gxy = row
    eps = np.array([[exx, gxy / 2, gxz / 2], [gxy / 2, eyy, gyz / 2], [gxz / 2, gyz / 2, ezz]])
    work.lattice = checked_lattice(ref.matrix @ (np.eye(3) + eps))


def _set_frac(work: Structure, frac: np.ndarray) -> None:
    if len(frac) != len(work):
        raise ValueError(f"the input row has {len(frac)} positions for {len(work)} sites")
    for site, f in zip(work, frac):
        site.frac_coords = f


def _frac_positions(ref: Lattice, work: Structure, row: np.ndarray) -> None:
    _set_frac(work, row.reshape(-1, 3))


def _positions(ref: Lattice, work: Structure, row: np.ndarray) -> None:
    _set_frac(work, ref.get_fractional_coords(row.reshape(-1, 3)))


#: lattice lengths (Å) and angles (degrees) the defaults allow: lengths wide enough for any
#: small cell, narrow enough that an XRD pattern at the bound has a few thousand
#: reflections; every angle triple in [60, 115]^3 closes a cell (any two sum to more than
#: the third, all three to less than 360), so no query inside the box is degenerate. Pass
#: ``upper`` for hexagonal gamma = 120 (or use ``lattice_abc``, which keeps the angles).
LENGTH, ANGLE = (1.5, 15.0), (60.0, 115.0)


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


def fingerprint(ctx: Any) -> tuple:
    """What a context's result depends on, cheaply: cell, coordinates and species.

    Caches key prepared structures by context object and check this, so an object changed
    in place between calls (or a new object at a recycled ``id``) is never served stale.
    Site properties are not watched (reading them costs more than the rest): a context whose
    site properties change must be passed as a new object.
    """
    if isinstance(ctx, IStructure):  # Structure too
        # pymatgen's Compositions are immutable, so the site's own objects stand for its
        # species (tuple equality checks identity first: ~3 µs, against 40 for their strings)
        return (type(ctx).__name__, ctx.lattice.matrix.tobytes(),
                b"".join(site.frac_coords.tobytes() for site in ctx),
                tuple(site.species for site in ctx), ctx.charge)
    if type(ctx).__module__.split(".")[0] == "ase" and type(ctx).__name__ == "Atoms":
        return ("Atoms", ctx.cell.array.tobytes(), ctx.positions.tobytes(), ctx.numbers.tobytes(),
                ctx.pbc.tobytes(), ctx.get_initial_charges().tobytes(), ctx.get_initial_magnetic_moments().tobytes())
    return (type(ctx).__name__, id(ctx))


def context_bytes(ctx: Any) -> bytes:
    """Canonical bytes of a context for zoo's evaluation cache: what the result depends on.

    Two contexts with the same cell, coordinates, species (oxidation states included),
    charge and site properties get the same bytes, whatever object holds them; cheaper and
    steadier than pickling the object (pickles carry incidental state).
    """
    import pickle

    if isinstance(ctx, IStructure):
        parts = [b"Structure", ctx.lattice.matrix.tobytes(), ctx.frac_coords.tobytes(),
                 "|".join(site.species_string for site in ctx).encode(), repr(ctx.charge).encode()]
        props = ctx.site_properties
        if props:  # e.g. U_cif displacements, which XRDCalculator reads
            parts.append(pickle.dumps(sorted(props.items()), protocol=4))
        return b"\0".join(parts)
    if type(ctx).__module__.split(".")[0] == "ase" and type(ctx).__name__ == "Atoms":
        return b"\0".join([b"Atoms", *(bytes(v) for v in fingerprint(ctx)[1:])])
    return pickle.dumps(ctx, protocol=4)
