"""Hook implementations of zoo-plugin-lammps (the module the ``zoo`` entry point names).

Classes are imported inside the hooks, so ``zoo plugins`` and ``zoo --help`` never import
numpy-heavy modules or torch from here. The default task of ``lammps``
(``eam-alloy-lattice``) is zoo-atomistic's, shared with every other code.
"""

import zoo


@zoo.hookimpl
def register_knowledge_sources(register):
    from .source import LammpsSource

    register(LammpsSource)
