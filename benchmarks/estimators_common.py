"""Shared pieces of the estimator benchmarks: the rattled Cu cell, a Morse surrogate for
EMT (the control variate), and table/plot writers.

Morse parameters for Cu: Girifalco & Weizer, Phys. Rev. 114, 687 (1959):
D = 0.3429 eV, alpha = 1.3588 1/Å, r0 = 2.866 Å; smoothly cut off between 5 and 6 Å.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def rattled_cu(seed: int = 42, rattle: float = 0.05):
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(rattle, seed=seed)
    return atoms


def exact_energy_gradient(atoms) -> tuple[float, np.ndarray]:
    """EMT energy and dE/dx = -forces, from ASE directly (not counted as SKS queries)."""
    from ase.calculators.emt import EMT

    a = atoms.copy()
    a.calc = EMT()
    return float(a.get_potential_energy()), -a.get_forces().reshape(-1)


class MorseSurrogate:
    """Differentiable pair-potential energy of rows of positions (n, 3N) in their context's cell."""

    def __init__(self, D: float = 0.3429, alpha: float = 1.3588, r0: float = 2.866,
                 r_on: float = 5.0, r_off: float = 6.0):
        self.D, self.alpha, self.r0, self.r_on, self.r_off = D, alpha, r0, r_on, r_off

    def __repr__(self) -> str:
        return f"MorseSurrogate(D={self.D}, alpha={self.alpha}, r0={self.r0})"

    def __call__(self, z: torch.Tensor, contexts) -> torch.Tensor:
        n = z.shape[0]
        out = []
        for i in range(n):
            cell = torch.tensor(np.array(contexts[i].cell), dtype=z.dtype)
            x = z[i].reshape(-1, 3)
            shifts = torch.tensor(
                [[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)], dtype=z.dtype
            ) @ cell
            diff = x[None, :, None, :] - x[:, None, None, :] + shifts[None, None, :, :]
            r = torch.sqrt((diff**2).sum(-1) + 1e-12)
            n_at = x.shape[0]
            self_pair = torch.zeros_like(r, dtype=torch.bool)
            self_pair[torch.arange(n_at), torch.arange(n_at), 13] = True  # shift (0, 0, 0)
            e = self.D * ((1 - torch.exp(-self.alpha * (r - self.r0))) ** 2 - 1)
            t = ((r - self.r_on) / (self.r_off - self.r_on)).clamp(0, 1)
            fc = 0.5 * (1 + torch.cos(torch.pi * t))
            e = torch.where(self_pair | (r >= self.r_off), torch.zeros_like(e), e * fc)
            out.append(0.5 * e.sum())
        return torch.stack(out)[:, None]


def write_json(name: str, data) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def markdown_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
