"""Input rows -> structures, and structures -> LAMMPS's restricted triclinic frame.

The input kinds mirror zoo-plugin-ase (``zoo_ase/mapping.py``) so that a task can switch
between the two SKS: ``lattice_constant`` (Å), ``scale``, ``strain`` (Voigt, engineering
shear, cell' = cell @ (I + eps), atoms follow the cell) and ``positions`` (Å). Pair
parameters (Lennard-Jones ``epsilon``, ``sigma``; Morse ``D0``, ``alpha``, ``r0``) are
inputs too, so a model can predict a potential.

LAMMPS wants the cell as a = (lx, 0, 0), b = (xy, ly, 0), c = (xz, yz, lz) with small tilts.
:func:`lammps_frame` rotates (or, for a left-handed cell, reflects) any cell into that form
with an orthogonal Q (positions r' = r Q), swaps lattice vectors for equivalent ones until
|xy|, |xz| <= lx/2 and |yz| <= ly/2 (same periodic crystal, so the same energy, forces
and stress), and wraps the atoms into the box. Forces and stress come back as f = f' Q^T
and sigma = Q sigma' Q^T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo import ConfigError

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")


@dataclass(frozen=True)
class InputKind:
    """One kind of input: its column names, default bounds and units."""

    kind: str
    names: tuple[str, ...]
    lower: float
    upper: float
    units: str

    @property
    def is_geometry(self) -> bool:
        return self.kind in GEOMETRY


GEOMETRY = ("lattice_constant", "scale", "strain", "positions")
#: the parameters of potentials.FAMILIES (Lennard-Jones, then Morse), as input kinds
PAIR_PARAMETERS = ("epsilon", "sigma", "D0", "alpha", "r0")
INPUTS = GEOMETRY + PAIR_PARAMETERS


def input_kind(kind: str, n_atoms: int | None = None) -> InputKind:
    """The input kind called ``kind``; ``positions`` needs ``n_atoms``."""
    if kind == "lattice_constant":
        return InputKind(kind, ("a",), 2.0, 6.0, "Å")
    if kind == "scale":
        return InputKind(kind, ("scale",), 0.7, 1.3, "")
    if kind == "strain":
        return InputKind(kind, ("e_xx", "e_yy", "e_zz", "g_yz", "g_xz", "g_xy"), -0.2, 0.2, "")
    if kind == "positions":
        if not n_atoms:
            raise ConfigError("inputs 'positions' needs the option n_atoms (atoms per structure)")
        names = tuple(f"{c}{i}" for i in range(int(n_atoms)) for c in "xyz")
        return InputKind(kind, names, -np.inf, np.inf, "Å")
    if kind == "epsilon":
        return InputKind(kind, ("epsilon",), 1e-3, 1.0, "eV")
    if kind == "sigma":
        return InputKind(kind, ("sigma",), 1.0, 5.0, "Å")
    if kind == "D0":
        return InputKind(kind, ("D0",), 1e-3, 5.0, "eV")
    if kind == "alpha":
        return InputKind(kind, ("alpha",), 0.3, 5.0, "1/Å")
    if kind == "r0":
        return InputKind(kind, ("r0",), 1.0, 6.0, "Å")
    raise ConfigError(f"unknown inputs {kind!r}; choose from {', '.join(INPUTS)}")


def apply(
    kind: str, cell: np.ndarray, positions: np.ndarray, values: np.ndarray, atoms_per_cell: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cells (m, 3, 3) and positions (m, n, 3) that input ``values`` (m, k) of ``kind``
    make of one structure (``cell`` (3, 3), ``positions`` (n, 3)), all rows at once."""
    m = len(values)
    if kind in ("lattice_constant", "scale"):
        s = values[:, 0].copy()
        if kind == "lattice_constant":
            # the cubic lattice constant whose cell of ``atoms_per_cell`` atoms has the
            # structure's volume per atom: a = (atoms_per_cell * V / N)^(1/3)
            s /= (atoms_per_cell * abs(np.linalg.det(cell)) / len(positions)) ** (1.0 / 3.0)
        return cell[None] * s[:, None, None], positions[None] * s[:, None, None]
    if kind == "strain":
        exx, eyy, ezz, gyz, gxz, gxy = values.T
        mat = np.empty((m, 3, 3))
        mat[:, 0, 0], mat[:, 1, 1], mat[:, 2, 2] = 1 + exx, 1 + eyy, 1 + ezz
        mat[:, 1, 2] = mat[:, 2, 1] = gyz / 2
        mat[:, 0, 2] = mat[:, 2, 0] = gxz / 2
        mat[:, 0, 1] = mat[:, 1, 0] = gxy / 2
        # atoms keep their fractional coordinates: r = f C -> f C M = r M
        return cell[None] @ mat, positions[None] @ mat
    if kind == "positions":
        return np.broadcast_to(cell, (m, 3, 3)), values.reshape(m, len(positions), 3)
    if kind == "none":
        return np.broadcast_to(cell, (m, 3, 3)), np.broadcast_to(positions, (m, *positions.shape))
    raise AssertionError(kind)


