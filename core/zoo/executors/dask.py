"""``dask``: a Dask distributed cluster, local or remote.

``workers=N`` starts a ``LocalCluster`` of N single-threaded worker processes bound to
127.0.0.1; ``scheduler="tcp://HOST:PORT"`` joins an existing cluster instead (e.g. one that
dask-jobqueue started on Slurm; see docs/scaling.md). Choices forced by Dask's defaults:

* the SKS is scattered to every worker once (``broadcast=True``), not shipped per task;
* tasks are submitted with ``pure=False``: Dask would otherwise deduplicate identical calls;
* Dask has no per-task timeout (distributed#391), so zoo watches the clock itself and
  restarts the workers that run a late chunk;
* a worker lost mid-task (e.g. killed by a Slurm walltime) surfaces as ``KilledWorker``:
  that chunk comes back as an error and the evaluator re-sends it.
"""

from __future__ import annotations

import time

from ..errors import ConfigError, SKSError
from .base import ChunkResult, Executor, run_chunk


class DaskExecutor(Executor):
    """Chunks of a batch as Dask tasks on a local or remote cluster."""

    name = "dask"
    description = "Dask distributed: a LocalCluster on 127.0.0.1 or an existing scheduler"
    supports_timeout = True

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        chunks_per_worker: int = 2,
        host: str = "127.0.0.1",
    ):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError(
                "the dask executor needs dask.distributed: pip install 'zoo-core[dask]'"
            ) from None
        if scheduler is not None and not str(scheduler).startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ConfigError(f"dask: scheduler must be an address like tcp://HOST:PORT, got {scheduler!r}")
        self.scheduler = scheduler
        self.host = host
        self.n_workers = int(workers or 2)
        self.chunks_per_worker = int(chunks_per_worker)
        self.workers = self.n_workers
        self._client = None
        self._cluster = None
        self._sks = None
        self._sks_future = None

    @property
    def client(self):
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.scheduler:
                self._client = Client(self.scheduler)
                self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
            else:
                self._cluster = LocalCluster(
                    n_workers=self.n_workers,
                    threads_per_worker=1,
                    processes=True,
                    host=self.host,
                    dashboard_address=None,
                )
                self._client = Client(self._cluster)
        return self._client

    def _scattered(self, sks):
        if self._sks_future is None or sks is not self._sks:
            self._sks = sks
            self._sks_future = self.client.scatter(sks, broadcast=True, hash=False)
        return self._sks_future

    def run(self, sks, chunks, timeout=None):
        from distributed import wait

        client = self.client
        sks_future = self._scattered(sks)
        futures = [
            client.submit(run_chunk, sks_future, c.inputs, c.contexts, pure=False) for c in chunks
        ]
        results: list[ChunkResult | None] = [None] * len(chunks)
        deadline = None
        if timeout is not None:
            longest = max(len(c) for c in chunks)
            # each worker may run chunks_per_worker chunks one after another
            waves = -(-len(chunks) // max(self.workers, 1))
            deadline = time.perf_counter() + timeout * longest * waves
        pending = set(range(len(chunks)))
        while pending:
            left = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
            try:
                wait([futures[i] for i in pending], timeout=left, return_when="FIRST_COMPLETED")
            except Exception:  # noqa: BLE001 - distributed raises TimeoutError on expiry
                pass
            for i in list(pending):
                fut = futures[i]
                if fut.status == "finished":
                    values, seconds = fut.result()
                    results[i] = ChunkResult(values=values, seconds=seconds)
                    pending.discard(i)
                elif fut.status in ("error", "cancelled", "lost"):
                    try:
                        fut.result()
                        error: BaseException = SKSError(f"dask task {fut.status}")
                    except BaseException as exc:  # noqa: BLE001 - KilledWorker included
                        error = exc
                    # a lost worker (KilledWorker, e.g. a Slurm walltime) is not the rows' fault
                    lost = type(error).__name__ in ("KilledWorker", "CancelledError") or fut.status != "error"
                    results[i] = ChunkResult(error=error, interrupted=lost)
                    pending.discard(i)
            if pending and deadline is not None and time.perf_counter() >= deadline:
                self._stop_late([futures[i] for i in pending])
                for i in pending:
                    results[i] = ChunkResult(
                        error=SKSError(f"{sks.name}: {len(chunks[i])} queries ran past the timeout of {timeout:g} s per query"),
                        timed_out=True,
                    )
                pending = set()
        return results  # type: ignore[return-value]

    def _stop_late(self, futures) -> None:
        """Cancel late tasks and restart the workers running them (a thread cannot be killed)."""
        client = self.client
        keys = {f.key for f in futures}
        busy = [w for w, running in client.processing().items() if keys & set(running)]
        client.cancel(futures)
        if busy:
            try:
                client.restart_workers(busy)
            except Exception:  # noqa: BLE001 - fall back to restarting the whole cluster
                client.restart()
        self._sks_future = None  # restarted workers lost the scattered SKS

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        self._sks_future = None
