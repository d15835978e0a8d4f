"""The rules for every value that reaches a LAMMPS input, and the last check of the input
itself before ``lmp`` reads it. This module is the one place those rules live.

Why: LAMMPS input is a small programming language. ``shell`` runs programs; ``include``,
``python``, ``plugin`` and ``variable ... getenv/python`` read or run things; ``info ... out``,
``print ... file``, ``log``, ``write_*``, ``pair_write`` and ``dump`` write files; ``$``
substitutes variables, ``&`` continues a line, quotes and ``#`` change how a line is split,
and a line break (for LAMMPS: ``\\n``; for other readers also ``\\r``, ``\\v``, ``\\f``,
U+0085, U+2028, U+2029) starts a new command. Options, contexts (possibly unpickled from
elsewhere) and model outputs are not trusted, so none of them reaches the script as
``str()`` of a user object.

The rules
---------
1. **Characters.** Every string is copied to a plain ``str`` (a subclass cannot override
   how it prints) and must be printable ASCII: no control character of any kind (``\\n``,
   ``\\r``, ``\\t`` inside a token, ``\\v``, ``\\f``, NUL, ...), no line or paragraph
   separator (U+0085, U+2028, U+2029), no invisible format character (Unicode categories
   Cc, Cf, Zl, Zp), no non-ASCII character (look-alikes such as Cyrillic ``С``). Patterns
   are ASCII-only (``[0-9]``, never ``\\d``) and always ``fullmatch`` the whole value
   (``$`` would match before a final newline). This holds for every form a value takes:
   a string, each member of a list or tuple, each line of a list of lines, dict keys and
   values, and symbols of any context.
2. **Shapes (allow-list).** A value must have the shape its place needs:
   numbers are ``int``/``float``/numpy reals, finite, written by zoo as ``%.17g`` (never a
   string); element symbols match ``[A-Z][a-z]?`` and name a real element; file names use
   only ``A-Z a-z 0-9 . _ / -``, at most 255 characters per component and 4096 in all, and
   appear in the script only as a link in the run's own folder (``pot<N>_<name>``, see
   :func:`link_name`), never by the path given. A pass-through ``pair_style`` /
   ``pair_coeff`` token (a string is split on spaces and tabs only) is a number
   (``-1.5e-3``), a type wildcard (``*``, ``1*3``, ``*2``), a name
   (``[A-Za-z_][A-Za-z0-9_-]*``: keywords, element symbols, table names), a style name
   (names joined by ``/``: ``lj/cut``), or a path that must name an existing file (it is
   linked as above).
3. **Words (deny-list).** No name or style token, nor any ``/`` part of a style, may be
   a LAMMPS command or an I/O keyword (:data:`COMMAND_WORDS`: ``shell``, ``info``,
   ``print``, ``log``, ``include``, ``jump``, ``python``, ``fix``, ``dump``, ``restart``,
   ``plugin``, ``variable``, ``next``, ``label``, ``out``, ``file``, ``append``,
   ``screen``, ...), start with ``write_``, ``read_``, ``kim_`` or ``out_``, or end with
   ``_write`` (``pair_write``), and none may contain ``python``, ``shell``, ``getenv``,
   ``geturl``, ``include`` or ``mliappy`` (case-insensitive). A path is exempt: it never
   reaches the script, and its link name obeys these rules (else it is ``pot<N>_file``).
4. **The script (defence in depth).** Just before ``lmp`` starts, and before a persistent
   session (:mod:`zoo_lammps.session`) is sent a batch, :func:`check_script` checks every
   line of the input: it is one of zoo's own fixed lines
   (:data:`FIXED_LINES`, :data:`FIXED_PATTERNS`: the only lines that may hold quotes,
   ``%``, ``print``, ``dump`` or ``rerun``), or a ``pair_style`` / ``pair_coeff`` line
   whose every token obeys rules 1-3, files appearing only as link names. Data files
   hold only numbers and zoo's header words (:func:`check_numbers`); dump snapshots are
   numbers written by zoo (:func:`atom_prefix`).

A violation raises :class:`zoo.ConfigError` naming the value (escaped with ``ascii()``,
so the message stays one line) and why; ``lmp`` is never started.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from typing import Any


from zoo import ConfigError
from zoo_atomistic.elements import ATOMIC_NUMBER

MAX_PATH = 4096
MAX_NAME = 255

ELEMENT_RE = re.compile(r"[A-Z][a-z]?", re.ASCII)
FILENAME_RE = re.compile(r"[A-Za-z0-9._/-]+", re.ASCII)
#: characters a pass-through token may hold at all
TOKEN_CHARS_RE = re.compile(r"[A-Za-z0-9_.+*/-]+", re.ASCII)
NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
WILDCARD_RE = re.compile(r"\*|[0-9]+\*[0-9]*|\*[0-9]+", re.ASCII)
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*", re.ASCII)
STYLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:/[A-Za-z0-9_-]+)+", re.ASCII)
#: a potential file as the script names it: linked into the run folder by zoo
LINK_RE = re.compile(r"pot[0-9]+_[A-Za-z0-9_.-]+", re.ASCII)
#: a safe base for a link name (the real file's name, if it is this plain)
LINK_BASE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", re.ASCII)

#: LAMMPS commands and keywords that run, read or write something (case-insensitive);
#: no name or style token may be one of them
COMMAND_WORDS = frozenset(
    """shell include python plugin variable getenv geturl fix fix_modify unfix compute
    uncompute compute_modify run rerun minimize print jump label next loop if quit clear
    log echo info restart dump dump_modify undump partition message mdi server kim
    mliappy unified pytorch quip atomfile file internal out out_file overwrite append
    screen universe""".split()
)
#: word beginnings and endings that mark a command or output keyword (``write_data``,
#: ``read_restart``, ``kim_query``, ``out_freq``, ``pair_write``, ``bond_write``)
COMMAND_PREFIXES = ("write_", "read_", "kim_", "out_")
COMMAND_SUFFIXES = ("_write",)
#: substrings no token may contain (case-insensitive), whatever else it says
FORBIDDEN_PARTS = ("python", "shell", "getenv", "geturl", "include", "mliappy")

#: the lines of the input zoo writes with no user value in them
FIXED_LINES = frozenset(
    [
        "clear",
        "units metal",
        "atom_style atomic",
        "atom_modify map array sort 0 0.0",
        "boundary p p p",
        "pair_modify shift yes",
        "neighbor 0.0 bin",
        "neigh_modify one 10000 page 100000",
        "thermo_style custom step pe pxx pyy pzz pyz pxz pxy",
        'thermo_modify norm no format float %.17g format 1 "ZOO_ROW %ld" flush yes',
        "thermo 1",
        "dump_modify zf format float %.17g sort id",
        # a session closes its forces dump before it opens the next batch's
        "undump zf",
        'print "ZOO_DONE"',
    ]
)
#: zoo's lines that name its own files or sections by number
FIXED_PATTERNS = tuple(
    re.compile(p, re.ASCII)
    for p in (
        r"read_data zoo[0-9]+\.data",
        r"dump zf all custom 1 zoo[0-9]+\.forces fx fy fz",
        r'print "ZOO_READY [0-9]+"',
        # the end of a session's batch n (zoo_lammps.session)
        r'print "ZOO_DONE [0-9]+"',
        r"rerun rows[0-9]+_[0-9]+\.dump dump x y z box yes purge yes replace no add keep",
    )
)
#: the commands whose arguments come (checked) from options: every token obeys rules 1-3
OPEN_COMMANDS = frozenset({"pair_style", "pair_coeff"})

#: the common open line, all numbers and wildcards (the per-row pair_coeff): one match
_NUMERIC_LINE_RE = re.compile(
    rf"pair_coeff(?: (?:{NUMBER_RE.pattern}|{WILDCARD_RE.pattern}))+", re.ASCII
)

_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def show(value: Any) -> str:
    """A value for an error message: ``ascii()`` (one line, every odd character escaped),
    cut to 80 characters."""
    text = ascii(value)
    return text if len(text) <= 80 else f"{text[:70]}... ({len(value) if isinstance(value, str) else '?'} characters)"


def describe(ch: str) -> str:
    """What a refused character is, for an error message."""
    code = f"U+{ord(ch):04X}"
    if ch in _LINE_BREAKS:
        return f"a line break ({code})"
    category = unicodedata.category(ch)
    if category == "Cc":
        return f"a control character ({code})"
    if category in ("Cf", "Zl", "Zp", "Zs") and ch != " ":
        return f"an invisible or separator character ({code} {unicodedata.name(ch, category)})"
    if ord(ch) > 127:
        return f"a non-ASCII character ({code} {unicodedata.name(ch, category)})"
    return repr(ch)


def _bad_chars(text: str, allowed: re.Pattern) -> str:
    """The characters of ``text`` outside ``allowed`` (a one-character class), described."""
    bad = [c for c in dict.fromkeys(text) if not allowed.fullmatch(c)]
    return ", ".join(describe(c) for c in bad[:5])


_PRINTABLE = re.compile(r"[ -~]", re.ASCII)
_PRINTABLE_LINE = re.compile(r"[ -~]*", re.ASCII)
_TOKEN_CHAR = re.compile(r"[A-Za-z0-9_.+*/-]", re.ASCII)
_FILENAME_CHAR = re.compile(r"[A-Za-z0-9._/-]", re.ASCII)


def plain(value: Any, what: str) -> str:
    """``value`` as an exact ``str`` (a str subclass cannot change how it prints later)."""
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string, got {show(value)} ({type(value).__name__})")
    return value if type(value) is str else str.__str__(value)


# ------------------------------------------------------------------ numbers

def number(value: Any, what: str) -> float:
    """``value`` as a finite float, or a ConfigError naming ``what``.

    Only real numbers pass (Python or numpy ints and floats; numpy registers its scalar
    types as ``numbers.Real``), never strings, so no text reaches the script this way.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{what} must be a number, got {show(value)} ({type(value).__name__})")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{what} must be a number, got {show(value)} ({type(value).__name__})") from None
    if not math.isfinite(x):
        raise ConfigError(f"{what} must be a finite number, got {x!r}")
    return x


