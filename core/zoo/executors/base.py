"""The executor contract: run chunks of SKS queries somewhere, give results back in order.

An executor only moves work. Retries, timeouts' consequences, the failure policy and the
cache live in :class:`zoo.evaluation.Evaluator`, which hands an executor the *chunks* of a
batch and gets back one :class:`ChunkResult` per chunk (values or the exception that ended
it), in input order — which is what keeps runs identical whatever the executor.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import SKSError
from ..sks import KnowledgeSource


@dataclass
class Chunk:
    """Consecutive rows of one batch: inputs (n, d) and their contexts (or None)."""

    inputs: np.ndarray
    contexts: list[Any] | None

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass
class ChunkResult:
    """Outputs of a chunk and the seconds spent inside the SKS, or the error that ended it."""

    values: np.ndarray | None = None
    seconds: float = 0.0
    error: BaseException | None = None
    timed_out: bool = False
    #: stopped through no fault of its own (a pool restarted under it): run it again
    interrupted: bool = False


def run_chunk(sks: KnowledgeSource, inputs: np.ndarray, contexts: list[Any] | None):
    """Evaluate one chunk (runs in a worker); returns (values, seconds inside the SKS)."""
    start = time.perf_counter()
    try:
        values = sks(inputs, contexts)
    except SystemExit as exc:
        # sys.exit() inside a simulator wrapper must not end zoo (or reach the caller from a
        # worker as a SystemExit): it is that call's failure like any other
        raise SKSError(f"{sks.name} called sys.exit({exc.code!r}) while evaluating") from None
    return values, time.perf_counter() - start


def split(inputs: np.ndarray, contexts: Sequence[Any] | None, n_chunks: int) -> list[Chunk]:
    """Split a batch into at most ``n_chunks`` chunks of near-equal size, in order."""
    n = len(inputs)
    n_chunks = max(1, min(n_chunks, n))
    bounds = np.linspace(0, n, n_chunks + 1).round().astype(int)
    return [
        Chunk(inputs[a:b], None if contexts is None else list(contexts[a:b]))
        for a, b in zip(bounds[:-1], bounds[1:])
        if b > a
    ]


class Executor:
    """Base class. Subclasses implement :meth:`run` and, if they hold workers, :meth:`close`.

    ``workers`` says how many chunks to cut a batch into (``chunks_per_worker`` each), so
    that per-task overhead is paid a few times per batch, not once per query.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: whether a query that hangs can be stopped (needs the SKS in another process)
    supports_timeout: ClassVar[bool] = False
    workers: int = 1
    chunks_per_worker: int = 1

    def run(
        self, sks: KnowledgeSource, chunks: list[Chunk], timeout: float | None = None
    ) -> list[ChunkResult]:
        """Evaluate every chunk; ``timeout`` is seconds per query (a chunk gets len x that)."""
        raise NotImplementedError

    def evaluate(
        self, sks: KnowledgeSource, inputs: np.ndarray, contexts: Sequence[Any] | None = None
    ) -> np.ndarray:
        """All rows at once, raising the first chunk's error: the simple path for scripts."""
        chunks = split(np.asarray(inputs, dtype=np.float64), contexts, self.workers * self.chunks_per_worker)
        results = self.run(sks, chunks)
        for r in results:
            if r.error is not None:
                raise r.error
        return np.concatenate([r.values for r in results])

    def close(self) -> None:
        """Release workers; the default executor holds none."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
