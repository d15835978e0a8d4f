"""Structures -> LAMMPS's restricted triclinic frame.

What an input row does to a structure is zoo-atomistic's (:mod:`zoo_atomistic.geometry`),
shared with every code; this module only puts the result in the form LAMMPS wants.

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
