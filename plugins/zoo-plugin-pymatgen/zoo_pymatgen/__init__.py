"""zoo-plugin-pymatgen: pymatgen analyzers as zoo knowledge sources.

The entry point is :mod:`zoo_pymatgen.plugin`, which imports nothing heavy; pymatgen itself
loads only when a knowledge source or task from here is built.

Knowledge sources: ``pymatgen-xrd`` (a broadened XRD pattern on a fixed 2-theta grid),
``pymatgen-ewald`` (Ewald electrostatic energy and forces) and ``pymatgen-bvs`` (bond-valence
sums and the global instability index).
"""

__version__ = "0.1.0"
