"""The structures the LAMMPS knowledge source computes, without ASE.

A context is either a :class:`Structure` (a small frozen record of cell, positions and
element symbols, made here so that a venv with only zoo-core and this plugin works), or,
duck-typed, anything with ``get_cell()``, ``get_positions()`` and
``get_chemical_symbols()`` (an ``ase.Atoms``; ASE is never imported here). Both pickle, so
every executor can ship them.

``read_structure(path)`` reads the ``structure=PATH`` option: an extended XYZ file (the
``Lattice=`` / ``Properties=`` header ASE writes) or a LAMMPS data file (atom styles
atomic, charge, molecular, bond, angle, full; types named by the ``elements`` option, by
``# Cu`` comments in the Masses section, or by mass), parsed here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo import ConfigError, SKSError

from . import safety
from .elements import MASS


@dataclass(frozen=True, eq=False)
class Structure:
    """A periodic structure: ``cell`` (3, 3) Å with lattice vectors as rows, Cartesian
    ``positions`` (n, 3) Å, element ``symbols`` (n,).

    The arrays are copied and made read-only, so a context cannot change under a running
    batch. Periodic in all three directions (LAMMPS ``boundary p p p``).
    """

    cell: np.ndarray
    positions: np.ndarray
    symbols: tuple[str, ...]

    def __post_init__(self) -> None:
        cell = np.array(self.cell, dtype=np.float64).reshape(3, 3) if np.size(self.cell) == 9 else None
        if cell is None:
            raise ConfigError(f"Structure: cell must be 3x3, got shape {np.shape(self.cell)}")
        pos = np.array(self.positions, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
            raise ConfigError(f"Structure: positions must be (n, 3) with n >= 1, got {pos.shape}")
        symbols = safety.elements(
            (self.symbols,) if isinstance(self.symbols, str) else self.symbols, "Structure symbol"
        )
        if len(symbols) != len(pos):
            raise ConfigError(f"Structure: {len(symbols)} symbols for {len(pos)} positions")
        if not (np.all(np.isfinite(cell)) and np.all(np.isfinite(pos))):
            raise ConfigError("Structure: cell and positions must be finite")
        if abs(np.linalg.det(cell)) < 1e-9:
            raise ConfigError("Structure: the cell has no volume (LAMMPS needs a periodic 3D cell)")
        cell.setflags(write=False)
        pos.setflags(write=False)
        object.__setattr__(self, "cell", cell)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "symbols", symbols)

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.cell)))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Structure)
            and self.symbols == other.symbols
            and np.array_equal(self.cell, other.cell)
            and np.array_equal(self.positions, other.positions)
        )

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for s in self.symbols:
            counts[s] = counts.get(s, 0) + 1
        formula = "".join(f"{s}{n if n > 1 else ''}" for s, n in counts.items())
        return f"Structure({formula}, volume={self.volume:.3f} Å^3)"


def as_structure(obj: Any, where: str = "context") -> Structure:
    """A :class:`Structure` from a Structure or an object with ASE's getters (duck-typed).

    Raises :class:`zoo.SKSError` for anything else and for non-periodic objects.
    """
    if isinstance(obj, Structure):
        return obj
    getters = ("get_cell", "get_positions", "get_chemical_symbols")
    if not all(callable(getattr(obj, g, None)) for g in getters):
        raise SKSError(
            f"{where} is a {type(obj).__name__}; give a zoo_lammps.Structure or an object "
            f"with get_cell(), get_positions() and get_chemical_symbols() (e.g. ase.Atoms)"
        )
    pbc = getattr(obj, "get_pbc", None)
    if callable(pbc) and not np.all(pbc()):
        raise SKSError(
            f"{where} is not periodic in all directions (pbc={np.asarray(pbc()).tolist()}); the "
            f"LAMMPS knowledge source computes periodic structures only: give a cell and pbc=True"
        )
    try:
        return Structure(
            np.asarray(obj.get_cell(), dtype=np.float64),
            np.asarray(obj.get_positions(), dtype=np.float64),
            tuple(obj.get_chemical_symbols()),
        )
    except ConfigError as exc:
        raise SKSError(f"{where}: {exc}") from None


# ------------------------------------------------------------------ files

def read_structure(path: str, elements: Sequence[str] | None = None) -> Structure:
    """Read an extended XYZ or LAMMPS data file (chosen by content, not by name).

    ``elements`` names the LAMMPS atom types 1, 2, ... of a data file; without it the
    types are named by ``# Cu`` comments in the Masses section, else by their masses.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"structure file {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read structure file {path!r}: {exc}") from None
    lines = text.splitlines()
    try:
        first = lines[0].strip() if lines else ""
        if first.isdigit() and len(lines) > 1 and "Lattice=" in lines[1]:
            return _read_extxyz(lines)
        if re.search(r"^\s*\d+\s+atoms\s*$", text, re.MULTILINE):
            return _read_lammps_data(lines, elements)
    except ConfigError as exc:
        raise ConfigError(f"structure file {path!r}: {exc}") from None
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"structure file {path!r} is malformed: {exc}") from None
    raise ConfigError(
        f"structure file {path!r} is neither extended XYZ (with a Lattice=\"...\" comment "
        f"line) nor a LAMMPS data file (with an 'N atoms' header line)"
    )


