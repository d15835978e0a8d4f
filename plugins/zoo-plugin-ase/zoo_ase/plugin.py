"""Hook implementations of zoo-plugin-ase (the module the ``zoo`` entry point names).

Classes are imported inside the hooks, so listing plugins or ``zoo --help`` never imports
ASE or torch.
"""

import zoo


@zoo.hookimpl
def register_knowledge_sources(register):
    from .calculators import EMTSource

    register(EMTSource)


@zoo.hookimpl
def register_tasks(register):
    from .fcc_lattice import FccAlloyLattice

    register(FccAlloyLattice)
