"""ASE's EMT potential computed by asap3's C++ EMT, when asap3 is installed.

Why: the default task spends all its time in ASE's pure-Python EMT (~7 ms per 32-atom
stress call); asap3 computes the same potential in C++. Out of the box asap3's ``EMT()`` is
*not* the same function, though: it takes the cutoff from the largest atom present (ASE:
the largest in its whole table, i.e. Ag, whatever the alloy), cuts its neighbour list at
1.045 rc (ASE: rc + 0.5 Å, where the logistic cutoff function is still ~1e-3 larger at
the inner radius), and rounds Bohr differently; alloys then differ by up to ~1e-4 eV/atom.

:class:`AsapEMT` removes those differences: a Python parameter provider
(:func:`ase_parameters`) hands asap3 ASE's own parameter table, converted with ASE's Bohr,
and ASE's cutoff radius, slope and neighbour-list cutoff (both of ASE's ``asap_cutoff``
conventions). Energies, forces and stress then agree with ASE's EMT to rounding (measured
on random Cu/Ag/Au/Ni/Pd/Pt alloys, strained and rattled: at most 3e-13 eV/atom,
8e-13 eV/Å, 1e-13 eV/Å^3); ``tests/test_ase_emt_fast.py`` holds them to that.

asap3 specifics handled here:

* an asap3 calculator initialises its elements, gammas and neighbour list for the first
  Atoms it sees, and silently gives wrong numbers for a later Atoms with other elements or
  another number of atoms. Even with the same elements its Verlet neighbour list, kept
  while atoms move less than a skin, makes the last bits of a result depend on what it
  computed before (2.6e-14 relative, measured), and zoo's contract is bitwise
  determinism. So each calculation gets a fresh asap3 calculator: ~0.25 ms (mostly
  its first neighbour list), against ~7 ms for ASE's whole calculation.
* small periodic cells (the 32-atom alloys are 6-9 Å wide, the cutoff ~5.9 Å) need
  asap3's image-atom mode instead of the minimum-image convention: chosen per cell by
  asap3's own rule (cell height >= 2.1 x the largest list cutoff).
* asap3 rejects cell vectors of zero length; ASE's EMT takes them (a molecule, a slab
  with c = 0). Such a cell is completed with unit vectors along its non-periodic
  directions, which changes nothing but the bookkeeping; stress then raises
  PropertyNotImplementedError, exactly as in ASE's EMT.
* asap3 calculators neither pickle nor should travel: this calculator pickles as its
  settings and rebuilds its asap3 objects on use.
* asap3 refuses a structure with more than ~1600 neighbours inside the cutoff of one
  atom ("Neighborlist overrun": a cell squeezed to a third of its size); ASE's EMT still
  computes it. Any asap3 error makes this calculator compute the structure with ASE's
  EMT instead, so the function stays ASE's everywhere (counted in ``ase_fallbacks``).
* threads: asap3 runs single-threaded unless its OpenMP build is told otherwise
  (``asap3.AsapThreads``), which nothing here does.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes


@functools.lru_cache(maxsize=None)
def asap3_version() -> str | None:
    """asap3's version when ``import asap3`` works in this process, else None."""
    try:
        import asap3
    except Exception:  # noqa: BLE001 - a broken build counts as absent, like a missing one
        return None
    return str(getattr(asap3, "__version__", "unknown"))


@functools.lru_cache(maxsize=None)
def _provider_class() -> type:
    """The parameter provider class; built on first use, since its base lives in asap3."""
    from asap3.Internal.EMTParameters import EMTParameters, EMTStandardParameters
    from ase.calculators import emt as ase_emt
    from ase.data import atomic_numbers, chemical_symbols
    from ase.units import Bohr

    # ASE's table, converted exactly as ase.calculators.emt.EMT.initialize does
    table = {
        atomic_numbers[sym]: {
            "name": sym, "E0": p[0], "S0": p[1] * Bohr, "V0": p[2], "eta2": p[3] / Bohr,
            "kappa": p[4] / Bohr, "lambda": p[5] / Bohr, "n0": p[6] / Bohr**3,
        }
        for sym, p in ase_emt.parameters.items()
    }

    class AseEMTParameters(EMTStandardParameters):
        """ASE's EMT parameter table and cutoff, in asap3's parameter-provider protocol.

        asap3 asks ``get_parameters(Z)`` for each element present, then
        ``get_gammas_etc()`` for (cutoff, slope, list-cutoff factor), gammas and chi; the
        base class computes gammas and chi with the same formulas as ASE.
        """

        def __init__(self, asap_cutoff: bool):
            # not EMTStandardParameters.__init__: it deep-copies asap3's own table, unused
            EMTParameters.__init__(self)
            self.asap_cutoff = asap_cutoff
            self.parameters = {z: dict(p) for z, p in table.items()}  # get_parameters adds keys
            self.actual_params = []
            self.gammas_calculated = False
            self.shellpop = [12, 6, 24, 12, 24]  # fcc shells; gammas use the first three
            self.shelldist = np.sqrt(np.arange(1, 6))
            self.shell_gamma = 3
            self.beta = ase_emt.beta

        def get_parameters(self, element: int) -> dict[str, Any]:
            if element not in self.parameters:
                raise NotImplementedError(f"No EMT-potential for {chemical_symbols[element]}")
            return super().get_parameters(element)

        def _cutoffs(self, s0_max: float) -> tuple[float, float, float]:
            """ASE's ``EMT._calc_cutoff``: (rc, acut, rc_list) from the largest s0."""
            r1nn = self.beta * s0_max
            rc = r1nn * 0.5 * (np.sqrt(3.0) + 2.0)
            acut = np.log(1.0 / 1e-4 - 1.0) / (r1nn * 2.0 - rc)
            rc_list = rc * 1.045 if self.asap_cutoff else rc + 0.5
            return rc, acut, rc_list

        def calc_cutoff(self) -> None:
            pool = self.actual_params if self.asap_cutoff else self.parameters.values()
            rc, acut, rc_list = self._cutoffs(max(p["S0"] for p in pool))
            self.cutoff = (rc, acut, rc_list / rc)

        def get_maximal_cutoff(self) -> float:
            """The largest list cutoff any element set can give (asap3 sizes cells by it)."""
            return self._cutoffs(max(p["S0"] for p in self.parameters.values()))[2]

    return AseEMTParameters


