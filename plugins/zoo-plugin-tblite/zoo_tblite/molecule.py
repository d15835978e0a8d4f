"""The context of the ``xtb`` knowledge source: a molecule, and its symmetric stretch.

Why a small dataclass instead of ``ase.Atoms`` only: every context is pickled to reach a
worker process and hashed into the evaluation cache, and xTB needs two numbers an ``Atoms``
keeps only implicitly (the total charge and the number of unpaired electrons, as sums of
per-atom initial charges and magnetic moments). :class:`Molecule` holds exactly what xTB
reads, checked once when it is made: atomic numbers, positions (Å), charge, unpaired
electrons. ``ase.Atoms`` contexts are accepted too and converted with
:meth:`Molecule.from_atoms`.

The symmetric stretch (``inputs="bond_length"``): every bond from the central atom is set
to one length r, directions kept. For a diatomic or a symmetric AXn molecule (linear AX2,
trigonal planar AX3, tetrahedral AX4, octahedral AX6) that one number is the whole
geometry; for other star-shaped molecules (bent H2O, pyramidal NH3) the angles are those of
the context.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo import ConfigError

#: bond angles (degrees) that symmetry fixes for AXn with n bonds from the centre
IDEAL_ANGLES: dict[int, tuple[float, ...]] = {
    2: (180.0,),                                   # linear
    3: (120.0,),                                   # trigonal planar
    4: (float(np.degrees(np.arccos(-1.0 / 3.0))),),  # tetrahedral, 109.47
    6: (90.0, 180.0),                              # octahedral
}


@dataclass(frozen=True)
class Molecule:
    """A molecule as xTB sees it. Immutable, so it pickles and hashes the same everywhere.

    ``numbers``: atomic numbers; ``positions``: (n, 3) Å; ``charge``: total charge (e);
    ``uhf``: number of unpaired electrons (2S, e.g. 2 for triplet O2); ``name``: a label for
    messages only (not part of what xTB computes, nor of the cache key).
    """

    numbers: tuple[int, ...]
    positions: tuple[tuple[float, float, float], ...]
    charge: int = 0
    uhf: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        numbers = np.asarray(self.numbers)
        label = self.name or "molecule"
        if numbers.ndim != 1 or numbers.size == 0 or numbers.dtype.kind not in "iu" or np.any(numbers < 1):
            raise ConfigError(f"{label}: numbers must be atomic numbers >= 1, got {self.numbers!r}")
        try:
            positions = np.asarray(self.positions, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"{label}: positions must be numbers, (n_atoms, 3) Å") from None
        if positions.shape != (numbers.size, 3) or not np.all(np.isfinite(positions)):
            raise ConfigError(
                f"{label}: positions must be {numbers.size} finite (x, y, z) rows in Å, got shape {positions.shape}"
            )
        for what in ("charge", "uhf"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"{label}: {what} must be a whole number, got {value!r}")
        electrons = int(numbers.sum()) - int(self.charge)
        if electrons < 0 or not 0 <= self.uhf <= electrons:
            raise ConfigError(
                f"{label}: {electrons} electrons (charge {self.charge}) cannot have {self.uhf} unpaired "
                f"electrons; uhf must be from 0 to the number of electrons"
            )
        if (electrons - self.uhf) % 2:
            raise ConfigError(
                f"{label}: {electrons} electrons cannot have {self.uhf} unpaired electron(s): "
                f"uhf must be {'even' if electrons % 2 == 0 else 'odd'} (e.g. "
                f"{electrons % 2} or {electrons % 2 + 2}); check the charge and the magnetic moments"
            )
        object.__setattr__(self, "numbers", tuple(int(z) for z in numbers))
        object.__setattr__(self, "positions", tuple(tuple(float(c) for c in p) for p in positions))
        object.__setattr__(self, "charge", int(self.charge))
        object.__setattr__(self, "uhf", int(self.uhf))

    # -- conversions --------------------------------------------------------------------
    @classmethod
    def from_atoms(cls, atoms: Any, name: str | None = None) -> "Molecule":
        """An ``ase.Atoms`` as a Molecule: charge = sum of the initial charges, unpaired
        electrons = |sum of the initial magnetic moments| (as tblite's ASE calculator reads
        them); both must be whole numbers. Periodic cells are refused: xTB here computes
        molecules."""
        label = name or atoms.get_chemical_formula()
        if np.any(atoms.pbc):
            raise ConfigError(f"{label}: a periodic structure; the xtb knowledge source computes molecules (pbc = False)")
        charge = float(np.sum(atoms.get_initial_charges()))
        moments = float(np.sum(atoms.get_initial_magnetic_moments()))
        for what, value in (("initial charges", charge), ("initial magnetic moments", moments)):
            if abs(value - round(value)) > 1e-6:
                raise ConfigError(
                    f"{label}: the {what} sum to {value:g}, not a whole number; xTB needs a whole "
                    f"charge and a whole number of unpaired electrons"
                )
        return cls(
            numbers=tuple(int(z) for z in atoms.numbers),
            positions=tuple(map(tuple, atoms.positions)),
            charge=int(round(charge)),
            uhf=int(round(abs(moments))),
            name=label,
        )

    def to_atoms(self) -> Any:
        """An ``ase.Atoms`` with this geometry, charge and spin (on the first atom)."""
        from ase import Atoms

        atoms = Atoms(numbers=self.numbers, positions=self.positions)
        charges = np.zeros(len(self.numbers))
        charges[0] = self.charge
        moments = np.zeros(len(self.numbers))
        moments[0] = self.uhf
        atoms.set_initial_charges(charges)
        atoms.set_initial_magnetic_moments(moments)
        return atoms

    def key(self) -> bytes:
        """Bytes that identify what xTB computes for this molecule (name excluded)."""
        head = np.array([len(self.numbers), self.charge, self.uhf], dtype="<i8").tobytes()
        return head + np.asarray(self.numbers, dtype="<i8").tobytes() + self.xyz.astype("<f8").tobytes()

    # -- geometry -----------------------------------------------------------------------
    @property
    def xyz(self) -> np.ndarray:
        """Positions as a fresh (n, 3) float64 array (Å)."""
        return np.array(self.positions, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.numbers)

    def star(self) -> tuple[int, tuple[int, ...]]:
        """(centre, ligands) of the bonds a symmetric stretch changes.

        A diatomic: atom 0 and atom 1. Larger molecules: the one atom that is the nearest
        neighbour of every other atom (C of CH4, O of H2O). Anything else (C2H6, a chain)
        has no single set of bonds from one centre, and is refused.
        """
        n = len(self.numbers)
        if n < 2:
            raise ConfigError(f"{self.name or 'molecule'}: one atom has no bond to stretch")
        if n == 2:
            return 0, (1,)
        xyz = self.xyz
        dist = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
        np.fill_diagonal(dist, np.inf)
        nearest = dist.argmin(axis=1)
        for c in range(n):
            others = [i for i in range(n) if i != c]
            if all(nearest[i] == c for i in others):
                return c, tuple(others)
        raise ConfigError(
            f"{self.name or 'molecule'}: not an AXn molecule (no atom is the nearest neighbour of "
            f"all the others), so one bond length does not set its geometry; use inputs='positions'"
        )

    def directions(self, xyz: np.ndarray | None = None) -> tuple[int, tuple[int, ...], np.ndarray]:
        """(centre, ligands, unit vectors centre -> ligand), from ``xyz`` or the context's."""
        centre, ligands = self.star()
        xyz = self.xyz if xyz is None else xyz
        u = xyz[list(ligands)] - xyz[centre]
        norms = np.linalg.norm(u, axis=1, keepdims=True)
        if np.any(norms < 1e-8):
            raise ConfigError(f"{self.name or 'molecule'}: two atoms sit on top of each other")
        return centre, ligands, u / norms

    def stretched_xyz(self, r: float) -> np.ndarray:
        """Positions (Å) with every bond from the centre set to ``r``, directions kept."""
        centre, ligands, u = self.directions()
        xyz = self.xyz
        xyz[list(ligands)] = xyz[centre] + r * u
        return xyz

    def stretched(self, r: float) -> "Molecule":
        """This molecule with every bond from the centre set to ``r`` Å."""
        return Molecule(self.numbers, tuple(map(tuple, self.stretched_xyz(r))), self.charge, self.uhf, self.name)

    def bond_lengths(self) -> np.ndarray:
        """Lengths (Å) of the bonds from the centre."""
        centre, ligands = self.star()
        xyz = self.xyz
        return np.linalg.norm(xyz[list(ligands)] - xyz[centre], axis=1)

    def is_symmetric(self, length_tol: float = 1e-3, angle_tol: float = 0.5) -> bool:
        """Is one bond length the whole geometry? A diatomic, or AXn with one kind of
        ligand, equal bonds (within ``length_tol`` Å) and the angles symmetry fixes for n
        (:data:`IDEAL_ANGLES`, within ``angle_tol`` degrees)."""
        try:
            centre, ligands, u = self.directions()
        except ConfigError:
            return False
        n = len(ligands)
        if n == 1:
            return True
        lengths = self.bond_lengths()
        if n not in IDEAL_ANGLES or len({self.numbers[i] for i in ligands}) != 1:
            return False
        if lengths.max() - lengths.min() > length_tol:
            return False
        ideal = np.array(IDEAL_ANGLES[n])
        for a, b in itertools.combinations(range(n), 2):
            angle = np.degrees(np.arccos(np.clip(u[a] @ u[b], -1.0, 1.0)))
            if np.min(np.abs(ideal - angle)) > angle_tol:
                return False
        return True


def stretch_force(xyz: np.ndarray, gradient: np.ndarray, centre: int, ligands: Sequence[int]) -> float:
    """Minus dE/dr per bond along the symmetric stretch at ``xyz``, from the gradient dE/dx.

    Moving every ligand i outward along its bond direction u_i by dr changes the energy by
    dr * sum_i g_i . u_i; per bond that is the mean over the n bonds. Positive: the bonds
    want to be longer (compressed); zero at the method's equilibrium bond length.
    """
    u = xyz[list(ligands)] - xyz[centre]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return -float(np.mean(np.sum(gradient[list(ligands)] * u, axis=1)))


def as_molecule(context: Any) -> Molecule:
    """A context as a :class:`Molecule` (ase.Atoms are converted; anything else refused)."""
    if isinstance(context, Molecule):
        return context
    try:
        from ase import Atoms
    except ImportError:  # pragma: no cover - ase is a dependency
        Atoms = ()  # type: ignore[assignment]
    if isinstance(context, Atoms):
        return Molecule.from_atoms(context)
    raise ConfigError(
        f"a context must be a zoo_tblite.Molecule or an ase.Atoms molecule, got {type(context).__name__}"
    )
