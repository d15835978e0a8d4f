"""Helpers shared by the zoo-plugin-pymatgen tests (a uniquely named module, so it never
clashes with another test folder's modules when pytest collects several folders).

Every reference number here comes from pymatgen called directly (a fresh calculator on a
structure built by hand from the same lattice or positions), from a formula written out
independently of the plugin, or from textbook constants; never from zoo itself.
"""

from __future__ import annotations

import math

import numpy as np
from pymatgen.core import Lattice, Species, Structure

#: e^2 / (4 pi eps0) in eV Å, and the Madelung constants of rock salt and CsCl referred to
#: the nearest-neighbour distance (Kittel; Ashcroft & Mermin)
COULOMB = 14.399645
MADELUNG_NACL = 1.747565
MADELUNG_CSCL = 1.762675


def rocksalt(a: float = 5.64, oxidized: bool = False) -> Structure:
    """Conventional 8-site NaCl cell, optionally with Na+ / Cl- species."""
    na, cl = (Species("Na", 1), Species("Cl", -1)) if oxidized else ("Na", "Cl")
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    return Structure(Lattice.cubic(a), [na] * 4 + [cl] * 4, np.vstack([fcc, (fcc + 0.5) % 1.0]))


def cscl(a: float = 4.12) -> Structure:
    return Structure(Lattice.cubic(a), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def rattled(structure: Structure, amplitude: float = 0.08, seed: int = 0) -> Structure:
    """A copy with every site moved by up to ``amplitude`` Å (Cartesian), lattice kept."""
    rng = np.random.default_rng(seed)
    cart = structure.cart_coords + rng.uniform(-amplitude, amplitude, (len(structure), 3))
    return Structure(structure.lattice, structure.species, cart, coords_are_cartesian=True)


def with_matrix(structure: Structure, matrix) -> Structure:
    """The same species and fractional coordinates on a new lattice, built from scratch."""
    return Structure(Lattice(matrix), structure.species, structure.frac_coords)


def gaussian_sum(two_theta, intensity, grid, fwhm) -> np.ndarray:
    """Unit-area Gaussians of full width ``fwhm`` at the peaks, written out term by term."""
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))  # FWHM = 2 sqrt(2 ln 2) sigma
    out = np.zeros(len(grid))
    for t0, i0 in zip(two_theta, intensity):
        for k, t in enumerate(grid):
            out[k] += i0 * math.exp(-0.5 * ((t - t0) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return out


def xrd_reference(structure: Structure, grid, fwhm, wavelength="CuKa", normalization="area",
                  margin=None) -> np.ndarray:
    """The broadened pattern, from a fresh ``XRDCalculator``'s raw peaks over the grid range
    widened by ``margin`` degrees (default 5 fwhm)."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    margin = 5 * fwhm if margin is None else margin
    pattern = XRDCalculator(wavelength=wavelength).get_pattern(
        structure, scaled=False, two_theta_range=(max(0.0, grid[0] - margin), min(180.0, grid[-1] + margin)))
    y = gaussian_sum(pattern.x, pattern.y, grid, fwhm)
    if normalization == "area":
        return y / (y.sum() * (grid[1] - grid[0]))
    if normalization == "max":
        return y / y.max()
    return y


def ewald_reference(structure: Structure, oxidation_states=None, forces=False):
    """(energy, forces) from pymatgen's EwaldSummation with its default settings."""
    from pymatgen.analysis.ewald import EwaldSummation

    s = structure.copy()
    if oxidation_states is not None:
        s.add_oxidation_state_by_element(oxidation_states)
    ew = EwaldSummation(s, compute_forces=forces)
    return ew.total_energy, (np.asarray(ew.forces) if forces else None)
