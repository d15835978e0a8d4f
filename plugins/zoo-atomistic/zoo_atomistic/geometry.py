"""What the structural input kinds do to a structure, for all rows at once (numpy only).

:func:`cells` gives the new cell of each row of a lattice kind (the atoms keep their
fractional coordinates); :func:`positions` the new Cartesian positions of each row of an
atoms kind (the cell is kept); :func:`stretch` those of ``bond_length`` (the symmetric
stretch of a molecule, about the central atom :func:`star` finds); :func:`deform` all of
them, for codes that want the atoms moved too. A row that makes no cell (a negative length,
angles that close none) gets a NaN cell, and a bond length <= 0 NaN positions, which every
code turns into a NaN output row.

:func:`unfit` says, before anything is computed, why a kind cannot change a structure: a
lattice kind (or ``frac_positions``) on a molecule, which has no periodic cell to change,
would otherwise compute the same value at every input, and a zero gradient with it.

Each code applies the result its own way — ASE with ``set_cell(..., scale_atoms=True)``,
pymatgen by setting the lattice, LAMMPS by writing the moved atoms — so the numbers a code
computed before it shared this vocabulary stay bit for bit the same: a uniform scaling is
``cell * s`` and a strain ``cell @ (I + eps)``, exactly as before.
"""

from __future__ import annotations

import numpy as np

from .kinds import BONDS, KINDS, LATTICE


def cells(kind: str, values: np.ndarray, cell: np.ndarray, n_atoms: int, atoms_per_cell: int = 4) -> np.ndarray:
    """New cells (m, 3, 3) that rows ``values`` (m, k) of lattice ``kind`` make of ``cell``
    (3, 3, rows are lattice vectors) holding ``n_atoms`` atoms; all NaN for a row that
    makes no cell."""
    out = _cells(kind, np.asarray(values, dtype=np.float64), np.asarray(cell, dtype=np.float64), n_atoms,
                 atoms_per_cell)
    out[~np.isfinite(out).all(axis=(1, 2))] = np.nan
    return out


def _cells(kind: str, values: np.ndarray, cell: np.ndarray, n_atoms: int, atoms_per_cell: int) -> np.ndarray:
    scale, matrix = _scaling(kind, values, cell, n_atoms, atoms_per_cell)
    if scale is not None:
        return cell[None] * scale[:, None, None]
    if matrix is not None:
        return cell[None] @ matrix
    if kind in ("lattice_lengths", "lattice_abc"):
        lengths = np.linalg.norm(cell, axis=1)
        with np.errstate(all="ignore"):
            if kind == "lattice_abc":
                factors = np.where(values > 0, values / lengths, np.nan)
            else:  # a and b scale together (b/a kept), c on its own
                factors = np.where(values > 0, values / lengths[[0, 2]], np.nan)[:, [0, 0, 1]]
        return cell[None] * factors[:, :, None]  # each lattice vector scaled: angles kept
    if kind == "lattice_parameters":
        return from_parameters(values)
    if kind == "cell":
        return values.reshape(len(values), 3, 3).copy()
    raise ValueError(f"{kind!r} is not a lattice kind")


