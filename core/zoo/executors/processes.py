"""``processes``: a local pool of worker processes (concurrent.futures).

Workers start with ``forkserver`` (or ``spawn``), never ``fork``: a fork-started pool hangs
once the parent has run torch. The SKS is pickled once per worker, by the pool's
initializer, not once per query; each chunk then ships only its rows. A chunk that runs past
its timeout, or a worker that dies, costs only the unfinished chunks: the pool is torn down
(hung workers are killed), rebuilt, and those chunks come back as errors for the evaluator
to retry.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import ConfigError, SKSError
from .base import ChunkResult, Executor, run_chunk

_WORKER_SKS = None


def _init_worker(payload: bytes) -> None:
    global _WORKER_SKS
    _WORKER_SKS = pickle.loads(payload)


def _ping(delay: float) -> int:
    time.sleep(delay)
    return os.getpid()


def _run_in_worker(inputs, contexts):
    return run_chunk(_WORKER_SKS, inputs, contexts)


class Processes(Executor):
    """Spread chunks of a batch over a pool of local worker processes."""

    name = "processes"
    description = "A local pool of worker processes (forkserver/spawn), chunked batches"
    supports_timeout = True

    def __init__(self, workers: int | None = None, start_method: str = "forkserver", chunks_per_worker: int = 2):
        methods = multiprocessing.get_all_start_methods()
        if start_method not in ("forkserver", "spawn") or start_method not in methods:
            raise ConfigError(
                f"processes: start_method must be 'forkserver' or 'spawn' (available here: "
                f"{[m for m in methods if m != 'fork']}); 'fork' hangs once torch has run"
            )
        self.workers = int(workers or os.cpu_count() or 1)
        if self.workers < 1 or chunks_per_worker < 1:
            raise ConfigError("processes: workers and chunks_per_worker must be >= 1")
        self.start_method = start_method
        self.chunks_per_worker = int(chunks_per_worker)
        self._pool: ProcessPoolExecutor | None = None
        self._sks = None

    def _ensure_pool(self, sks) -> ProcessPoolExecutor:
        # one pool per SKS object: its pickle goes to each worker once, at start-up
        if self._pool is None or sks is not self._sks:
            self._shutdown(kill=False)
            self._sks = sks
            payload = pickle.dumps(sks)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context(self.start_method),
                initializer=_init_worker,
                initargs=(payload,),
            )
            # start every worker now, so a timeout never counts a worker's start-up
            list(self._pool.map(_ping, [0.05] * self.workers))
        return self._pool

    def run(self, sks, chunks, timeout=None):
        pool = self._ensure_pool(sks)
        results: list[ChunkResult | None] = [None] * len(chunks)
        try:
            futures = {pool.submit(_run_in_worker, c.inputs, c.contexts): i for i, c in enumerate(chunks)}
        except BrokenProcessPool:
            self._shutdown(kill=True)
            return [ChunkResult(error=SKSError("the worker pool broke; chunk not run"), interrupted=True) for _ in chunks]
        started: dict[Future, float] = {}
        pending = set(futures)
        broken = False
        while pending:
            done, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
            for fut in done:
                i = futures[fut]
                try:
                    values, seconds = fut.result()
                    results[i] = ChunkResult(values=values, seconds=seconds)
                except BrokenProcessPool as exc:
                    broken = True  # a worker died: its chunk and the others in flight rerun
                    results[i] = ChunkResult(error=SKSError(f"a worker process died: {exc}"), interrupted=True)
                except Exception as exc:  # noqa: BLE001 - the SKS's own error, per chunk
                    results[i] = ChunkResult(error=exc)
            if timeout is None or not pending:
                continue
            now = time.perf_counter()
            for fut in pending:
                if fut.running():
                    started.setdefault(fut, now)
            # the pool hands chunks out in order, so only the oldest `workers` pending chunks
            # are really running (one more may wait in the pool's queue, already "running")
            oldest = sorted((f for f in pending if f in started), key=futures.__getitem__)[: self.workers]
            late = [f for f in oldest if now - started[f] > timeout * len(chunks[futures[f]])]
            if late:
                for fut in late:
                    i = futures[fut]
                    results[i] = ChunkResult(
                        error=SKSError(
                            f"{sks.name}: {len(chunks[i])} queries ran past the timeout of "
                            f"{timeout:g} s per query"
                        ),
                        timed_out=True,
                    )
                for fut in pending - set(late):
                    results[futures[fut]] = ChunkResult(
                        error=SKSError("not finished: the pool was restarted after a timeout"),
                        interrupted=True,
                    )
                pending = set()
                broken = True
        if broken:
            self._shutdown(kill=True)
        return results  # type: ignore[return-value]

    def _shutdown(self, kill: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:  # hung or dead workers: a graceful shutdown would wait for them forever
            for proc in list(getattr(pool, "_processes", {}).values()):
                try:
                    proc.kill()
                except Exception:  # noqa: BLE001 - already gone
                    pass
        pool.shutdown(wait=not kill, cancel_futures=True)

    def close(self) -> None:
        self._shutdown(kill=False)
