"""The alloys of a pair-potential task, by role (training, validation, test): compositions,
their 4-atom cells at each strain, EMT pressure labels and each alloy's starting parameters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..alloys import random_fcc_alloy
from ..structure import Structure
from .labels import PressureLabels, vegard_lattice_constant


@dataclass(frozen=True)
class AlloySet:
    """``x`` fractions (n, 6); ``contexts[i][j]`` alloy i's cell at strain j; ``pressures``
    (n, strains) GPa; ``start`` (n, d) the parameters the model starts from."""

    x: torch.Tensor
    contexts: list[list[Structure]]
    pressures: np.ndarray
    start: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)


def cells(fractions: np.ndarray, seed: int, strains: np.ndarray) -> list[Structure]:
    """The alloy's 4-atom cubic cell (ideal fcc sites) at a = a_Vegard (1 + s) per strain."""
    a = vegard_lattice_constant(fractions) * (1 + strains)
    return [random_fcc_alloy(fractions, seed, repeat=1, a=float(ai)) for ai in a]


def alloy_set(
    data: PressureLabels, rows: np.ndarray, strains: np.ndarray, pressures: np.ndarray, start: torch.Tensor
) -> AlloySet:
    """The alloys ``rows`` of ``data`` at ``strains`` (``pressures``: all alloys' labels there)."""
    return AlloySet(
        x=torch.tensor(data.fractions[rows], dtype=torch.float32),
        contexts=[cells(data.fractions[i], int(data.seeds[i]), strains) for i in rows],
        pressures=pressures[rows],
        start=start[rows],
    )


__all__ = ["AlloySet", "alloy_set", "cells"]