def fmt(x: float) -> str:
    """A float as LAMMPS reads it back bit for bit (``%.17g``); the caller checked it."""
    return "%.17g" % x


# ------------------------------------------------------------------ element symbols

def element(value: Any, what: str = "element") -> str:
    """A chemical element symbol such as ``Cu``; anything else is a ConfigError."""
    text = plain(value, what) if isinstance(value, str) else None
    if text is None or not ELEMENT_RE.fullmatch(text):
        bad = _bad_chars(text, _PRINTABLE) if text is not None else ""
        raise ConfigError(
            f"{what} {show(value)} is not an element symbol (one capital letter, optionally "
            f"one lower-case letter, e.g. 'Cu')" + (f"; it contains {bad}" if bad else "")
        )
    if text not in ATOMIC_NUMBER:
        raise ConfigError(f"{what} {text!r} is not a chemical element")
    return text


def elements(values: Iterable[Any], what: str = "element") -> tuple[str, ...]:
    """Every value an element symbol, as plain ``str`` copies; each distinct one is
    checked once (a structure repeats few symbols many times)."""
    if isinstance(values, (str, bytes)):
        raise ConfigError(f"{what}: give a list of element symbols, got {show(values)}")
    try:
        items = list(values)
    except TypeError:
        raise ConfigError(f"{what}: give a list of element symbols, got {show(values)}") from None
    out = tuple(plain(v, what) if isinstance(v, str) else element(v, what) for v in items)
    for v in dict.fromkeys(out):
        element(v, what)
    return out


