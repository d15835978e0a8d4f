"""Validation of every value that ends up in a LAMMPS input script.

LAMMPS input is a small programming language: ``shell`` runs programs, ``include`` reads
more input, ``python`` and ``variable ... python``/``getenv`` run or read things, ``$``
substitutes variables, ``&`` continues a line, quotes and ``#`` change how a line is
split. Anything a user (or a model, or a pickled context from elsewhere) controls could
try to smuggle such a command in. So nothing reaches the script as ``str()`` of a user
object: numbers are checked finite and formatted here, element names match
``^[A-Z][a-z]?$`` and name a real element, file names match a strict pattern and are
linked into the run's own folder under a safe name, and pass-through ``pair_style`` /
``pair_coeff`` text is split into tokens that each must match a strict pattern and none of
which may be a command word. A rejected value raises :class:`zoo.ConfigError` saying which
value and why.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Sequence
from typing import Any

from zoo import ConfigError

from .elements import ATOMIC_NUMBER

ELEMENT_RE = re.compile(r"^[A-Z][a-z]?$")
FILENAME_RE = re.compile(r"^[A-Za-z0-9._/-]+$")
#: one pass-through token: names, numbers, wildcards (``*``, ``1*3``), style names
#: (``lj/cut``), file names
TOKEN_RE = re.compile(r"^[A-Za-z0-9_.+*/-]+$")
#: words that are LAMMPS commands or reach outside LAMMPS (programs, Python, files,
#: environment, downloads); none may appear as a pass-through token
FORBIDDEN_TOKENS = frozenset(
    """shell include python plugin variable getenv fix compute run print jump label next
    quit clear log echo write_data write_dump write_restart write_coeff dump undump
    read_data read_dump read_restart rerun if partition kim kim_init kim_interactions
    kim_query kim_param mliappy pytorch quip atomfile file internal""".split()
)
#: substrings no token may contain (case-insensitive), whatever else it says
FORBIDDEN_PARTS = ("python", "shell", "getenv", "include", "mliappy", "kim_")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def number(value: Any, what: str) -> float:
    """``value`` as a finite float, or a ConfigError naming ``what``.

    Only real numbers pass (Python or numpy ints and floats; numpy registers its scalar
    types as ``numbers.Real``), never strings, so no text reaches the script this way.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{what} must be a number, got {_show(value)} ({type(value).__name__})")
    x = float(value)
    if not math.isfinite(x):
        raise ConfigError(f"{what} must be a finite number, got {x!r}")
    return x


def fmt(x: float) -> str:
    """A float as LAMMPS reads it back bit for bit (``%.17g``); the caller checked it."""
    return "%.17g" % x


def element(value: Any, what: str = "element") -> str:
    """A chemical element symbol such as ``Cu``; anything else is a ConfigError."""
    if not isinstance(value, str) or not ELEMENT_RE.match(value):
        raise ConfigError(
            f"{what} {_show(value)} is not an element symbol (one capital letter, optionally "
            f"one lower-case letter, e.g. 'Cu')"
        )
    if value not in ATOMIC_NUMBER:
        raise ConfigError(f"{what} {value!r} is not a chemical element")
    return value


def elements(values: Iterable[Any], what: str = "element") -> tuple[str, ...]:
    return tuple(element(v, what) for v in values)


def filename(value: Any, what: str) -> str:
    """A file name or path made of letters, digits and ``._/-`` only."""
    if not isinstance(value, str) or not value or not FILENAME_RE.match(value):
        raise ConfigError(
            f"{what} {_show(value)} is not an accepted file name: use only letters, digits "
            f"and . _ / - (no spaces, quotes, $ or ;); link or copy the file to such a path"
        )
    return value


def tokens(value: Any, what: str) -> list[str]:
    """Split pass-through LAMMPS text into checked tokens.

    Accepts one string (split on spaces and tabs) or a sequence of strings. Every token
    must match ``TOKEN_RE`` and be no command word; a newline, ``;``, ``$``, ``&``, ``#``,
    a quote or any other character outside the pattern is refused.
    """
    if isinstance(value, str):
        if "\n" in value or "\r" in value:
            raise ConfigError(f"{what} {_show(value)} contains a line break; give one line")
        parts = value.replace("\t", " ").split(" ")
        parts = [p for p in parts if p]
    elif isinstance(value, Sequence) and all(isinstance(p, str) for p in value):
        parts = list(value)
    else:
        raise ConfigError(f"{what} must be a string, got {_show(value)}")
    if not parts:
        raise ConfigError(f"{what} is empty")
    for tok in parts:
        if not TOKEN_RE.match(tok):
            bad = sorted({c for c in tok if not re.match(r"[A-Za-z0-9_.+*/-]", c)})
            raise ConfigError(
                f"{what}: token {_show(tok)} contains {', '.join(map(repr, bad))}; pair_style and "
                f"pair_coeff tokens may use only letters, digits and _ . + * / -"
            )
        low = tok.lower()
        if low in FORBIDDEN_TOKENS or any(part in low for part in FORBIDDEN_PARTS):
            raise ConfigError(
                f"{what}: token {tok!r} is not allowed (LAMMPS commands, Python, shell, "
                f"files and environment access cannot be passed through)"
            )
    return parts
