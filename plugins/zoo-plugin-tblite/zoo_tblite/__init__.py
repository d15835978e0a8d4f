"""zoo-plugin-tblite: GFN-xTB tight binding (the ``tblite`` library) as a zoo knowledge source.

The entry point is :mod:`zoo_tblite.plugin`, which imports nothing heavy; tblite, ASE and
torch load only when the knowledge source or the task is built (or a name below is first
used).

* ``xtb``: single points of molecules with GFN2-xTB or GFN1-xTB: energy, forces, the
  bond force along a molecule's symmetric stretch, the HOMO-LUMO gap
  (:mod:`zoo_tblite.xtb`).
* ``g2-bond-length``: its default task, bond lengths of the G2 molecules whose geometry is
  one bond length (:mod:`zoo_tblite.bond_length`).

Public helpers: ``Molecule`` (the pickle-friendly context), ``equilibrium_bond_length``
(xTB's own bond length, by root-solving the bond force through the knowledge source) and
``g2_one_bond_molecules`` (the data set).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Molecule": ("zoo_tblite.molecule", "Molecule"),
    "equilibrium_bond_length": ("zoo_tblite.solve", "equilibrium_bond_length"),
    "g2_one_bond_molecules": ("zoo_tblite.g2", "g2_one_bond_molecules"),
}

__all__ = ["Molecule", "__version__", "equilibrium_bond_length", "g2_one_bond_molecules"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo_tblite' has no attribute {name!r}")
