"""``serial``: every query in this process, in one SKS call per chunk (one chunk a batch)."""

from __future__ import annotations

from .base import ChunkResult, Executor, run_chunk


class Serial(Executor):
    """Evaluate in this process: no overhead, no parallelism, and no way to stop a hang."""

    name = "serial"
    description = "Evaluate every query in this process, in one batched SKS call"

    def __init__(self, workers: int | None = None):
        # ``workers`` is accepted so ``--workers`` never breaks a serial run; it is ignored.
        self.workers = 1

    def run(self, sks, chunks, timeout=None):
        results = []
        for chunk in chunks:
            try:
                values, seconds = run_chunk(sks, chunk.inputs, chunk.contexts)
                results.append(ChunkResult(values=values, seconds=seconds))
            except Exception as exc:  # noqa: BLE001 - reported per chunk to the evaluator
                results.append(ChunkResult(error=exc))
        return results
