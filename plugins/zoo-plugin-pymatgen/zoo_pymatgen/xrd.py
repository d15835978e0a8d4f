"""``pymatgen-xrd``: a powder X-ray diffraction pattern on a fixed 2-theta grid.

pymatgen's ``XRDCalculator`` returns a list of peaks (2-theta, intensity) whose length
changes whenever a lattice change splits or merges reflections (cubic -> tetragonal splits
(200) into (200) + (002)). A knowledge source needs a fixed output, and finite differences
need an output that moves smoothly with the input, so each peak is broadened into a Gaussian
of full width ``fwhm`` and the sum is sampled on a fixed grid:

    y(t_k) = sum_p I_p * g(t_k - 2theta_p),   g(x) = sqrt(4 ln2 / pi) / w * exp(-4 ln2 x^2 / w^2)

A peak that splits in two moves its intensity continuously, so y is smooth in the lattice
(and positions), and central differences converge at O(mu^2) down to where the calculator's
own rounding (peaks within 1e-5 degrees are merged) shows. The calculator is asked for the
grid range widened by 5 fwhm on both sides, so a peak entering the grid enters through the
Gaussian's tail (< 1e-30 of its height) rather than with a jump.

Cost: one ``get_pattern`` per row, 3 to 30 ms for cells of 2 to 8 atoms over 10-90 degrees
(the grouping of reflections into hkl families dominates, and grows with symmetry and cell
volume); the broadening adds ~0.1 ms. The calculator object is built once and kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from pymatgen.core import Structure

from zoo import ConfigError, Spec

from . import __version__
from .base import PymatgenSource

NORMALIZATIONS = ("area", "max", "none")
#: peaks are computed this many fwhm beyond the grid, so none enters it with a jump
MARGIN_FWHM = 5.0
_GAUSS = 4.0 * math.log(2.0)


def two_theta_grid(t_min: float, t_max: float, n_points: int | None, step: float | None) -> np.ndarray:
    """The output grid in degrees: ``n_points`` from t_min to t_max, or every ``step``."""
    if not (0.0 < t_min < t_max < 180.0):
        raise ConfigError(f"pymatgen-xrd: need 0 < two_theta_min < two_theta_max < 180 degrees, "
                          f"got {t_min}, {t_max}")
    if n_points is not None and step is not None:
        raise ConfigError("pymatgen-xrd: give n_points or step, not both")
    if n_points is None:
        step = 0.1 if step is None else float(step)
        if not step > 0:
            raise ConfigError(f"pymatgen-xrd: step must be > 0 degrees, got {step}")
        n = int(round((t_max - t_min) / step))
        if n < 1 or abs(n * step - (t_max - t_min)) > 1e-6 * step:
            raise ConfigError(
                f"pymatgen-xrd: two_theta_max - two_theta_min = {t_max - t_min} is not a whole "
                f"number of steps of {step}; change step or give n_points"
            )
        n_points = n + 1
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 2:
        raise ConfigError(f"pymatgen-xrd: n_points must be an integer >= 2, got {n_points!r}")
    return np.linspace(t_min, t_max, n_points)


def broaden(two_theta: np.ndarray, intensity: np.ndarray, grid: np.ndarray, fwhm: float) -> np.ndarray:
    """Sum of unit-area Gaussians of full width ``fwhm`` at the peaks, sampled on ``grid``
    (uniform), each within ``MARGIN_FWHM`` fwhm of its centre, where it has fallen below 1e-30
    of its height; the whole grid would cost 10-50 times more exponentials."""
    two_theta = np.asarray(two_theta, dtype=np.float64)
    intensity = np.asarray(intensity, dtype=np.float64)
    n = len(grid)
    if two_theta.size == 0:
        return np.zeros(n)
    step = (grid[-1] - grid[0]) / (n - 1)
    half = int(math.ceil(MARGIN_FWHM * fwhm / step)) + 1
    centre = np.rint((two_theta - grid[0]) / step).astype(np.int64)
    idx = centre[:, None] + np.arange(-half, half + 1)
    inside = (idx >= 0) & (idx < n)
    idx = idx[inside]
    d = (grid[idx] - np.broadcast_to(two_theta[:, None], inside.shape)[inside]) / fwhm
    weight = np.broadcast_to(intensity[:, None], inside.shape)[inside] * np.exp(-_GAUSS * d * d)
    return np.bincount(idx, weights=weight, minlength=n) * (math.sqrt(_GAUSS / math.pi) / fwhm)


class XRDSource(PymatgenSource):
    """Broadened powder XRD pattern (pymatgen ``XRDCalculator``) on a fixed 2-theta grid.

    Options
    -------
    inputs: a structural kind of zoo-atomistic's vocabulary; default ``lattice_parameters``
        (a, b, c, alpha, beta, gamma in Å and degrees, fractional coordinates kept);
        ``lattice_lengths`` (a, c) for tetragonal and hexagonal cells.
    two_theta_min, two_theta_max: the grid's range in degrees (default 10 to 90).
    n_points or step: grid points, or spacing in degrees (default step 0.1).
    fwhm: full width at half maximum of the Gaussian peaks, in degrees (default 0.3). Keep
        it at 2 grid steps or more, or the sampled peaks alias.
    wavelength: an X-ray line pymatgen knows (``CuKa``, the default, ``MoKa``, ...) or a
        wavelength in Å.
    normalization: ``area`` (default: sum(y) * step = 1, so y is a density in 1/degree and
        smooth everywhere), ``max`` (the largest grid value is 1; has kinks where the
        largest grid point changes) or ``none`` (pymatgen's unscaled intensities). A
        structure with no reflection near the grid gives zeros, whatever the normalization.
    symprec: passed to ``XRDCalculator``; > 0 refines the structure to its symmetrized
        cell first, which jumps as the lattice changes, so leave it 0 (default) for
        training.
    debye_waller_factors: {element: B in Å^2}, passed to ``XRDCalculator``.
    lower, upper: input bounds, overriding the vocabulary's defaults: a number, a list or a
        table ``{name: bound}``.
    n_atoms: sites per structure, for the position inputs.
    atoms_per_cell: atoms in the conventional cell ``lattice_constant`` refers to.
    structure: a structure file used when no contexts are given.
    """

    name = "pymatgen-xrd"
    description = "Powder XRD pattern (pymatgen XRDCalculator), Gaussian-broadened on a fixed 2-theta grid"
    version = __version__
    default_task = "xrd-lattice"

    def __init__(
        self,
        inputs: str = "lattice_parameters",
        two_theta_min: float = 10.0,
        two_theta_max: float = 90.0,
        n_points: int | None = None,
        step: float | None = None,
        fwhm: float = 0.3,
        wavelength: str | float = "CuKa",
        normalization: str = "area",
        symprec: float = 0.0,
        debye_waller_factors: Mapping[str, float] | None = None,
        lower: Any = None,
        upper: Any = None,
        n_atoms: int | None = None,
        atoms_per_cell: int = 4,
        structure: str | None = None,
    ):
        from pymatgen.analysis.diffraction.xrd import WAVELENGTHS, XRDCalculator

        self.grid = two_theta_grid(float(two_theta_min), float(two_theta_max), n_points, step)
        if not (isinstance(fwhm, (int, float)) and fwhm > 0):
            raise ConfigError(f"{self.name}: fwhm must be > 0 degrees, got {fwhm!r}")
        self.fwhm = float(fwhm)
        if normalization not in NORMALIZATIONS:
            raise ConfigError(f"{self.name}: normalization must be one of {', '.join(NORMALIZATIONS)}, "
                              f"got {normalization!r}")
        self.normalization = normalization
        if isinstance(wavelength, str):
            if wavelength not in WAVELENGTHS:
                raise ConfigError(f"{self.name}: unknown wavelength {wavelength!r}; give a length in Å "
                                  f"or one of {', '.join(WAVELENGTHS)}")
        elif isinstance(wavelength, bool) or not isinstance(wavelength, (int, float)) or wavelength <= 0:
            raise ConfigError(f"{self.name}: wavelength must be a positive length in Å or a line "
                              f"name such as 'CuKa', got {wavelength!r}")
        if not (isinstance(symprec, (int, float)) and symprec >= 0):
            raise ConfigError(f"{self.name}: symprec must be >= 0, got {symprec!r}")
        dw = dict(debye_waller_factors or {})
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in dw.values()):
            raise ConfigError(f"{self.name}: debye_waller_factors must map elements to B >= 0 (Å^2), got {dw}")
        self._init_inputs(inputs, lower, upper, n_atoms, atoms_per_cell, structure)
        # XRDCalculator keeps the float wavelength, or the line name's value
        self.calculator = XRDCalculator(
            wavelength=float(wavelength) if not isinstance(wavelength, str) else wavelength,
            symprec=float(symprec), debye_waller_factors=dw or None,
        )
        self.wavelength = float(self.calculator.wavelength)
        margin = MARGIN_FWHM * self.fwhm
        self.two_theta_range = (max(0.0, self.grid[0] - margin), min(180.0, self.grid[-1] + margin))
        self.step = float(self.grid[1] - self.grid[0])
        units = {"area": "1/deg", "max": "", "none": "arb./deg"}[normalization]
        self.output_spec = Spec(_grid_names(self.grid), units=units)

    def peaks(self, structure: Structure) -> tuple[np.ndarray, np.ndarray]:
        """pymatgen's unscaled peak list (2-theta in degrees, intensity) for ``structure``.

        Empty when no reflection falls in the range (pymatgen raises there instead).
        """
        try:
            pattern = self.calculator.get_pattern(structure, scaled=False, two_theta_range=self.two_theta_range)
        except Exception:
            if not self._any_reflection(structure):
                return np.empty(0), np.empty(0)
            raise
        return np.asarray(pattern.x, dtype=np.float64), np.asarray(pattern.y, dtype=np.float64)

    def _any_reflection(self, structure: Structure) -> bool:
        # the shell of reciprocal-lattice points that diffract into the range, as pymatgen's
        # get_pattern selects them: 2 sin(theta) / lambda between the range's two ends
        lo, hi = (2 * math.sin(math.radians(t / 2)) / self.wavelength for t in self.two_theta_range)
        recip = structure.lattice.reciprocal_lattice_crystallographic
        points = recip.get_points_in_sphere([[0, 0, 0]], [0, 0, 0], hi)
        return any(p[1] >= max(lo, 1e-12) for p in points)

    def compute(self, structure: Structure) -> np.ndarray:
        y = broaden(*self.peaks(structure), self.grid, self.fwhm)
        if self.normalization == "none":
            return y
        total = y.sum() * self.step if self.normalization == "area" else y.max()
        # no reflection near the grid: nothing to normalise, and zeros are the pattern
        return y / total if total > 0 else y


def _grid_names(grid: np.ndarray) -> list[str]:
    """``I_10.00``, ``I_10.10``, ...: enough decimals that the names are unique."""
    step = float(grid[1] - grid[0])
    decimals = max(1, int(math.ceil(-math.log10(step) - 1e-9)) + 1)
    names = [f"I_{t:.{decimals}f}" for t in grid]
    if len(set(names)) != len(names):  # pragma: no cover - linspace steps are uniform
        names = [f"I_{i}" for i in range(len(grid))]
    return names
