"""The ``xtb`` knowledge source: GFN-xTB single points of molecules through tblite.

Why tblite's own Python interface (``tblite.interface.Calculator``) and not its ASE
calculator: the numbers are the same (the same library call, the same unit conversions from
``ase.units``; the tests compare them), the ASE calculator kept alive restarts each SCF
from the previous density, which makes a row's value depend on the row before it, and it
is slower: a GFN2-xTB single point of CO, one OpenMP thread, two busy cores, measured
0.44-0.48 ms through the interface against 0.7 ms (a fresh ASE calculator) to 1.2 ms (one
reused). Each row here gets a fresh interface calculator, so every SCF starts from the
same guess; building one costs no more than updating an old one (0.48 vs 0.44 ms). The
threads matter far more than the path: with tblite's default of one OpenMP thread per core,
the same single point took 2.5-23 ms on the same busy machine (:mod:`zoo_tblite.openmp`).

Inputs (option ``inputs``):

* ``bond_length`` (default): one number r (Å): every bond from the central atom of the
  context is set to r, directions kept (:meth:`Molecule.stretched_xyz`).
* ``positions``: the Cartesian positions x0, y0, z0, x1, ... (Å), with ``n_atoms``.

Outputs (option ``outputs``, a name or a list): ``energy`` (eV), ``bond_force`` (eV/Å, minus
dE/dr per bond along the symmetric stretch, from xTB's analytic gradient: zero at xTB's
equilibrium, positive when the bonds are too short), ``gap`` (eV, HOMO-LUMO of the
majority spin, see :func:`homo_lumo_gap`), ``forces`` (eV/Å, fx0, fy0, fz0, ..., with ``n_atoms``).

A row whose calculation fails (SCF not converged within ``max_iterations``, a geometry the
basis cannot describe, e.g. atoms far too close) is a NaN row; a call in which every row
fails raises :class:`zoo.SKSError` quoting the first failure. A context xTB cannot compute
(a wrong spin for its electron count, an element beyond Rn, a periodic cell) is the user's
error and raises at once, naming the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

import zoo
from zoo import ConfigError, SKSError, Spec

from . import __version__
from .molecule import Molecule, as_molecule, stretch_force
from .openmp import describe as describe_threads
from .openmp import omp_threads

METHODS = ("GFN2-xTB", "GFN1-xTB")
INPUTS = ("bond_length", "positions")
OUTPUTS = ("energy", "bond_force", "gap", "forces")
#: both parametrisations cover H to Rn
MAX_Z = 86


def tblite_version() -> str:
    """The installed tblite's version, e.g. ``"0.8.0"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tblite")
    except PackageNotFoundError:  # pragma: no cover - a tblite built from source, unregistered
        from tblite import library

        return ".".join(map(str, library.get_version()))


def homo_lumo_gap(energies: np.ndarray, occupations: np.ndarray, uhf: int) -> float:
    """HOMO-LUMO gap (units of ``energies``) of the majority spin, by aufbau counting.

    tblite reports one set of orbitals with both spins' occupations summed (fractional near
    degeneracies, from the Fermi smearing), so the gap is read off the orbital energies by
    counting instead: with N valence electrons (the occupations' sum) and ``uhf`` unpaired
    ones, the majority spin fills n = (N + uhf) / 2 orbitals; HOMO is the n-th lowest, LUMO
    the next. Closed shells: the usual gap. Open shells: the gap above the singly occupied
    orbitals (triplet O2: pi* to sigma*), and 0 for a partly filled degenerate shell (NO,
    one electron in two pi*). NaN when the minimal basis has no orbital left for a LUMO.
    """
    order = np.sort(np.asarray(energies, dtype=np.float64))
    n_alpha = (int(round(float(np.sum(occupations)))) + int(uhf)) // 2
    if not 0 < n_alpha < len(order):
        return float("nan")
    return float(order[n_alpha] - order[n_alpha - 1])


