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


#: log-ranges of the Birch-Murnaghan twin's (a0, B0, B0') about its start, as the pair
#: potentials' length and energy scales (a 1 % change in a0 moves P by ~3B x 1 %)
BM_SCALES = (0.05, 0.5, 0.3)


def birch_murnaghan_pressure(a, a0, b0, b1):
    """Third-order Birch-Murnaghan pressure (units of ``b0``) of a cubic solid at lattice
    constant ``a``: P = 3/2 B0 (x^7 - x^5) [1 + 3/4 (B0' - 4)(x^2 - 1)], x = a0 / a."""
    eta = (a0 / a) ** 2  # (V0/V)^(2/3)
    return 1.5 * b0 * (eta**3.5 - eta**2.5) * (1 + 0.75 * (b1 - 4) * (eta - 1))


class PairParameterNet(torch.nn.Module):
    """composition -> parameters ``reference * exp(scales * raw)``; ``direct_pressure`` is
    the data-only twin's read-out of the same ``raw`` (with the strain) in place of the
    potential."""

    def __init__(self, n_in: int, hidden: int, scales: list[float], n_raw: int | None = None):
        super().__init__()
        d = len(scales)
        self.n_params = d
        self.body = mlp(n_in, hidden, max(d, n_raw or d))
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
        return reference * torch.exp(self.scales * self.body(x)[:, : self.n_params])

    def birch_murnaghan(self, x: torch.Tensor, a_vegard: torch.Tensor, strains: torch.Tensor,
                        start: tuple[float, float]) -> torch.Tensor:
        """(n, k) GPa: the third-order Birch-Murnaghan pressure at a = a_V (1 + s), with
        (a0, B0, B0') = (a_V, ``start[0]``, ``start[1]``) * exp(scales * raw): the data-only
        twin with a physical functional form and the coupled model's starting point."""
        raw = self.body(x)[:, :3]
        a0 = a_vegard * torch.exp(BM_SCALES[0] * raw[:, 0])
        b0 = start[0] * torch.exp(BM_SCALES[1] * raw[:, 1])
        b1 = start[1] * torch.exp(BM_SCALES[2] * raw[:, 2])
        a = a_vegard[:, None] * (1 + strains[None, :])
        return birch_murnaghan_pressure(a, a0[:, None], b0[:, None], b1[:, None])

    def direct_pressure(self, x: torch.Tensor, strains: torch.Tensor) -> torch.Tensor:
        """(n, k) pressures in units of the task's pressure_scale, without a potential."""
        raw = self.body(x)[:, : self.n_params]
        n, k = len(raw), len(strains)
        feats = torch.cat([raw[:, None, :].expand(n, k, -1), (strains / 0.03)[None, :, None].expand(n, k, 1)], -1)
        return self.readout(feats).squeeze(-1)


__all__ = ["LatticeMLP", "PairParameterNet", "birch_murnaghan_pressure", "mlp"]