def _read_extxyz(lines: list[str]) -> Structure:
    n = int(lines[0].split()[0])
    info = dict(_key_values(lines[1]))
    lattice = np.array(info["lattice"].split(), dtype=np.float64).reshape(3, 3)
    if "pbc" in info and not all(v in ("T", "True", "true", "1") for v in info["pbc"].split()):
        raise ConfigError(f"pbc={info['pbc']!r}: only fully periodic structures are supported")
    props = info.get("properties", "species:S:1:pos:R:3").split(":")
    cols: dict[str, tuple[int, int]] = {}
    at = 0
    for name, _kind, width in zip(props[0::3], props[1::3], props[2::3]):
        cols[name] = (at, at + int(width))
        at += int(width)
    if "species" not in cols or "pos" not in cols:
        raise ConfigError("extxyz Properties need species and pos columns")
    rows = [line.split() for line in lines[2 : 2 + n]]
    if len(rows) != n or any(len(r) < at for r in rows):
        raise ConfigError(f"expected {n} atom lines with {at} columns")
    s0, _ = cols["species"]
    p0, p1 = cols["pos"]
    symbols = tuple(r[s0] for r in rows)
    positions = np.array([r[p0:p1] for r in rows], dtype=np.float64)
    return Structure(lattice, positions, symbols)


def _key_values(line: str):
    for item in shlex.split(line):
        if "=" in item:
            key, value = item.split("=", 1)
            yield key.lower(), value


#: atom_style -> (column of the type, column of x) in the Atoms section
_STYLE_COLUMNS = {"atomic": (1, 2), "charge": (1, 3), "molecular": (2, 3), "bond": (2, 3),
                  "angle": (2, 3), "full": (2, 4)}
_SECTIONS = ("Atoms", "Masses", "Velocities", "Bonds", "Angles", "Pair Coeffs", "PairIJ Coeffs")


def _read_lammps_data(lines: list[str], elements: Sequence[str] | None) -> Structure:
    header: dict[str, Any] = {"xy": 0.0, "xz": 0.0, "yz": 0.0}
    i = 1  # line 0 is a comment
    sections: dict[str, list[str]] = {}
    while i < len(lines):
        raw = lines[i]
        line = raw.split("#", 1)[0].strip()
        name = line.split()[0] if line else ""
        if line in _SECTIONS or (line and name in ("Atoms", "Masses", "Velocities")):
            key = name
            if key == "Atoms":
                style = raw.partition("#")[2].strip() or "atomic"
                header["style"] = style.split()[0]
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            while i < len(lines) and lines[i].strip() and lines[i].split()[0][0].isdigit():
                body.append(lines[i])
                i += 1
            sections[key] = body
            continue
        words = line.split()
        if line.endswith(" atoms"):
            header["atoms"] = int(words[0])
        elif line.endswith("atom types"):
            header["types"] = int(words[0])
        elif line.endswith("xlo xhi"):
            header["x"] = (float(words[0]), float(words[1]))
        elif line.endswith("ylo yhi"):
            header["y"] = (float(words[0]), float(words[1]))
        elif line.endswith("zlo zhi"):
            header["z"] = (float(words[0]), float(words[1]))
        elif line.endswith("xy xz yz"):
            header["xy"], header["xz"], header["yz"] = (float(w) for w in words[:3])
        i += 1
    for key in ("atoms", "types", "x", "y", "z"):
        if key not in header:
            raise ConfigError(f"LAMMPS data file lacks its {key!r} header line")
    if "Atoms" not in sections:
        raise ConfigError("LAMMPS data file has no Atoms section")
    (xlo, xhi), (ylo, yhi), (zlo, zhi) = header["x"], header["y"], header["z"]
    cell = np.array(
        [[xhi - xlo, 0, 0], [header["xy"], yhi - ylo, 0], [header["xz"], header["yz"], zhi - zlo]]
    )
    origin = np.array([xlo, ylo, zlo])
    names = _type_names(header["types"], sections.get("Masses", []), elements)
    style = header.get("style", "atomic")
    if style not in _STYLE_COLUMNS:
        raise ConfigError(
            f"atom_style {style!r} in the Atoms section; supported: {', '.join(_STYLE_COLUMNS)}"
        )
    type_col, x_col = _STYLE_COLUMNS[style]
    atoms = []
    for line in sections["Atoms"]:
        words = line.split("#", 1)[0].split()
        xyz = [float(w) for w in words[x_col : x_col + 3]]
        atoms.append((int(words[0]), int(words[type_col]), xyz))
    if len(atoms) != header["atoms"]:
        raise ConfigError(f"header says {header['atoms']} atoms, Atoms section has {len(atoms)}")
    atoms.sort()
    try:
        symbols = tuple(names[t] for _, t, _ in atoms)
    except KeyError as exc:
        raise ConfigError(f"atom type {exc.args[0]} has no element name") from None
    positions = np.array([xyz for _, _, xyz in atoms]) - origin
    return Structure(cell, positions, symbols)


def _type_names(n_types: int, masses: list[str], elements: Sequence[str] | None) -> dict[int, str]:
    if elements is not None:
        names = safety.elements(elements, "elements option entry")
        if len(names) < n_types:
            raise ConfigError(f"{n_types} atom types but elements names {len(names)}")
        return {i + 1: e for i, e in enumerate(names)}
    out: dict[int, str] = {}
    for line in masses:
        body, _, comment = line.partition("#")
        words = body.split()
        t, m = int(words[0]), float(words[1])
        tag = comment.strip().split()[0] if comment.strip() else ""
        if tag:
            out[t] = safety.element(tag, f"Masses comment of type {t}")
            continue
        best = min(MASS, key=lambda e: abs(MASS[e] - m))
        if abs(MASS[best] - m) > 0.1:
            raise ConfigError(
                f"atom type {t} has mass {m}, no element's within 0.1 u; give the option elements"
            )
        out[t] = best
    if len(out) < n_types:
        raise ConfigError("the data file names no element for some types; give the option elements")
    return out
