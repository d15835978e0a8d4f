"""ase-calculator: any ASE calculator by import path.

It must give exactly what the dedicated sources (and ASE directly) give for the same
calculator, keep the KnowledgeSource contract (it pickles as path + options and rebuilds
the calculator in the process that unpickles it), and turn every bad path or option into
a zoo.ConfigError that says what to do.
"""

from __future__ import annotations

import importlib.util
import pickle
import textwrap

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

import zoo
from zoo.testing import check_knowledge_source
from zoo_ase.generic import resolve_calculator

from ase_testlib import emt_reference

OUTS = ["energy", "pressure", "stress", "forces"]


def emt_factory(**kwargs):
    """A factory function (not a class) that returns an ASE calculator."""
    return EMT(**kwargs)


def not_a_calculator_factory():
    return {"energy": 0.0}


def picky_lj(sigma: float = 2.3, epsilon: float = 0.2):
    """A factory with named keywords only, which refuses a non-positive sigma."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    return LennardJones(sigma=sigma, epsilon=epsilon)


@pytest.fixture(scope="module")
def strain_rows():
    return np.random.default_rng(2).uniform(-0.02, 0.02, (3, 6))


def test_default_is_emt_and_equals_ase_emt(triclinic_alloy, strain_rows):
    generic = zoo.knowledge_source("ase-calculator", inputs="strain", outputs=OUTS, n_atoms=32)
    assert generic.options["calculator"] == "ase.calculators.emt:EMT"
    emt = zoo.knowledge_source("ase-emt", inputs="strain", outputs=OUTS, n_atoms=32, emt="ase")
    ctx = [triclinic_alloy] * 3
    y = generic(strain_rows, ctx)
    np.testing.assert_array_equal(y, emt(strain_rows, ctx))
    # and both are ASE's EMT (row 0 by hand at zero strain: a sanity anchor)
    y0 = generic(np.zeros((1, 6)), [triclinic_alloy])[0]
    ref = emt_reference(triclinic_alloy)
    np.testing.assert_allclose(y0[0], ref["energy"][0], rtol=1e-12)
    np.testing.assert_allclose(y0[-96:], ref["forces"], rtol=1e-9, atol=1e-10)


def test_calculator_options_reach_the_calculator(alloy):
    """asap_cutoff=True changes EMT's energy; through calculator_options it must do so exactly
    as ase-emt's asap_cutoff option does."""
    x = [[3.7]]
    on = zoo.knowledge_source("ase-calculator", calculator_options={"asap_cutoff": True}, outputs="energy")
    off = zoo.knowledge_source("ase-calculator", outputs="energy")
    emt_on = zoo.knowledge_source("ase-emt", asap_cutoff=True, outputs="energy", emt="ase")
    np.testing.assert_array_equal(on(x, [alloy]), emt_on(x, [alloy]))
    # the cutoff variant moves this alloy's energy by ~6e-7 eV, far above round-off (1e-14)
    assert abs(on(x, [alloy])[0, 0] - off(x, [alloy])[0, 0]) > 1e-8
    assert on.options["calculator_options"] == {"asap_cutoff": True}


def test_lennard_jones_by_path_equals_ase_lj(triclinic_alloy):
    opts = {"epsilon": 0.2, "sigma": 2.4, "smooth": True}
    generic = zoo.knowledge_source("ase-calculator", calculator="ase.calculators.lj:LennardJones",
                                   calculator_options=opts, inputs="scale", outputs=["energy", "stress"])
    lj = zoo.knowledge_source("ase-lj", inputs="scale", outputs=["energy", "stress"], **opts)
    x = [[0.98], [1.02]]
    np.testing.assert_array_equal(generic(x, [triclinic_alloy] * 2), lj(x, [triclinic_alloy] * 2))
    a = triclinic_alloy.copy()
    a.set_cell(a.cell * 0.98, scale_atoms=True)
    a.calc = LennardJones(**opts)
    np.testing.assert_allclose(generic(x[:1], [triclinic_alloy])[0, 0], a.get_potential_energy(), rtol=1e-12)


