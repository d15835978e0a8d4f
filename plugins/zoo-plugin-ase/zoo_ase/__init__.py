"""zoo-plugin-ase: ASE calculators as zoo knowledge sources.

The entry point is :mod:`zoo_ase.plugin`, which imports nothing heavy; ASE itself loads
only when a knowledge source or task from here is built.
"""

__version__ = "0.1.0"
