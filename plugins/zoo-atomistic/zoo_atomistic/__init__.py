"""zoo-atomistic: the vocabulary zoo's atomistic knowledge sources share, and their tasks.

Numpy only (no ASE, pymatgen, LAMMPS or torch): a code's plugin imports it to speak the
same language as the others —

* input kinds (:mod:`zoo_atomistic.kinds`): what an input row sets (``lattice_constant``,
  ``strain``, ``positions``, the pair-potential parameters ``epsilon``, ``sigma``, ``r0``,
  ``rho0``, ...), with one meaning, units and default bounds each, and bound tables
  ``{name: bound}``;
* what the structural kinds do to a structure (:mod:`zoo_atomistic.geometry`);
* output quantities and the ``outputs`` option (:mod:`zoo_atomistic.quantities`);
* the row loop: a failed row is NaN, a call where every row failed an error
  (:mod:`zoo_atomistic.rows`);
* :class:`Structure`, the neutral context every atomistic code accepts.

The shared tasks (``fcc-alloy-lattice``, ``eam-alloy-lattice``, ``lj-alloy-eos``,
``morse-alloy-eos``) live in :mod:`zoo_atomistic.tasks` (torch), registered through this
distribution's ``zoo`` entry point :mod:`zoo_atomistic.plugin`.
"""

from __future__ import annotations

from .kinds import KINDS, PAIR_POTENTIALS, Inputs, Kind, parse_inputs
from .quantities import QUANTITIES, Outputs, Quantity, parse_outputs
from .rows import RowFailures, evaluate_rows
from .structure import Structure, as_structure

__version__ = "0.1.0"

__all__ = [
    "Inputs", "KINDS", "Kind", "Outputs", "PAIR_POTENTIALS", "QUANTITIES", "Quantity", "RowFailures",
    "Structure", "__version__", "as_structure", "evaluate_rows", "parse_inputs", "parse_outputs",
]
