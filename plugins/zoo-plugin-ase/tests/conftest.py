"""Fixtures shared by the zoo-plugin-ase tests: structures built once per session."""

from __future__ import annotations

import pytest
from ase import Atoms

from zoo_ase.alloys import random_fcc_alloy

from ase_testlib import ALLOY, sheared

@pytest.fixture(scope="session")
def alloy() -> Atoms:
    """A 32-atom random fcc alloy near its EMT lattice constant."""
    return random_fcc_alloy(ALLOY, seed=7, repeat=2, a=3.75)


@pytest.fixture(scope="session")
def rattled_alloy(alloy) -> Atoms:
    out = alloy.copy()
    out.rattle(0.05, seed=3)
    return out


@pytest.fixture(scope="session")
def triclinic_alloy(alloy) -> Atoms:
    return sheared(alloy, seed=11)