def test_parameters_through_generic_need_bounds_then_match_ase_lj(alloy):
    path = "ase.calculators.lj:LennardJones"
    with pytest.raises(zoo.ConfigError, match="no default lower bound"):
        zoo.knowledge_source("ase-calculator", calculator=path, inputs="parameters", parameters=["sigma"])
    generic = zoo.knowledge_source(
        "ase-calculator", calculator=path, calculator_options={"epsilon": 0.2},
        inputs="parameters", parameters=["sigma"], lower={"sigma": 2.0}, upper={"sigma": 3.0},
        outputs="energy",
    )
    lj = zoo.knowledge_source("ase-lj", inputs="parameters", parameters=["sigma"], epsilon=0.2, outputs="energy")
    x = [[2.3], [2.5]]
    np.testing.assert_array_equal(generic(x, [alloy] * 2), lj(x, [alloy] * 2))
    # a keyword the calculator does not know cannot be an input either
    with pytest.raises(zoo.ConfigError, match="sigmma"):
        zoo.knowledge_source("ase-calculator", calculator=path, inputs="parameters", parameters=["sigmma"],
                             lower=1.0, upper=2.0)


def test_contract_and_pickle(triclinic_alloy, strain_rows):
    sks = zoo.knowledge_source("ase-calculator", calculator="ase.calculators.emt:EMT", inputs="strain",
                               outputs=OUTS, n_atoms=32)
    check_knowledge_source(sks, strain_rows, [triclinic_alloy] * 3)
    state = sks.__getstate__()
    assert state["_factory"] is None and state["_calc"] is None  # only path + options travel
    clone = pickle.loads(pickle.dumps(sks))
    assert clone.calculator_path == "ase.calculators.emt:EMT"
    np.testing.assert_array_equal(clone(strain_rows, [triclinic_alloy] * 3), sks(strain_rows, [triclinic_alloy] * 3))


@pytest.mark.slow
def test_rebuilt_in_a_worker_process(alloy):
    """The processes executor ships the pickled source to a spawned process, which imports
    the calculator by path there."""
    sks = zoo.knowledge_source("ase-calculator", outputs=["energy", "pressure"])
    x = np.array([[3.6], [3.7], [3.8]])
    with zoo.executor("processes", workers=1) as ex:
        y = ex.evaluate(sks, x, [alloy] * 3)
    np.testing.assert_array_equal(y, sks(x, [alloy] * 3))


def test_factory_function_from_python_not_from_a_path(alloy):
    """A factory function is trusted when passed as an object from Python (and survives a
    pickle); named by a path (which may come from someone else's config) it is refused
    before it is called."""
    sks = zoo.knowledge_source("ase-calculator", calculator=emt_factory, outputs="energy")
    emt = zoo.knowledge_source("ase-emt", outputs="energy", emt="ase")  # bit for bit: ASE's own EMT
    np.testing.assert_array_equal(sks([[3.7]], [alloy]), emt([[3.7]], [alloy]))
    clone = pickle.loads(pickle.dumps(sks))
    np.testing.assert_array_equal(clone([[3.7]], [alloy]), emt([[3.7]], [alloy]))
    with pytest.raises(zoo.ConfigError, match="returned an object of type dict, not an ASE calculator"):
        zoo.knowledge_source("ase-calculator", calculator=not_a_calculator_factory)
    with pytest.raises(zoo.ConfigError, match="not an ASE calculator class"):
        zoo.knowledge_source("ase-calculator", calculator="test_ase_generic:emt_factory")


@pytest.mark.parametrize(
    "path,why",
    [("os:system", "standard library"), ("subprocess:run", "standard library"),
     ("os.path:join", "standard library"), ("builtins:eval", "standard library"),
     ("shutil:rmtree", "standard library"), ("numpy:load", "not an ASE calculator class")],
)
def test_paths_that_would_run_something_call_nothing(tmp_path, monkeypatch, path, why):
    """The reviewer's attack: calculator='os:system' with calculator_options={command=...}
    ran the command on --resume before failing. Now it is refused before anything is
    called, and so is a command line in calculator_options for a real calculator."""
    canary = tmp_path / "PWNED"
    with pytest.raises(zoo.ConfigError, match=why):
        zoo.knowledge_source("ase-calculator", calculator=path)
    with pytest.raises(zoo.ConfigError):
        zoo.knowledge_source("ase-calculator", calculator=path,
                             calculator_options={"command": f"touch {canary}"})
    assert not canary.exists()
    with pytest.raises(zoo.ConfigError, match="command"):
        zoo.knowledge_source("ase-calculator", calculator="ase.calculators.emt:EMT",
                             calculator_options={"command": f"touch {canary}"})
    assert not canary.exists()


def test_version_names_the_wrapped_package():
    import ase

    sks = zoo.knowledge_source("ase-calculator")
    assert sks.version.endswith(f"ase-{ase.__version__}")


