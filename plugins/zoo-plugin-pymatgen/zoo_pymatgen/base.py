"""What every pymatgen knowledge source shares: inputs, contexts, NaN rows, pickling.

A subclass says how to prepare a context once (e.g. add oxidation states) and how to compute
one output row from a structure; :class:`PymatgenSource` does the rest:

* one prepared scratch copy per context, changed in place row by row. Training asks for the
  same few contexts call after call, one or two rows each, and preparing a context (copy,
  oxidation states, checks) costs up to a third of a small Ewald sum, so prepared copies
  are kept between calls too (per thread, at most :data:`CACHE_SIZE`), and reused only while
  the context's cell, coordinates and species are unchanged (:func:`fingerprint`);
* a row whose structure or analysis fails (a degenerate lattice, an element without
  parameters) becomes a NaN row; a call where every row fails raises, quoting the first
  error (:func:`zoo_atomistic.evaluate_rows`);
* everything else is plain data or pymatgen objects, so the source pickles (without its
  cache).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from pymatgen.core import Lattice, Structure

import zoo
from zoo import ConfigError, SKSError
from zoo_atomistic import evaluate_rows
from zoo_atomistic.quantities import Outputs, Quantity, parse_outputs

from . import structures
from .structures import as_structure, context_bytes, fingerprint, read_structure

#: prepared contexts kept per thread (the task data here have at most a few dozen)
CACHE_SIZE = 256


class _Prepared(NamedTuple):
    fingerprint: tuple
    lattice: Lattice | None  # the context's lattice, which the rows are applied to
    work: Structure | None  # the scratch copy the rows change
    error: str | None
    formula: str


class PymatgenSource(zoo.KnowledgeSource):
    """Base of the pymatgen knowledge sources; subclasses implement :meth:`compute`."""

    default_task = None

    #: the vocabulary's quantities this source computes, and quantities of its own
    offered_outputs: tuple[str, ...] = ()
    own_outputs: dict[str, Quantity] = {}

    def _init_inputs(
        self, inputs: Any, lower: Any, upper: Any, n_atoms: int | None, atoms_per_cell: int, structure: str | None
    ) -> None:
        self.inputs = structures.inputs(inputs, n_atoms, self.name)
        self.kind = self.inputs.structural
        if isinstance(atoms_per_cell, bool) or not isinstance(atoms_per_cell, int) or atoms_per_cell < 1:
            raise ConfigError(f"{self.name}: atoms_per_cell must be a whole number >= 1 (4 fcc, 2 bcc, 8 rock salt)")
        self.atoms_per_cell = atoms_per_cell
        self.input_spec = self.inputs.spec(lower, upper)
        self.structure = read_structure(structure) if structure else None

    def _init_outputs(self, outputs: Any) -> Outputs:
        """The ``outputs`` option resolved (the vocabulary's, or this source's own)."""
        offered = (*self.offered_outputs, *self.own_outputs)
        self.outputs = parse_outputs(outputs, offered=offered, n_atoms=self.inputs.n_atoms, extra=self.own_outputs,
                                     who=self.name)
        self.output_spec = self.outputs.spec()
        return self.outputs

    def prepare(self, structure: Structure) -> Structure:
        """A copy of the context that this source owns and changes row by row."""
        return structure.copy()

    def compute(self, structure: Structure) -> np.ndarray:
        """One output row (a float64 array) for ``structure``; raise on failure (NaN row)."""
        raise NotImplementedError

    def context_key(self, context: Any) -> bytes:
        """Cell, coordinates, species, charge and site properties (for the evaluation cache)."""
        return context_bytes(context)

    def evaluate(self, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        inputs = np.asarray(inputs, dtype=np.float64)
        if contexts is None:
            if self.structure is None:
                raise SKSError(
                    f"{self.name}: no structure to compute; pass pymatgen Structures (or "
                    f"zoo_atomistic.Structure or ase.Atoms) as contexts, or set the option structure=PATH"
                )
            contexts = [self.structure] * len(inputs)
        seen: dict[int, _Prepared] = {}  # this call: the contexts list keeps ids unique

        def prepared(i: int) -> _Prepared:
            if id(contexts[i]) not in seen:
                seen[id(contexts[i])] = self._prepared(contexts[i], i)
            return seen[id(contexts[i])]

        def compute(i: int) -> np.ndarray:
            prep = prepared(i)
            if prep.error is not None:
                raise ValueError(prep.error)
            structures.apply(self.kind, prep.lattice, prep.work, inputs[i], self.atoms_per_cell)
            return self.compute(prep.work)

        return evaluate_rows(self.name, len(inputs), len(self.output_spec), compute,
                             lambda i: f"{prepared(i).formula}, input {_short(inputs[i])}")

    def _prepared(self, ctx: Any, index: int) -> _Prepared:
        cache = self._cache()
        fp = fingerprint(ctx)
        hit = cache.get(id(ctx))
        if hit is not None and hit.fingerprint == fp:
            cache.move_to_end(id(ctx))
            return hit
        structure = as_structure(ctx, index, self.name)
        formula = structure.composition.reduced_formula
        try:
            prepared = _Prepared(fp, structure.lattice, self.prepare(structure), None, formula)
        except Exception as exc:  # noqa: BLE001 - a context that fails is NaN rows
            prepared = _Prepared(fp, None, None, str(exc), formula)
        cache[id(ctx)] = prepared
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
        return prepared

    def _cache(self) -> OrderedDict:
        # per thread: a scratch structure changed by two threads at once would mix their rows
        local = self.__dict__.get("_local")
        if local is None:
            local = self.__dict__["_local"] = threading.local()
        if not hasattr(local, "cache"):
            local.cache = OrderedDict()
        return local.cache

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_local", None)  # thread-locals do not pickle; the copy starts empty
        return state


def _short(row: np.ndarray) -> str:
    values = np.round(row, 6).tolist()
    return str(values) if len(values) <= 6 else f"{str(values[:6])[:-1]}, ... ({len(values)} values)]"
