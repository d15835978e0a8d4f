"""Hook implementations of zoo-plugin-ase (the module the ``zoo`` entry point names).

Classes are imported inside the hooks, so listing plugins or ``zoo --help`` never imports
ASE or torch. The default tasks of ``ase-emt``, ``ase-lj`` and ``ase-morse``
(``fcc-alloy-lattice``, ``lj-alloy-eos``, ``morse-alloy-eos``) are zoo-atomistic's, shared
with every other code; ``ase-structure``, the default task of ``ase-calculator``, is this
plugin's own: it relaxes a structure file with ASE's calculators and optimisers.
"""

import zoo


@zoo.hookimpl
def register_knowledge_sources(register):
    from .calculators import EMTSource, LennardJonesSource, MorseSource
    from .generic import CalculatorSource

    register(EMTSource)
    register(LennardJonesSource)
    register(MorseSource)
    register(CalculatorSource)


@zoo.hookimpl
def register_tasks(register):
    from .structure_task import AseStructure

    register(AseStructure)
