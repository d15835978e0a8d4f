"""The label files of the alloy tasks (``zoo_atomistic/data``), and Vegard's law.

* ``fcc_alloys_eam.csv``: relaxed lattice constants ``a0_eam`` from LAMMPS EAM (Foiles u3),
  made by ``scripts/make_fcc_alloy_data.py``;
* ``fcc_alloys_emt.csv``: relaxed lattice constants ``a0_emt`` from ASE's EMT, made by
  ``scripts/make_emt_labels.py``;
* ``fcc_alloys_emt_pressures.csv``: ASE EMT pressures of the alloys of the EAM file at
  ``a = a_Vegard (1 + s)`` for strains s from -6 to +6 %, one column ``p+0.030`` per s,
  made by ``scripts/make_emt_pressures.py``.

Every file is computed once, by a committed script, so a task never needs the code that
made its labels (a LAMMPS-only install runs every task). Lines starting with ``#`` say how
each file was made.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from zoo import ConfigError

from ..alloys import ELEMENTS

#: the shipped lattice-constant labels: file, column, and what made them
LATTICE_LABELS = {
    "eam": ("fcc_alloys_eam.csv", "a0_eam", "LAMMPS EAM u3 (relaxed)"),
    "emt": ("fcc_alloys_emt.csv", "a0_emt", "ASE EMT (relaxed)"),
}
PRESSURE_LABELS = "fcc_alloys_emt_pressures.csv"

#: ASE's reference fcc lattice constants (``ase.data.reference_states``, Å) of ELEMENTS
REFERENCE_A = np.array([3.61, 4.09, 4.08, 3.52, 3.89, 3.92])


def vegard_lattice_constant(fractions: np.ndarray) -> float:
    """Fraction-weighted mean of ASE's reference fcc lattice constants (Å)."""
    return float(np.asarray(fractions, float) @ REFERENCE_A)


def read_rows(path: str | Path | None, shipped: str, columns: set[str], what: str) -> list[dict[str, str]]:
    """The rows of a label CSV (``#`` lines skipped): the shipped file, or ``path``; a file
    that cannot be read or lacks ``columns`` is a ConfigError."""
    if path is None:
        text = resources.files("zoo_atomistic").joinpath("data", shipped).read_text()
    else:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {what} file {str(path)!r}: {exc}") from None
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    missing = {*ELEMENTS, "seed", *columns} - set(rows[0] if rows else ())
    if missing:
        raise ConfigError(f"{what} file {str(path or shipped)!r} lacks columns {sorted(missing)}")
    return rows


@dataclass(frozen=True)
class LatticeLabels:
    """Alloys with a lattice-constant label: fractions (n, 6), decoration seeds (n,), a0 (n,) Å."""

    fractions: np.ndarray
    seeds: np.ndarray
    a0: np.ndarray
    source: str


def lattice_labels(labels: str = "eam", path: str | Path | None = None) -> LatticeLabels:
    """The ``labels`` lattice constants (``eam`` or ``emt``): the shipped file, or ``path`` (a
    CSV with the same columns)."""
    if labels not in LATTICE_LABELS:
        raise ConfigError(f"labels must be one of {', '.join(LATTICE_LABELS)}, got {labels!r}")
    shipped, column, source = LATTICE_LABELS[labels]
    rows = read_rows(path, shipped, {column}, "label")
    return LatticeLabels(
        fractions=np.array([[float(r[e]) for e in ELEMENTS] for r in rows]),
        seeds=np.array([int(r["seed"]) for r in rows]),
        a0=np.array([float(r[column]) for r in rows]),
        source=source if path is None else f"{source}, from {path}",
    )


@dataclass(frozen=True)
class PressureLabels:
    """Alloys with pressures (GPa) at strains: fractions (n, 6), seeds (n,), and
    ``pressures[s]`` (n,) for every strain s of the file."""

    fractions: np.ndarray
    seeds: np.ndarray
    pressures: dict[float, np.ndarray]

    def at(self, strains: np.ndarray, what: str) -> np.ndarray:
        """Pressures (n, len(strains)); a strain the file lacks is a ConfigError."""
        missing = [float(s) for s in strains if _key(s) not in self.pressures]
        if missing:
            have = ", ".join(f"{s:g}" for s in sorted(self.pressures))
            raise ConfigError(
                f"{what}: no EMT pressures at strain(s) {missing}; the label file has {have}. Make "
                f"a file with those strains (plugins/zoo-atomistic/scripts/make_emt_pressures.py "
                f"--strains ...) and pass it as the task option data=PATH"
            )
        return np.stack([self.pressures[_key(s)] for s in strains], axis=1)


def _key(strain: float) -> float:
    return round(float(strain), 9)


def pressure_labels(path: str | Path | None = None) -> PressureLabels:
    """The EMT pressure labels: the shipped file, or ``path`` (a CSV with the same layout)."""
    rows = read_rows(path, PRESSURE_LABELS, set(), "pressure label")
    columns = [c for c in rows[0] if c.startswith("p") and c[1:2] in "+-" and len(c) > 2]
    try:
        strains = {c: _key(float(c[1:])) for c in columns}
    except ValueError:
        raise ConfigError(f"pressure label columns must be named p<strain>, e.g. p+0.030; got {columns}") from None
    if not strains:
        raise ConfigError("the pressure label file has no p<strain> column")
    return PressureLabels(
        fractions=np.array([[float(r[e]) for e in ELEMENTS] for r in rows]),
        seeds=np.array([int(r["seed"]) for r in rows]),
        pressures={s: np.array([float(r[c]) for r in rows]) for c, s in strains.items()},
    )


__all__ = [
    "LATTICE_LABELS", "LatticeLabels", "PressureLabels", "REFERENCE_A", "lattice_labels",
    "pressure_labels", "read_rows", "vegard_lattice_constant",
]
