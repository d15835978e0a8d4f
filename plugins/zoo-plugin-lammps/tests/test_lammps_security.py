"""Nothing a user, a model or a context controls can add a command to the LAMMPS input.

The rules are stated in :mod:`zoo_lammps.safety`. Each payload below makes LAMMPS write a
file (the canary) or run a program when it reaches the script: ``test_payloads_are_live``
shows that on the real ``lmp``, so the other tests could fail. Then every way found to
smuggle a payload in (a line break of any kind inside a string, a list token, a nested
pair_coeff list, a pair_style list; command words without a line break; look-alike
characters; file names; element symbols from options, contexts and pickles; options
changed after construction; a script changed before lmp starts) is refused with a one-line
zoo error that names the value and why, and no canary appears.
"""

from __future__ import annotations

import copy
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import ConfigError, SKSError, ZooError
from zoo_lammps import Structure, runner, safety, script
from zoo_lammps.geometry import lammps_frames
from zoo_lammps.pairs import pair_model
from zoo_lammps.session import Session

ZOO = str(Path(sys.executable).with_name("zoo"))

#: stands for the absolute path of the canary file of each test
CANARY = "CANARY"

#: LAMMPS commands that write the file CANARY (each shown live on the real lmp below)
PAYLOADS = {
    "info": "info system out overwrite CANARY",
    "print-file": "print hello file CANARY",
    "print-append": "print hello append CANARY",
    "write_data": "write_data CANARY",
    "log": "log CANARY",
    "shell": "shell touch CANARY",
    "pair_write": "pair_write 1 1 10 r 1.0 5.0 CANARY LJ",
    "write_dump": "write_dump all atom CANARY",
    "write_restart": "write_restart CANARY",
    "write_coeff": "write_coeff CANARY",
}

#: characters that end a line for some reader, control a terminal, or are invisible
SEPARATORS = ["\n", "\r", "\v", "\f", "\x85", "\u2028", "\u2029", "\x00", "\x1e", "\x1b", "\t",
              "\u200b", "\ufeff", "\u00a0"]


def fill(value, canary: Path):
    """``value`` with CANARY replaced by the canary's path, in every nested string."""
    if isinstance(value, str):
        return value.replace(CANARY, str(canary))
    if isinstance(value, (list, tuple)):
        return type(value)(fill(v, canary) for v in value)
    if isinstance(value, dict):
        return {fill(k, canary): fill(v, canary) for k, v in value.items()}
    return value


@pytest.fixture
def canary(tmp_path, monkeypatch):
    """A file that an injected command would create (payloads name it by absolute path;
    the working directory is here too, for relative ones)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "an injected command ran"


def one_line(error: BaseException) -> str:
    msg = str(error)
    assert "\n" not in msg and "\r" not in msg, msg
    return msg


def refused(options: dict, canary: Path, error: type = ConfigError) -> str:
    """Building the SKS from ``options`` (CANARY filled in) fails with a one-line error."""
    with pytest.raises(error) as info:
        zoo.knowledge_source("lammps", **fill(options, canary))
    return one_line(info.value)


@pytest.fixture(scope="module")
def argon4():
    return Structure(np.eye(3) * 5.3, [[0, 0, 0], [0, 2.65, 2.65], [2.65, 0, 2.65], [2.65, 2.65, 0]], ("Ar",) * 4)


def lj_script(folder: Path) -> str:
    """zoo's own script (lj/cut, two Ar atoms), written by the real script writer."""
    model = pair_model("lj/cut 5.0", None, ["* * 0.0104 3.4"], {}, None, None, True, ())
    frames, ok = lammps_frames(np.eye(3)[None] * 5.3, np.array([[[0, 0, 0], [2.65, 2.65, 0]]], float))
    row = script.RowJob(0, frames[0], ["1 1 ", "2 1 "], None, ("Ar",))
    name, _ = script.write(folder, [(("Ar",), [row])], model, forces=False)
    return (folder / name).read_text()


# ------------------------------------------------------------------ the payloads are live

@pytest.mark.parametrize("name", PAYLOADS)
def test_payloads_are_live(tmp_path, name):
    """Appended to a zoo script and given to the real lmp directly (no check), each payload
    writes the canary: so a check that let it through would fail the tests below. The
    line check refuses that very script."""
    canary = tmp_path / "PWNED"
    text = lj_script(tmp_path) + fill(PAYLOADS[name], canary) + "\n"
    (tmp_path / "in.evil").write_text(text)
    exe = runner.find_lmp(None)
    subprocess.run([exe.path, "-nocite", "-log", "none", "-echo", "none", "-in", "in.evil"],
                   cwd=tmp_path, env=exe.env(), capture_output=True, timeout=120)
    assert canary.exists(), f"payload {name} did not write the canary; the attack tests would prove nothing"
    with pytest.raises(ConfigError, match="refused before LAMMPS read it") as info:
        safety.check_script(text)
    assert PAYLOADS[name].split()[0] in one_line(info.value)


