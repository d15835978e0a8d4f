"""What every pymatgen knowledge source shares: inputs, contexts, NaN rows, pickling.

A subclass says how to prepare a context once (e.g. add oxidation states) and how to compute
one output row from a structure; :class:`PymatgenSource` does the rest:

* one scratch copy per distinct context per call, changed in place row by row (building a
  fresh ``Structure`` per row costs as much as a small Ewald sum);
* a row whose structure or analysis fails (a degenerate lattice, an element without
  parameters) becomes a NaN row; a call where every row fails raises, quoting the first
  error;
* everything is plain data or pymatgen objects, so the source pickles as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pymatgen.core import Structure

import zoo
from zoo import SKSError

from .structures import as_structure, input_mapping, read_structure


class PymatgenSource(zoo.KnowledgeSource):
    """Base of the pymatgen knowledge sources; subclasses implement :meth:`compute`."""

    default_task = None

    def _init_inputs(
        self, inputs: str, lower: Any, upper: Any, n_atoms: int | None, structure: str | None
    ) -> None:
        self._mapping = input_mapping(inputs, n_atoms)
        self.input_spec = self._mapping.spec(lower, upper)
        self.structure = read_structure(structure) if structure else None

    def prepare(self, structure: Structure) -> Structure:
        """The reference structure rows are applied to (never changed afterwards)."""
        return structure

    def compute(self, structure: Structure) -> np.ndarray:
        """One output row for ``structure``; raise on failure (the row becomes NaN)."""
        raise NotImplementedError

    def evaluate(self, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        inputs = np.asarray(inputs, dtype=np.float64)
        if contexts is None:
            if self.structure is None:
                raise SKSError(
                    f"{self.name}: no structure to compute; pass pymatgen Structures (or "
                    f"ase.Atoms) as contexts, or set the option structure=PATH"
                )
            contexts = [self.structure] * len(inputs)
        out = np.full((len(inputs), len(self.output_spec)), np.nan)
        errors: list[str] = []
        scratch: dict[int, tuple[Structure | None, Structure | None, str | None]] = {}
        for i, (row, ctx) in enumerate(zip(inputs, contexts)):
            key = id(ctx)  # the contexts list keeps every object alive, so ids are unique
            if key not in scratch:
                structure = as_structure(ctx, i, self.name)
                try:
                    ref = self.prepare(structure)
                    scratch[key] = (ref, ref.copy(), None)
                except Exception as exc:  # noqa: BLE001 - a context that fails is NaN rows
                    scratch[key] = (None, None, f"{structure.composition.reduced_formula}: {exc}")
            ref, work, err = scratch[key]
            if err is not None:
                errors.append(f"row {i} ({err})")
                continue
            try:
                self._mapping.apply(ref, work, row)
                y = np.asarray(self.compute(work), dtype=np.float64)
                if not np.all(np.isfinite(y)):
                    raise ValueError("the analysis gave non-finite values")
                out[i] = y
            except Exception as exc:  # noqa: BLE001 - one failed row is a NaN row
                errors.append(f"row {i} ({ref.composition.reduced_formula}, input {_short(row)}): {exc}")
        if errors and len(errors) == len(inputs):
            raise SKSError(f"{self.name}: every row failed; first: {errors[0]}")
        return out


def _short(row: np.ndarray) -> str:
    values = np.round(row, 6).tolist()
    return str(values) if len(values) <= 6 else f"{str(values[:6])[:-1]}, ... ({len(values)} values)]"
