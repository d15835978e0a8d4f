"""The knowledge-source contract: what a black-box simulator or analysis code looks like to zoo.

As small and as clear as ASE's ``Calculator``: a name, specs of the inputs and outputs, and
one batched ``evaluate``. Everything else (gradients, batching across processes, caching)
is zoo's job, so a plugin author wraps a code in a few lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .errors import ConfigError


@dataclass(frozen=True, init=False)
class Spec:
    """Names, bounds and units of a knowledge source's inputs or outputs.

    Estimators keep every query inside the bounds (a difference at a bound goes the other
    way), so give the range in which the code gives sensible answers.

    Parameters
    ----------
    names
        One name per column (a single string is one column); unique, non-empty.
    lower, upper
        One number for every column, or one per column; default -inf and +inf.
    units
        One string for every column, or one per column (``"Å"``, ``"GPa"``); default ``""``.

    Raises
    ------
    ConfigError
        No names, repeated names, a bound that is not a number (or NaN), a lower bound not
        below its upper bound, or units of the wrong length.

    Examples
    --------
    >>> spec = Spec(["a", "c"], lower=[3.0, 4.0], upper=5.0, units="Å")
    >>> spec.upper.tolist(), spec.units
    ([5.0, 5.0], ('Å', 'Å'))
    """

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    units: tuple[str, ...]

    def __init__(
        self,
        names: Sequence[str],
        lower: float | Sequence[float] | None = None,
        upper: float | Sequence[float] | None = None,
        units: str | Sequence[str] | None = None,
    ):
        names = (names,) if isinstance(names, str) else tuple(names)
        n = len(names)
        if n == 0:
            raise ConfigError("a Spec needs at least one name")
        bad = [x for x in names if not isinstance(x, str) or not x]
        if bad:
            raise ConfigError(f"Spec names must be non-empty strings, got {bad[0]!r} in {list(names)}")
        if len(set(names)) != n:
            raise ConfigError(f"Spec names must be unique: {names}")

        def bound(value: Any, default: float, which: str) -> np.ndarray:
            if value is None:
                arr = np.full(n, default)
            else:
                if isinstance(value, (str, bytes)) or np.asarray(value).dtype.kind not in "biuf":
                    raise ConfigError(f"Spec {list(names)}: {which} bounds must be numbers, got {value!r}")
                arr = np.asarray(value, dtype=np.float64)
            try:
                arr = np.broadcast_to(arr, (n,)).astype(np.float64)
            except ValueError:
                raise ConfigError(
                    f"Spec {list(names)}: {which} must be one number or {n} numbers, got {value!r}"
                ) from None
            if np.isnan(arr).any():
                raise ConfigError(f"Spec {list(names)}: a {which} bound is NaN; use -inf/inf for none")
            arr.setflags(write=False)
            return arr

        lo, hi = bound(lower, -np.inf, "lower"), bound(upper, np.inf, "upper")
        if np.any(lo >= hi):
            raise ConfigError(f"Spec {names}: every lower bound must be below its upper bound")
        if units is None:
            units = ("",) * n
        elif isinstance(units, str):
            units = (units,) * n
        units = tuple(units)
        if len(units) != n or not all(isinstance(u, str) for u in units):
            raise ConfigError(f"Spec {list(names)}: units must be {n} strings (one per name), got {list(units)}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        object.__setattr__(self, "units", tuple(units))

    def __len__(self) -> int:
        return len(self.names)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Spec)
            and self.names == other.names
            and self.units == other.units
            and np.array_equal(self.lower, other.lower)
            and np.array_equal(self.upper, other.upper)
        )

    def __hash__(self) -> int:
        return hash((self.names, self.units))

    def __repr__(self) -> str:
        return f"Spec({list(self.names)}, lower={self.lower.tolist()}, upper={self.upper.tolist()}, units={list(self.units)})"

    def contains(self, x: np.ndarray) -> np.ndarray:
        """Row-wise: is each row of ``x`` (n, d) inside the bounds?"""
        x = np.atleast_2d(x)
        return np.all((x >= self.lower) & (x <= self.upper), axis=1)

    def clip(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.lower, self.upper)


def _recording(init: Any) -> Any:
    """Wrap a subclass's ``__init__`` so the outermost call records its bound arguments."""
    import functools
    import inspect

    sig = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        outermost = "_options_recording" not in self.__dict__
        if outermost:
            self.__dict__["_options_recording"] = True
        try:
            init(self, *args, **kwargs)
        finally:
            if outermost:
                del self.__dict__["_options_recording"]
        if outermost and "_options" not in self.__dict__:
            try:
                bound = sig.bind(self, *args, **kwargs)
            except TypeError:
                return
            bound.apply_defaults()
            recorded: dict[str, Any] = {}
            for name, value in list(bound.arguments.items())[1:]:
                param = sig.parameters[name]
                if param.kind is param.VAR_KEYWORD:
                    recorded.update(value)
                elif param.kind is not param.VAR_POSITIONAL:
                    recorded[name] = value
            self.__dict__["_options"] = recorded

    __init__._zoo_records_options = True  # type: ignore[attr-defined]
    return __init__


