"""The G2 molecules whose geometry is one bond length, and their features.

Data: ``ase.collections.g2``, the 162 molecules of Pople's G2 set with the MP2(full)/6-31G*
equilibrium geometries of the G2 papers (L. A. Curtiss, K. Raghavachari, P. C. Redfern,
J. A. Pople, J. Chem. Phys. 106, 1063 (1997), doi:10.1063/1.473182), as ASE ships them,
with initial magnetic moments for the open-shell ones.

Selected: every diatomic, and every AXn molecule whose MP2 geometry is fixed by one bond
length: one kind of ligand, bonds from the centre equal within 1e-3 Å, angles the ideal
ones of its symmetry within 0.5 degrees (:meth:`Molecule.is_symmetric`). The label is that
bond length. Nothing else of the MP2 geometry is kept: the contexts handed to xTB are the
molecules stretched to their covalent-radius sum (directions only carry over, and those
symmetry fixes anyway), so no label travels with a context.

Features (:func:`features`) use only what is known without a calculation: for the bond's two
elements A (centre, or the first atom of a diatomic) and X, period, group, covalent radius
and Pauling electronegativity, each as the sum and the absolute difference of the two
values (so a diatomic's features do not depend on the order of its atoms), the number of
bonds n from the centre, the charge and the number of unpaired electrons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .elements import covalent_radius, pauling, period_group
from .molecule import Molecule

#: the per-element properties behind the features, in :func:`features`' order
PROPERTIES = ("period", "group", "covalent_radius", "electronegativity")
FEATURES = (
    *(f"{p}_{kind}" for p in PROPERTIES for kind in ("sum", "diff")),
    "n_bonds", "charge", "unpaired",
)


@dataclass(frozen=True)
class BondLengthRecord:
    """One G2 molecule of the data set: its name, MP2 bond length (Å, the label), the two
    elements of its bond, the number of bonds from the centre, and its xTB context."""

    name: str
    r_mp2: float
    z_centre: int
    z_ligand: int
    n_bonds: int
    #: the molecule stretched to the covalent-radius sum (no label inside)
    context: Molecule

    @property
    def covalent_sum(self) -> float:
        """The rule of thumb: r = r_cov(A) + r_cov(X) (Å)."""
        return covalent_radius(self.z_centre) + covalent_radius(self.z_ligand)


def g2_one_bond_molecules(length_tol: float = 1e-3, angle_tol: float = 0.5) -> list[BondLengthRecord]:
    """The G2 molecules whose MP2 geometry is one bond length, in ASE's order (diatomics and
    symmetric AXn; see the module docstring)."""
    from ase.collections import g2

    records = []
    for name in g2.names:
        mol = Molecule.from_atoms(g2[name], name=name)
        if len(mol) < 2 or not mol.is_symmetric(length_tol, angle_tol):
            continue
        centre, ligands = mol.star()
        record = BondLengthRecord(
            name=name,
            r_mp2=float(mol.bond_lengths().mean()),
            z_centre=mol.numbers[centre],
            z_ligand=mol.numbers[ligands[0]],
            n_bonds=len(ligands),
            context=mol,
        )
        records.append(_without_label(record))
    return records


def _without_label(record: BondLengthRecord) -> BondLengthRecord:
    from dataclasses import replace

    return replace(record, context=record.context.stretched(record.covalent_sum))


def features(record: BondLengthRecord) -> np.ndarray:
    """The raw feature vector of one molecule (:data:`FEATURES` order)."""
    a, x = record.z_centre, record.z_ligand
    values = []
    for prop in (lambda z: period_group(z)[0], lambda z: period_group(z)[1], covalent_radius, pauling):
        pa, px = prop(a), prop(x)
        values += [pa + px, abs(pa - px)]
    values += [record.n_bonds, record.context.charge, record.context.uhf]
    return np.array(values, dtype=np.float64)


def provenance() -> dict[str, str]:
    """Where the data come from, for a run's summary."""
    import ase

    return {
        "labels": "G2 MP2(full)/6-31G* equilibrium bond lengths (Curtiss et al., J. Chem. Phys. 106, 1063 (1997))",
        "source": f"ase.collections.g2 (ASE {ase.__version__})",
        "selection": "diatomics and symmetric AXn: equal bonds within 1e-3 Å, ideal angles within 0.5 degrees",
        "features": "period, group, covalent radius (Cordero 2008), Pauling electronegativity (Allred 1961) "
        "of the bond's two elements; n bonds; charge; unpaired electrons",
    }
