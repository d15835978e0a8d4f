"""The neutral structure every atomistic knowledge source accepts as a context.

A :class:`Structure` is a small frozen record — cell, Cartesian positions, element symbols,
periodic directions — that needs nothing but numpy. A task builds its contexts as
Structures once and runs through any code: zoo-plugin-ase turns one into an ``ase.Atoms``,
zoo-plugin-pymatgen into a pymatgen ``Structure``, zoo-plugin-lammps writes it into its
input as it is. Units are Å.

:func:`as_structure` also takes anything with ASE's getters (``get_cell()``,
``get_positions()``, ``get_chemical_symbols()``, optionally ``get_pbc()``), duck-typed, so a
code that reads Structures takes an ``ase.Atoms`` too without importing ASE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo import ConfigError, SKSError

from .elements import symbols as checked_symbols


@dataclass(frozen=True, eq=False)
class Structure:
    """``cell`` (3, 3) Å with the lattice vectors as rows, Cartesian ``positions`` (n, 3) Å,
    element ``symbols`` (n,), and ``pbc``: periodic along each lattice vector (one bool for
    all three, or three; default periodic).

    The arrays are copied and made read-only, and the symbols checked and kept as plain
    ``str``, so a context cannot change under a running batch. A cell that is periodic in
    any direction must have a volume.
    """

    cell: np.ndarray
    positions: np.ndarray
    symbols: tuple[str, ...]
    pbc: tuple[bool, bool, bool] = field(default=(True, True, True))

    def __post_init__(self) -> None:
        if np.size(self.cell) != 9:
            raise ConfigError(f"Structure: cell must be 3x3, got shape {np.shape(self.cell)}")
        cell = np.array(self.cell, dtype=np.float64).reshape(3, 3)
        pos = np.array(self.positions, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
            raise ConfigError(f"Structure: positions must be (n, 3) with n >= 1, got {pos.shape}")
        symbols = checked_symbols(
            (self.symbols,) if isinstance(self.symbols, str) else self.symbols, "Structure symbol"
        )
        if len(symbols) != len(pos):
            raise ConfigError(f"Structure: {len(symbols)} symbols for {len(pos)} positions")
        pbc = _pbc(self.pbc)
        if not (np.all(np.isfinite(cell)) and np.all(np.isfinite(pos))):
            raise ConfigError("Structure: cell and positions must be finite")
        if any(pbc) and abs(np.linalg.det(cell)) < 1e-9:
            raise ConfigError("Structure: the cell has no volume (a periodic structure needs a 3D cell)")
        cell.setflags(write=False)
        pos.setflags(write=False)
        object.__setattr__(self, "cell", cell)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "pbc", pbc)

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def volume(self) -> float:
        """|det(cell)| in Å^3."""
        return float(abs(np.linalg.det(self.cell)))

    @property
    def frac_positions(self) -> np.ndarray:
        """Positions in units of the lattice vectors (needs a cell with a volume)."""
        return np.linalg.solve(self.cell.T, self.positions.T).T

    def key(self) -> bytes:
        """Canonical bytes of what a computed value depends on (an evaluation-cache key)."""
        return b"\0".join([b"Structure", self.cell.tobytes(), self.positions.tobytes(),
                           " ".join(self.symbols).encode(), bytes(self.pbc)])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Structure)
            and self.symbols == other.symbols
            and self.pbc == other.pbc
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


def _pbc(value: Any) -> tuple[bool, bool, bool]:
    flags = np.broadcast_to(np.asarray(value), (3,)) if np.size(value) in (1, 3) else None
    if flags is None or flags.dtype.kind != "b":
        raise ConfigError(f"Structure: pbc must be true/false or three of them, got {value!r}")
    return tuple(bool(f) for f in flags)  # type: ignore[return-value]


_GETTERS = ("get_cell", "get_positions", "get_chemical_symbols")


def as_structure(obj: Any, where: str = "context") -> Structure:
    """A :class:`Structure` from a Structure or an object with ASE's getters (an
    ``ase.Atoms``, duck-typed); anything else, or getters that give no valid structure, is
    a :class:`zoo.SKSError` naming ``where``."""
    if isinstance(obj, Structure):
        return obj
    if not all(callable(getattr(obj, g, None)) for g in _GETTERS):
        raise SKSError(
            f"{where} is a {type(obj).__name__}; give a zoo_atomistic.Structure or an object "
            f"with get_cell(), get_positions() and get_chemical_symbols() (e.g. ase.Atoms)"
        )
    pbc = obj.get_pbc() if callable(getattr(obj, "get_pbc", None)) else True
    try:
        return Structure(
            np.asarray(obj.get_cell(), dtype=np.float64),
            np.asarray(obj.get_positions(), dtype=np.float64),
            tuple(obj.get_chemical_symbols()),
            tuple(np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))),
        )
    except ConfigError as exc:
        raise SKSError(f"{where}: {exc}") from None


__all__ = ["Structure", "as_structure"]
