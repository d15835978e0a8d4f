"""Fixtures shared by the zoo-plugin-tblite tests."""

from __future__ import annotations

import pytest

import zoo


@pytest.fixture(scope="session")
def xtb():
    """The default knowledge source: GFN2-xTB, bond_length -> energy, bond_force, gap."""
    return zoo.knowledge_source("xtb", outputs=["energy", "bond_force", "gap"])