# ---------------------------------------------------------------- bad paths and options

@pytest.mark.parametrize(
    "path",
    ["ase.calculators.emt.EMT", "ase.calculators.emt:EMT()", "../evil:X", "", "ase..emt:EMT",
     "ase.calculators.emt:", ":EMT", "ase.calculators.emt:EMT:EMT", "os:system; rm", "1ase:EMT"],
)
def test_malformed_paths(path):
    with pytest.raises(zoo.ConfigError, match="module:Name"):
        zoo.knowledge_source("ase-calculator", calculator=path)


def test_non_string_path():
    with pytest.raises(zoo.ConfigError, match="module:Name"):
        zoo.knowledge_source("ase-calculator", calculator=["ase.calculators.emt:EMT"])


def test_missing_module_says_what_to_install():
    with pytest.raises(zoo.ConfigError, match=r"no module named 'zoo_no_such_pkg'.*pip install zoo-no-such-pkg"):
        resolve_calculator("zoo_no_such_pkg.calculators:Calc")
    # where the pip name differs from the import name, the hint gives the pip name
    if importlib.util.find_spec("mace") is None:
        with pytest.raises(zoo.ConfigError, match=r"pip install mace-torch"):
            zoo.knowledge_source("ase-calculator", calculator="mace.calculators:MACECalculator")


def test_module_with_a_missing_dependency(tmp_path, monkeypatch):
    (tmp_path / "zoo_test_needs_dep.py").write_text(textwrap.dedent("""
        import zoo_test_no_such_dependency_xyz
        from ase.calculators.emt import EMT
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("ase-calculator", calculator="zoo_test_needs_dep:EMT")
    msg = str(info.value)
    assert "zoo_test_no_such_dependency_xyz" in msg and "pip install" in msg


def test_module_that_fails_on_import(tmp_path, monkeypatch):
    (tmp_path / "zoo_test_broken_mod.py").write_text("raise RuntimeError('broken on purpose')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(zoo.ConfigError, match="broken on purpose"):
        zoo.knowledge_source("ase-calculator", calculator="zoo_test_broken_mod:X")


def test_wrong_name_lists_calculators_in_the_module():
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("ase-calculator", calculator="ase.calculators.emt:EMTT")
    assert "EMTT" in str(info.value) and "EMT" in str(info.value).replace("EMTT", "")


@pytest.mark.parametrize(
    "path,why",
    [("ase.atoms:Atoms", "not an ASE calculator"), ("ase.units:GPa", "not an ASE calculator class")],
)
def test_not_a_calculator(path, why):
    with pytest.raises(zoo.ConfigError, match=why):
        zoo.knowledge_source("ase-calculator", calculator=path)


def test_unknown_calculator_option_lists_known_ones():
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("ase-calculator", calculator_options={"asap_cutof": True})
    assert "asap_cutof" in str(info.value) and "asap_cutoff" in str(info.value)
    with pytest.raises(zoo.ConfigError, match="table"):
        zoo.knowledge_source("ase-calculator", calculator_options="asap_cutoff=true")


def test_unknown_option_lists_options():
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("ase-calculator", asap_cutoff=True)  # belongs in calculator_options
    msg = str(info.value)
    assert "asap_cutoff" in msg and "calculator_options" in msg


def test_factory_keywords_checked_and_build_failure_is_config_error():
    path = picky_lj
    with pytest.raises(zoo.ConfigError, match=r"rc.*it takes epsilon, sigma"):
        zoo.knowledge_source("ase-calculator", calculator=path, calculator_options={"rc": 5.0})
    with pytest.raises(zoo.ConfigError, match="cannot build the calculator: ValueError: sigma must be > 0"):
        zoo.knowledge_source("ase-calculator", calculator=path, calculator_options={"sigma": -1.0})
    # a parameter input whose mid-bounds value cannot build fails at once, too
    with pytest.raises(zoo.ConfigError, match="mid-bounds"):
        zoo.knowledge_source("ase-calculator", calculator=path, inputs="parameters", parameters=["sigma"],
                             lower=-3.0, upper=1.0)


def test_fe_row_is_nan_through_generic(alloy):
    fe = bulk("Fe", "fcc", a=3.6, cubic=True).repeat(2)
    sks = zoo.knowledge_source("ase-calculator", outputs="energy")
    y = sks([[3.7], [3.7]], [alloy, fe])
    assert np.isfinite(y[0, 0]) and np.isnan(y[1, 0])
