"""Hook implementations of zoo-plugin-ase (the module the ``zoo`` entry point names).

Classes are imported inside the hooks, so listing plugins or ``zoo --help`` never imports
ASE or torch. The default tasks of these sources (``fcc-alloy-lattice``, ``lj-alloy-eos``,
``morse-alloy-eos``) are zoo-atomistic's, shared with every other code.
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
