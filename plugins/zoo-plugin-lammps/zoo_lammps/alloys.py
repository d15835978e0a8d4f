"""Random fcc alloys of Cu, Ag, Au, Ni, Pd, Pt (no ASE): zoo-atomistic's builder, the one
every code's tasks use (:mod:`zoo_atomistic.alloys`), kept here for old imports."""

from zoo_atomistic.alloys import ELEMENTS, atom_counts, fcc_sites, random_fcc_alloy

__all__ = ["ELEMENTS", "atom_counts", "fcc_sites", "random_fcc_alloy"]
