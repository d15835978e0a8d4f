"""Nothing a user, a model or a context controls can add a command to the LAMMPS input.

Each injection attempt below would, if it reached the script, run a command (``shell``
runs programs; ``include``, ``python``, ``variable ... getenv`` read or run things; a
newline, ``;``-free continuation ``&``, ``$`` substitution or a quote would start or
reshape a command). Each must be refused with a zoo error that names the value, and no
canary file may appear.
"""

from __future__ import annotations

import copy
import pickle
import re

import numpy as np
import pytest

import zoo
from zoo import ConfigError, SKSError, ZooError
from zoo_lammps import Structure, safety, script
from zoo_lammps.geometry import lammps_frames
from zoo_lammps.potentials import pair_model


@pytest.fixture
def canary(tmp_path, monkeypatch):
    """A file that an injected ``shell touch`` would create in the working folder."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "an injected command ran"


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
    with pytest.raises(ConfigError) as info:
        zoo.knowledge_source("lammps", **options)
    assert why in str(info.value), str(info.value)


def test_injection_through_context_symbols_is_refused(canary):
    """Symbols come from contexts, which may be built by anyone (or unpickled): a newline
    in a symbol must never reach the data file or a pair_coeff line."""
    cell, pos = np.eye(3) * 3.615, [[0, 0, 0], [0, 1.8, 1.8], [1.8, 0, 1.8], [1.8, 1.8, 0]]
    evil = ("Cu", "Cu", "Cu", "Cu\nshell touch PWNED")
    with pytest.raises(ConfigError, match="element symbol"):
        Structure(cell, pos, evil)

    class Duck:  # duck-typed like ase.Atoms, but lying
        def get_cell(self):
            return np.eye(3) * 3.615

        def get_positions(self):
            return np.array(pos, dtype=float)

        def get_chemical_symbols(self):
            return list(evil)

    sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy", pair_style="eam/alloy",
                               potential="CuNi.eam.alloy")
    with pytest.raises(SKSError, match="element symbol"):
        sks([[1.0]], [Duck()])

    # a Structure whose validation was bypassed (object.__setattr__, or a crafted pickle:
    # unpickling a dataclass does not run __post_init__) is still refused before any file
    # is written
    good = Structure(cell, pos, ("Cu",) * 4)
    forged = copy.copy(good)
    object.__setattr__(forged, "symbols", evil)
    unpickled = pickle.loads(pickle.dumps(forged))
    for ctx in (forged, unpickled):
        with pytest.raises(ZooError, match="element symbol"):
            sks([[1.0]], [ctx])


def test_numbers_from_the_model_are_formatted_not_stringified(canary, tmp_path):
    """Input rows are float64 arrays formatted with %.17g; whatever object sneaks into an
    options number (a str subclass) is refused, and the script text written for a
    pass-through potential contains only checked tokens."""

    class Sneaky(float):
        def __str__(self):
            return "1\nshell touch PWNED"

        __repr__ = __str__

    sks = zoo.knowledge_source("lammps", pair_style="lj/cut", epsilon=Sneaky(0.01), sigma=3.4,
                               inputs="scale", outputs="energy")
    st = Structure(np.eye(3) * 5.3, [[0, 0, 0], [0, 2.65, 2.65], [2.65, 0, 2.65], [2.65, 2.65, 0]], ("Ar",) * 4)
    y = sks([[1.0]], [st])
    assert np.isfinite(y).all()
    assert safety.fmt(Sneaky(0.01)) == "0.01"


def test_generated_script_holds_only_expected_commands(tmp_path):
    """The pure script writer, inspected line by line: every line starts with one of the
    commands zoo writes, no line holds $, &, ;, # or a quote except zoo's own fixed
    thermo format, and the element names are the checked ones."""
    model = pair_model("lj/cut 5.0", None, ["1 1 0.0104 3.4", "1 2 0.01 3.3"], {}, None, None, True, ())
    cells = np.eye(3)[None] * 5.3
    pos = np.array([[[0, 0, 0], [2.65, 2.65, 0]]], dtype=float)
    frames, ok = lammps_frames(cells, pos)
    assert ok.all()
    row = script.RowJob(0, frames[0], ["1 1 ", "2 2 "], None, ("Ar", "Kr"))
    name, orders = script.write(tmp_path, [(("Ar", "Kr"), [row])], model, forces=True)
    lines = (tmp_path / name).read_text().splitlines()
    allowed = {"units", "atom_style", "atom_modify", "boundary", "read_data", "pair_style",
               "pair_coeff", "pair_modify", "neighbor", "neigh_modify", "thermo_style",
               "thermo_modify", "thermo", "dump", "dump_modify", "print", "rerun", "clear"}
    for line in lines:
        assert line.split()[0] in allowed, line
        if not line.startswith(("thermo_modify", "print")):
            assert not re.search(r"[$&;#\"']", line), line
    assert orders == [[0]]
    assert "shell" not in (tmp_path / name).read_text()
    data = (tmp_path / "zoo0.data").read_text()
    assert "2 atom types" in data


@pytest.mark.parametrize("bad", ["", "a b", "x\ny", "../../etc/passwd;", "file$", "f'"])
def test_file_name_pattern(bad):
    with pytest.raises(ConfigError):
        safety.filename(bad, "potential")
    assert safety.filename("/usr/share/lammps/potentials/Cu_u3.eam", "p")


def test_token_checks_keep_ordinary_pair_styles():
    """The strict pattern still lets real pass-through lines through."""
    for text in ["lj/cut 2.5", "hybrid/overlay eam lj/cut 4.0", "table linear 1000",
                 "* * Cu_u3.eam", "1*2 3 -1.5e-3 +2", "morse 6.0"]:
        assert safety.tokens(text, "pair_style") == text.split()
