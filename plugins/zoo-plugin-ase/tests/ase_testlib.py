"""Helpers shared by the zoo-plugin-ase tests (a uniquely named module, so it never
clashes with another test folder's modules when pytest collects several folders).

Every reference number in these tests comes from ASE itself (a fresh
``ase.calculators.emt.EMT()`` on a structure built by hand), never from zoo.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT

import zoo

# Cu25 Ag25 Ni25 Pd25 (8 atoms of each on the 32 sites): four EMT elements of
# different sizes, so the ideal lattice is under non-zero pressure and rattled copies
# carry sizeable forces.
ALLOY = (0.25, 0.25, 0.0, 0.25, 0.25, 0.0)


def emt_reference(atoms: Atoms) -> dict[str, np.ndarray]:
    """Everything zoo's ase-emt outputs, computed by ASE directly with a fresh EMT."""
    from ase import units

    a = atoms.copy()
    a.calc = EMT()
    e = a.get_potential_energy()
    stress = a.get_stress(voigt=True)  # eV/Å^3, order xx yy zz yz xz xy
    return {
        "energy": np.array([e]),
        "energy_per_atom": np.array([e / len(a)]),
        "stress_ev": stress,
        "stress": stress / units.GPa,
        "pressure": np.array([-stress[:3].mean() / units.GPa]),
        "volume": np.array([a.get_volume()]),
        "volume_per_atom": np.array([a.get_volume() / len(a)]),
        "forces": a.get_forces(apply_constraint=False).reshape(-1),
    }


def sheared(atoms: Atoms, seed: int = 0, rattle: float = 0.04) -> Atoms:
    """A copy with a triclinic cell (shear of a few per cent) and rattled positions.

    Shearing the cell and moving atoms off their ideal sites makes all six stress
    components non-zero, which the strain tests need.
    """
    out = atoms.copy()
    shear = np.array([[1.0, 0.03, -0.02], [0.015, 0.99, 0.025], [-0.01, 0.02, 1.01]])
    out.set_cell(out.cell @ shear, scale_atoms=True)
    out.rattle(rattle, seed=seed)
    return out


class RecordingExecutor(zoo.Executor):
    """The serial executor's behaviour (one batched SKS call), keeping every batch it ran."""

    name = "recording"
    description = "serial, and remembers every query"

    def __init__(self):
        self.batches: list[np.ndarray] = []

    def evaluate(self, sks, inputs, contexts=None):
        self.batches.append(np.array(inputs, dtype=np.float64, copy=True))
        return sks(inputs, contexts)

    def run(self, sks, chunks, timeout=None):
        """The chunked entry point of newer cores (zoo.evaluation hands executors chunks)."""
        from zoo.executors.base import ChunkResult

        results = []
        for chunk in chunks:
            self.batches.append(np.array(chunk.inputs, dtype=np.float64, copy=True))
            try:
                results.append(ChunkResult(values=sks(chunk.inputs, chunk.contexts)))
            except Exception as exc:  # noqa: BLE001 - reported per chunk, as the serial executor does
                results.append(ChunkResult(error=exc))
        return results

    @property
    def queries(self) -> np.ndarray:
        return np.concatenate(self.batches) if self.batches else np.empty((0, 0))
