"""Where a pair potential's fcc solid sits, measured through the knowledge source itself.

A task that fits pair-potential parameters starts each alloy near its own equilibrium: the
length parameter at ``a_V / (a0 / length)`` and the energy scale at a chosen bulk modulus.
Both ratios depend on how the code cuts the potential off (ASE's LJ at 3 sigma with its
smooth switch has a0 = 1.547 sigma, B = 70.5 epsilon/sigma^3; LAMMPS's force-shifted
lj/smooth/linear 1.551 sigma, 67.3), so instead of a table per code the task measures them
at set-up through whatever SKS it was given: a few batched pressure calls on a 4-atom fcc
cell (the potentials here are species-blind), counted as set-up queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from zoo import ConfigError

from ..alloys import random_fcc_alloy

#: a pure-Cu composition; any species serves a species-blind pair potential
_CU = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Equilibrium:
    """The fcc solid of one parameter set: a0 / length, and its bulk modulus (GPa)."""

    lattice_per_length: float
    bulk_modulus: float


def fcc_equilibrium(
    pressure: Callable[[np.ndarray], np.ndarray], length: float, lo: float = 1.0, hi: float = 2.0,
    rounds: int = 6, who: str = "task",
) -> Equilibrium:
    """Find a0 / length where ``pressure(a)`` (GPa, one call for a vector of lattice
    constants a in Å) crosses zero from above, between ``lo`` and ``hi`` times ``length``:
    a grid, then ``rounds`` finer grids inside the bracket, then a linear interpolation.
    The bulk modulus is B = -(a/3) dP/da at a0 (central difference)."""
    grid = np.linspace(lo, hi, 21)
    for _ in range(rounds):
        p = pressure(grid * length)
        falls = np.flatnonzero((p[:-1] > 0) & (p[1:] <= 0))
        if not len(falls):
            raise ConfigError(
                f"{who}: the knowledge source's pressure of an fcc cell never crosses zero between "
                f"a = {grid[0]:.3g} and {grid[-1]:.3g} times the potential's length (pressures "
                f"{np.round(p, 2).tolist()} GPa); check the potential's options"
            )
        i = falls[0]
        lo_r, hi_r, lo_p, hi_p = grid[i], grid[i + 1], p[i], p[i + 1]
        grid = np.linspace(lo_r, hi_r, 9)
    ratio = lo_r + (hi_r - lo_r) * lo_p / (lo_p - hi_p)
    a0, h = ratio * length, 1e-4 * ratio * length
    p_minus, p_plus = pressure(np.array([a0 - h, a0 + h]))
    return Equilibrium(float(ratio), float(-a0 / 3 * (p_plus - p_minus) / (2 * h)))


def pair_potential_pressure(sks, p_col: int, row: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``pressure(a)``: the SKS's pressure (GPa) of 4-atom fcc cells at lattice constants a,
    every one with the parameter row ``row``."""

    def pressure(a: np.ndarray) -> np.ndarray:
        contexts = [random_fcc_alloy(_CU, 0, repeat=1, a=float(x)) for x in a]
        return sks(np.repeat(np.asarray(row, float)[None], len(a), axis=0), contexts)[:, p_col]

    return pressure


__all__ = ["Equilibrium", "fcc_equilibrium", "pair_potential_pressure"]
