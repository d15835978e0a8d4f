"""ase-emt passes zoo.testing's contract checks, as every first-party SKS does."""

from __future__ import annotations

import zoo
from zoo.testing import check_knowledge_source
from zoo_ase.alloys import random_fcc_alloy


def test_ase_emt_passes_the_contract_checks():
    sks = zoo.knowledge_source("ase-emt", outputs=["energy_per_atom", "pressure"], lower=3.3, upper=4.3)
    alloys = [random_fcc_alloy([0.5, 0.5, 0, 0, 0, 0], seed) for seed in range(3)]
    iron = random_fcc_alloy([1, 0, 0, 0, 0, 0], 0)
    iron.set_chemical_symbols(["Fe"] * len(iron))  # EMT has no Fe: that row must be NaN
    y = check_knowledge_source(sks, inputs=[[3.7], [3.8], [3.9]], contexts=alloys, failing_row=([3.8], iron))
    assert y.shape == (3, 2)
