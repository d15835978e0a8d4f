"""Knowledge sources backed by ASE calculators.

:class:`AseSource` holds everything common to them, so each calculator is a few lines:
the input mapping and outputs are options; contexts are ``ase.Atoms`` (or the ``structure``
option, a file ASE can read); one calculator object is kept alive and reused across rows
(creating one per call costs about 3x the throughput); a row whose calculation raises
becomes a NaN row, and a call where every row fails raises, quoting the first error.

Calculator parameters as inputs (``inputs="parameters"``) build a fresh calculator for each
distinct parameter row, exactly as ``Calculator(**options, **row)`` would: ASE's ``set()``
is no substitute, since most calculators neither clear their results nor re-derive
dependent defaults on it (``LennardJones(sigma=2).set(sigma=3)`` keeps ``rc = 6``, and the
cached energy of unchanged atoms comes back unchanged). Construction itself costs ~30 us;
what a fresh calculator loses is its neighbour list, which ASE's LennardJones rebuilds on
its first call and MorsePotential rebuilds on every call anyway. Measured on a 4-atom fcc
cell (CPU time per row): a parameter row 9.2 ms (LJ) / 10.0 ms (Morse), a structure row
on a new cell with the shared calculator 10.2 / 9.2 ms: rebuilding costs no more than
any change of cell. Consecutive rows with the same parameters share one calculator
(0.2 ms a row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from ase import Atoms

import zoo
from zoo import ConfigError, SKSError, Spec, ZooError

from . import __version__
from . import mapping
from .asap_emt import asap3_version
from .structures import read_structure

#: options every ASE knowledge source takes, besides its calculator's
OWN_OPTIONS = (
    "inputs", "outputs", "lower", "upper", "atoms_per_cell", "n_atoms", "structure", "parameters",
)


class AseSource(zoo.KnowledgeSource):
    """Base of the ASE knowledge sources: subclasses implement :meth:`make_calculator`.

    Options
    -------
    inputs: ``lattice_constant`` (Å; default), ``scale``, ``strain`` (Voigt, engineering
        shear), ``positions`` (Å, needs ``n_atoms``) or ``parameters`` (calculator
        parameters named by ``parameters``); or a list of ``parameters`` and one of the
        others, columns in that order.
    outputs: a name or list of ``energy``, ``energy_per_atom`` (default), ``pressure``
        (GPa), ``stress`` (GPa, Voigt), ``volume``, ``volume_per_atom``, ``forces``.
    lower, upper: input bounds, overriding the mapping's defaults: a number, a list (one
        per input) or a table ``{name: bound}``.
    atoms_per_cell: atoms in the conventional cell that ``lattice_constant`` refers to
        (4 for fcc, 2 for bcc).
    n_atoms: atoms per structure, for ``positions`` and ``forces``.
    structure: path of a structure file (extxyz, cif, POSCAR, ...) used when no contexts
        are given; ``PATH@INDEX`` picks one frame of a multi-frame file.
    parameters: for ``inputs="parameters"``, the calculator keywords the model sets, e.g.
        ``["epsilon", "sigma"]``; default bounds from :attr:`parameter_bounds`.
    Anything else is a keyword of the calculator (checked against
    :attr:`calculator_parameters`).
    """

    default_task: ClassVar[str | None] = None

    #: calculator parameters this source accepts; None accepts any (ASE's Calculator
    #: stores unknown keywords silently, so a typo would otherwise pass unnoticed)
    calculator_parameters: ClassVar[tuple[str, ...] | None] = None

    #: calculator parameters that can be inputs, with default (lower, upper, units) bounds;
    #: None lets any parameter be an input, with bounds the user must give
    parameter_bounds: ClassVar[dict[str, tuple[float, float, str]] | None] = {}

    #: options a subclass takes itself (not the calculator's), named in "unknown option" errors
    source_options: ClassVar[tuple[str, ...]] = ()

    #: attributes rebuilt after unpickling rather than shipped (closures and live
    #: calculators do not pickle)
    _transient: ClassVar[tuple[str, ...]] = ("_calc", "_inputs", "_outputs", "_last")

    def __init__(
        self,
        inputs: str | Sequence[str] = "lattice_constant",
        outputs: str | Sequence[str] = "energy_per_atom",
        lower: Any = None,
        upper: Any = None,
        atoms_per_cell: int = 4,
        n_atoms: int | None = None,
        structure: str | None = None,
        parameters: str | Sequence[str] | None = None,
        **calculator_options: Any,
    ):
        if isinstance(parameters, str):
            parameters = [parameters]
        self.options = {
            "inputs": inputs if isinstance(inputs, str) else list(inputs),
            "outputs": [outputs] if isinstance(outputs, str) else list(outputs),
            "lower": dict(lower) if isinstance(lower, Mapping) else lower,
            "upper": dict(upper) if isinstance(upper, Mapping) else upper,
            "atoms_per_cell": atoms_per_cell,
            "n_atoms": n_atoms,
            "structure": structure,
            **({"parameters": list(parameters)} if parameters is not None else {}),
            **self._calculator_option_entries(calculator_options),
        }
        self.calculator_options = dict(calculator_options)
        self._check_calculator_options()
        self._last = None
        self._build_mappings()
        self.input_spec = self._inputs.spec(lower, upper)
        self.output_spec = Spec(
            [n for o in self._outputs for n in o.names],
            units=[o.units for o in self._outputs for _ in o.names],
        )
        fixed_and_free = sorted(set(self._inputs.parameters) & set(self.calculator_options))
        if fixed_and_free:
            raise ConfigError(
                f"{self.name}: {fixed_and_free} are both fixed options and inputs; drop one"
            )
        self.structure = read_structure(structure) if structure else None
        try:  # build one now, so a bad calculator option fails here, not mid-run
            self._calc = self.make_calculator()
        except ZooError:
            raise
        except TypeError as exc:
            raise ConfigError(f"{self.name}: bad calculator option: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the options given cannot build it
            raise ConfigError(
                f"{self.name}: cannot build the calculator: {type(exc).__name__}: {exc}"
            ) from None
        if self._inputs.parameters:  # and one with parameter inputs set, mid-bounds
            mid = dict(zip(self.input_spec.names, (self.input_spec.lower + self.input_spec.upper) / 2))
            trial = {n: float(mid[n]) for n in self._inputs.parameters}
            try:
                self.make_calculator(**trial)
            except ZooError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure here is the configuration's
                raise ConfigError(
                    f"{self.name}: cannot build the calculator with parameters {trial} "
                    f"(mid-bounds): {type(exc).__name__}: {exc}"
                ) from None

    # -- options ----------------------------------------------------------------------
    def _calculator_option_entries(self, calculator_options: dict[str, Any]) -> dict[str, Any]:
        """How the calculator's options appear in :attr:`options` (flat, by default)."""
        return dict(calculator_options)

    def _check_calculator_options(self) -> None:
        known = self.calculator_parameters
        unknown = sorted(set(self.calculator_options) - set(known or ())) if known is not None else []
        if unknown:
            raise ConfigError(
                f"{self.name}: unknown option(s) {unknown}; options are "
                f"{', '.join(list(OWN_OPTIONS) + list(self.source_options) + list(known))}"
            )

    def _build_mappings(self) -> None:
        opts = self.options
        table = self.parameter_bounds
        self._inputs = mapping.inputs(
            opts["inputs"],
            opts["atoms_per_cell"],
            opts["n_atoms"],
            opts.get("parameters"),
            parameter_bounds=table or {},
            known_parameters=None if table is None else tuple(table),
        )
        self._outputs = mapping.outputs(opts["outputs"], opts["n_atoms"])

    # Only the options travel: a process that unpickles the SKS rebuilds its mapping,
    # outputs and calculator from them.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in self._transient:
            state[key] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._build_mappings()

    # -- calculators ------------------------------------------------------------------
    def make_calculator(self, **parameters: float):
        """A new calculator with the fixed options, ``parameters`` overriding them."""
        raise NotImplementedError

    @property
    def calculator(self):
        if self._calc is None:
            self._calc = self.make_calculator()
        return self._calc

    def calculator_for(self, parameters: dict[str, float]):
        """The calculator for one row: the shared one, or one built with the row's
        parameters (reused while consecutive rows repeat them)."""
        if not parameters:
            return self.calculator
        key = tuple(sorted(parameters.items()))
        if self._last is None or self._last[0] != key:
            self._last = (key, self.make_calculator(**parameters))
        return self._last[1]

    def evaluate(self, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        if contexts is None:
            if self.structure is None:
                raise SKSError(
                    f"{self.name}: no structure to compute; pass ase.Atoms contexts or set "
                    f"the option structure=PATH"
                )
            contexts = [self.structure] * len(inputs)
        out = np.full((len(inputs), len(self.output_spec)), np.nan)
        errors: list[str] = []
        for i, (row, ctx) in enumerate(zip(inputs, contexts)):
            if not isinstance(ctx, Atoms):
                raise SKSError(f"{self.name}: context {i} is a {type(ctx).__name__}, not ase.Atoms")
            atoms = ctx.copy()
            # constraints (e.g. a POSCAR's selective dynamics) would silently override the
            # input row and zero forces, so the SKS computes the unconstrained structure
            atoms.set_constraint()
            try:
                params = self._inputs.apply(atoms, row)
                atoms.calc = self.calculator_for(params)
                out[i] = np.concatenate([o.read(atoms) for o in self._outputs])
            except Exception as exc:  # noqa: BLE001 - one failed row is a NaN row
                errors.append(f"row {i} ({atoms.get_chemical_formula()}): {type(exc).__name__}: {exc}")
        if errors and len(errors) == len(inputs):
            raise SKSError(f"{self.name}: every row failed; first: {errors[0]}")
        return out


class EMTSource(AseSource):
    """ASE's EMT calculator (Cu, Ag, Au, Ni, Pd, Pt, Al; H, C, N, O as a toy).

    Option ``emt`` picks the implementation of that one potential: ``"auto"`` (default)
    uses asap3's C++ EMT when asap3 imports, ASE's pure-Python EMT otherwise; ``"asap3"``
    insists on asap3 (a ConfigError without it); ``"ase"`` insists on ASE's. asap3 runs
    with ASE's parameters and cutoff (:mod:`zoo_ase.asap_emt`), so both give ASE's numbers
    to rounding (~1e-13 relative); a 32-atom alloy's stress costs ~0.6 ms instead of ~7
    ms, and the default task's run 8 s instead of 38 s (benchmarks/emt_fast.py).
    :meth:`about` says which one runs.

    The evaluation cache keys on ``version``, which names the implementation that runs
    (``0.1.0`` ASE, ``0.1.0+asap3``): values agree to rounding, but a cache shared between
    the two would let a run with ``emt="ase"`` silently replay asap3's numbers (and the
    reverse), which defeats the one reason to force an implementation: to check or time
    it. The ``emt`` option itself is a runtime option (out of the key), so ``auto`` and the
    name it resolves to share entries, and the ASE path keeps the keys that caches written
    before asap3 support hold.
    """

    name = "ase-emt"
    description = "ASE's EMT potential: energy, pressure, stress, forces of fcc metals"
    version = f"{__version__}"
    default_task = "fcc-alloy-lattice"
    calculator_parameters = ("asap_cutoff",)
    source_options = ("emt",)
    #: how the values are computed, not what they are: the implementation enters the cache
    #: key through ``version`` instead (auto and asap3 are the same function, same bits)
    runtime_options = ("emt",)
    IMPLEMENTATIONS = ("auto", "asap3", "ase")

    def __init__(self, emt: str = "auto", **options: Any):
        if emt not in self.IMPLEMENTATIONS:
            raise ConfigError(f"{self.name}: emt must be one of {', '.join(self.IMPLEMENTATIONS)}, got {emt!r}")
        if emt == "asap3" and asap3_version() is None:
            raise ConfigError(
                f"{self.name}: emt='asap3' needs asap3, which does not import here; "
                f"pip install 'zoo-plugin-ase[fast]' (or use emt='auto' or 'ase')"
            )
        self.emt = emt
        #: the implementation that runs: decided here, where the SKS is built, and kept
        #: when it is shipped to a worker (so the cache key says what computed a value)
        self.implementation = "ase" if emt == "ase" or asap3_version() is None else "asap3"
        if self.implementation == "asap3":
            self.version = f"{__version__}+asap3"
        super().__init__(**options)
        self.options["emt"] = emt

    def make_calculator(self, **parameters: float):
        options = {**self.calculator_options, **parameters}
        if self.implementation == "asap3":
            from .asap_emt import AsapEMT

            try:
                return AsapEMT(**options)
            except ImportError:  # only where an unpickled copy lands in a process without asap3
                raise SKSError(
                    f"{self.name}: this process cannot import asap3, which the SKS was built to "
                    f"use; pip install 'zoo-plugin-ase[fast]' on every worker, or pass emt='ase'"
                ) from None
        from ase.calculators.emt import EMT

        return EMT(**options)

    def about(self) -> dict[str, str]:
        """Which EMT computes the values, e.g. ``{"emt": "asap3 3.13.11"}``."""
        if self.implementation == "asap3":
            return {"emt": f"asap3 {asap3_version()}"}
        import ase

        return {"emt": f"ase {ase.__version__} (pure Python)"}


class LennardJonesSource(AseSource):
    """ASE's LennardJones: one (epsilon, sigma) for every pair of atoms, whatever the species.

    Options as ASE has them: ``epsilon`` (eV, default 1), ``sigma`` (Å, default 1), ``rc``
    (cutoff, Å; default 3 sigma), ``ro`` (onset of the smooth cutoff, default 0.66 rc) and
    ``smooth`` (default False: the pair energy is shifted to zero at rc, so forces jump
    there; True multiplies a cutoff function that makes energy and forces continuous).
    With ``inputs="parameters"`` an unset ``rc`` follows the row's sigma (3 sigma), as a
    freshly built ``LennardJones(sigma=...)`` does.
    """

    name = "ase-lj"
    description = "ASE's Lennard-Jones potential (epsilon, sigma as options or model inputs)"
    version = f"{__version__}"
    default_task = "lj-alloy-eos"
    calculator_parameters = ("epsilon", "sigma", "rc", "ro", "smooth")
    parameter_bounds = {
        "epsilon": (1e-3, 5.0, "eV"),
        "sigma": (0.5, 6.0, "Å"),
        "rc": (1.0, 20.0, "Å"),
        "ro": (0.5, 20.0, "Å"),
    }

    def make_calculator(self, **parameters: float):
        from ase.calculators.lj import LennardJones

        return LennardJones(**{**self.calculator_options, **parameters})


class MorseSource(AseSource):
    """ASE's MorsePotential, one (epsilon, r0, rho0) for every pair of atoms.

    V(r) = epsilon (exp(-2 rho0 (r/r0 - 1)) - 2 exp(-rho0 (r/r0 - 1))), cut off smoothly
    between ``rcut1`` r0 and ``rcut2`` r0. Options as ASE has them: ``epsilon`` (eV,
    default 1), ``r0`` (Å, default 1), ``rho0`` (default 6), ``rcut1`` (1.9), ``rcut2`` (2.7).
    """

    name = "ase-morse"
    description = "ASE's Morse pair potential (epsilon, r0, rho0 as options or model inputs)"
    version = f"{__version__}"
    default_task = "morse-alloy-eos"
    calculator_parameters = ("epsilon", "r0", "rho0", "rcut1", "rcut2")
    parameter_bounds = {
        "epsilon": (1e-3, 5.0, "eV"),
        "r0": (0.5, 6.0, "Å"),
        "rho0": (0.5, 20.0, ""),
        "rcut1": (1.0, 5.0, ""),
        "rcut2": (1.1, 6.0, ""),
    }

    def make_calculator(self, **parameters: float):
        from ase.calculators.morse import MorsePotential

        return MorsePotential(**{**self.calculator_options, **parameters})