class XTBSource(zoo.KnowledgeSource):
    """GFN2-xTB / GFN1-xTB single points of molecules (tblite).

    Options
    -------
    method: ``"GFN2-xTB"`` (default) or ``"GFN1-xTB"``.
    inputs: ``"bond_length"`` (default) or ``"positions"`` (needs ``n_atoms``).
    outputs: a name or list of ``energy``, ``bond_force``, ``gap``, ``forces``
        (default ``["energy", "bond_force"]``).
    n_atoms: atoms per molecule, for ``positions`` and ``forces``.
    lower, upper: input bounds (default 0.5 and 4.0 Å for ``bond_length``; none for
        ``positions``). Estimators keep every query inside them.
    accuracy: tblite's numerical accuracy (1.0 default; smaller is tighter).
    electronic_temperature: Fermi smearing temperature in K (300, as tblite's ASE calculator).
    max_iterations: SCF iterations before a row counts as failed (250).
    threads: OpenMP threads tblite uses while this source evaluates (1; 0 = leave the
        OpenMP default). A run-time setting: not part of the evaluation cache's key.
    """

    name = "xtb"
    description = "GFN-xTB tight binding (tblite) on molecules: energy, forces, bond force, HOMO-LUMO gap"
    default_task = "g2-bond-length"
    runtime_options: ClassVar[tuple[str, ...]] = ("threads",)

    def __init__(
        self,
        method: str = "GFN2-xTB",
        inputs: str = "bond_length",
        outputs: str | Sequence[str] = ("energy", "bond_force"),
        n_atoms: int | None = None,
        lower: float | None = None,
        upper: float | None = None,
        accuracy: float = 1.0,
        electronic_temperature: float = 300.0,
        max_iterations: int = 250,
        threads: int = 1,
    ):
        try:
            import tblite.interface  # noqa: F401 - loads the library (and its OpenMP runtime)
        except ImportError as exc:
            raise ConfigError(
                f"xtb needs the tblite Python package, which does not import here ({exc}); "
                f"pip install tblite"
            ) from None
        if method not in METHODS:
            raise ConfigError(f"xtb: method must be one of {', '.join(METHODS)}, got {method!r}")
        if inputs not in INPUTS:
            raise ConfigError(f"xtb: inputs must be one of {', '.join(INPUTS)}, got {inputs!r}")
        wanted = [outputs] if isinstance(outputs, str) else list(outputs)
        unknown = [o for o in wanted if o not in OUTPUTS]
        if not wanted or unknown or len(set(wanted)) != len(wanted):
            raise ConfigError(
                f"xtb: outputs must be distinct names from {', '.join(OUTPUTS)}, got {outputs!r}"
            )
        needs_atoms = inputs == "positions" or "forces" in wanted
        if n_atoms is not None and (isinstance(n_atoms, bool) or not isinstance(n_atoms, int) or n_atoms < 1):
            raise ConfigError(f"xtb: n_atoms must be a whole number >= 1, got {n_atoms!r}")
        if needs_atoms and n_atoms is None:
            raise ConfigError("xtb: inputs='positions' and outputs 'forces' need the option n_atoms (atoms per molecule)")
        for what, value, low in (("accuracy", accuracy, 0.0), ("electronic_temperature", electronic_temperature, 0.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= low:
                raise ConfigError(f"xtb: {what} must be a positive number, got {value!r}")
        for what, value, low in (("max_iterations", max_iterations, 1), ("threads", threads, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"xtb: {what} must be a whole number >= {low}, got {value!r}")

        self.method, self.inputs, self.outputs = method, inputs, tuple(wanted)
        self.n_atoms = n_atoms
        self.accuracy, self.temperature = float(accuracy), float(electronic_temperature)
        self.max_iterations, self.threads = int(max_iterations), int(threads)
        # a tblite upgrade may change the numbers: it is part of the evaluation cache's key
        self.version = f"{__version__}+tblite{tblite_version()}"
        if inputs == "bond_length":
            self.input_spec = Spec(
                ["r"], lower=0.5 if lower is None else lower, upper=4.0 if upper is None else upper, units="Å"
            )
        else:
            self.input_spec = Spec(
                [f"{c}{i}" for i in range(n_atoms) for c in "xyz"],
                lower=lower, upper=upper, units="Å",
            )
        names: list[str] = []
        units: list[str] = []
        for out in self.outputs:
            if out == "forces":
                names += [f"f{c}{i}" for i in range(n_atoms) for c in "xyz"]
                units += ["eV/Å"] * (3 * n_atoms)
            else:
                names.append(out)
                units.append({"energy": "eV", "bond_force": "eV/Å", "gap": "eV"}[out])
        self.output_spec = Spec(names, units=units)

    def about(self) -> dict[str, str]:
        """What computes the values: tblite's version, the method, the OpenMP threads."""
        return {
            "tblite": tblite_version(),
            "method": self.method,
            "openmp_threads": describe_threads(self.threads),
        }

    def context_key(self, context: Any) -> bytes:
        """A molecule's numbers, positions, charge and spin (its name does not matter)."""
        try:
            return as_molecule(context).key()
        except ConfigError:
            return super().context_key(context)

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        if contexts is None:
            raise SKSError("xtb: no molecule to compute; pass one zoo_tblite.Molecule (or ase.Atoms) context per row")
        molecules = [self._molecule(i, ctx) for i, ctx in enumerate(contexts)]
        out = np.full((len(inputs), len(self.output_spec)), np.nan)
        errors: list[str] = []
        from tblite.exceptions import TBLiteRuntimeError, TBLiteValueError

        with omp_threads(self.threads):
            for i, (row, mol) in enumerate(zip(inputs, molecules)):
                try:
                    xyz = self._geometry(mol, row)
                    out[i] = self._single_point(mol, xyz)
                except (TBLiteRuntimeError, TBLiteValueError, FloatingPointError) as exc:
                    errors.append(f"row {i} ({mol.name or 'molecule'}, input {row.tolist()}): {exc}")
        if errors and len(errors) == len(inputs):
            raise SKSError(f"xtb: every row failed; first: {errors[0]}")
        return out

    def _molecule(self, i: int, context: Any) -> Molecule:
        try:
            mol = as_molecule(context)
        except ConfigError as exc:
            raise SKSError(f"xtb: context {i}: {exc}") from None
        if max(mol.numbers) > MAX_Z:
            raise SKSError(f"xtb: context {i} ({mol.name}): {self.method} covers H to Rn (Z <= {MAX_Z}) only")
        if self.n_atoms is not None and len(mol) != self.n_atoms:
            raise SKSError(f"xtb: context {i} ({mol.name}) has {len(mol)} atoms, the option n_atoms says {self.n_atoms}")
        if self.inputs == "bond_length" or "bond_force" in self.outputs:
            try:
                mol.directions()  # a centre with its bonds: refused here, not row by row
            except ConfigError as exc:
                raise SKSError(f"xtb: context {i}: {exc}") from None
        return mol

    def _geometry(self, mol: Molecule, row: np.ndarray) -> np.ndarray:
        if self.inputs == "bond_length":
            return mol.stretched_xyz(float(row[0]))
        return np.asarray(row, dtype=np.float64).reshape(len(mol), 3)

    def _single_point(self, mol: Molecule, xyz: np.ndarray) -> np.ndarray:
        from ase.units import Bohr, Hartree, kB
        from tblite.interface import Calculator

        calc = Calculator(self.method, np.asarray(mol.numbers), xyz / Bohr, mol.charge, mol.uhf)
        calc.set("verbosity", 0)
        calc.set("accuracy", self.accuracy)
        calc.set("temperature", self.temperature * kB / Hartree)
        calc.set("max-iter", self.max_iterations)
        res = calc.singlepoint()
        gradient = res.get("gradient") * (Hartree / Bohr)  # dE/dx, eV/Å
        values: list[np.ndarray] = []
        for out in self.outputs:
            if out == "energy":
                values.append(np.array([res.get("energy") * Hartree]))
            elif out == "bond_force":
                centre, ligands = mol.star()
                values.append(np.array([stretch_force(xyz, gradient, centre, ligands)]))
            elif out == "gap":
                gap = homo_lumo_gap(res.get("orbital-energies"), res.get("orbital-occupations"), mol.uhf)
                values.append(np.array([gap * Hartree]))
            else:
                values.append(-gradient.reshape(-1))
        row = np.concatenate(values)
        if not np.all(np.isfinite(row)):
            raise FloatingPointError("xTB returned non-finite values")
        return row
