"""Structures from files, through ASE's readers (extxyz, cif, POSCAR, and every format
``ase.io.read`` knows), with zoo errors that name the file.

``read_structure`` gives the one structure the ``structure=PATH`` option means;
``read_structures`` gives every frame of a file, e.g. a multi-frame extxyz as a task's
dataset of contexts. Frames keep what the file stores with them: ``atoms.info``, per-atom
arrays, and stored energies, forces and stress (a ``SinglePointCalculator``, so
``frames[i].get_potential_energy()`` reads the file's label). Knowledge sources copy each
context before computing, so those labels never mix with their own results.
"""

from __future__ import annotations

import os
from pathlib import Path

from ase import Atoms

from zoo import ConfigError
from zoo_atomistic import Structure


def to_atoms(structure: Structure) -> Atoms:
    """A new ``ase.Atoms`` with the structure's symbols, positions, cell and pbc."""
    return Atoms(structure.symbols, positions=structure.positions, cell=structure.cell, pbc=structure.pbc)


def structure_digest(atoms: Atoms) -> str:
    """A short hash of what a calculator reads from ``atoms``: species, positions, cell,
    pbc, initial charges and magnetic moments (xTB's charge and spin)."""
    import hashlib

    h = hashlib.sha256()
    for part in (atoms.numbers.astype("<i8"), atoms.positions.astype("<f8"), atoms.cell.array.astype("<f8"),
                 atoms.pbc.astype("u1"), atoms.get_initial_charges().astype("<f8"),
                 atoms.get_initial_magnetic_moments().astype("<f8")):
        h.update(part.tobytes())
    return h.hexdigest()[:16]


def read_structures(path: str | os.PathLike[str], index: str | int | slice = ":") -> list[Atoms]:
    """Every frame of ``path`` (or those ``index`` picks, ASE's syntax: ``":"``,
    ``"0:10"``, ``-1``), as a list of ``ase.Atoms``."""
    from ase.io import read

    name = os.fspath(path)
    try:
        frames = read(name, index=index)
    except FileNotFoundError:
        raise ConfigError(f"structure file {name!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise ConfigError(f"cannot read structure file {name!r} with ASE: {exc}") from None
    frames = [frames] if isinstance(frames, Atoms) else list(frames)
    if not frames:
        raise ConfigError(f"structure file {name!r} holds no structure (index {index!r})")
    return frames


def read_structure(path: str | os.PathLike[str]) -> Atoms:
    """The one structure in ``path``; ``PATH@INDEX`` picks a frame of a multi-frame file.

    A file of several frames without ``@INDEX`` is an error rather than ASE's silent
    choice of the last frame.
    """
    from ase.io import read

    name = os.fspath(path)
    if "@" in Path(name).name:  # ASE's own PATH@INDEX syntax
        try:
            atoms = read(name)
        except FileNotFoundError:
            raise ConfigError(f"structure file {name.rsplit('@', 1)[0]!r} does not exist") from None
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"cannot read structure file {name!r} with ASE: {exc}") from None
        if not isinstance(atoms, Atoms):
            raise ConfigError(
                f"structure={name!r} picks {len(atoms)} frames; it takes one (PATH@INDEX with "
                f"one index)"
            )
        return atoms
    frames = read_structures(name)
    if len(frames) > 1:
        raise ConfigError(
            f"structure file {name!r} holds {len(frames)} structures; structure= takes one: "
            f"pick it with {name}@INDEX (e.g. {name}@0), or pass them all as contexts "
            f"(zoo_ase.read_structures)"
        )
    return frames[0]


__all__ = ["read_structure", "read_structures", "structure_digest", "to_atoms"]
