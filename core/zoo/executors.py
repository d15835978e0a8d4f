"""Executors: where a batch of SKS queries runs.

An executor takes one whole batch (every query point of a step) so that it can spread it
over processes or machines; the estimator never sees how. Results come back in input order,
which keeps runs deterministic whatever the executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from .sks import KnowledgeSource


class Executor:
    """Base class: ``evaluate(sks, inputs, contexts) -> (n, d_out)``; ``close()`` frees workers."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def evaluate(
        self, sks: KnowledgeSource, inputs: np.ndarray, contexts: Sequence[Any] | None = None
    ) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers; the default executor holds none."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Serial(Executor):
    """Evaluate in this process, in one call of the SKS: no overhead, no parallelism."""

    name = "serial"
    description = "Evaluate every query in this process, in one batched SKS call"

    def __init__(self, workers: int | None = None):
        # ``workers`` is accepted so ``--workers`` never breaks a serial run; it is ignored.
        self.workers = 1

    def evaluate(self, sks, inputs, contexts=None):
        return sks(inputs, contexts)
