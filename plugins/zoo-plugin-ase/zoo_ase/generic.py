"""``ase-calculator``: any ASE calculator, named by import path, as a knowledge source.

Users bring GPAW, MACE, or any other ASE calculator without writing a plugin::

    zoo.knowledge_source("ase-calculator", calculator="ase.calculators.emt:EMT")
    zoo run --sks ase-calculator --sks-option calculator=ase.calculators.lj:LennardJones \\
            --sks-option calculator_options='{sigma=2.3, epsilon=0.2}'

``calculator`` is ``"module:Name"``, where Name is an ASE calculator *class*;
``calculator_options`` is a table of its keyword arguments. Only the path and the options
travel with a pickled source: each process imports and builds the calculator itself (a live
calculator, e.g. a GPU model, does not pickle). The user's guide is docs/ase-calculator.md.

One calculator is kept alive and reused from row to row, which is what makes cheap
calculators fast. A calculator that carries state from one calculation to the next (an SCF
started from the previous density: tblite's TBLite, GPAW) then gives a row a value that
depends on the rows before it — tblite's GFN2-xTB forces on H2O moved by 7.5e-5 eV/Å after
one other geometry — which finite differences and the evaluation cache both dislike:
``fresh_calculator=True`` builds a new calculator for every row (tblite: 0.93 ms a
single point instead of 0.69 ms, measured on H2O with one thread).

A path may come from a config file or a run folder someone else wrote, so it is checked
before anything is called: it must name a subclass of ASE's ``BaseCalculator`` (never a
function: ``os:system`` would otherwise run on resume), the module must not be part of
Python's standard library (which holds no ASE calculator), and ``command`` is refused in
``calculator_options`` (a calculator's command line belongs in ASE's own configuration, not
in a file that travels with results). Importing the module runs its top-level code, as any
``import`` does: only modules installed in your environment can be named. From Python, a
factory function (``mace.calculators:mace_mp``) can be passed as the object itself:
``calculator=mace_mp``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from zoo import ConfigError

from . import __version__
from .calculators import OWN_OPTIONS, AseSource

DEFAULT_CALCULATOR = "ase.calculators.emt:EMT"

#: module.path:Name, each part a Python identifier
_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")

#: import name -> pip distribution, where the two differ (for the "pip install" hint)
_DISTRIBUTIONS = {
    "mace": "mace-torch",
    "fairchem": "fairchem-core",
    "orb_models": "orb-models",
    "quippy": "quippy-ase",
    "sklearn": "scikit-learn",
    "sevenn": "sevenn",
    "dftd3": "dftd3",
    "pyscf": "pyscf",
}

#: keyword arguments every ase.calculators.calculator.Calculator takes
_CALCULATOR_KEYWORDS = ("restart", "ignore_bad_restart_file", "label", "atoms", "directory", "command", "profile")


#: calculator keywords refused from options: they name programs to run
_REFUSED_KEYWORDS = ("command",)


def resolve_calculator(path: str) -> Callable[..., Any]:
    """Import ``"module:Name"`` and check it is an ASE calculator class; zoo errors say what
    to do. Nothing the path names is called here."""
    from ase.calculators.calculator import BaseCalculator

    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise ConfigError(
            f"ase-calculator: calculator must be an import path 'module:Name', e.g. "
            f"'{DEFAULT_CALCULATOR}' or 'gpaw:GPAW'; got {path!r}"
        )
    module_name, attr = path.split(":")
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise ConfigError(
            f"ase-calculator: {path!r} is in Python's standard library, which holds no ASE "
            f"calculator; name an ASE calculator class, e.g. '{DEFAULT_CALCULATOR}'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        top = missing.split(".")[0]
        dist = _DISTRIBUTIONS.get(top, top.replace("_", "-"))
        if module_name == missing or module_name.startswith(missing + "."):
            raise ConfigError(
                f"ase-calculator: cannot import {module_name!r} for calculator {path!r}: no module "
                f"named {missing!r}; install the package that provides it (pip install {dist}) "
                f"or correct the path"
            ) from None
        raise ConfigError(
            f"ase-calculator: importing {module_name!r} for calculator {path!r} needs module "
            f"{missing!r}, which is not installed (pip install {dist})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a module that fails on import is the user's
        raise ConfigError(
            f"ase-calculator: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    try:
        factory = getattr(module, attr)
    except AttributeError:
        found = sorted(
            n for n, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, BaseCalculator) and not n.startswith("_")
        )
        hint = f"; ASE calculators there: {', '.join(found)}" if found else ""
        raise ConfigError(f"ase-calculator: module {module_name!r} has no {attr!r}{hint}") from None
    if not isinstance(factory, type):
        raise ConfigError(
            f"ase-calculator: {path!r} is of type {type(factory).__name__}, not an ASE calculator class; "
            f"a path may only name a class (a factory function can be passed from Python as the "
            f"object itself: calculator=my_factory)"
        )
    if not issubclass(factory, BaseCalculator):
        raise ConfigError(
            f"ase-calculator: {path!r} is a class but not an ASE calculator (a subclass of "
            f"ase.calculators.calculator.BaseCalculator)"
        )
    return factory


@functools.lru_cache(maxsize=None)
def package_version(top: str) -> str:
    """The version of the installed package ``top`` (an import name): its ``__version__``,
    else its distribution's (tblite has no ``__version__``), else ``?``."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    module = sys.modules.get(top) or importlib.import_module(top)
    found = getattr(module, "__version__", None)
    if isinstance(found, str):
        return found
    for dist in packages_distributions().get(top, []):
        try:
            return version(dist)
        except PackageNotFoundError:  # pragma: no cover - a stale record
            continue
    return "?"


