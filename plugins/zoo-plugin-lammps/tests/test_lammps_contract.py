"""The lammps knowledge source keeps the KnowledgeSource contract (zoo.testing), is found
through the entry point, needs no ASE, and turns bad options into zoo errors."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import zoo
from zoo.testing import check_knowledge_source
from zoo_lammps import Structure

from lammps_testlib import cu32, distorted


def test_registered_with_default_task_and_one_line_description():
    sks = zoo.knowledge_source("lammps")
    assert type(sks).default_task == "eam-alloy-lattice"
    assert sks.input_spec.names == ("a",) and sks.output_spec.names == ("energy_per_atom",)
    assert sks.description and "\n" not in sks.description
    assert zoo.registered("sks")["lammps"].plugin == "lammps"
    assert zoo.registered("tasks")["eam-alloy-lattice"].cls.default_sks == "lammps"


def test_contract_strain_energy_stress_forces(cu_distorted):
    """Mixed contexts (a Structure of 32 atoms, a Cu/Ni/Ag alloy, an ase.Atoms when ASE
    is there); a NaN input row is the failing row."""
    from zoo_lammps.alloys import random_fcc_alloy

    alloy = distorted(random_fcc_alloy((0.5, 0.25, 0, 0.25, 0, 0), seed=1, a=3.65), seed=3)
    ctx = [cu_distorted, alloy]
    try:
        from lammps_testlib import to_atoms

        ctx.append(to_atoms(alloy))
    except ImportError:
        ctx.append(alloy)
    sks = zoo.knowledge_source("lammps", inputs="strain", outputs=["energy", "stress", "forces"], n_atoms=32)
    x = np.random.default_rng(2).uniform(-0.03, 0.03, (3, 6))
    y = check_knowledge_source(sks, x, ctx, failing_row=([np.nan] * 6, alloy))
    assert y.shape == (3, 1 + 6 + 96)


def test_contract_lj_parameters_as_inputs():
    ar = Structure(np.eye(3) * 5.3, [[0, 0, 0], [0, 2.65, 2.65], [2.65, 0, 2.65], [2.65, 2.65, 0]], ("Ar",) * 4)
    sks = zoo.knowledge_source("lammps", pair_style="lj/cut", inputs=["sigma", "epsilon"], outputs=["energy", "pressure"])
    assert sks.input_spec.names == ("sigma", "epsilon") and sks.input_spec.units == ("Å", "eV")
    check_knowledge_source(sks, [[3.4, 0.0104], [3.2, 0.02]], [ar, ar], failing_row=([-1.0, 0.01], ar))


def test_contract_default_lattice_constant_at_bounds(cu):
    sks = zoo.knowledge_source("lammps", outputs=["energy_per_atom", "pressure"], lower=3.3, upper=4.0)
    check_knowledge_source(sks, [[3.5], [3.7]], [cu, cu])


def test_pickle_keeps_options_and_results(cu_distorted):
    sks = zoo.knowledge_source("lammps", inputs="positions", outputs=["energy", "forces"], n_atoms=32,
                               pair_style="eam/alloy", potential="Cu_mishin1.eam.alloy")
    x = cu_distorted.positions.reshape(1, -1)
    y = sks(x, [cu_distorted])
    clone = pickle.loads(pickle.dumps(sks))
    assert clone.options == sks.options and clone.output_spec == sks.output_spec
    np.testing.assert_array_equal(clone(x, [cu_distorted]), y)


@pytest.mark.slow
def test_runs_without_ase(tmp_path):
    """A Python where ``import ase`` fails: the plugin lists, builds, reads an extxyz file
    and evaluates (ASE is a test-only dependency)."""
    (tmp_path / "cu.xyz").write_text(
        '4\nLattice="3.615 0 0 0 3.615 0 0 0 3.615" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
        "Cu 0 0 0\nCu 0 1.8075 1.8075\nCu 1.8075 0 1.8075\nCu 1.8075 1.8075 0\n"
    )
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["ase"] = None  # any import of ase now raises ImportError
        import zoo
        from zoo_lammps import Structure
        assert "lammps" in zoo.registered("sks") and "eam-alloy-lattice" in zoo.registered("tasks")
        assert zoo.registered("sks")["lammps"].cls.default_task == "eam-alloy-lattice"
        sks = zoo.knowledge_source("lammps", inputs="lattice_constant", outputs="energy_per_atom",
                                   structure={str(tmp_path / "cu.xyz")!r})
        print(sks([[3.615]])[0, 0])
        import torch
        task = zoo.task("eam-alloy-lattice", batch_unlabelled=2)
        task_sks = zoo.knowledge_source("lammps", **task.sks_options())
        task.setup(task_sks, 0)
        loss, _ = task.loss(task.make_model(), zoo.SKSLayer(task_sks, "cge"), 0)
        assert torch.isfinite(loss)
        assert not any(m == "ase" or m.startswith("ase.") for m in sys.modules if sys.modules[m] is not None)
        """
    )
    # only zoo-core's built-ins, zoo-atomistic and this plugin load, as in a venv holding
    # just the three
    env = {**os.environ, "ZOO_PLUGINS": "estimators,schedulers,executors,atomistic,lammps"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert abs(float(out.stdout.split()[-1]) + 3.54) < 1e-4
    listing = subprocess.run([os.path.join(os.path.dirname(sys.executable), "zoo"), "list", "sks"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert listing.stdout.split()[0] == "lammps", listing.stdout


def test_no_contexts_and_no_structure_is_an_error():
    with pytest.raises(zoo.SKSError, match="structure=PATH"):
        zoo.knowledge_source("lammps")([[3.6]])


def test_wrong_atom_count_for_positions_is_an_error(cu):
    sks = zoo.knowledge_source("lammps", inputs="positions", n_atoms=4)
    with pytest.raises(zoo.SKSError, match="32 atoms.*n_atoms is 4"):
        sks(np.zeros((1, 12)), [cu])


@pytest.mark.parametrize(
    "options,match",
    [
        ({"inputs": "temperature"}, "lattice_constant, lattice_lengths, .*, epsilon, sigma, r0, rho0"),
        ({"inputs": "charges", "n_atoms": 2}, "unknown inputs 'charges'"),
        ({"outputs": ["energy", "magmom"]}, "energy, energy_per_atom, pressure, stress, forces"),
        ({"outputs": []}, "at least one"),
        ({"inputs": "positions"}, "n_atoms"),
        ({"outputs": "forces"}, "n_atoms"),
        ({"inputs": ["strain", "scale"]}, "one lattice or atoms kind at a time"),
        ({"epsilon": 0.1}, "does not use"),
        ({"pair_style": "lj/cut", "epsilon": 0.1}, "sigma"),
        ({"pair_style": "lj/cut", "inputs": ["sigma"], "sigma": 3.0, "epsilon": 0.1}, "is an input"),
        ({"inputs": ["epsilon"]}, "do not say which pair potential.*give pair_style"),
        ({"inputs": ["sigma"], "pair_style": "eam"}, "parameters of lj/cut"),
        ({"inputs": ["r0"], "pair_style": "lj/cut", "epsilon": 0.1, "sigma": 2.0}, "parameters of morse"),
        ({"pair_style": "eam/alloy"}, "needs potential"),
        ({"pair_style": "morse 6.0"}, "pair_coeff"),
        ({"pair_style": "morse 6.0", "pair_coeff": "* * 0.3 1.3 2.8"}, "elements"),
        ({"potential": "No_such.eam"}, "No_such.eam"),
        ({"timeout": 0}, "timeout"),
        ({"lower": 4.0, "upper": 3.0}, "lower bound"),
        ({"n_atom": 32}, "n_atoms"),
    ],
)
def test_bad_options_are_config_errors(options, match):
    with pytest.raises(zoo.ConfigError, match=match):
        zoo.knowledge_source("lammps", **options)


def test_funcfl_files_map_to_elements_by_atomic_number(cu):
    """potential='Ni_u3.eam' names Ni (line 2 of the file: Z = 28): a Cu context then has
    no file, which says how to give one."""
    sks = zoo.knowledge_source("lammps", potential=["Ni_u3.eam"], inputs="scale", outputs="energy")
    with pytest.raises(zoo.SKSError, match=r"no funcfl file for Cu.*potential="):
        sks([[1.0]], [cu])
    both = zoo.knowledge_source("lammps", potential={"Cu": "Cu_u3.eam"}, inputs="scale", outputs="energy")
    default = zoo.knowledge_source("lammps", inputs="scale", outputs="energy")
    np.testing.assert_array_equal(both([[1.0]], [cu]), default([[1.0]], [cu]))
    assert cu32() == cu


def test_every_pair_parameter_is_a_kind_of_the_vocabulary():
    """Each parametric style's parameters are zoo-atomistic's pair-potential kinds (LAMMPS's
    own Morse names, D0 and alpha, only as deprecated kinds of its own)."""
    from zoo_atomistic import KINDS, PAIR_POTENTIALS

    from zoo_lammps import parametric, settings

    for family in parametric.FAMILIES:
        assert family.parameters == PAIR_POTENTIALS[family.potential].parameters
        assert all(KINDS[n].group == "potential" for n in family.parameters)
        assert set(family.names) - set(family.parameters) <= set(settings.OWN_KINDS)
    assert set(settings.OWN_KINDS) == set(parametric.DEPRECATED) == {"D0", "alpha"}


def test_options_are_recorded_as_given_and_runtime_ones_leave_the_cache_key(tmp_path):
    """The base class records the options (defaults included), nothing normalises them in
    place; lmp, timeout, workdir, keep_workdir and persistent say how a value is computed, not
    what it is."""
    from zoo.cache import sks_fingerprint

    a = zoo.knowledge_source("lammps", inputs="lattice_constant", outputs="pressure", n_atoms=32)
    b = zoo.knowledge_source("lammps", inputs="lattice_constant", outputs="pressure", n_atoms=32,
                             timeout=30.0, workdir=str(tmp_path), keep_workdir=True, persistent=False)
    assert a.options["inputs"] == "lattice_constant" and a.options["outputs"] == "pressure"
    assert a.options["pair_style"] is None and a.options["timeout"] == 600.0
    assert sks_fingerprint(a) == sks_fingerprint(b)
    c = zoo.knowledge_source("lammps", inputs="lattice_constant", outputs="pressure", n_atoms=32,
                             atoms_per_cell=2)
    assert sks_fingerprint(c) != sks_fingerprint(a)
    assert set(a.runtime_options) == {"lmp", "timeout", "workdir", "keep_workdir", "persistent"}
