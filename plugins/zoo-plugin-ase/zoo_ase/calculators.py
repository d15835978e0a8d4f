"""Knowledge sources backed by ASE calculators.

:class:`AseSource` holds everything common to them, so each calculator is a few lines:
the input mapping and outputs are options; contexts are ``ase.Atoms`` (or the ``structure``
option, a file ASE can read); one calculator object is kept alive and reused across rows
(creating one per call costs about 3x the throughput); a row whose calculation raises
becomes a NaN row, and a call where every row fails raises, quoting the first error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms

import zoo
from zoo import ConfigError, SKSError, Spec

from . import __version__
from . import mapping


class AseSource(zoo.KnowledgeSource):
    """Base of the ASE knowledge sources: subclasses implement :meth:`make_calculator`.

    Options
    -------
    inputs: ``lattice_constant`` (Å; default), ``scale``, ``strain`` (Voigt, engineering
        shear) or ``positions`` (Å, needs ``n_atoms``).
    outputs: a name or list of ``energy``, ``energy_per_atom`` (default), ``pressure``
        (GPa), ``stress`` (GPa, Voigt), ``volume``, ``volume_per_atom``, ``forces``.
    lower, upper: input bounds, overriding the mapping's defaults.
    atoms_per_cell: atoms in the conventional cell that ``lattice_constant`` refers to
        (4 for fcc, 2 for bcc).
    n_atoms: atoms per structure, for ``positions`` and ``forces``.
    structure: path of a structure file (extxyz, cif, POSCAR, ...) used when no contexts
        are given.
    """

    default_task = None

    def __init__(
        self,
        inputs: str = "lattice_constant",
        outputs: str | Sequence[str] = "energy_per_atom",
        lower: Any = None,
        upper: Any = None,
        atoms_per_cell: int = 4,
        n_atoms: int | None = None,
        structure: str | None = None,
        **calculator_options: Any,
    ):
        self.options = {
            "inputs": inputs,
            "outputs": [outputs] if isinstance(outputs, str) else list(outputs),
            "lower": lower,
            "upper": upper,
            "atoms_per_cell": atoms_per_cell,
            "n_atoms": n_atoms,
            "structure": structure,
            **calculator_options,
        }
        self.calculator_options = calculator_options
        self._mapping = mapping.input_mapping(inputs, atoms_per_cell, n_atoms)
        self._outputs = mapping.outputs(self.options["outputs"], n_atoms)
        self.input_spec = self._mapping.spec(lower, upper)
        self.output_spec = Spec(
            [n for o in self._outputs for n in o.names],
            units=[o.units for o in self._outputs for _ in o.names],
        )
        self.structure = _read_structure(structure) if structure else None
        self._check_calculator_options()
        try:  # build one now, so a bad calculator option fails here, not mid-run
            self._calc = self.make_calculator()
        except TypeError as exc:
            raise ConfigError(f"{self.name}: bad calculator option: {exc}") from None

    #: calculator parameters this source accepts; None accepts any (ASE's Calculator
    #: stores unknown keywords silently, so a typo would otherwise pass unnoticed)
    calculator_parameters: tuple[str, ...] | None = None

    def _check_calculator_options(self) -> None:
        known = self.calculator_parameters
        unknown = sorted(set(self.calculator_options) - set(known or ())) if known is not None else []
        if unknown:
            own = ["inputs", "outputs", "lower", "upper", "atoms_per_cell", "n_atoms", "structure"]
            raise ConfigError(
                f"{self.name}: unknown option(s) {unknown}; options are {', '.join(own + list(known))}"
            )

    # Only the options travel: a process that unpickles the SKS rebuilds its mapping,
    # outputs and calculator from them (closures and live calculators do not pickle).
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_calc", "_mapping", "_outputs"):
            state[key] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        opts = self.options
        self._mapping = mapping.input_mapping(opts["inputs"], opts["atoms_per_cell"], opts["n_atoms"])
        self._outputs = mapping.outputs(opts["outputs"], opts["n_atoms"])

    def make_calculator(self):
        raise NotImplementedError

    @property
    def calculator(self):
        if self._calc is None:
            self._calc = self.make_calculator()
        return self._calc

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
        calc = self.calculator
        for i, (row, ctx) in enumerate(zip(inputs, contexts)):
            if not isinstance(ctx, Atoms):
                raise SKSError(f"{self.name}: context {i} is a {type(ctx).__name__}, not ase.Atoms")
            atoms = ctx.copy()
            # constraints (e.g. a POSCAR's selective dynamics) would silently override the
            # input row and zero forces, so the SKS computes the unconstrained structure
            atoms.set_constraint()
            try:
                self._mapping.apply(atoms, row)
                atoms.calc = calc
                out[i] = np.concatenate([o.read(atoms) for o in self._outputs])
            except Exception as exc:  # noqa: BLE001 - one failed row is a NaN row
                errors.append(f"row {i} ({atoms.get_chemical_formula()}): {exc}")
        if errors and len(errors) == len(inputs):
            raise SKSError(f"{self.name}: every row failed; first: {errors[0]}")
        return out


class EMTSource(AseSource):
    """ASE's EMT calculator (Cu, Ag, Au, Ni, Pd, Pt, Al; H, C, N, O as a toy)."""

    name = "ase-emt"
    description = "ASE's EMT potential: energy, pressure, stress, forces of fcc metals"
    version = f"{__version__}"
    default_task = "fcc-alloy-lattice"
    calculator_parameters = ("asap_cutoff",)

    def make_calculator(self):
        from ase.calculators.emt import EMT

        return EMT(**self.calculator_options)


def _read_structure(path: str) -> Atoms:
    from ase.io import read

    try:
        return read(path)
    except FileNotFoundError:
        raise ConfigError(f"structure file {path!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise ConfigError(f"cannot read structure file {path!r} with ASE: {exc}") from None
