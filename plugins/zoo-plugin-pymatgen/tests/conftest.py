"""Fixtures shared by the zoo-plugin-pymatgen tests: structures built once per session."""

from __future__ import annotations

import pytest
from pymatgen.core import Structure

from pmg_testlib import rattled, rocksalt


@pytest.fixture(scope="session")
def nacl() -> Structure:
    """Conventional rock-salt NaCl at a = 5.64 Å, plain elements (no oxidation states)."""
    return rocksalt()


@pytest.fixture(scope="session")
def nacl_ions() -> Structure:
    return rocksalt(oxidized=True)


@pytest.fixture(scope="session")
def rattled_nacl() -> Structure:
    """NaCl with every ion moved by up to 0.08 Å: forces of ~0.2 eV/Å, all components non-zero."""
    return rattled(rocksalt(oxidized=True), 0.08, seed=1)
