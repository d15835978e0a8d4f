"""zoo-plugin-lammps: LAMMPS (the ``lmp`` executable) as a zoo knowledge source.

The entry point is :mod:`zoo_lammps.plugin`, which imports nothing heavy. ASE is never
needed: contexts are zoo-atomistic's neutral ``Structure`` (also ``zoo_lammps.Structure``)
or anything with ASE's getters. Inputs, outputs and the default task are zoo-atomistic's,
shared with every atomistic code.
"""

__version__ = "0.1.0"

from .structure import Structure, read_structure  # noqa: E402  (numpy only)

__all__ = ["Structure", "read_structure", "__version__"]
