"""zoo.testing.check_task on every task zoo-plugin-pymatgen registers, with its real
pymatgen knowledge source."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.tasks import sks_options_for
from zoo.testing import check_task


@pytest.mark.parametrize("task_name,sks_name,options", [
    ("xrd-lattice", "pymatgen-xrd", {"n_labelled": 4, "n_unlabelled": 8, "n_test": 6, "batch_unlabelled": 3}),
    ("rocksalt-bvs-lattice", "pymatgen-bvs", {"batch_unlabelled": 3}),
    ("rocksalt-lattice-energy", "pymatgen-ewald", {}),
])
def test_task_contract(task_name, sks_name, options):
    task = zoo.task(task_name, **options)
    sks = zoo.knowledge_source(sks_name, **sks_options_for(task, sks_name))
    out = check_task(task, sks, seed=1)
    assert np.isfinite(out[task.primary_metric])
