"""The atomistic tasks every code serves: they ask their knowledge source in the shared
vocabulary (:mod:`zoo_atomistic.kinds`, :mod:`zoo_atomistic.quantities`), never by its name.

* ``fcc-alloy-lattice`` / ``eam-alloy-lattice``: composition -> equilibrium lattice
  constant of random fcc alloys, few labels plus a zero-pressure condition through the SKS
  (:mod:`.fcc_lattice`);
* ``lj-alloy-eos`` / ``morse-alloy-eos``: composition -> pair-potential parameters fitted to
  EMT pressures (:mod:`.alloy_eos`).

Every task splits its data with :func:`zoo.tasks.split` (test set fixed by ``split_seed``,
``n_validation`` labelled rows held out for :meth:`validate`), draws step-seeded
minibatches, keeps NaN rows out of its loss and reports metrics with units.
"""

from .alloy_eos import AlloyPairPotentialEOS, LJAlloyEOS, MorseAlloyEOS
from .fcc_lattice import EamAlloyLattice, FccAlloyLattice

__all__ = ["AlloyPairPotentialEOS", "EamAlloyLattice", "FccAlloyLattice", "LJAlloyEOS", "MorseAlloyEOS"]