# ------------------------------------------------------------------ file names

def filename(value: Any, what: str) -> str:
    """A file name or path made of letters, digits and ``._/-`` only, of sane length."""
    text = plain(value, what) if isinstance(value, str) else None
    if text is None or not text or not FILENAME_RE.fullmatch(text):
        bad = _bad_chars(text, _FILENAME_CHAR) if text else ""
        raise ConfigError(
            f"{what} {show(value)} is not an accepted file name: use only letters, digits "
            f"and . _ / - (no spaces, quotes, $ or ;){'; it contains ' + bad if bad else ''}; "
            f"link or copy the file to such a path"
        )
    longest = max(len(part) for part in text.split("/"))
    if len(text) > MAX_PATH or longest > MAX_NAME:
        raise ConfigError(
            f"{what} file name {show(text)} is too long ({len(text)} characters, longest "
            f"component {longest}; at most {MAX_PATH} in all and {MAX_NAME} per folder or file name)"
        )
    return text


def link_name(index: int, name: str) -> str:
    """The name a potential file gets in the run folder: ``pot<index>_<name>``, with
    ``name`` replaced by ``file`` unless the result is plain and passes the script check."""
    linked = f"pot{int(index)}_{name}"
    if LINK_BASE_RE.fullmatch(name) and _token_problem(linked, in_script=True) is None:
        return linked
    return f"pot{int(index)}_file"


