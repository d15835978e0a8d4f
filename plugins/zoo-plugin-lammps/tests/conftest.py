"""Fixtures of the zoo-plugin-lammps tests: structures built once per session."""

from __future__ import annotations

import pytest

from lammps_testlib import cu32, distorted


@pytest.fixture(scope="session")
def cu() -> "Structure":  # noqa: F821
    """32-atom Cu, ideal fcc at a = 3.615 Å (the u3 potential's lattice constant)."""
    return cu32()


@pytest.fixture(scope="session")
def cu_distorted(cu):
    """Sheared cell and rattled atoms: all stress components and forces non-zero."""
    return distorted(cu, seed=1)
