"""A control variate for ZO estimates: estimate only what a cheap surrogate does not know.

Where a task has a cheap *differentiable* approximation s(z; context) of its knowledge
source f (a fitted equation of state, a pair potential, a linearisation), write

    f = s + (f - s),    v^T J_f = v^T J_s (autograd, exact) + v^T J_(f - s) (ZO estimate)

Only the residual r = f - s goes through the estimator. Every estimator's error scales with
the function it differentiates - RGE's variance is ~ (d/q) |v^T J_r|^2 instead of
(d/q) |v^T J_f|^2, a forward difference's bias ~ mu |d^2 r| instead of mu |d^2 f| - so a
surrogate that captures most of f's gradient (or curvature) cuts the error by that ratio at
no extra query. The forward value is still exactly f(z), and a poor surrogate costs nothing
but its own evaluation and the variance it adds: the mean of the estimate is
grad f_mu - grad s_mu + grad s, i.e. what the chosen estimator's mean is for f (the
gradient of the smoothed f_mu) up to grad s - grad s_mu = O(mu^2) (zero for a quadratic s),
whatever s is.

:class:`ControlVariateLayer` is a drop-in for :class:`zoo.SKSLayer`: ``layer(z, contexts)``,
same options, plus ``surrogate(z, contexts) -> tensor`` (differentiable torch, (n, d_in) ->
(n, d_out)). Underneath it is an ordinary SKS layer around :class:`ResidualSource`, so
executors, caching and bounds work unchanged; the surrogate must pickle when the executor
ships queries to other processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from . import registry
from .errors import ConfigError
from .layer import SKSLayer
from .sks import KnowledgeSource

Surrogate = Callable[[torch.Tensor, Sequence[Any] | None], torch.Tensor]


def _surrogate_values(surrogate: Surrogate, x: np.ndarray, contexts: Sequence[Any] | None, d_out: int) -> np.ndarray:
    with torch.no_grad():
        s = surrogate(torch.as_tensor(np.asarray(x, dtype=np.float64)), contexts)
    s = torch.as_tensor(s).detach().to("cpu", torch.float64).numpy()
    if s.shape != (len(x), d_out):
        raise ConfigError(f"surrogate returned shape {s.shape}, expected ({len(x)}, {d_out})")
    return s


class ResidualSource(KnowledgeSource):
    """The knowledge source f minus a surrogate s: what the estimator still has to learn."""

    name = "residual"
    description = "f - surrogate (control variate)"

    def __init__(self, sks: KnowledgeSource, surrogate: Surrogate):
        if not callable(surrogate):
            raise ConfigError("control variate: surrogate must be callable as surrogate(z, contexts)")
        self.sks, self.surrogate = sks, surrogate
        self.name = f"{sks.name}-minus-surrogate"
        self.input_spec, self.output_spec = sks.input_spec, sks.output_spec
        self.options = {"sks": sks.name, **getattr(sks, "options", {}), "surrogate": repr(surrogate)}

    def evaluate(self, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        y = self.sks(inputs, contexts)
        return y - _surrogate_values(self.surrogate, inputs, contexts, y.shape[1])


class ControlVariateLayer(torch.nn.Module):
    """``y = f(z)`` whose backward is v^T J_s by autograd plus a ZO estimate of v^T J_(f-s)."""

    def __init__(self, sks: KnowledgeSource | str, surrogate: Surrogate, estimator: Any = "rge",
                 executor: Any = "serial", seed: int | None = None, **layer_options: Any):
        super().__init__()
        real = registry.knowledge_source(sks) if isinstance(sks, str) else sks
        self.surrogate = surrogate
        self.residual = SKSLayer(ResidualSource(real, surrogate), estimator=estimator, executor=executor,
                                 seed=seed, **layer_options)
        self.real_sks = real

    @property
    def sks(self) -> KnowledgeSource:
        return self.real_sks

    @property
    def estimator(self) -> Any:
        return self.residual.estimator

    @property
    def executor(self) -> Any:
        return self.residual.executor

    @property
    def queries(self) -> int:
        return self.residual.queries

    @property
    def gradient_queries(self) -> int:
        return self.residual.gradient_queries

    def forward(self, z: torch.Tensor, contexts: Sequence[Any] | None = None) -> torch.Tensor:
        r = self.residual(z, contexts)
        spec = self.real_sks.input_spec
        lo = torch.tensor(np.array(spec.lower), dtype=z.dtype, device=z.device)
        hi = torch.tensor(np.array(spec.upper), dtype=z.dtype, device=z.device)
        # the SKS is evaluated at the nearest point inside its bounds, and the gradient passes
        # straight through (as SKSLayer does): the surrogate follows the same rule
        zc = z + (torch.maximum(torch.minimum(z, hi), lo) - z).detach()
        s = self.surrogate(zc.to(torch.float64), contexts)
        return r + s.to(r.dtype)

    def evaluate(self, x: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        """f itself at rows x (through the residual layer's executor, plus the surrogate)."""
        r = np.asarray(self.residual.evaluate(x, contexts), dtype=np.float64)
        return r + _surrogate_values(self.surrogate, x, contexts, r.shape[1])

    def _inside(self, x: np.ndarray) -> np.ndarray:
        return self.residual._inside(x)
