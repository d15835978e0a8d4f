"""zoo.testing.check_task on every task zoo-atomistic registers, through every code that
serves it and is installed (ASE, LAMMPS): the loss must be a function of the model and the
step, which full-ZO and resume rely on. Each task asks in the shared vocabulary, so the
same task object's options suit every code."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import zoo
from zoo.tasks import sks_options_for
from zoo.testing import check_task

SMALL = {"n_labelled": 3, "n_test": 4, "batch_alloys": 2}
CODES = {"ase": importlib.util.find_spec("zoo_ase") is not None, "lammps": importlib.util.find_spec("zoo_lammps") is not None}


def case(task: str, sks: str, options: dict, code: str):
    return pytest.param(task, sks, options, id=f"{task}-{sks}",
                        marks=pytest.mark.skipif(not CODES[code], reason=f"zoo-plugin-{code} is not installed"))


CASES = [
    case("fcc-alloy-lattice", "ase-emt", {"batch_unlabelled": 3}, "ase"),
    case("fcc-alloy-lattice", "ase-calculator", {"batch_unlabelled": 3}, "ase"),
    case("fcc-alloy-lattice", "lammps", {"batch_unlabelled": 3}, "lammps"),
    case("eam-alloy-lattice", "lammps", {"batch_unlabelled": 3}, "lammps"),
    case("eam-alloy-lattice", "ase-emt", {"batch_unlabelled": 3}, "ase"),
    case("lj-alloy-eos", "ase-lj", SMALL, "ase"),
    case("morse-alloy-eos", "ase-morse", SMALL, "ase"),
    case("lj-alloy-eos", "lammps", SMALL, "lammps"),
    case("morse-alloy-eos", "lammps", SMALL, "lammps"),
]


@pytest.mark.parametrize("task_name,sks_name,options", CASES)
def test_task_contract(task_name, sks_name, options):
    task = zoo.task(task_name, **options)
    sks = zoo.knowledge_source(sks_name, **sks_options_for(task, sks_name))
    out = check_task(task, sks, seed=3)
    assert np.isfinite(out["test_mae"]) and 0 < out["test_mae"] <= out["test_rmse"] <= out["test_max"]
    assert set(out) <= set(task.metric_units)


@pytest.mark.parametrize("task_name", ["fcc-alloy-lattice", "eam-alloy-lattice", "lj-alloy-eos", "morse-alloy-eos"])
def test_no_task_names_a_code_in_what_it_asks(task_name):
    """The same options for every code: sks_options ignores the name of the SKS."""
    task = zoo.task(task_name)
    asked = [sks_options_for(task, name) for name in ("ase-emt", "lammps", "some-future-code")]
    assert asked[0] == asked[1] == asked[2]
    assert set(asked[0]) <= {"inputs", "outputs", "lower", "upper"}
