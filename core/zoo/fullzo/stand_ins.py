"""Stand-ins for the SKS layer while full-ZO evaluates a loss many times in one step.

A task's loss calls ``layer(z, contexts)``; during the passes of :mod:`zoo.fullzo.passes`
that layer is one of these: pass 1 *captures* every call's SKS rows (and returns
placeholders), pass 2 *replays* the outputs that one batched SKS call computed for them, and
the sequential fallback *counts* the rows it evaluates one call at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError


class _LayerProxy:
    """Looks like the real layer (``layer(z, contexts)``, ``.sks``, ...) to a task's loss."""

    def __init__(self, layer: Any):
        self._layer = layer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._layer, name)

    def _rows(self, z: torch.Tensor, contexts: Sequence[Any] | None) -> np.ndarray:
        spec = self._layer.sks.input_spec
        if z.ndim != 2 or z.shape[1] != len(spec):
            raise ConfigError(
                f"{self._layer.sks.name}: layer input must be (batch, {len(spec)}) for "
                f"{list(spec.names)}, got {tuple(z.shape)}"
            )
        if contexts is not None and len(contexts) != z.shape[0]:
            raise ConfigError(f"{self._layer.sks.name}: {len(contexts)} contexts for {z.shape[0]} rows")
        x = z.detach().to("cpu", torch.float64).numpy()
        inside = getattr(self._layer, "_inside", None)
        return np.array(inside(x) if inside is not None else x, dtype=np.float64)


class CapturingLayer(_LayerProxy):
    """Records every call's SKS rows and contexts; returns zeros as placeholder outputs."""

    def __init__(self, layer: Any):
        super().__init__(layer)
        self.calls: list[tuple[np.ndarray, Sequence[Any] | None]] = []

    def __call__(self, z: torch.Tensor, contexts: Sequence[Any] | None = None) -> torch.Tensor:
        x = self._rows(z, contexts)
        self.calls.append((x, None if contexts is None else list(contexts)))
        d_out = len(self._layer.sks.output_spec)
        return torch.zeros((x.shape[0], d_out), dtype=z.dtype, device=z.device)


class ReplayingLayer(_LayerProxy):
    """Returns precomputed outputs for the calls pass 1 recorded; evaluates any call that
    differs (its inputs depended on SKS outputs) through the real layer, and counts it."""

    def __init__(self, layer: Any, calls: list[tuple[np.ndarray, Sequence[Any] | None]], outputs: list[np.ndarray]):
        super().__init__(layer)
        self._calls, self._outputs = calls, outputs
        self._next = 0
        self.mismatches = 0
        self.extra_queries = 0

    def __call__(self, z: torch.Tensor, contexts: Sequence[Any] | None = None) -> torch.Tensor:
        x = self._rows(z, contexts)
        i = self._next
        self._next += 1
        if i < len(self._calls) and _same_call(self._calls[i], x, contexts):
            y = self._outputs[i]
        else:
            self.mismatches += 1
            self.extra_queries += len(x)
            y = np.asarray(self._layer.evaluate(x, contexts), dtype=np.float64)
        return torch.as_tensor(y, dtype=z.dtype, device=z.device)


def _same_call(call: tuple[np.ndarray, Sequence[Any] | None], x: np.ndarray, contexts: Sequence[Any] | None) -> bool:
    rx, rctx = call
    if rx.shape != x.shape or not np.array_equal(rx, x):
        return False
    if (rctx is None) != (contexts is None):
        return False
    return rctx is None or all(a is b for a, b in zip(rctx, contexts))


class CountingLayer(_LayerProxy):
    """The real layer's forward, run sequentially, with the rows counted."""

    def __init__(self, layer: Any):
        super().__init__(layer)
        self.queries = 0
        self.calls = 0

    def __call__(self, z: torch.Tensor, contexts: Sequence[Any] | None = None) -> torch.Tensor:
        x = self._rows(z, contexts)
        self.queries += len(x)
        self.calls += 1
        y = np.asarray(self._layer.evaluate(x, contexts), dtype=np.float64)
        return torch.as_tensor(y, dtype=z.dtype, device=z.device)