def positions(kind: str, values: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """New Cartesian positions (m, n, 3) that rows ``values`` (m, 3n) of atoms ``kind``
    give, in ``cell`` (kept)."""
    values = np.asarray(values, dtype=np.float64)
    xyz = values.reshape(len(values), -1, 3)
    if kind == "positions":
        return xyz
    if kind == "frac_positions":
        return xyz @ np.asarray(cell, dtype=np.float64)
    raise ValueError(f"{kind!r} is not an atoms kind")


def deform(
    kind: str | None, values: np.ndarray, cell: np.ndarray, atoms: np.ndarray, atoms_per_cell: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Cells (m, 3, 3) and positions (m, n, 3) that rows ``values`` of ``kind`` make of one
    structure (``cell``, ``atoms`` (n, 3)); ``kind`` None leaves it as it is, m times."""
    values = np.asarray(values, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    atoms = np.asarray(atoms, dtype=np.float64)
    m = len(values)
    if kind is None:
        return np.broadcast_to(cell, (m, 3, 3)), np.broadcast_to(atoms, (m, *atoms.shape))
    if KINDS[kind].group == BONDS:
        return np.broadcast_to(cell, (m, 3, 3)), stretch(values, atoms)
    if KINDS[kind].group != LATTICE:
        return np.broadcast_to(cell, (m, 3, 3)), positions(kind, values, cell)
    scale, matrix = _scaling(kind, values, cell, len(atoms), atoms_per_cell)
    if scale is not None:
        return cell[None] * scale[:, None, None], atoms[None] * scale[:, None, None]
    if matrix is not None:  # atoms keep their fractional coordinates: r = f C -> f C M = r M
        return cell[None] @ matrix, atoms[None] @ matrix
    new = cells(kind, values, cell, len(atoms), atoms_per_cell)
    frac = np.linalg.solve(cell.T, atoms.T).T
    with np.errstate(all="ignore"):
        return new, frac[None] @ new


def star(atoms: np.ndarray) -> tuple[int, tuple[int, ...]]:
    """(centre, ligands) of the bonds ``bond_length`` stretches, from positions (n, 3): a
    diatomic's atoms 0 and 1; else the one atom that is the nearest neighbour of every other
    atom (C of CH4, O of H2O). Distances are plain Cartesian ones (no periodic images).
    Raises ValueError, saying why, for a structure with no such centre (one atom, a chain
    such as C2H6, two atoms on one spot)."""
    xyz = np.asarray(atoms, dtype=np.float64).reshape(-1, 3)
    n = len(xyz)
    if n < 2:
        raise ValueError("one atom has no bond to stretch")
    dist = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
    np.fill_diagonal(dist, np.inf)
    if dist.min() < 1e-8:
        raise ValueError("two atoms sit on one spot")
    if n == 2:
        return 0, (1,)
    nearest = dist.argmin(axis=1)
    for c in range(n):
        others = tuple(i for i in range(n) if i != c)
        if all(nearest[i] == c for i in others):
            return c, others
    raise ValueError("no atom is the nearest neighbour of all the others (not a diatomic or AXn "
                     "molecule), so one bond length does not set its geometry")


def stretch(values: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """New positions (m, n, 3) with every bond from the central atom (:func:`star`) of
    ``atoms`` (n, 3) set to the length of each row of ``values`` (m, 1), directions and the
    centre kept; NaN for a row whose length is not > 0."""
    xyz = np.asarray(atoms, dtype=np.float64).reshape(-1, 3)
    r = np.asarray(values, dtype=np.float64).reshape(-1)
    centre, ligands = star(xyz)
    u = xyz[list(ligands)] - xyz[centre]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    out = np.repeat(xyz[None], len(r), axis=0)
    out[:, list(ligands)] = xyz[centre] + r[:, None, None] * u[None]
    out[~(r > 0)] = np.nan
    return out


def unfit(kind: str, cell: np.ndarray, atoms: np.ndarray, pbc: object) -> str | None:
    """Why inputs ``kind`` cannot change the structure (``cell`` (3, 3), positions ``atoms``
    (n, 3), ``pbc`` one bool or three), in words; None where they can.

    A lattice kind or ``frac_positions`` needs a cell: the structure must be periodic in
    some direction and its cell have a volume (a molecule read from an .xyz file has
    neither). ``bond_length`` needs a centre (:func:`star`). Positions and potential
    parameters fit any structure.
    """
    group = KINDS[kind].group
    if group == LATTICE or kind == "frac_positions":
        what = "changes the cell" if group == LATTICE else "counts in lattice vectors"
        if not np.any(pbc):
            return (f"inputs {kind!r} {what}, and the structure is not periodic (pbc false in every "
                    f"direction), so it has no lattice: a molecule takes inputs 'positions' or 'bond_length'")
        if not abs(np.linalg.det(np.asarray(cell, dtype=np.float64))) > 1e-9:
            return f"inputs {kind!r} {what}, and the structure's cell has no volume; give it a 3D cell"
    if group == BONDS:
        try:
            star(atoms)
        except ValueError as exc:
            return f"inputs {kind!r} stretches the bonds from one central atom, but {exc}; use inputs 'positions'"
    return None


def _scaling(
    kind: str, values: np.ndarray, cell: np.ndarray, n_atoms: int, atoms_per_cell: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(s, None) for a uniform scaling by s, (None, M) for cell' = cell @ M, else (None, None)."""
    if kind == "scale":
        return values[:, 0].copy(), None
    if kind == "lattice_constant":
        # the cubic lattice constant of the structure's volume per atom: a = (apc V / N)^(1/3)
        return values[:, 0] / (atoms_per_cell * abs(np.linalg.det(cell)) / n_atoms) ** (1.0 / 3.0), None
    if kind == "strain":
        exx, eyy, ezz, gyz, gxz, gxy = values.T
        matrix = np.empty((len(values), 3, 3))
        matrix[:, 0, 0], matrix[:, 1, 1], matrix[:, 2, 2] = 1 + exx, 1 + eyy, 1 + ezz
        matrix[:, 1, 2] = matrix[:, 2, 1] = gyz / 2
        matrix[:, 0, 2] = matrix[:, 2, 0] = gxz / 2
        matrix[:, 0, 1] = matrix[:, 1, 0] = gxy / 2
        return None, matrix
    return None, None


def from_parameters(values: np.ndarray) -> np.ndarray:
    """Cells (m, 3, 3) from rows (a, b, c, alpha, beta, gamma) in Å and degrees, oriented as
    pymatgen's ``Lattice.from_parameters`` orients them; NaN for a row that closes no cell
    (a length <= 0, or angles with 1 - ca^2 - cb^2 - cg^2 + 2 ca cb cg <= 0)."""
    a, b, c, alpha, beta, gamma = np.asarray(values, dtype=np.float64).T
    ca, cb, cg = np.cos(np.radians([alpha, beta, gamma]))
    sa, sb = np.sin(np.radians(alpha)), np.sin(np.radians(beta))
    with np.errstate(all="ignore"):
        ok = (np.minimum(np.minimum(a, b), c) > 0) & (1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg > 1e-12)
        gamma_star = np.arccos(np.clip((ca * cb - cg) / (sa * sb), -1, 1))
    out = np.zeros((len(a), 3, 3))
    out[:, 0, 0], out[:, 0, 2] = a * sb, a * cb
    out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = -b * sa * np.cos(gamma_star), b * sa * np.sin(gamma_star), b * ca
    out[:, 2, 2] = c
    out[~ok] = np.nan
    return out


__all__ = ["cells", "deform", "from_parameters", "positions", "star", "stretch", "unfit"]
