"""Hook implementations of zoo-plugin-tblite (the module the ``zoo`` entry point names).

Classes are imported inside the hooks, so listing plugins or ``zoo --help`` never imports
tblite, ASE or torch.
"""

import zoo


@zoo.hookimpl
def register_knowledge_sources(register):
    from .xtb import XTBSource

    register(XTBSource)


@zoo.hookimpl
def register_tasks(register):
    from .bond_length import G2BondLength

    register(G2BondLength)
