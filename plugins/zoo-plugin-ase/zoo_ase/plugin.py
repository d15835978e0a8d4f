"""Hook implementations of zoo-plugin-ase (the module the ``zoo`` entry point names).

Classes are imported inside the hooks, so listing plugins or ``zoo --help`` never imports
ASE or torch.
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
    from .alloy_eos import LJAlloyEOS, MorseAlloyEOS
    from .fcc_lattice import FccAlloyLattice

    register(FccAlloyLattice)
    register(LJAlloyEOS)
    register(MorseAlloyEOS)