def ase_parameters(asap_cutoff: bool = False) -> Any:
    """An asap3 EMT parameter provider equal to ASE's EMT(asap_cutoff=asap_cutoff)."""
    return _provider_class()(bool(asap_cutoff))


class AsapEMT(Calculator):
    """ASE's EMT (same parameters, cutoff, results), computed by asap3.

    A drop-in for ``ase.calculators.emt.EMT(asap_cutoff=...)``; one instance serves any
    number of structures. Needs asap3 (``pip install 'zoo-plugin-ase[fast]'``).
    """

    #: no per-atom ``energies``: asap3 splits the pair term between atoms differently from
    #: ASE (same sum, per-atom values differ by up to ~3 eV), so it would not be ASE's EMT
    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    default_parameters = {"asap_cutoff": False}
    nolabel = True

    def __init__(self, **kwargs: Any):
        unknown = set(kwargs) - set(self.default_parameters)
        if unknown:
            raise TypeError(f"AsapEMT got unexpected keyword(s) {sorted(unknown)}")
        super().__init__(**kwargs)
        import asap3  # noqa: F401 - fail here, at construction, when asap3 is missing

        self._max_cutoff = ase_parameters(self.parameters["asap_cutoff"]).get_maximal_cutoff()
        #: calculations asap3 refused and ASE's EMT did instead (see :meth:`calculate`)
        self.ase_fallbacks = 0

    def __reduce__(self):
        return (type(self), (), {"parameters": dict(self.parameters)})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["parameters"])

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        """ASE's test for "same structure as last time", exact instead of ``isclose`` per
        array: the same answers for EMT's inputs (ASE's tolerance is 1e-15 anyway), in 4 us
        instead of ASE's 73 us, a fifth of asap3's whole 32-atom stress calculation."""
        old = self.atoms
        if old is None or not (
            len(old) == len(atoms)
            and np.array_equal(old.numbers, atoms.numbers)
            and np.array_equal(old.positions, atoms.positions)
            and np.array_equal(old.cell.array, atoms.cell.array)
            and np.array_equal(old.pbc, atoms.pbc)
        ):
            return list(all_changes)
        return []

    def _backend(self, atoms: Atoms) -> Any:
        """A fresh asap3 EMT for ``atoms`` (see the module doc for why never a used one)."""
        import asap3

        # asap3's own rule for a fresh calculator (its smallest_pbc_direction is 4x slower)
        heights = 1.0 / np.linalg.norm(np.linalg.inv(atoms.cell.array), axis=0)
        periodic = heights[atoms.pbc]
        minimum_image = bool(periodic.size == 0 or periodic.min() >= 2.1 * self._max_cutoff)
        return asap3.EMT(ase_parameters(self.parameters["asap_cutoff"]), minimum_image=minimum_image)

    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        work = self.atoms  # the base class's own copy
        full_cell = work.cell.rank == 3
        if not full_cell:
            if any(work.pbc[i] and not work.cell[i].any() for i in range(3)):
                raise ValueError("a periodic direction has a zero-length cell vector")
            work = work.copy()
            work.cell = work.cell.complete()  # asap3 needs three vectors; see module doc
        try:
            self._asap3(work, full_cell, properties)
        except Exception as exc:
            from asap3 import AsapError

            if not isinstance(exc, AsapError):
                raise
            # e.g. "Neighborlist overrun": over ~1600 neighbours in the cutoff sphere (a cell
            # squeezed to a third of its size), where ASE's EMT still computes a number
            self.ase_fallbacks += 1
            self.results = self._ase_emt(properties)

    def _asap3(self, work: Atoms, full_cell: bool, properties) -> None:
        backend = self._backend(work)
        backend.set_atoms(work)
        self.results["energy"] = self.results["free_energy"] = float(backend.get_potential_energy(work))
        if set(properties) <= {"energy", "free_energy"}:
            return  # 0.17 ms; the rest below costs 0.2 ms more (32 atoms)
        # stress, then forces: asap3 computes both in its virial pass, and the forces are then
        # free (the other order costs a second force pass). Like ASE's EMT, one calculation
        # leaves every property in results, so asking for the next one computes nothing.
        if full_cell:
            self.results["stress"] = np.array(backend.get_stress(work), dtype=float)
        elif "stress" in properties:
            raise PropertyNotImplementedError("stress needs a cell of three vectors")
        self.results["forces"] = np.array(backend.get_forces(work), dtype=float)

    def _ase_emt(self, properties) -> dict[str, Any]:
        """ASE's own EMT on this structure: for what asap3 refuses to compute."""
        from ase.calculators.emt import EMT

        calc = EMT(**self.parameters)
        calc.calculate(self.atoms.copy(), list(properties), all_changes)
        return {k: v for k, v in calc.results.items() if k in self.implemented_properties}
