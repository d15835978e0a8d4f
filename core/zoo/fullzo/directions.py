"""The trainable parameters as one flat vector, and directions through it, never stored.

A direction of a :class:`~zoo.estimators.base.DirectionPlan` is a coordinate axis (one
scalar) or a random vector regenerated from its seed one parameter tensor at a time,
wherever it is needed (the MeZO trick): no (q, P) matrix, nor even one P-vector, exists.
:class:`Perturber` moves theta along one of them in place and always moves it back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..estimators.base import DirectionPlan

RESTORES = ("copy", "subtract")


class ParameterSpace:
    """The trainable parameters as one flat vector of P numbers (without concatenating)."""

    def __init__(self, params: Sequence[torch.Tensor]):
        self.params = list(params)
        if not self.params:
            raise ConfigError("full-ZO: the model has no trainable parameters")
        self.sizes = [p.numel() for p in self.params]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.size = int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(parameter number, flat index inside it) of global coordinate ``index``."""
        k = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return k, int(index - self.offsets[k])

    def groups(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.params)), self.sizes)

    def flat(self, tensors: Sequence[torch.Tensor]) -> np.ndarray:
        return np.concatenate([t.detach().reshape(-1).double().cpu().numpy() for t in tensors])


class Directions:
    """Direction j of a :class:`DirectionPlan`, generated one parameter tensor at a time.

    u_j = b_j (n_j - a_j p): n_j the raw draw from seed j, p the unit prior (or none),
    a_j = n_j . p, and b_j = 1 / |n_j - a_j p| for sphere directions (1 otherwise).
    With a prior, direction 0 is p itself.
    """

    def __init__(self, space: ParameterSpace, plan: DirectionPlan, prior: list[torch.Tensor] | None = None):
        self.space, self.plan = space, plan
        self.prior = prior
        self._coef: dict[int, tuple[float, float]] = {}
        if plan.coordinates is None and plan.seeds is None:
            raise ConfigError("full-ZO: a parameter plan needs coordinates or seeds")
        if plan.distribution not in ("gaussian", "sphere", "rademacher"):
            raise ConfigError(f"full-ZO: unknown direction distribution {plan.distribution!r}")

    def _raw(self, j: int) -> Iterator[torch.Tensor]:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(self.plan.seeds[j]) % (2**63))
        for p in self.space.params:
            if self.plan.distribution == "rademacher":
                n = torch.randint(0, 2, p.shape, generator=gen).to(p.dtype).mul_(2).sub_(1)
            else:
                n = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            yield n.to(p.device)

    def _coefficients(self, j: int) -> tuple[float, float]:
        if j not in self._coef:
            need_dot = self.prior is not None
            need_norm = self.plan.distribution == "sphere"
            a = b = 0.0
            if need_dot or need_norm:
                dot = sq = 0.0
                for k, n in enumerate(self._raw(j)):
                    if need_dot:
                        dot += float(torch.sum(n.double() * self.prior[k].double()))
                    sq += float(torch.sum(n.double() ** 2))
                a = dot if need_dot else 0.0
                sq_proj = sq - a * a
                b = 1.0 / np.sqrt(sq_proj) if need_norm and sq_proj > 0 else 1.0
            else:
                b = 1.0
            self._coef[j] = (a, b)
        return self._coef[j]

    def chunks(self, j: int) -> Iterator[tuple[int, torch.Tensor]]:
        """(parameter number, u_j restricted to it), for a dense (random or prior) direction."""
        if self.plan.prior and j == 0:
            assert self.prior is not None
            yield from enumerate(self.prior)
            return
        a, b = self._coefficients(j)
        for k, n in enumerate(self._raw(j)):
            if self.prior is not None and a != 0.0:
                n = n.sub_(self.prior[k], alpha=a)
            if b != 1.0:
                n = n.mul_(b)
            yield k, n

    def add(self, j: int, alpha: float, targets: Sequence[torch.Tensor]) -> None:
        """targets += alpha * u_j."""
        if self.plan.coordinates is not None:
            k, i = self.space.locate(int(self.plan.coordinates[j]))
            targets[k].view(-1)[i] += alpha
            return
        for k, u in self.chunks(j):
            targets[k].add_(u, alpha=alpha)

    def dot(self, j: int, vectors: Sequence[torch.Tensor]) -> tuple[float, float]:
        """(u_j . vectors, |u_j|^2)."""
        if self.plan.coordinates is not None:
            k, i = self.space.locate(int(self.plan.coordinates[j]))
            return float(vectors[k].reshape(-1)[i]), 1.0
        dot = sq = 0.0
        for k, u in self.chunks(j):
            dot += float(torch.sum(u.double() * vectors[k].double()))
            sq += float(torch.sum(u.double() ** 2))
        return dot, sq


class Perturber:
    """Applies theta + h u_j in place and restores theta (exactly with ``copy``)."""

    def __init__(self, space: ParameterSpace, directions: Directions, restore: str):
        if restore not in RESTORES:
            raise ConfigError(f"full-ZO: restore must be one of {RESTORES}, got {restore!r}")
        self.space, self.dirs, self.restore = space, directions, restore
        self.coordinates = directions.plan.coordinates is not None
        self.backup = None
        if restore == "copy" and not self.coordinates:
            self.backup = [p.detach().clone() for p in space.params]

    def apply(self, j: int, h: float) -> Any:
        params = [p.data for p in self.space.params]
        if self.coordinates:
            k, i = self.space.locate(int(self.dirs.plan.coordinates[j]))
            flat = params[k].view(-1)
            old = flat[i].clone()
            flat[i] = old + h
            return (k, i, old)
        self.dirs.add(j, h, params)
        return (j, h)

    def undo(self, token: Any) -> None:
        params = [p.data for p in self.space.params]
        if self.coordinates:
            k, i, old = token
            params[k].view(-1)[i] = old
        elif self.backup is not None:
            for p, b in zip(params, self.backup):
                p.copy_(b)
        else:
            j, h = token
            self.dirs.add(j, -h, params)
