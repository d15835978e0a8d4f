"""Hook implementations of zoo-plugin-pymatgen (the module the ``zoo`` entry point names).

Classes are imported inside the hooks, so listing plugins or ``zoo --help`` never imports
pymatgen or torch.
"""

import zoo


@zoo.hookimpl
def register_knowledge_sources(register):
    from .bvs import BondValenceSource
    from .ewald import EwaldSource
    from .xrd import XRDSource

    register(XRDSource)
    register(EwaldSource)
    register(BondValenceSource)


@zoo.hookimpl
def register_tasks(register):
    from .rocksalt_tasks import RocksaltBVSLattice, RocksaltLatticeEnergy
    from .xrd_lattice import XRDLattice

    register(XRDLattice)
    register(RocksaltLatticeEnergy)
    register(RocksaltBVSLattice)
