"""zoo.testing.check_task on eam-alloy-lattice through the real lmp: the loss is a function
of the model and the step (full-ZO evaluates it several times a step; resume re-draws)."""

from __future__ import annotations

import zoo
from zoo.tasks import sks_options_for
from zoo.testing import check_task


def test_eam_alloy_lattice_contract():
    task = zoo.task("eam-alloy-lattice", batch_unlabelled=3)
    sks = zoo.knowledge_source("lammps", **sks_options_for(task, "lammps"))
    out = check_task(task, sks, seed=2)
    assert 0 < out["test_mae"] < 1.0