# ------------------------------------------------------------------ pass-through tokens

def _forbidden_part(tok: str) -> str | None:
    low = tok.lower()
    return next((part for part in FORBIDDEN_PARTS if part in low), None)


def _forbidden_word(tok: str) -> str | None:
    """The command word ``tok`` is, contains as a style component, or contains."""
    part = _forbidden_part(tok)
    if part:
        return part
    for word in tok.lower().split("/"):
        if word in COMMAND_WORDS or word.startswith(COMMAND_PREFIXES) or word.endswith(COMMAND_SUFFIXES):
            return word
    return None


def is_path(tok: str) -> bool:
    """A checked token that names a file: it has a ``.`` or ``/`` and is no number or
    style name. It must name an existing file, which is linked, never written as given."""
    return ("." in tok or "/" in tok) and not NUMBER_RE.fullmatch(tok) and not STYLE_RE.fullmatch(tok)


def _token_problem(tok: str, in_script: bool) -> str | None:
    """Why ``tok`` may not be a pass-through token (None if it may). ``in_script``: the
    token is in the final script, where files appear only as link names."""
    if not tok:
        return "is empty"
    if len(tok) > MAX_PATH:
        return f"is {len(tok)} characters long (at most {MAX_PATH})"
    if not TOKEN_CHARS_RE.fullmatch(tok):
        return (f"contains {_bad_chars(tok, _TOKEN_CHAR)}; pair_style and pair_coeff tokens may "
                f"use only letters, digits and _ . + * / -")
    if NUMBER_RE.fullmatch(tok) or WILDCARD_RE.fullmatch(tok):
        return None
    if NAME_RE.fullmatch(tok) or STYLE_RE.fullmatch(tok):
        word = _forbidden_word(tok)
        if word:
            return (f"is not allowed ({word!r}: LAMMPS commands, Python, shell, files and "
                    f"environment access cannot be passed through)")
        return None
    if in_script:
        if LINK_RE.fullmatch(tok) and not _forbidden_part(tok):
            return None
        return "is no number, wildcard, name, style name or linked file"
    if not FILENAME_RE.fullmatch(tok):
        return "is no number (e.g. -1.5e-3), type wildcard (*, 1*3), name, style name (lj/cut) or file path"
    return None


def token(value: Any, what: str) -> str:
    """One pass-through token (rules 1-3), as a plain str."""
    tok = plain(value, f"{what} token")
    why = _token_problem(tok, in_script=False)
    if why:
        raise ConfigError(f"{what}: token {show(tok)} {why}")
    if is_path(tok):
        filename(tok, f"{what} file")
    return tok


