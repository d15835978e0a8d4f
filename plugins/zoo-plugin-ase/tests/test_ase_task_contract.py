"""zoo.testing.check_task on every task zoo-plugin-ase registers, with its real knowledge
source (and, for the alloy-EOS tasks, LAMMPS too when zoo-plugin-lammps is installed): the
loss must be a function of the model and the step, which full-ZO and resume rely on."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import zoo
from zoo.tasks import sks_options_for
from zoo.testing import check_task

SMALL = {"n_labelled": 3, "n_test": 4, "batch_alloys": 2}
HAS_LAMMPS = importlib.util.find_spec("zoo_lammps") is not None
CASES = [
    ("fcc-alloy-lattice", "ase-emt", {"batch_unlabelled": 3}),
    ("lj-alloy-eos", "ase-lj", SMALL),
    ("morse-alloy-eos", "ase-morse", SMALL),
    *[pytest.param(t, "lammps", SMALL, marks=pytest.mark.skipif(not HAS_LAMMPS, reason="no zoo-plugin-lammps"))
      for t in ("lj-alloy-eos", "morse-alloy-eos")],
]


@pytest.mark.parametrize("task_name,sks_name,options", CASES)
def test_task_contract(task_name, sks_name, options):
    task = zoo.task(task_name, **options)
    sks = zoo.knowledge_source(sks_name, **sks_options_for(task, sks_name))
    out = check_task(task, sks, seed=3)
    assert np.isfinite(out["test_mae"]) and out["test_mae"] > 0
