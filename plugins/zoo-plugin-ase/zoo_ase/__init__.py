"""zoo-plugin-ase: ASE calculators as zoo knowledge sources.

The entry point is :mod:`zoo_ase.plugin`, which imports nothing heavy; ASE itself loads
only when a knowledge source or task from here is built (or a name below is first used).

Public helpers: ``zoo_ase.read_structures(path)`` (every frame of a structure file, e.g. a
multi-frame extxyz as a dataset of contexts) and ``zoo_ase.read_structure(path)``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "read_structure": ("zoo_ase.structures", "read_structure"),
    "read_structures": ("zoo_ase.structures", "read_structures"),
}

__all__ = ["__version__", "read_structure", "read_structures"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo_ase' has no attribute {name!r}")
