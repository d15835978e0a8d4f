"""The exact answer the ``ase-structure`` task is checked against, from the calculator's own
analytic derivatives (which zoo never sees: it differentiates energies).

One function per kind of input the task relaxes, all solving the problem the knowledge source
poses — the energy as a function of its input row, everything else fixed:

* ``positions``: ASE's BFGS on the structure, cell fixed, constraints off (the source
  computes the unconstrained structure), until the largest force is under ``fmax``;
* ``bond_length``: the zero of dE/dr along the symmetric stretch (the forces projected on
  the bonds), by Brent's method;
* ``lattice_constant``, ``scale``: the zero of the pressure (from the stress: dE/da =
  -3 V P / a when the cell scales uniformly, atoms at fixed fractional coordinates), by
  Brent's method. For a crystal with internal degrees of freedom this is not what a full
  relaxation (atoms and cell) gives: it is the answer to the same question the inputs ask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from zoo import ConfigError
from zoo_atomistic import geometry

#: the inputs the task can relax: one structural kind whose minimum is a zero force or stress
RELAXABLE = ("positions", "bond_length", "lattice_constant", "scale")
#: at most this many optimizer steps or calculator calls for the reference
MAX_STEPS = 1000


@dataclass(frozen=True)
class Reference:
    """The minimum: input row ``z`` (d,), its ``energy`` (eV), how many calculations it took."""

    z: np.ndarray
    energy: float
    calculations: int
    method: str


def start_row(kind: str, atoms: Atoms, atoms_per_cell: int) -> np.ndarray:
    """The input row that leaves ``atoms`` as it is (the task's starting point)."""
    if kind == "positions":
        return atoms.positions.reshape(-1).copy()
    if kind == "bond_length":
        centre, ligands = geometry.star(atoms.positions)
        return np.array([np.linalg.norm(atoms.positions[list(ligands)] - atoms.positions[centre], axis=1).mean()])
    if kind == "lattice_constant":
        return np.array([(atoms_per_cell * atoms.get_volume() / len(atoms)) ** (1.0 / 3.0)])
    return np.array([1.0])  # scale


def reference(sks, kind: str, z0: np.ndarray, fmax: float) -> Reference:
    """The minimum of ``sks``'s energy over its inputs of ``kind``, from ``z0``, by the
    calculator's analytic forces or stress (``sks``: an ASE knowledge source built with
    the ``structure`` option)."""
    from ase.calculators.calculator import PropertyNotImplementedError

    try:
        return _bfgs(sks, fmax) if kind == "positions" else _root(sks, kind, float(z0[0]))
    except PropertyNotImplementedError as exc:
        raise ConfigError(f"ase-structure: the calculator does not compute {exc}, which the reference "
                          f"for inputs {kind!r} needs (forces for positions and bonds, stress for a "
                          f"lattice)") from None


def _root(sks, kind: str, z0: float) -> Reference:
    spec = sks.input_spec
    slope = _Slope(sks, kind)
    z = _brent(slope, z0, float(spec.lower[0]), float(spec.upper[0]), kind)
    atoms = _at(sks, z)
    return Reference(np.array([z]), float(atoms.get_potential_energy()), slope.calls + 1,
                     f"Brent's method on {'the bond force' if kind == 'bond_length' else 'the pressure'}")


def _at(sks, z: float) -> Atoms:
    """The structure at input row [z], with a fresh calculator attached."""
    atoms = sks.structure.copy()
    atoms.set_constraint()
    sks.mapping.apply(atoms, np.array([z]))
    atoms.calc = sks.make_calculator()
    return atoms


def _bfgs(sks, fmax: float) -> Reference:
    from ase.optimize import BFGS

    atoms = sks.structure.copy()
    atoms.set_constraint()
    atoms.calc = sks.make_calculator()
    opt = BFGS(atoms, logfile=None)
    opt.run(fmax=fmax, steps=MAX_STEPS)
    largest = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    if largest > fmax:
        raise ConfigError(
            f"ase-structure: ASE's BFGS left a force of {largest:.3g} eV/Å after {MAX_STEPS} steps, above "
            f"fmax={fmax:g}; start nearer a minimum, or raise fmax (--task-option fmax=...)"
        )
    return Reference(atoms.positions.reshape(-1).copy(), float(atoms.get_potential_energy()),
                     opt.nsteps + 1, f"ASE's BFGS to fmax={fmax:g} eV/Å")


class _Slope:
    """dE/dz (up to a positive factor) at input row [z], counting its calculations."""

    def __init__(self, sks, kind: str):
        self.sks, self.kind, self.calls = sks, kind, 0
        if kind == "bond_length":
            self.centre, ligands = geometry.star(sks.structure.positions)
            self.ligands = list(ligands)

    def __call__(self, z: float) -> float:
        self.calls += 1
        atoms = _at(self.sks, z)
        if self.kind != "bond_length":  # dE/dz = -3 V P / z: the sign of -P
            return float(np.mean(atoms.get_stress(voigt=True)[:3]))
        u = atoms.positions[self.ligands] - atoms.positions[self.centre]
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        return -float(np.sum(atoms.get_forces()[self.ligands] * u))


def _brent(slope: Callable[[float], float], z0: float, lower: float, upper: float, kind: str) -> float:
    """The zero of ``slope`` where it turns from negative to positive (a minimum), bracketed
    by steps from ``z0`` downhill that double each time, inside [lower, upper]."""
    from scipy.optimize import brentq

    g0 = slope(z0)
    if g0 == 0.0:
        return z0
    direction = -1.0 if g0 > 0 else 1.0
    step, near = 0.01 * max(abs(z0), 1.0), z0
    for _ in range(40):
        far = min(max(near + direction * step, lower), upper)
        g_far = slope(far)
        if np.sign(g_far) != np.sign(g0):
            lo, hi = sorted((near, far))
            return float(brentq(slope, lo, hi, xtol=1e-10, rtol=1e-12, maxiter=MAX_STEPS))
        if far in (lower, upper):
            break
        near, step = far, 2 * step
    raise ConfigError(
        f"ase-structure: the energy has no minimum in inputs {kind!r} between {lower:g} and {upper:g} "
        f"downhill of the start {z0:g}; widen the bounds (--sks-option lower=... upper=...) or check the structure"
    )


__all__ = ["MAX_STEPS", "RELAXABLE", "Reference", "reference", "start_row"]
