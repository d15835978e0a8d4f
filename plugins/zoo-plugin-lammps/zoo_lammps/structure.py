"""The structures the LAMMPS knowledge source computes, without ASE.

A context is zoo-atomistic's neutral :class:`~zoo_atomistic.Structure` (cell, positions,
symbols, pbc: numpy only, so a venv with only zoo-core and this plugin works), or,
duck-typed, anything with ``get_cell()``, ``get_positions()`` and
``get_chemical_symbols()`` (an ``ase.Atoms``; ASE is never imported here). Both pickle, so
every executor can ship them. LAMMPS computes periodic structures only.

``read_structure(path)`` reads the ``structure=PATH`` option: an extended XYZ file (the
``Lattice=`` / ``Properties=`` header ASE writes) or a LAMMPS data file (atom styles
atomic, charge, molecular, bond, angle, full; types named by the ``elements`` option, by
``# Cu`` comments in the Masses section, or by mass), parsed here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


from zoo import ConfigError, SKSError
from zoo_atomistic import Structure
from zoo_atomistic import as_structure as atomistic_structure
from zoo_atomistic.elements import MASS

from . import safety


def as_structure(obj: Any, where: str = "context") -> Structure:
    """A periodic :class:`zoo_atomistic.Structure` from a Structure or an object with
    ASE's getters (duck-typed); :class:`zoo.SKSError` for anything else and for structures
    that are not periodic in all three directions (LAMMPS runs ``boundary p p p``)."""
    st = atomistic_structure(obj, where)
    if not all(st.pbc):
        raise SKSError(
            f"{where} is not periodic in all directions (pbc={list(st.pbc)}); the LAMMPS knowledge "
            f"source computes periodic structures only: give a cell and pbc=True"
        )
    return st


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
