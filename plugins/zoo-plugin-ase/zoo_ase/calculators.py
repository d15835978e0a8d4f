"""Knowledge sources backed by ASE calculators.

:class:`AseSource` holds everything common to them, so each calculator is a few lines: the
inputs and outputs are options in zoo-atomistic's shared vocabulary (:mod:`zoo_ase.mapping`
applies them to an ``ase.Atoms``); contexts are ``ase.Atoms`` or neutral
``zoo_atomistic.Structure``\\ s (or the ``structure`` option, a file ASE can read); one
calculator object is kept alive and reused across rows (creating one per call costs about
3x the throughput); a row whose calculation raises becomes a NaN row, and a call where
every row fails raises, quoting the first error (:func:`zoo_atomistic.evaluate_rows`).

Calculator parameters as inputs (the vocabulary's ``epsilon``, ``sigma``, ``r0``, ``rho0``, or
ASE's own ``parameters`` kind) build a fresh calculator for each distinct parameter row,
exactly as ``Calculator(**options, **row)`` would: ASE's ``set()`` is no substitute, since
most calculators neither clear their results nor re-derive dependent defaults on it
(``LennardJones(sigma=2).set(sigma=3)`` keeps ``rc = 6``, and the cached energy of unchanged
atoms comes back unchanged). Construction itself costs ~30 us; what a fresh calculator
loses is its neighbour list, which ASE's LennardJones rebuilds on its first call and
MorsePotential rebuilds on every call anyway. Measured on a 4-atom fcc cell (CPU time per
row): a parameter row 9.2 ms (LJ) / 10.0 ms (Morse), a structure row on a new cell with the
shared calculator 10.2 / 9.2 ms: rebuilding costs no more than any change of cell.
Consecutive rows with the same parameters share one calculator (0.2 ms a row).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from ase import Atoms

import zoo
from zoo import ConfigError, SKSError, ZooError
from zoo_atomistic import Structure, evaluate_rows

from . import __version__
from . import mapping
from .asap_emt import asap3_version
from .structures import read_structure, structure_digest, to_atoms

#: options every ASE knowledge source takes, besides its calculator's
OWN_OPTIONS = (
    "inputs", "outputs", "lower", "upper", "atoms_per_cell", "n_atoms", "structure", "parameters",
)


class AseSource(zoo.KnowledgeSource):
    """Base of the ASE knowledge sources: subclasses implement :meth:`make_calculator`.

    Options
    -------
    inputs: a kind of zoo-atomistic's vocabulary or a list of them: ``lattice_constant`` (Å),
        ``lattice_lengths``, ``lattice_abc``, ``lattice_parameters``, ``scale``, ``strain``
        (Voigt, engineering shear), ``cell``, ``positions`` and ``frac_positions`` (need
        ``n_atoms``), ``bond_length`` (a molecule's symmetric stretch), the pair-potential
        parameters this calculator has (:attr:`potential_parameters`), or ASE's own
        ``parameters`` (calculator keywords named by the option ``parameters``); one
        structural kind at most, parameters beside it, columns in the order given. Default:
        ``positions`` when the ``structure`` option is a molecule (periodic in no
        direction), else ``lattice_constant``. A lattice kind (or ``frac_positions``) on a
        structure without a periodic cell is refused: ConfigError for the ``structure``
        option, SKSError naming the context for a context.
    outputs: a name or list of ``energy``, ``energy_per_atom`` (default), ``pressure``
        (GPa), ``stress`` (GPa, Voigt), ``volume``, ``volume_per_atom``, ``forces``.
    lower, upper: input bounds, overriding the vocabulary's defaults: a number, a list (one
        per input) or a table ``{name: bound}``.
    atoms_per_cell: atoms in the conventional cell that ``lattice_constant`` refers to
        (4 for fcc, 2 for bcc).
    n_atoms: atoms per structure, for the atoms kinds and ``forces``; default: the
        ``structure`` option's number of atoms. A context with another number of atoms is
        an SKSError naming it.
    structure: path of a structure file (extxyz, cif, POSCAR, ...) used when no contexts
        are given; ``PATH@INDEX`` picks one frame of a multi-frame file.
    parameters: for ``inputs="parameters"``, the calculator keywords the model sets, e.g.
        ``["rc"]``; default bounds from the vocabulary or :attr:`parameter_bounds`.
    Anything else is a keyword of the calculator (checked against
    :attr:`calculator_parameters`).
    """

    default_task: ClassVar[str | None] = None

    #: calculator parameters this source accepts; None accepts any (ASE's Calculator
    #: stores unknown keywords silently, so a typo would otherwise pass unnoticed)
    calculator_parameters: ClassVar[tuple[str, ...] | None] = None

    #: the vocabulary's pair-potential kinds this calculator takes as inputs (its keywords
    #: of the same names mean the same)
    potential_parameters: ClassVar[tuple[str, ...]] = ()

    #: calculator keywords outside the vocabulary that ASE's ``parameters`` kind may set,
    #: with default (lower, upper, units) bounds; None lets any keyword be an input, with
    #: bounds the user must give
    parameter_bounds: ClassVar[dict[str, tuple[float, float, str]] | None] = {}

    #: options a subclass takes itself (not the calculator's), named in "unknown option" errors
    source_options: ClassVar[tuple[str, ...]] = ()

    #: attributes rebuilt after unpickling rather than shipped (live calculators do not pickle)
    _transient: ClassVar[tuple[str, ...]] = ("_calc", "_last")

    def __init__(
        self,
        inputs: str | Sequence[str] | None = None,
        outputs: str | Sequence[str] = "energy_per_atom",
        lower: Any = None,
        upper: Any = None,
        atoms_per_cell: int = 4,
        n_atoms: int | None = None,
        structure: str | None = None,
        parameters: str | Sequence[str] | None = None,
        **calculator_options: Any,
    ):
        self.calculator_options = dict(calculator_options)
        self._check_calculator_options()
        self._last = None
        self.structure = read_structure(structure) if structure else None
        if inputs is None:
            inputs = "positions" if self.structure is not None and not any(self.structure.pbc) else "lattice_constant"
        #: the inputs option as it applies (the default resolved), for the cache key
        self.resolved_inputs = inputs
        if n_atoms is None and self.structure is not None:
            n_atoms = len(self.structure)
        self.mapping = mapping.inputs(
            inputs, n_atoms=n_atoms, atoms_per_cell=atoms_per_cell, potential=self.potential_parameters,
            parameters=parameters, parameter_bounds=self.parameter_bounds, who=self.name,
        )
        self.outputs = mapping.outputs(outputs, self.mapping.inputs.n_atoms, self.name)
        self.input_spec = self.mapping.inputs.spec(lower, upper)
        self.output_spec = self.outputs.spec()
        fixed_and_free = sorted(set(self.mapping.parameters) & set(self.calculator_options))
        if fixed_and_free:
            raise ConfigError(f"{self.name}: {fixed_and_free} are both fixed options and inputs; drop one")
        if self.mapping.inputs.potential:
            self.calculator_options = {**self.potential_defaults(), **self.calculator_options}
        if self.structure is not None:
            problem = self.unfit(self.structure)
            if problem:
                raise ConfigError(f"{self.name}: structure {structure!r} ({self.structure.get_chemical_formula()}): "
                                  f"{problem}")
        self._calc = self._trial_calculators()

    def unfit(self, atoms: Atoms) -> str | None:
        """Why the inputs and outputs cannot be computed on ``atoms``, in words (a lattice
        kind on a molecule, another number of atoms than ``n_atoms``); None where they can."""
        n = self.mapping.inputs.n_atoms
        per_atom = any(k.per_atom for k in self.mapping.inputs.kinds) or "forces" in self.outputs.names
        if per_atom and n is not None and len(atoms) != n:
            return (f"it has {len(atoms)} atoms, and the per-atom inputs or outputs were built for "
                    f"n_atoms={n}")
        of_cell = [q for q in self.outputs.names if q in mapping.CELL_OUTPUTS]
        if of_cell and not (any(atoms.pbc) and atoms.cell.volume > 1e-9):
            return (f"outputs {of_cell} need a periodic cell with a volume, which it has not; a molecule "
                    f"gives energy, energy_per_atom and forces")
        return self.mapping.unfit(atoms)

    def cache_options(self) -> dict[str, Any]:
        """The options less the runtime ones, with what the defaults resolved to (inputs,
        n_atoms) and the ``structure`` file named by its content as well as its path: a
        file edited between two runs must not replay the old file's values."""
        out = super().cache_options()
        if out.get("inputs") is None:
            out["inputs"] = self.resolved_inputs
        if self.structure is not None:
            out["n_atoms"] = self.mapping.inputs.n_atoms
            out["structure"] = f"{out.get('structure')}#{structure_digest(self.structure)}"
        return out

    # -- options ----------------------------------------------------------------------
    def _check_calculator_options(self) -> None:
        known = self.calculator_parameters
        unknown = sorted(set(self.calculator_options) - set(known or ())) if known is not None else []
        if unknown:
            raise ConfigError(
                f"{self.name}: unknown option(s) {unknown}; options are "
                f"{', '.join(list(OWN_OPTIONS) + list(self.source_options) + list(known))}"
            )

    def potential_defaults(self) -> dict[str, Any]:
        """Calculator keywords that the vocabulary's rule for pair-potential inputs sets
        where the options do not: energy and pressure continuous as the parameters move."""
        return {}

    def _trial_calculators(self):
        """Build the calculator now (and one with the parameter inputs mid-bounds), so a bad
        option fails here, not mid-run; returns the shared calculator."""
        calc = self._trial({})
        if self.mapping.parameters:
            mid = dict(zip(self.input_spec.names, (self.input_spec.lower + self.input_spec.upper) / 2))
            self._trial({n: float(mid[n]) for n in self.mapping.parameters})
        return calc

    def _trial(self, parameters: dict[str, float]):
        try:
            return self.make_calculator(**parameters)
        except ZooError:
            raise
        except TypeError as exc:
            if not parameters:
                raise ConfigError(f"{self.name}: bad calculator option: {exc}") from None
            problem = exc
        except Exception as exc:  # noqa: BLE001 - the options given cannot build it
            problem = exc
        where = f" with parameters {parameters} (mid-bounds)" if parameters else ""
        raise ConfigError(f"{self.name}: cannot build the calculator{where}: {type(problem).__name__}: {problem}")

    # Live calculators do not travel: a process that unpickles the SKS builds its own.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in self._transient:
            state[key] = None
        return state

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
                    f"{self.name}: no structure to compute; pass ase.Atoms or zoo_atomistic.Structure "
                    f"contexts or set the option structure=PATH"
                )
            contexts = [self.structure] * len(inputs)  # checked when the source was built
        else:
            self._check_contexts(contexts)
        atoms = [self._atoms(ctx, i) for i, ctx in enumerate(contexts)]

        def compute(i: int) -> np.ndarray:
            params = self.mapping.apply(atoms[i], inputs[i])
            atoms[i].calc = self.calculator_for(params)
            return mapping.read(self.outputs, atoms[i])

        return evaluate_rows(self.name, len(inputs), len(self.output_spec), compute,
                             lambda i: atoms[i].get_chemical_formula())

    def _check_contexts(self, contexts: Sequence[Any]) -> None:
        """The whole call fails, naming the first context the inputs cannot change (a
        molecule given lattice inputs would otherwise give one value at every input)."""
        seen: set[int] = set()
        for i, ctx in enumerate(contexts):
            if id(ctx) in seen:  # a batch often repeats one context
                continue
            seen.add(id(ctx))
            atoms = ctx if isinstance(ctx, Atoms) else self._atoms(ctx, i)
            problem = self.unfit(atoms)
            if problem:
                raise SKSError(f"{self.name}: context {i} ({atoms.get_chemical_formula()}): {problem}")

    def _atoms(self, ctx: Any, i: int) -> Atoms:
        """A fresh, unconstrained Atoms of context ``i``, for this source to change."""
        if isinstance(ctx, Atoms):
            atoms = ctx.copy()
            # constraints (e.g. a POSCAR's selective dynamics) would silently override the
            # input row and zero forces, so the SKS computes the unconstrained structure
            atoms.set_constraint()
            return atoms
        if isinstance(ctx, Structure):
            return to_atoms(ctx)
        raise SKSError(f"{self.name}: context {i} is a {type(ctx).__name__}, not ase.Atoms or zoo_atomistic.Structure")


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
    With ``epsilon`` or ``sigma`` as inputs (the vocabulary's kinds) ``smooth`` defaults to
    True, the vocabulary's rule for potential inputs: an unset ``rc`` follows the row's sigma
    (3 sigma, as a freshly built ``LennardJones(sigma=...)`` does), and shells crossing a
    moving cutoff must not make the pressure jump. ASE's own ``inputs="parameters"`` keeps
    ASE's defaults.
    """

    name = "ase-lj"
    description = "ASE's Lennard-Jones potential (epsilon, sigma as options or model inputs)"
    version = f"{__version__}"
    default_task = "lj-alloy-eos"
    calculator_parameters = ("epsilon", "sigma", "rc", "ro", "smooth")
    potential_parameters = ("epsilon", "sigma")
    parameter_bounds = {"rc": (1.0, 20.0, "Å"), "ro": (0.5, 20.0, "Å")}

    def potential_defaults(self) -> dict[str, Any]:
        return {"smooth": True}

    def make_calculator(self, **parameters: float):
        from ase.calculators.lj import LennardJones

        return LennardJones(**{**self.calculator_options, **parameters})


class MorseSource(AseSource):
    """ASE's MorsePotential, one (epsilon, r0, rho0) for every pair of atoms.

    V(r) = epsilon (exp(-2 rho0 (r/r0 - 1)) - 2 exp(-rho0 (r/r0 - 1))), cut off smoothly
    between ``rcut1`` r0 and ``rcut2`` r0 (energy and pressure stay continuous, as the
    vocabulary asks of potential inputs). Options as ASE has them: ``epsilon`` (eV,
    default 1), ``r0`` (Å, default 1), ``rho0`` (default 6), ``rcut1`` (1.9), ``rcut2`` (2.7);
    their names and meaning are the vocabulary's Morse parameters.
    """

    name = "ase-morse"
    description = "ASE's Morse pair potential (epsilon, r0, rho0 as options or model inputs)"
    version = f"{__version__}"
    default_task = "morse-alloy-eos"
    calculator_parameters = ("epsilon", "r0", "rho0", "rcut1", "rcut2")
    potential_parameters = ("epsilon", "r0", "rho0")
    parameter_bounds = {"rcut1": (1.0, 5.0, ""), "rcut2": (1.1, 6.0, "")}

    def make_calculator(self, **parameters: float):
        from ase.calculators.morse import MorsePotential

        return MorsePotential(**{**self.calculator_options, **parameters})