def describe_callable(obj: Any) -> str:
    """``module:qualname`` of a calculator class or factory passed from Python."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}:{name}"


def check_keywords(factory: Callable[..., Any], names: Sequence[str], path: str) -> None:
    """Reject keyword names ``factory`` cannot take, as far as its signature tells.

    ASE calculators take ``**kwargs`` and store unknown keywords silently, so where the
    class declares ``default_parameters`` those (with Calculator's own keywords) are the
    names it knows; a factory with ``**kwargs`` and no such table accepts any name.
    """
    if not names:
        return
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins and the like: nothing to check against
        return
    params = sig.parameters.values()
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    known = set(named)
    if any(p.kind == p.VAR_KEYWORD for p in params):
        table = getattr(factory, "default_parameters", None)
        if not table:
            return
        known |= set(table) | set(_CALCULATOR_KEYWORDS)
    unknown = sorted(set(names) - known)
    if unknown:
        raise ConfigError(
            f"ase-calculator: {path} takes no keyword(s) {unknown}; it takes "
            f"{', '.join(sorted(known)) or 'none'}"
        )


class CalculatorSource(AseSource):
    """Any ASE calculator by import path: ``calculator="module:Name"`` (default EMT) with
    keyword options ``calculator_options``; every other option as for ``ase-emt``.

    With ``inputs="parameters"``, any numeric keyword of the calculator can be an input;
    there are no default bounds, so give them: ``lower={name=...}``, ``upper={name=...}``.
    ``fresh_calculator=True`` builds a new calculator for every row, for calculators whose
    result depends on their previous calculation (SCF restarts). The default task,
    ``ase-structure``, relaxes the ``structure=FILE`` option's molecule or crystal.
    """

    name = "ase-calculator"
    description = "Any ASE calculator by import path (calculator='module:Name', calculator_options)"
    version = f"{__version__}"
    default_task = "ase-structure"
    calculator_parameters = None  # checked against the calculator's signature instead
    parameter_bounds = None  # any keyword can be an input; the user gives its bounds
    _transient: ClassVar[tuple[str, ...]] = (*AseSource._transient, "_factory")
    # no vocabulary potential kinds: what epsilon means depends on the calculator, so its
    # keywords are inputs only through ASE's own kind: inputs="parameters", parameters=[...]

    def __init__(
        self,
        calculator: str | Callable[..., Any] = DEFAULT_CALCULATOR,
        calculator_options: Mapping[str, Any] | None = None,
        inputs: str | Sequence[str] | None = None,
        outputs: str | Sequence[str] = "energy_per_atom",
        lower: Any = None,
        upper: Any = None,
        atoms_per_cell: int = 4,
        n_atoms: int | None = None,
        structure: str | None = None,
        parameters: str | Sequence[str] | None = None,
        fresh_calculator: bool = False,
    ):
        if not isinstance(fresh_calculator, bool):
            raise ConfigError(f"ase-calculator: fresh_calculator must be true or false, got {fresh_calculator!r}")
        self.fresh_calculator = fresh_calculator
        if calculator_options is None:
            calculator_options = {}
        if not isinstance(calculator_options, Mapping) or not all(isinstance(k, str) for k in calculator_options):
            raise ConfigError(
                f"ase-calculator: calculator_options must be a table of keyword arguments, "
                f"e.g. {{asap_cutoff = true}}; got {calculator_options!r}"
            )
        refused = sorted(set(calculator_options) & set(_REFUSED_KEYWORDS))
        if refused:
            raise ConfigError(
                f"ase-calculator: calculator_options may not set {refused}: a command line in a "
                f"config would let whoever wrote the file run programs here. Configure the "
                f"calculator's command through ASE (its ASE_<NAME>_COMMAND variable or ASE's "
                f"config file) instead"
            )
        #: a class or factory passed from Python (trusted code; it pickles by reference)
        self.calculator_object: Callable[..., Any] | None = None
        if isinstance(calculator, str):
            self._factory = resolve_calculator(calculator)
            self.calculator_path = calculator
        elif callable(calculator):
            self._factory = self.calculator_object = calculator
            self.calculator_path = describe_callable(calculator)
        else:
            resolve_calculator(calculator)  # raises the "module:Name" error
        # the wrapped package's version, so an evaluation cache never mixes two versions
        top = self.calculator_path.split(":")[0].split(".")[0]
        self.version = f"{__version__}+{top}-{package_version(top)}"
        super().__init__(
            inputs=inputs, outputs=outputs, lower=lower, upper=upper,
            atoms_per_cell=atoms_per_cell, n_atoms=n_atoms, structure=structure,
            parameters=parameters, **dict(calculator_options),
        )
        if self.mapping.parameters:
            check_keywords(self._factory, self.mapping.parameters, self.calculator_path)

    def cache_options(self) -> dict[str, Any]:
        """The options less the runtime ones, a calculator object passed from Python named
        by its import path (its repr holds a memory address, which no other process shares)."""
        return {**super().cache_options(), "calculator": self.calculator_path}

    def _check_calculator_options(self) -> None:
        check_keywords(self.factory, list(self.calculator_options), self.calculator_path)

    def calculator_for(self, parameters: dict[str, float]):
        """A new calculator for every row with ``fresh_calculator``, else the shared one."""
        if self.fresh_calculator:
            return self.make_calculator(**parameters)
        return super().calculator_for(parameters)

    @property
    def factory(self) -> Callable[..., Any]:
        if self._factory is None:  # after unpickling: import it in this process
            self._factory = self.calculator_object or resolve_calculator(self.calculator_path)
        return self._factory

    def make_calculator(self, **parameters: float):
        from ase.calculators.calculator import BaseCalculator

        calc = self.factory(**{**self.calculator_options, **parameters})
        if not isinstance(calc, BaseCalculator):
            raise ConfigError(
                f"ase-calculator: {self.calculator_path} returned an object of type {type(calc).__name__}, "
                f"not an ASE calculator"
            )
        return calc


__all__ = ["CalculatorSource", "resolve_calculator", "check_keywords", "OWN_OPTIONS"]
