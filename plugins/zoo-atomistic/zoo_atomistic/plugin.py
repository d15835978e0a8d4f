"""Hook implementations of zoo-atomistic (the module its ``zoo`` entry point names).

The tasks are imported inside the hook, so listing plugins or ``zoo --help`` never imports
torch from here.
"""

import zoo


@zoo.hookimpl
def register_tasks(register):
    from .tasks import EamAlloyLattice, FccAlloyLattice, LJAlloyEOS, MorseAlloyEOS

    register(FccAlloyLattice)
    register(EamAlloyLattice)
    register(LJAlloyEOS)
    register(MorseAlloyEOS)