@pytest.mark.parametrize("name", ["info", "shell", "pair_write"])
def test_runner_never_starts_lmp_on_a_tampered_script(canary, tmp_path, name):
    """A script changed after zoo wrote it: runner.run reads it back, refuses it, and
    lmp is never started (it would write lammps.out)."""
    text = lj_script(tmp_path) + fill(PAYLOADS[name], canary) + "\n"
    (tmp_path / "in.zoo").write_text(text)
    with pytest.raises(ConfigError, match="refused before LAMMPS read it"):
        runner.run(runner.find_lmp(None), tmp_path, "in.zoo", 60.0)
    assert not (tmp_path / "lammps.out").exists()


def session_with_lj(folder: Path):
    """A live session (the real lmp reading its stdin) and zoo's own commands for one
    lj/cut batch of two Ar atoms, written by the real planner into the session's folder."""
    model = pair_model("lj/cut 5.0", None, ["* * 0.0104 3.4"], {}, None, None, True, ())
    frames, ok = lammps_frames(np.eye(3)[None] * 5.3, np.array([[[0, 0, 0], [2.65, 2.65, 0]]], float))
    row = script.RowJob(0, frames[0], ["1 1 ", "2 1 "], None, ("Ar",))
    session = Session(runner.find_lmp(None), str(folder))
    plan = script.plan(session.folder, [(("Ar",), [row])], model, False, session.links)
    return session, plan.lines


@pytest.mark.parametrize("name", ["info", "shell", "print-file", "write_data"])
def test_a_session_runs_what_reaches_its_stdin(tmp_path, name):
    """Commands written straight to a session's stdin (no check) run: so the check of
    every batch below stands between a payload and LAMMPS."""
    canary = tmp_path / "PWNED"
    session, lines = session_with_lj(tmp_path)
    try:
        session.proc.stdin.write(("\n".join([*lines, fill(PAYLOADS[name], canary), 'print "ZOO_DONE 9"']) + "\n").encode())
        session.proc.stdin.flush()
        deadline = time.monotonic() + 60
        while not canary.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert canary.exists(), f"payload {name} did not run in the session; the test below would prove nothing"
    finally:
        session.close()


@pytest.mark.parametrize("name", PAYLOADS)
def test_a_session_never_sends_a_batch_with_a_refused_line(canary, tmp_path, name):
    """A batch with one line zoo does not write is refused whole: not one of its lines
    reaches LAMMPS, the session lives on, and its next batch runs as if nothing happened."""
    session, lines = session_with_lj(tmp_path)
    try:
        with pytest.raises(ConfigError, match="refused before LAMMPS read it") as info:
            session.run([*lines, fill(PAYLOADS[name], canary)], timeout=60)
        one_line(info.value)
        assert session.alive
        result = session.run(lines, timeout=60)
        assert result.returncode is None and not result.timed_out
        assert "ZOO_ROW 0 " in result.output and "ERROR" not in result.output
        assert result.output.count("ZOO_ROW 0 ") == 1  # the refused batch computed nothing
    finally:
        session.close()


# ------------------------------------------------------------------ the reviewer's attacks

REVIEWER_COEFF = [["*", "*", "0.4", "2.3\n", "info", "system", "out", "overwrite", CANARY]]
REVIEWER_ELEMENTS = ["Ag", "Au", "Cu", "Ni", "Pd", "Pt"]


def test_reviewer_attack_nested_pair_coeff_list(canary):
    msg = refused({"pair_style": "lj/cut 5.0", "pair_coeff": REVIEWER_COEFF, "elements": REVIEWER_ELEMENTS}, canary)
    assert "pair_coeff: token '2.3\\n' contains a line break (U+000A)" in msg


def test_reviewer_attack_pair_style_list(canary):
    style = ["lj/cut", "5.0\n", "info", "system", "out", "overwrite", CANARY]
    msg = refused({"pair_style": style, "pair_coeff": "* * 0.4 2.3", "elements": REVIEWER_ELEMENTS}, canary)
    assert "pair_style: token '5.0\\n' contains a line break (U+000A)" in msg


@pytest.mark.parametrize("style", ["lj/cut 5.0", ["lj/cut", "5.0\n", "info", "system", "out", "overwrite", CANARY]],
                         ids=["pair_coeff", "pair_style"])