def tokens(value: Any, what: str) -> list[str]:
    """Split pass-through LAMMPS text into checked tokens.

    Accepts one string (split on spaces and tabs only, never on other whitespace, so a
    line break stays inside a token and is refused) or a list/tuple of strings. Every
    token must pass :func:`token`.
    """
    if isinstance(value, str):
        text = plain(value, what)
        bad = _bad_chars(text.replace("\t", " "), _PRINTABLE)
        if bad:
            raise ConfigError(f"{what} {show(text)} contains {bad}; give one line of printable ASCII")
        parts = [p for p in re.split(r"[ \t]+", text) if p]
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        parts = list(value)
        nested = next((p for p in parts if not isinstance(p, str)), None)
        if nested is not None:
            raise ConfigError(
                f"{what}: {show(nested)} is not a string; give a string or a list of strings "
                f"(pair_coeff: a list of such lines)"
            )
    else:
        raise ConfigError(f"{what} must be a string or a list of strings, got {show(value)}")
    if not parts:
        raise ConfigError(f"{what} is empty")
    return [token(p, what) for p in parts]


# ------------------------------------------------------------------ the files lmp reads

def check_script(text: str) -> None:
    """Refuse (ConfigError) any LAMMPS input that is not made of zoo's own lines.

    Every line (split on ``\\n`` only; any other line break is a refused character) is
    empty, one of :data:`FIXED_LINES`, matches one of :data:`FIXED_PATTERNS`, or is a
    ``pair_style``/``pair_coeff`` line of single-space-separated tokens that obey rules
    1-3, files appearing only as link names. Call it on every command before LAMMPS sees
    it: on a whole script before ``lmp -in``, or per line fed to a running LAMMPS.
    """
    text = plain(text, "LAMMPS input")
    for number_, line in enumerate(text.split("\n"), 1):
        why = _line_problem(line)
        if why:
            raise ConfigError(
                f"LAMMPS input line {number_} {show(line)} refused before LAMMPS read it: {why}"
            )


def _line_problem(line: str) -> str | None:
    if not line or _NUMERIC_LINE_RE.fullmatch(line):
        return None
    if not _PRINTABLE_LINE.fullmatch(line):
        return f"it contains {_bad_chars(line, _PRINTABLE)}"
    if line in FIXED_LINES or any(p.fullmatch(line) for p in FIXED_PATTERNS):
        return None
    command, *args = line.split(" ")
    if command not in OPEN_COMMANDS:
        return (f"{command!r} is not a command zoo writes with these arguments (zoo's own lines "
                f"are fixed; only {' and '.join(sorted(OPEN_COMMANDS))} take checked tokens)")
    if not args:
        return "it has no arguments"
    for tok in args:
        why = _token_problem(tok, in_script=True)
        if why:
            return f"token {show(tok)} {why}"
    return None


def check_numbers(text: str, words: Collection[str], what: str) -> None:
    """Refuse a data file unless each line is empty, or numbers followed by nothing or
    by one of ``words`` (zoo's own header words, e.g. ``atom types``, ``xlo xhi``)."""
    for number_, line in enumerate(plain(text, what).split("\n"), 1):
        parts = line.split(" ")
        k = 0
        while k < len(parts) and NUMBER_RE.fullmatch(parts[k]):
            k += 1
        rest = " ".join(parts[k:])
        if rest and rest not in words:
            raise ConfigError(f"{what} line {number_} {show(line)} is not numbers and zoo's own headers")


_PREFIX_RE = re.compile(r"[0-9]+ [0-9]+ ", re.ASCII)


def atom_prefix(prefix: Sequence[str]) -> None:
    """Check the ``"id type "`` starts of a structure's dump lines (numbers only)."""
    for p in prefix:
        if not isinstance(p, str) or not _PREFIX_RE.fullmatch(p):
            raise ConfigError(f"atom line start {show(p)} is not 'id type '")
