"""``zoo.FunctionSource``: a plain Python function as a knowledge source.

A notebook's simulator wrapper should not need a plugin package and an entry point to be
trained through. ``FunctionSource(fn, inputs, outputs)`` wraps it::

    sks = zoo.FunctionSource(lambda x: (x**2).sum(axis=1, keepdims=True), ["a", "b"], ["y"])
    layer = zoo.SKSLayer(sks, estimator="cge")

``fn`` maps an (n, d_in) float64 array to (n, d_out) (``vectorized=True``, the default), or
one row (d_in,) to d_out values (``vectorized=False``: zoo maps it row by row, and a row that
raises becomes a NaN row). If ``fn`` takes a second parameter it receives the contexts (the
sequence, or one row's context when row by row).

The function travels to worker processes with cloudpickle, so lambdas and closures work
with every executor. Its pickled bytes also fingerprint it: edit the function and the
evaluation cache no longer serves the old one's results.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, SKSError
from .sks import KnowledgeSource, Spec


def _as_spec(value: Spec | Sequence[str] | str, what: str) -> Spec:
    if isinstance(value, Spec):
        return value
    if isinstance(value, str):
        return Spec([value])
    try:
        return Spec(list(value))
    except TypeError:
        raise ConfigError(f"FunctionSource: {what} must be a zoo.Spec or a list of names, got {value!r}") from None


def _takes_contexts(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


class FunctionSource(KnowledgeSource):
    """A knowledge source made from a function (see the module docstring).

    Parameters
    ----------
    fn:
        ``fn(x)`` or ``fn(x, contexts)``: (n, d_in) -> (n, d_out), or one row at a time with
        ``vectorized=False``.
    inputs, outputs:
        A :class:`zoo.Spec` (names, bounds, units) or a list of names.
    name:
        What the source is called in messages and cache keys (default: the function's name).
    vectorized:
        Whether ``fn`` takes the whole batch at once.
    """

    description = "A plain Python function as a knowledge source"

    def __init__(
        self,
        fn: Callable[..., Any],
        inputs: Spec | Sequence[str] | str,
        outputs: Spec | Sequence[str] | str,
        name: str | None = None,
        vectorized: bool = True,
    ):
        if not callable(fn):
            raise ConfigError(f"FunctionSource: fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.input_spec = _as_spec(inputs, "inputs")
        self.output_spec = _as_spec(outputs, "outputs")
        fn_name = getattr(fn, "__name__", type(fn).__name__)
        self.name = name or ("function" if fn_name == "<lambda>" else fn_name)  # type: ignore[misc]
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"FunctionSource: name must be a non-empty string, got {name!r}")
        self.vectorized = bool(vectorized)
        self._with_contexts = _takes_contexts(fn)
        payload = _dumps(fn)
        #: the function's own fingerprint: the cache never mixes two versions of it
        self.version = hashlib.sha256(payload).hexdigest()[:16]  # type: ignore[misc]
        self.options = {
            "inputs": list(self.input_spec.names),
            "outputs": list(self.output_spec.names),
            "vectorized": self.vectorized,
        }

    def evaluate(self, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        x = np.asarray(inputs, dtype=np.float64)
        d_out = len(self.output_spec)
        if self.vectorized:
            y = self.fn(x, contexts) if self._with_contexts else self.fn(x)
            return self._shaped(y, (len(x), d_out), "fn returned")
        out = np.full((len(x), d_out), np.nan)
        errors: list[str] = []
        for i, row in enumerate(x):
            try:
                value = self.fn(row, None if contexts is None else contexts[i]) if self._with_contexts else self.fn(row)
                out[i] = self._shaped(value, (d_out,), f"fn returned for row {i}")
            except ConfigError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed row is a NaN row
                errors.append(f"row {i}: {type(exc).__name__}: {exc}")
        if len(x) and len(errors) == len(x):
            raise SKSError(f"{self.name}: every row failed; first {errors[0]}")
        return out

    def _shaped(self, value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float64)
        if arr.size == int(np.prod(shape)):
            return arr.reshape(shape)
        raise ConfigError(
            f"{self.name}: {what} shape {arr.shape}, expected {shape} "
            f"({list(self.output_spec.names)} for each of the rows)"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["fn"] = _dumps(self.fn)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import cloudpickle

        state = dict(state)
        state["fn"] = cloudpickle.loads(state["fn"])
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return (f"FunctionSource({self.name!r}, inputs={list(self.input_spec.names)}, "
                f"outputs={list(self.output_spec.names)}, vectorized={self.vectorized})")


def _dumps(fn: Callable[..., Any]) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001 - what cannot travel to a worker is the user's to fix
        raise ConfigError(
            f"FunctionSource: the function cannot be pickled ({type(exc).__name__}: {exc}); it must "
            f"travel to worker processes — avoid capturing open files, locks or live connections"
        ) from None
