"""Moved: ``fcc-alloy-lattice`` is zoo-atomistic's now (:mod:`zoo_atomistic.tasks`), one task
that every code serves; this module keeps old imports working."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from zoo_atomistic.tasks import FccAlloyLattice
from zoo_atomistic.tasks.labels import lattice_labels


def load_dataset(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The EAM label file (or ``path``): fractions (n, 6), seeds (n,), a0 (n,)."""
    labels = lattice_labels("eam", path)
    return {"fractions": labels.fractions, "seeds": labels.seeds, "a0": labels.a0}


__all__ = ["FccAlloyLattice", "load_dataset"]