class KnowledgeSource:
    """A black-box scientific code: ``evaluate(inputs, contexts) -> outputs``, no gradients.

    Subclasses set ``name`` and ``description`` and ``input_spec``/``output_spec`` (as class
    attributes when fixed, in ``__init__`` when options decide them) and implement
    :meth:`evaluate`. Optionally ``default_task`` names the task ``zoo run --sks NAME`` runs;
    without one, ``zoo run --sks NAME --task fit --task-option data=FILE.csv`` trains it from
    a table.

    Options are the keyword arguments of ``__init__``. The base class records them as built
    (``self.options``: every parameter of the outermost ``__init__``, defaults included), so a
    subclass never copies them by hand; the evaluation cache keys on them, except the names
    in ``runtime_options`` — settings that change how a result is computed, not what it is
    (a binary's path, a timeout, a working folder).

    ``version`` is part of the cache key too: bump it whenever the numbers the source
    computes for the same inputs and options change (a fixed bug, another default).

    Everything passed to ``evaluate`` and the object itself must pickle, so any executor can
    ship them to another process or machine.

    Attributes
    ----------
    name : str
        What users type (``--sks NAME``); the only attribute registration checks.
    description : str
        One line for ``zoo list sks``.
    version : str
        Part of the evaluation cache's key.
    default_task : str or None
        The task ``zoo run --sks NAME`` trains.
    runtime_options : tuple of str
        Options left out of the cache's key.
    input_spec, output_spec : Spec
        Names, bounds and units of the inputs and outputs.

    Examples
    --------
    >>> import numpy as np, zoo
    >>> class Square(zoo.KnowledgeSource):
    ...     name = "square"
    ...     description = "y = x^2"
    ...     input_spec = zoo.Spec(["x"], lower=-10.0, upper=10.0)
    ...     output_spec = zoo.Spec(["y"])
    ...     def evaluate(self, inputs, contexts=None):
    ...         return inputs[:, :1] ** 2
    >>> Square()([[3.0]]).tolist()
    [[9.0]]

    A complete one, registered by a plugin and tested with :mod:`zoo.testing`: the "writing
    a plugin" page of the docs.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    default_task: ClassVar[str | None] = None
    #: options that do not change the results (excluded from the evaluation cache's key)
    runtime_options: ClassVar[tuple[str, ...]] = ()
    input_spec: Spec
    output_spec: Spec

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_zoo_records_options", False):
            cls.__init__ = _recording(init)  # type: ignore[method-assign]

    def __init__(self, **options: Any):
        if options:
            raise ConfigError(
                f"knowledge source {self.name!r} takes no options, got {sorted(options)}"
            )

    @property
    def options(self) -> dict[str, Any]:
        """The options this source was built with (what the cache keys on, with ``version``)."""
        return self.__dict__.setdefault("_options", {})

    @options.setter
    def options(self, value: dict[str, Any]) -> None:
        # sources written before the base class recorded options set them by hand; that
        # still works and wins over the recorded ones
        self.__dict__["_options"] = dict(value)

    def cache_options(self) -> dict[str, Any]:
        """The options that identify the computed function (``options`` less the runtime ones)."""
        return {k: v for k, v in self.options.items() if k not in self.runtime_options}

    def about(self) -> dict[str, str]:
        """What actually ran, for the run's summary (e.g. which implementation, which binary);
        empty by default."""
        return {}

    def evaluate(self, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        """Evaluate ``inputs`` (n, d_in) float64 with per-row ``contexts``; return (n, d_out).

        A row that fails is NaN; raising means the whole call failed.

        Parameters
        ----------
        inputs
            (n, d_in) float64 rows, in ``input_spec``'s order and inside its bounds.
        contexts
            A length-n sequence of per-row fixed data (an ``ase.Atoms``, a structure), or
            None.

        Returns
        -------
        numpy.ndarray
            (n, d_out) float64, in ``output_spec``'s order; NaN rows where a row failed.

        Raises
        ------
        SKSError
            The call failed as a whole (a crashed binary, an impossible structure).
        """
        raise NotImplementedError

    def context_key(self, context: Any) -> bytes:
        """Bytes that identify a context for the evaluation cache (default: its pickle).

        Override where a canonical form is cheaper or steadier, e.g. an ``ase.Atoms``'s
        numbers, positions, cell and pbc.
        """
        import pickle

        return pickle.dumps(context, protocol=4)

    def __call__(self, inputs: Any, contexts: Sequence[Any] | None = None) -> np.ndarray:
        """Checked evaluation: coerces inputs to (n, d_in) float64 and checks the output shape."""
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != len(self.input_spec):
            raise ConfigError(
                f"{self.name}: inputs must have shape (n, {len(self.input_spec)}) "
                f"for {list(self.input_spec.names)}, got {x.shape}"
            )
        if contexts is not None and len(contexts) != len(x):
            raise ConfigError(f"{self.name}: {len(contexts)} contexts for {len(x)} input rows")
        y = np.asarray(self.evaluate(x, contexts), dtype=np.float64)
        if y.shape != (len(x), len(self.output_spec)):
            raise ConfigError(
                f"{self.name}.evaluate returned shape {y.shape}, expected "
                f"({len(x)}, {len(self.output_spec)}) - a bug in the knowledge source"
            )
        return y

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in getattr(self, "options", {}).items())
        return f"{type(self).__name__}({opts})"