@dataclass(frozen=True)
class Frame:
    """A structure in LAMMPS's frame: box (lx, ly, lz, xy, xz, yz), rotation, positions."""

    box: tuple[float, float, float, float, float, float]
    rotation: np.ndarray  # Q: r_lammps = r @ Q
    positions: np.ndarray  # wrapped into the box, LAMMPS frame

    def forces_back(self, f: np.ndarray) -> np.ndarray:
        return f @ self.rotation.T

    def tensor_back(self, t: np.ndarray) -> np.ndarray:
        return self.rotation @ t @ self.rotation.T


def _reduce(t: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """t - n*length with |t/length| <= 0.5 exactly as LAMMPS tests it (old versions stop
    with "Triclinic box skew is too large" otherwise)."""
    n = np.floor(t / length + 0.5)
    t = t - n * length
    for _ in range(2):  # rounding can leave t/length a hair outside [-0.5, 0.5]
        hi, lo = t / length > 0.5, t / length < -0.5
        t = np.where(hi, t - length, np.where(lo, t + length, t))
        n = n + hi - lo
    return t, n


def lammps_frames(cells: np.ndarray, positions: np.ndarray) -> tuple[list[Frame | None], np.ndarray]:
    """Each cell (m, 3, 3) (rows a, b, c) rotated into LAMMPS's lower-triangular form,
    tilts reduced, atoms (m, n, 3) wrapped; None for a degenerate or non-finite row."""
    a, b, c = cells[:, 0], cells[:, 1], cells[:, 2]
    with np.errstate(all="ignore"):
        lx = np.sqrt(np.einsum("ij,ij->i", a, a))
        xy = np.einsum("ij,ij->i", b, a) / lx
        ly = np.sqrt(np.einsum("ij,ij->i", b, b) - xy * xy)
        xz = np.einsum("ij,ij->i", c, a) / lx
        yz = (np.einsum("ij,ij->i", b, c) - xy * xz) / ly
        lz = np.sqrt(np.einsum("ij,ij->i", c, c) - xz * xz - yz * yz)
        ok = (lx > 0) & (ly > 0) & (lz > 0) & np.isfinite(cells).all(axis=(1, 2))
        ok &= np.isfinite(positions).all(axis=(1, 2))
        ok &= np.abs(np.linalg.det(np.where(ok[:, None, None], cells, np.eye(3)))) > 1e-9
        m = len(cells)
        lower = np.zeros((m, 3, 3))
        lower[:, 0, 0], lower[:, 1, 0], lower[:, 1, 1] = lx, xy, ly
        lower[:, 2, 0], lower[:, 2, 1], lower[:, 2, 2] = xz, yz, lz
        safe_cells = np.where(ok[:, None, None], cells, np.eye(3))
        safe_lower = np.where(ok[:, None, None], lower, np.eye(3))
        # cell @ q = lower; q is orthogonal (both have the same Gram matrix)
        q = np.linalg.solve(safe_cells, safe_lower)
        # equivalent lattice vectors with small tilts: c -= n b, c -= k a, b -= j a
        yz, n = _reduce(yz, ly)
        xz = xz - n * xy
        xz, _ = _reduce(xz, lx)
        xy, _ = _reduce(xy, lx)
        box = np.zeros((m, 3, 3))
        box[:, 0, 0], box[:, 1, 0], box[:, 1, 1] = lx, xy, ly
        box[:, 2, 0], box[:, 2, 1], box[:, 2, 2] = xz, yz, lz
        box = np.where(ok[:, None, None], box, np.eye(3))
        r = np.where(ok[:, None, None], positions, 0.0) @ q
        frac = r @ np.linalg.inv(box)  # r = frac @ box
        frac -= np.floor(frac)
        frac[frac >= 1.0] = 0.0
        wrapped = frac @ box
    ok &= np.isfinite(wrapped).all(axis=(1, 2))
    frames: list[Frame | None] = []
    for i in range(m):
        if not ok[i]:
            frames.append(None)
            continue
        frames.append(Frame((float(lx[i]), float(ly[i]), float(lz[i]), float(xy[i]), float(xz[i]), float(yz[i])),
                            q[i], wrapped[i]))
    return frames, ok
