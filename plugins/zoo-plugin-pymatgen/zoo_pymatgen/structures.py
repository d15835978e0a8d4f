"""Contexts, and what an input row does to a pymatgen ``Structure``.

Every knowledge source here is "take the context structure, change it according to the
input row, run a pymatgen analyzer". What the model controls is the ``inputs`` option, in
zoo-atomistic's shared vocabulary (:mod:`zoo_atomistic.kinds`): lattice kinds set the
lattice and keep the fractional coordinates (:mod:`zoo_atomistic.geometry` computes the
new cell), atoms kinds set the coordinates and keep the lattice. pymatgen computes no pair
potential, so it takes no potential kinds. Units are Å and degrees.

Contexts are pymatgen ``Structure`` objects, zoo-atomistic's neutral ``Structure``, or
``ase.Atoms``, converted with ``pymatgen.io.ase.AseAtomsAdaptor`` (imported only when an
Atoms is actually passed, so ASE is not a dependency of the plugin).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pymatgen.core import IStructure, Lattice, Structure

from zoo import ConfigError, SKSError
from zoo_atomistic import Structure as NeutralStructure
from zoo_atomistic import geometry
from zoo_atomistic.kinds import ATOMS, KINDS, LATTICE, Inputs, Kind, parse_inputs

#: the kinds pymatgen honours: every structural one (it has no pair potential)
HONOURED = tuple(k for k, kind in KINDS.items() if kind.group in (LATTICE, ATOMS))


def inputs(value: Any, n_atoms: int | None, who: str) -> Inputs:
    """The ``inputs`` option resolved: one structural kind of the vocabulary."""
    resolved = parse_inputs(value, n_atoms=n_atoms, honoured=HONOURED, who=who)
    if resolved.structural is None or len(resolved.kinds) != 1:
        raise ConfigError(f"{who}: inputs must be one structural kind ({', '.join(HONOURED)}), got {value!r}")
    return resolved


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


def apply(kind: Kind, ref: Lattice, work: Structure, values: np.ndarray, atoms_per_cell: int) -> None:
    """Set the changed part of ``work`` completely from ``ref``, the context's (immutable)
    Lattice, and the row's ``values``: a lattice kind sets the lattice (fractional
    coordinates kept), an atoms kind the coordinates (lattice kept). So one scratch copy
    per context serves every row, whatever rows came before."""
    if kind.group == LATTICE:
        cell = geometry.cells(kind.name, values[None], ref.matrix, len(work), atoms_per_cell)[0]
        if not np.all(np.isfinite(cell)) and np.all(np.isfinite(values)):
            raise ValueError(f"inputs {kind.name} {np.round(values, 6).tolist()} close no cell")
        work.lattice = checked_lattice(cell)
        return
    xyz = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    frac = xyz if kind.name == "frac_positions" else ref.get_fractional_coords(xyz)
    if len(frac) != len(work):
        raise ValueError(f"the input row has {len(frac)} positions for {len(work)} sites")
    for site, f in zip(work, frac):
        site.frac_coords = f


def as_structure(ctx: Any, index: int, who: str) -> Structure:
    """A context as a pymatgen ``Structure`` (zoo-atomistic's neutral Structure and
    ase.Atoms converted); raises SKSError otherwise."""
    if isinstance(ctx, Structure):
        return ctx
    if isinstance(ctx, IStructure):
        return Structure.from_sites(list(ctx), charge=ctx.charge)
    if isinstance(ctx, NeutralStructure):
        if not all(ctx.pbc):
            raise SKSError(f"{who}: context {index} is not periodic in all directions (pbc={list(ctx.pbc)}); "
                           f"pymatgen's analyzers take periodic structures")
        return Structure(Lattice(ctx.cell), list(ctx.symbols), ctx.positions, coords_are_cartesian=True)
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
    if isinstance(ctx, NeutralStructure):  # immutable: its bytes say all
        return ("NeutralStructure", ctx.key())
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
    if isinstance(ctx, NeutralStructure):
        return ctx.key()
    if type(ctx).__module__.split(".")[0] == "ase" and type(ctx).__name__ == "Atoms":
        return b"\0".join([b"Atoms", *(bytes(v) for v in fingerprint(ctx)[1:])])
    return pickle.dumps(ctx, protocol=4)