def test_reviewer_command_through_the_real_cli(tmp_path, style):
    """The reviewer's exact ``zoo run`` command, in a real process: exit code 2, one
    ``Error:`` line, no canary. (Option values are TOML, as the shell passes them.)"""
    canary = tmp_path / "PWNED"

    def toml(value) -> str:
        if isinstance(value, str):
            return '"' + value.replace("\n", "\\n") + '"'
        return "[" + ",".join(toml(v) for v in value) + "]"

    style_option = style if isinstance(style, str) else toml(fill(style, canary))
    proc = subprocess.run(
        [ZOO, "run", "--sks", "lammps", "--steps", "3", "--out", str(tmp_path / "linj"),
         "--sks-option", f"pair_style={style_option}",
         "--sks-option", f"pair_coeff={toml(fill(REVIEWER_COEFF, canary))}",
         "--sks-option", f"elements={toml(REVIEWER_ELEMENTS)}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "contains a line break (U+000A)" in lines[0] and "Traceback" not in proc.stderr
    assert not canary.exists()


# ------------------------------------------------------------------ line breaks of any kind

def _with_separator(sep: str) -> list[tuple[str, dict]]:
    words = PAYLOADS["info"].split()
    forms = [
        ("coeff-nested", {"pair_style": "lj/cut 5.0", "pair_coeff": [["*", "*", "0.4", "2.3" + sep, *words]],
                          "elements": ["Ar"]}),
        ("style-list", {"pair_style": ["lj/cut", "5.0" + sep, *words], "pair_coeff": "* * 0.4 2.3", "elements": ["Ar"]}),
        ("potential", {"pair_style": "eam", "potential": "Cu_u3.eam" + sep + PAYLOADS["info"]}),
        ("potential-dict-value", {"pair_style": "eam", "potential": {"Cu": "Cu_u3.eam" + sep}}),
        ("potential-list", {"pair_style": "eam", "potential": ["Cu_u3.eam", sep + "Ag_u3.eam"]}),
        ("setfl", {"pair_style": "eam/alloy", "potential": "CuNi.eam.alloy" + sep}),
    ]
    if sep != "\t":  # a tab separates tokens in a one-string value (tested with words below)
        forms.append(("coeff-string", {"pair_style": "lj/cut 5.0", "pair_coeff": "* * 0.4 2.3" + sep + PAYLOADS["info"],
                                       "elements": ["Ar"]}))
        forms.append(("coeff-lines", {"pair_style": "lj/cut 5.0", "elements": ["Ar"],
                                      "pair_coeff": ["* * 0.4 2.3", "1 1 0.4 2.3" + sep + PAYLOADS["info"]]}))
        forms.append(("style-string", {"pair_style": "lj/cut 5.0" + sep + PAYLOADS["info"], "pair_coeff": "* * 0.4 2.3",
                                       "elements": ["Ar"]}))
    return forms


SEPARATOR_ATTACKS = [(sep, name, options) for sep in SEPARATORS for name, options in _with_separator(sep)]


@pytest.mark.parametrize("sep,form,options", SEPARATOR_ATTACKS,
                         ids=[f"U+{ord(s):04X}-{f}" for s, f, _ in SEPARATOR_ATTACKS])
def test_line_breaks_and_invisible_characters_are_refused_in_every_form(canary, sep, form, options):
    msg = refused(options, canary)
    assert f"U+{ord(sep):04X}" in msg, msg  # names the character
    assert ascii(sep)[1:-1] in msg, msg  # and shows the value with it escaped


@pytest.mark.parametrize("sep", SEPARATORS, ids=[f"U+{ord(s):04X}" for s in SEPARATORS])
def test_element_symbols_with_odd_characters_are_refused(canary, sep):
    for options in ({"elements": ["Cu", "Ni" + sep]}, {"pair_style": "eam", "potential": {"Cu" + sep: "Cu_u3.eam"}}):
        msg = refused(options, canary)
        assert "element symbol" in msg and f"U+{ord(sep):04X}" in msg, msg


# ------------------------------------------------------------------ command words, no line break

WORD_ATTACKS = [(name, form) for name in PAYLOADS for form in ("coeff-string", "coeff-list", "style-list")]


@pytest.mark.parametrize("name,form", WORD_ATTACKS, ids=[f"{n}-{f}" for n, f in WORD_ATTACKS])
def test_command_words_are_refused_as_tokens(canary, name, form):
    """Without a line break a token cannot start a command, but a command or output
    keyword is refused anyway wherever it could be read as one."""
    words = PAYLOADS[name].split()
    options = {
        "coeff-string": {"pair_style": "lj/cut 5.0", "pair_coeff": "* * 0.4 2.3 " + PAYLOADS[name]},
        "coeff-list": {"pair_style": "lj/cut 5.0", "pair_coeff": [["*", "*", "0.4", "2.3", *words]]},
        "style-list": {"pair_style": ["lj/cut", "5.0", *words], "pair_coeff": "* * 0.4 2.3"},
    }[form]
    msg = refused({**options, "elements": ["Ar"]}, canary)
    assert f"token {words[0]!r} is not allowed" in msg, msg


MORE_ATTACKS = [
    # command and I/O words in pass-through tokens (deny-list), each in one token
    *[({"pair_style": "lj/cut 5.0", "pair_coeff": f"* * 0.4 2.3 {word}", "elements": ["Ar"]}, f"{word!r}")
      for word in ["include", "jump", "python", "fix", "dump", "restart", "plugin", "variable", "next",
                   "label", "log", "print", "info", "shell", "read_restart", "write_coeff", "bond_write",
                   "out", "file", "append", "screen", "out_file", "unified", "kim_query", "geturl", "Info",
                   "SHELL"]],
    ({"pair_style": "python/x 2.5", "pair_coeff": "* * 1 1", "elements": ["Ar"]}, "'python'"),
    ({"pair_style": "lj/cut 5.0", "pair_coeff": "* * 0.4\t2.3\tinfo system", "elements": ["Ar"]}, "'info'"),
    # look-alikes and other non-ASCII characters
    ({"pair_style": "lj/cut 5.0", "pair_coeff": "* * 0.4 2.3 \uff53hell", "elements": ["Ar"]}, "U+FF53"),
    ({"pair_style": "lj/cut 5.0", "pair_coeff": "* * 0.4 2.3 \u0455hell", "elements": ["Ar"]}, "U+0455"),
    ({"pair_style": "lj/cut 5.0", "pair_coeff": "* * 0.4 \u0662.3", "elements": ["Ar"]}, "U+0662"),
    ({"elements": ["\u0421u"]}, "CYRILLIC CAPITAL LETTER ES"),
    ({"elements": ["Cu\n"]}, "element symbol"),
    ({"elements": "Cu"}, "give a list"),
    ({"elements": [["Cu"]]}, "element symbol"),
    # shapes that are no number, wildcard, name, style or file
    ({"pair_style": "lj/cut 5.0", "pair_coeff": "* * 0.4 2.3 +", "elements": ["Ar"]}, "is no number"),
    ({"pair_style": "lj/cut 5.0", "pair_coeff": [[["*", "*"]]], "elements": ["Ar"]}, "is not a string"),
    ({"pair_style": "lj/cut 5.0", "pair_coeff": {"*": "*"}, "elements": ["Ar"]}, "a line or a list of lines"),
    ({"pair_style": "lj/cut 5.0", "pair_coeff": [["*", "*", 0.4, 2.3]], "elements": ["Ar"]}, "is not a string"),
    ({"pair_style": b"lj/cut 5.0", "pair_coeff": "* * 1 1", "elements": ["Ar"]}, "must be a string"),
    # a path-shaped token must name an existing file (it is then linked, never written)
    ({"pair_style": "lj/cut 5.0", "pair_coeff": "* * 0.4 2.3 CANARY", "elements": ["Ar"]}, "not found"),
    ({"pair_style": "table linear 100", "pair_coeff": "* * out.table LJ 5.0", "elements": ["Ar"]}, "not found"),
    # file names: length, characters, types
    ({"pair_style": "eam", "potential": "a" * 5000}, "too long (5000 characters"),
    ({"pair_style": "eam", "potential": "/tmp/" + "b" * 300 + "/Cu_u3.eam"}, "255 per folder or file name"),
    ({"pair_style": "eam/alloy", "potential": "c" * 5000 + ".eam.alloy"}, "too long"),
    ({"pair_style": "table linear 100", "pair_coeff": "* * /tmp/" + "d" * 300 + ".table LJ 5.0", "elements": ["Ar"]},
     "too long"),
    ({"pair_style": "lj/cut 5.0", "pair_coeff": "* * " + "e" * 5000, "elements": ["Ar"]}, "5000 characters long"),
    ({"pair_style": "eam", "potential": 42}, "potential must be"),
    ({"pair_style": "eam", "potential": {"Cu": 42}}, "42 is not an accepted file name"),
    ({"structure": "s" * 5000}, "cannot read structure file"),
    ({"workdir": "w" * 5000}, "is not a folder"),
    ({"workdir": "/no/such\n/folder"}, "is not a folder"),
    ({"keep_workdir": "yes\ninfo"}, "keep_workdir must be true or false"),
    ({"timeout": "600\ninfo system"}, "must be a number"),
]


@pytest.mark.parametrize("options,why", MORE_ATTACKS, ids=[f"more{i}" for i in range(len(MORE_ATTACKS))])
def test_more_attacks_are_refused(canary, options, why):
    msg = refused(options, canary)
    assert why in msg, msg


# the first table of this file, kept as it was
OPTION_ATTACKS = [
    ({"pair_style": "lj/cut 2.5\nshell touch PWNED", "pair_coeff": "* * 1 1", "elements": ["Cu"]}, "line break"),
    ({"pair_style": "lj/cut 2.5", "pair_coeff": "* * 1 1 & shell touch PWNED", "elements": ["Cu"]}, "'&'"),
    ({"pair_style": "lj/cut ${x}", "pair_coeff": "* * 1 1", "elements": ["Cu"]}, "'$'"),
    ({"pair_style": "lj/cut 2.5", "pair_coeff": "* * 1 1 # comment", "elements": ["Cu"]}, "'#'"),
    ({"pair_style": "lj/cut 2.5", "pair_coeff": '* * 1 "1"', "elements": ["Cu"]}, '\'"\''),
    ({"pair_style": "lj/cut 2.5", "pair_coeff": "* * 1 1; shell touch PWNED", "elements": ["Cu"]}, "';'"),
    ({"pair_style": "python 2.5", "pair_coeff": "* * py_pot.LJCutMelt lj", "elements": ["Cu"]}, "python"),
    ({"pair_style": "lj/cut 2.5", "pair_coeff": ["* * 1 1", "shell touch PWNED"], "elements": ["Cu"]}, "shell"),
    ({"pair_style": "lj/cut 2.5", "pair_coeff": "* * 1 include", "elements": ["Cu"]}, "include"),
    ({"pair_style": "lj/cut 2.5", "pair_coeff": "* * getenv HOME", "elements": ["Cu"]}, "getenv"),
    ({"pair_style": "mliap model mliappy x.pt descriptor sna y", "pair_coeff": "* * Cu", "elements": ["Cu"]}, "mliappy"),
    ({"pair_style": "eam", "potential": "Cu_u3.eam\nshell touch PWNED"}, "file name"),
    ({"pair_style": "eam", "potential": "Cu u3.eam"}, "file name"),
    ({"pair_style": "eam/alloy", "potential": "$(shell).eam"}, "file name"),
    ({"pair_style": "eam", "potential": {"Cu\nshell touch PWNED": "Cu_u3.eam"}}, "element symbol"),
    ({"elements": ["Cu", "Ni;shell"]}, "element symbol"),
    ({"elements": ["cu"]}, "element symbol"),
    ({"pair_style": "lj/cut", "epsilon": "0.01\nshell touch PWNED", "sigma": 3.4}, "must be a number"),
    ({"pair_style": "lj/cut", "epsilon": 0.01, "sigma": float("nan")}, "finite"),
    ({"pair_style": "lj/cut", "epsilon": 0.01, "sigma": 3.4, "cutoff": float("inf")}, "finite"),
    ({"pair_style": "lj/cut", "epsilon": 0.01, "sigma": 3.4, "shift": "yes\nshell touch PWNED"}, "true or false"),
]


@pytest.mark.parametrize("options,why", OPTION_ATTACKS, ids=[f"attack{i}" for i in range(len(OPTION_ATTACKS))])
def test_injection_through_options_is_refused(canary, options, why):
    msg = refused(options, canary)
    assert why in msg, msg


# ------------------------------------------------------------------ contexts

class Sly(str):
    """A symbol that prints as a payload although its text is ``Cu``."""

    def __str__(self):
        return "Cu\n" + fill(PAYLOADS["info"], Path.cwd() / "PWNED")

    __repr__ = __format__ = lambda self, *spec: self.__str__()  # noqa: E731


FCC4 = [[0, 0, 0], [0, 1.8, 1.8], [1.8, 0, 1.8], [1.8, 1.8, 0]]
EVIL_SYMBOLS = ["Cu\nshell touch PWNED", "Cu\u2028info system out overwrite PWNED", "Cu\x85", "\u0421u", "Cu\x00"]


@pytest.mark.parametrize("evil", EVIL_SYMBOLS, ids=[ascii(e)[1:-1][:12] for e in EVIL_SYMBOLS])
def test_injection_through_context_symbols_is_refused(canary, evil):
    """Symbols come from contexts, which may be built by anyone (or unpickled): an odd
    symbol must never reach the data file or a pair_coeff line."""
    cell, symbols = np.eye(3) * 3.615, ("Cu", "Cu", "Cu", evil)
    with pytest.raises(ConfigError, match="element symbol") as info:
        Structure(cell, FCC4, symbols)
    one_line(info.value)

    class Duck:  # duck-typed like ase.Atoms, but lying
        def get_cell(self):
            return cell

        def get_positions(self):
            return np.array(FCC4, dtype=float)

        def get_chemical_symbols(self):
            return list(symbols)

    sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy", pair_style="eam/alloy",
                               potential="CuNi.eam.alloy")
    with pytest.raises(SKSError, match="element symbol") as info:
        sks([[1.0]], [Duck()])
    one_line(info.value)

    # a Structure whose validation was bypassed (object.__setattr__, or a crafted pickle:
    # unpickling a dataclass does not run __post_init__) is still refused before any file
    # is written
    good = Structure(cell, FCC4, ("Cu",) * 4)
    forged = copy.copy(good)
    object.__setattr__(forged, "symbols", symbols)
    unpickled = pickle.loads(pickle.dumps(forged))
    assert unpickled.symbols == symbols
    for ctx in (forged, unpickled):
        with pytest.raises(ZooError, match="element symbol") as info:
            sks([[1.0]], [ctx])
        one_line(info.value)


def test_a_str_subclass_symbol_is_used_by_its_text_only(canary, tmp_path):
    """A symbol object whose text is 'Cu' but which prints as a payload: only its text
    counts (the Structure keeps plain str copies), so the run is an ordinary Cu run."""
    st = Structure(np.eye(3) * 3.615, FCC4, (Sly("Cu"),) * 4)
    assert all(type(s) is str for s in st.symbols)
    forged = copy.copy(st)
    object.__setattr__(forged, "symbols", (Sly("Cu"),) * 4)
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy", workdir=str(tmp_path))
    y = sks([[1.0], [1.0]], [st, forged])
    assert np.isfinite(y).all() and y[0, 0] == y[1, 0]


# ------------------------------------------------------------------ changed after construction

def lj_sks(workdir: Path, persistent: bool = True):
    return zoo.knowledge_source("lammps", pair_style="lj/cut 5.0", pair_coeff="* * 0.0104 3.4",
                                elements=["Ar"], inputs="scale", outputs="energy", workdir=str(workdir),
                                persistent=persistent)


def _tamper_coeff(sks, canary):
    # no '.' or '/': written as they are, so only the line check stands in the way
    sks._model.coeff_tokens[0] += ["2\n", "info", "system", "out", "overwrite", "PWNED"]


def _tamper_style(sks, canary):
    sks._model.style_tokens = ["lj/cut", "5.0", "info", "system", "out", "overwrite", "PWNED"]


def _tamper_path(sks, canary):
    # a path token is linked, never written: it must name an existing file
    sks._model.coeff_tokens[0] += ["2.3\n", "info", "system", "out", "overwrite", str(canary)]


def _tamper_elements(sks, canary):
    sks.options["elements"] = fill(["Ar\ninfo system out overwrite CANARY"], canary)


def _tamper_timeout(sks, canary):
    sks.options["timeout"] = "600\ninfo"


def _tamper_keep(sks, canary):
    sks.options["keep_workdir"] = "yes"


TAMPERING = {"model-coeff": (_tamper_coeff, "refused before LAMMPS read it"),
             "model-style": (_tamper_style, "refused before LAMMPS read it"),
             "model-path": (_tamper_path, "is not an accepted file name"),
             "option-elements": (_tamper_elements, "element symbol"),
             "option-timeout": (_tamper_timeout, "must be a number"),
             "option-keep_workdir": (_tamper_keep, "true or false")}


@pytest.mark.parametrize("persistent", [False, True], ids=["process", "session"])
@pytest.mark.parametrize("name", TAMPERING)
def test_options_tampered_after_construction_are_refused(canary, tmp_path, argon4, name, persistent):
    """``options`` is a plain dict and the pair model a plain object: changed after the
    checks at construction, they are checked again on every call (the options) or caught
    by the line check of the script or of the session's batch (the model). Nothing runs,
    no folder is left but a live session's, which is gone once the source is closed."""
    runs = tmp_path / "runs"
    runs.mkdir()
    sks = lj_sks(runs, persistent)
    assert np.isfinite(sks([[1.0]], [argon4])).all()  # works before the tampering
    before = sorted(runs.iterdir())
    assert len(before) == int(persistent)
    tamper, why = TAMPERING[name]
    tamper(sks, canary)
    with pytest.raises(ConfigError, match=why) as info:
        sks([[1.0]], [argon4])
    one_line(info.value)
    assert sorted(runs.iterdir()) == before
    if persistent:  # the session lives on, with no file of the refused batch left
        assert [f.name for f in before[0].iterdir()] == ["zoo0.data"]  # the session's own box
    sks.close()
    assert list(runs.iterdir()) == []


def test_tampered_options_in_a_pickle_are_refused(canary, tmp_path):
    """Executors ship the SKS by pickle; unpickling runs the construction checks again."""
    sks = lj_sks(tmp_path)
    sks.options["pair_coeff"] = fill(REVIEWER_COEFF, canary)
    with pytest.raises(ConfigError, match="line break") as info:
        pickle.loads(pickle.dumps(sks))
    one_line(info.value)


# ------------------------------------------------------------------ the script, data and dump files

def test_numbers_from_the_model_are_formatted_not_stringified(canary, tmp_path, argon4):
    """Input rows are float64 arrays formatted with %.17g; whatever object sneaks into an
    options number (a float subclass) is formatted by value, never by its own str()."""

    class Sneaky(float):
        def __str__(self):
            return "1\nshell touch PWNED"

        __repr__ = __format__ = lambda self, *spec: self.__str__()  # noqa: E731

    sks = zoo.knowledge_source("lammps", pair_style="lj/cut", epsilon=Sneaky(0.01), sigma=3.4,
                               inputs="scale", outputs="energy")
    y = sks([[1.0]], [argon4])
    assert np.isfinite(y).all()
    assert safety.fmt(Sneaky(0.01)) == "0.01"


def test_generated_script_holds_only_expected_commands(tmp_path):
    """The pure script writer, inspected line by line: every line starts with one of the
    commands zoo writes, no line holds $, &, ;, # or a quote except zoo's own fixed
    thermo format and markers, files appear as links, and the line check accepts it."""
    table = tmp_path / "lj.table"
    table.write_text("# LJ\n\nLJ\nN 2\n\n1 2.0 0.0 0.0\n2 5.0 0.0 0.0\n")
    model = pair_model("table linear 2", None, [f"1 1 {table} LJ 5.0", "1 2 0.01 3.3"], {}, None, None, True, ())
    frames, ok = lammps_frames(np.eye(3)[None] * 5.3, np.array([[[0, 0, 0], [2.65, 2.65, 0]]], dtype=float))
    assert ok.all()
    row = script.RowJob(0, frames[0], ["1 1 ", "2 2 "], None, ("Ar", "Kr"))
    work = tmp_path / "run"
    work.mkdir()
    name, orders = script.write(work, [(("Ar", "Kr"), [row])], model, forces=True)
    text = (work / name).read_text()
    allowed = {"units", "atom_style", "atom_modify", "boundary", "read_data", "pair_style",
               "pair_coeff", "pair_modify", "neighbor", "neigh_modify", "thermo_style",
               "thermo_modify", "thermo", "dump", "dump_modify", "print", "rerun", "clear"}
    for line in text.splitlines():
        assert line.split()[0] in allowed, line
        if not line.startswith(("thermo_modify", "print")):
            assert not re.search(r"[$&;#\"']", line), line
    assert "pair_coeff 1 1 pot0_lj.table LJ 5.0" in text and str(tmp_path) not in text
    assert (work / "pot0_lj.table").resolve() == table
    assert orders == [[0]]
    safety.check_script(text)
    assert "2 atom types" in (work / "zoo0.data").read_text()


CHECK_SCRIPT_REFUSED = [
    "info system out overwrite x", 'print "hi" file x', "print hello", "log x", "include x",
    "jump SELF", "label a", "next a", "variable a string b", "python f", "plugin load x.so",
    "fix 1 all print 1 hi file x", "dump 1 all atom 1 x", "dump zf all custom 1 /tmp/x fx fy fz",
    "restart 1 x", "write_data x", "pair_write 1 1 10 r 1 5 x LJ", "shell touch x", "run 0",
    "pair_coeff * * 1 1 info", "pair_coeff * * /tmp/x", "pair_coeff * * x.table", "pair_coeff * * ../pot0_x",
    "pair_coeff * * 1 1 $x", 'pair_coeff * * "1"', "pair_coeff * * 1 1 # c", "pair_coeff * * 1 &",
    "pair_coeff  * * 1 1", "pair_coeff * * 1 1 ", "pair_style", "pair_modify shift yes tail yes",
    "units metal\r", "units metal\x85", "pair_style lj/cut 5.0\u2028info system", "clear\x00",
    'thermo_modify norm no format float %.17g format 1 "ZOO_ROW %ld" flush yes file x',
    "read_data /etc/passwd", "read_data zoo0.data\v", "rerun /tmp/x dump x y z", 'print "ZOO_READY 1" file x',
    "pair_coeff * * pot0_python.eam", "pair_style l\u0458/cut 5.0",
    'print "ZOO_DONE 1" file x', 'print "ZOO_DONE 1 x"', 'print "ZOO_DONE x"', 'print "ZOO_DONE -1"',
    "undump zf2", "undump all", "undump zf\r", "print ZOO_DONE 1",
]


@pytest.mark.parametrize("line", CHECK_SCRIPT_REFUSED, ids=[f"line{i}" for i in range(len(CHECK_SCRIPT_REFUSED))])
def test_check_script_refuses_any_line_zoo_does_not_write(line):
    with pytest.raises(ConfigError, match=r"LAMMPS input line 2 .* refused before LAMMPS read it") as info:
        safety.check_script(f"units metal\n{line}\nthermo 1\n")
    one_line(info.value)


def test_check_script_accepts_zoo_lines():
    """Lines of each built-in model and the numbered lines zoo writes (a session's batch
    markers and forces dump among them); one at a time or as one script."""
    lines = ["pair_style eam", "pair_coeff 1 1 pot0_Cu_u3.eam", "pair_style eam/alloy",
             "pair_coeff * * pot1_CuNi.eam.alloy Cu Ni", "pair_style lj/cut 10.199999999999999",
             "pair_coeff * * 0.010400000000000001 3.3999999999999999 10.199999999999999",
             "pair_style morse/smooth/linear 9.7200000000000006", "pair_coeff 1*2 * 1e-05 -2 +3.5e+2",
             "pair_style hybrid/overlay eam lj/cut 4.0", "pair_coeff * * pot2_file LJ-12 6.0",
             'print "ZOO_READY 12"', "rerun rows10_3.dump dump x y z box yes purge yes replace no add keep",
             "read_data zoo7.data", "dump zf all custom 1 zoo3.forces fx fy fz", "clear", "",
             'print "ZOO_DONE 42"', "undump zf"]
    for line in lines:
        safety.check_script(line)
    safety.check_script("\n".join(lines) + "\n")


def test_data_and_dump_contents_are_checked(tmp_path):
    """The data file holds numbers and zoo's header words only; dump lines start with
    numbers only (the atom id and type zoo made)."""
    with pytest.raises(ConfigError, match="not numbers and zoo's own headers"):
        safety.check_numbers("Masses\n\n1 63.5 info system out overwrite x\n", {"Masses"}, "zoo0.data")
    with pytest.raises(ConfigError, match="not numbers"):
        safety.check_numbers("1 atom types\nshell touch x\n", {"atom types"}, "zoo0.data")
    safety.check_numbers("1 atom types\n\nMasses\n\n1 63.545999999999999\n", {"atom types", "Masses"}, "d")
    frames, _ = lammps_frames(np.eye(3)[None] * 5.3, np.zeros((1, 1, 3)))
    row = script.RowJob(0, frames[0], ["1 1\ninfo system out overwrite x\n1 1 "], None, ("Ar",))
    model = pair_model("lj/cut 5.0", None, ["* * 0.01 3.4"], {}, None, None, True, ())
    with pytest.raises(ConfigError, match="is not 'id type '"):
        script.write(tmp_path, [(("Ar",), [row])], model, forces=False)


def test_link_names_are_plain():
    assert safety.link_name(0, "Cu_u3.eam") == "pot0_Cu_u3.eam"
    for odd in ["a b.eam", "x\n.eam", ".hidden", "python.eam", "\u0421u.eam", "x" * 300]:
        assert safety.link_name(3, odd) == "pot3_file", odd


@pytest.mark.parametrize("bad", ["", "a b", "x\ny", "x.eam\n", "../../etc/passwd;", "file$", "f'",
                                 "\u0421u_u3.eam", "a" * 256, "/" + "a/" * 2100])
def test_file_name_pattern(bad):
    with pytest.raises(ConfigError):
        safety.filename(bad, "potential")
    assert safety.filename("/usr/share/lammps/potentials/Cu_u3.eam", "p")


def test_token_checks_keep_ordinary_pair_styles():
    """The strict pattern still lets real pass-through lines through."""
    for text in ["lj/cut 2.5", "hybrid/overlay eam lj/cut 4.0", "table linear 1000",
                 "* * Cu_u3.eam", "1*2 3 -1.5e-3 +2", "morse 6.0"]:
        assert safety.tokens(text, "pair_style") == text.split()
