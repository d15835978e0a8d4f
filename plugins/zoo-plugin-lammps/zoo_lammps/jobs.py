"""From input rows and contexts to the rows one LAMMPS process computes, and from LAMMPS's
numbers back to output rows.

Rows are handled per distinct context object, all rows of one at once (numpy), since a
gradient step repeats each context for all its query points. A row that is not finite,
makes no cell, or sets unphysical pair parameters never reaches LAMMPS: it stays NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zoo import SKSError
from zoo_atomistic import Structure, geometry
from zoo_atomistic.kinds import ATOMS

from . import safety
from .geometry import lammps_frames
from .potentials import PairModel
from .script import RowJob
from .settings import Setup
from .structure import as_structure

#: LAMMPS metal units convert eV/Å^3 to bar with this factor (force->nktv2p); it is
#: undone exactly, then eV/Å^3 -> GPa with ASE's factor, so stress is the energy's
#: strain derivative / V in the same units ASE uses (the two factors differ by 8e-8).
NKTV2P = 1.6021765e6
EV_PER_A3_IN_GPA = 160.21766208


def row_jobs(
    x: np.ndarray, contexts: Sequence[Any], setup: Setup, fixed: tuple[str, ...] | None, who: str
) -> tuple[list[RowJob], dict[int, Structure]]:
    """Jobs for the rows LAMMPS can compute (sorted by row), and each row's structure."""
    groups, structures = _by_context(contexts, setup, who)
    jobs = _jobs([_deformed(st, rows, x, setup) for st, rows in groups], setup)
    jobs.sort(key=lambda j: j.index)
    _assign_types(jobs, structures, fixed, setup.model, who)
    return jobs, structures


def _by_context(contexts: Sequence[Any], setup: Setup, who: str):
    """(structure, its rows) per distinct context object, and the structure of each row."""
    kind = setup.inputs.structural
    needs_n = "forces" in setup.outputs.names or (kind is not None and kind.group == ATOMS)
    by_ctx: dict[int, tuple[Structure, list[int]]] = {}
    structures: dict[int, Structure] = {}
    for i, ctx in enumerate(contexts):
        if id(ctx) not in by_ctx:
            st = as_structure(ctx, f"{who}: context {i}")
            if needs_n and len(st) != setup.n_atoms:
                raise SKSError(f"{who}: context {i} has {len(st)} atoms, the option n_atoms is {setup.n_atoms}")
            by_ctx[id(ctx)] = (st, [])
        by_ctx[id(ctx)][1].append(i)
        structures[i] = by_ctx[id(ctx)][0]
    return list(by_ctx.values()), structures


def _deformed(st: Structure, rows: list[int], x: np.ndarray, setup: Setup):
    """One structure's rows: (rows, their inputs, cells (m, 3, 3), positions (m, n, 3))."""
    xs = x[np.array(rows)]
    kind = setup.inputs.structural
    values = xs[:, setup.columns[kind.name]] if kind is not None else xs
    cells, positions = geometry.deform(kind.name if kind else None, values, st.cell, st.positions, setup.atoms_per_cell)
    return rows, xs, np.asarray(cells), np.asarray(positions)


def _jobs(parts: list, setup: Setup) -> list[RowJob]:
    """Every row's frame (and pair parameters), framed for LAMMPS all structures of one
    atom count at once (a batch of many small structures pays numpy's overhead once)."""
    by_size: dict[int, list] = {}
    for part in parts:
        by_size.setdefault(part[3].shape[1], []).append(part)
    cols = setup.columns
    jobs = []
    for same in by_size.values():
        frames, _ = lammps_frames(np.concatenate([p[2] for p in same]), np.concatenate([p[3] for p in same]))
        at = 0
        for rows, xs, _, _ in same:
            finite = np.all(np.isfinite(xs), axis=1)
            for k, i in enumerate(rows):
                frame = frames[at + k]
                if not finite[k] or frame is None:
                    continue  # a NaN row, never sent to LAMMPS
                params = {p: float(xs[k, cols[p]][0]) for p in setup.params}
                if params and setup.model.values(params) is None:
                    continue  # unphysical pair parameters (sigma <= 0, ...): NaN row
                jobs.append(RowJob(i, frame, [], params or None))
            at += len(rows)
    return jobs


def _assign_types(
    jobs: list[RowJob], structures: dict[int, Structure], fixed: tuple[str, ...] | None, model: PairModel, who: str
) -> None:
    """Each job's atom types (element of type 1, 2, ...) and ``id type`` prefix per atom.

    The types are the option elements, else one list for the whole batch where the pair
    style ignores species (one LAMMPS set-up for all rows), else each structure's own
    elements, sorted.
    """
    if fixed is None and model.species_blind and jobs:
        fixed = tuple(sorted({s for job in jobs for s in structures[job.index].symbols}))
    prefixes: dict[int, tuple[tuple[str, ...], list[str]]] = {}
    for job in jobs:
        st = structures[job.index]
        if id(st) not in prefixes:
            # checked again: an unpickled or tampered Structure skipped its own checks
            symbols = safety.elements(st.symbols, f"{who}: context symbol")
            types = _types(symbols, fixed, who)
            number = {el: t for t, el in enumerate(types, 1)}
            prefixes[id(st)] = (types, [f"{k} {number[s]} " for k, s in enumerate(symbols, 1)])
        job.types, job.prefix = prefixes[id(st)]


def _types(symbols: tuple[str, ...], fixed: tuple[str, ...] | None, who: str) -> tuple[str, ...]:
    """Atom types of a structure: the fixed list, else its own elements sorted."""
    present = sorted(set(symbols))
    if fixed is None:
        return tuple(present)
    missing = [el for el in present if el not in fixed]
    if missing:
        raise SKSError(f"{who}: a context holds {missing}, not in the option elements={list(fixed)}")
    return fixed


#: where each element of the pressure tensor is in a thermo row (pe pxx pyy pzz pyz pxz pxy)
_TENSOR = [1, 6, 5, 6, 2, 4, 5, 4, 3]
_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])


def output_rows(
    names: Sequence[str], jobs: Sequence[RowJob], n_atoms: np.ndarray, thermo: np.ndarray,
    forces: np.ndarray | None,
) -> np.ndarray:
    """The output rows (quantities ``names``) of ``jobs`` at once, from LAMMPS's thermo
    rows (pe, then the pressure tensor in bar: (n, 7)) and forces ((n, atoms, 3) or None),
    in each structure's own frame. Every row is computed on its own (stacked matrix
    products), so a row's numbers never depend on the others in its batch."""
    q = np.stack([job.frame.rotation for job in jobs])
    p = thermo[:, _TENSOR].reshape(-1, 3, 3)
    stress = -(q @ p @ q.transpose(0, 2, 1)) / NKTV2P * EV_PER_A3_IN_GPA
    volume = np.array([np.prod(job.frame.box[:3]) for job in jobs])
    values = {
        "energy": lambda: thermo[:, :1],
        "energy_per_atom": lambda: thermo[:, :1] / n_atoms[:, None],
        "pressure": lambda: -np.trace(stress, axis1=1, axis2=2)[:, None] / 3.0,
        "stress": lambda: stress[:, _VOIGT[0], _VOIGT[1]],
        "forces": lambda: (forces @ q.transpose(0, 2, 1)).reshape(len(jobs), -1),
        "volume": lambda: volume[:, None],
        "volume_per_atom": lambda: (volume / n_atoms)[:, None],
    }
    return np.concatenate([values[name]() for name in names], axis=1)


__all__ = ["EV_PER_A3_IN_GPA", "NKTV2P", "output_rows", "row_jobs"]
