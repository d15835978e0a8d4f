"""The networks of the alloy tasks."""

from __future__ import annotations

import torch


def mlp(n_in: int, hidden: int, n_out: int) -> torch.nn.Sequential:
    """Two hidden SiLU layers of ``hidden`` units."""
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, hidden), torch.nn.SiLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
        torch.nn.Linear(hidden, n_out),
    )


class LatticeMLP(torch.nn.Module):
    """composition (6 fractions) -> a (Å): offset + 0.2 Å x MLP output."""

    def __init__(self, n_in: int, hidden: int, offset: float):
        super().__init__()
        self.net = mlp(n_in, hidden, 1)
        self.offset = offset
        #: systematic lattice offset between the SKS's physics and the labels (Å)
        self.delta = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.offset + 0.2 * self.net(x).squeeze(-1)


class PairParameterNet(torch.nn.Module):
    """composition -> parameters ``reference * exp(scales * raw)``; ``direct_pressure`` is
    the data-only twin's read-out of the same ``raw`` (with the strain) in place of the
    potential."""

    def __init__(self, n_in: int, hidden: int, scales: list[float]):
        super().__init__()
        d = len(scales)
        self.body = mlp(n_in, hidden, d)
        with torch.no_grad():  # start near the reference parameters
            self.body[-1].weight.mul_(0.1)
            self.body[-1].bias.mul_(0.1)
        self.readout = torch.nn.Sequential(
            torch.nn.Linear(d + 1, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, 1)
        )
        self.register_buffer("scales", torch.tensor(scales, dtype=torch.float32))
        #: which variant trained this model (a buffer, so checkpoints remember it)
        self.register_buffer("through_sks", torch.tensor(False))

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return reference * torch.exp(self.scales * self.body(x))

    def direct_pressure(self, x: torch.Tensor, strains: torch.Tensor) -> torch.Tensor:
        """(n, k) pressures in units of the task's pressure_scale, without a potential."""
        raw = self.body(x)
        n, k = len(raw), len(strains)
        feats = torch.cat([raw[:, None, :].expand(n, k, -1), (strains / 0.03)[None, :, None].expand(n, k, 1)], -1)
        return self.readout(feats).squeeze(-1)


__all__ = ["LatticeMLP", "PairParameterNet", "mlp"]
