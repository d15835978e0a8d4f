"""``dask``: a Dask distributed cluster, zoo's own private one or an existing one.

``workers=N`` starts N single-threaded worker processes on 127.0.0.1 behind TLS with
credentials only this process holds, and no HTTP server (see :mod:`.dask_security`);
``scheduler="tls://HOST:PORT"`` joins an existing cluster instead (e.g. one that
dask-jobqueue started on Slurm; see docs/scaling.md), with ``tls_ca_file``, ``tls_cert`` and
``tls_key`` naming its credentials. Choices forced by Dask's defaults:

* the SKS is scattered to every worker once (``broadcast=True``), not shipped per task, and
  scattered again after a worker death, which can take the last copy with it;
* tasks are submitted with ``pure=False``: Dask would otherwise deduplicate identical calls;
* Dask has no per-task timeout (distributed#391), so zoo watches the clock itself and
  restarts the workers that run a late chunk;
* a worker lost mid-task (killed, OOM, a Slurm walltime) is the cluster's failure, not the
  rows': whatever Dask does not recompute by itself (a cancelled future, ``KilledWorker``,
  a closed connection) comes back as an *interrupted* chunk, which the evaluator re-sends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import shutil
import tempfile
import time

from ..errors import ConfigError, SKSError
from .base import ChunkResult, Executor, run_chunk

#: the default seconds to reach an external scheduler (Dask's own default is 30)
CONNECT_TIMEOUT = 10.0
#: how often the result loop looks up from waiting, to notice a lost scheduler
POLL_SECONDS = 1.0


def _lost_work() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the cluster lost a chunk, not that the SKS failed on it."""
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    return (
        FutureCancelledError,
        concurrent.futures.CancelledError,
        asyncio.CancelledError,
        KilledWorker,
        CommClosedError,
    )


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class DaskExecutor(Executor):
    """Chunks of a batch as Dask tasks on zoo's private cluster or an existing one."""

    name = "dask"
    description = "Dask distributed: a private TLS cluster on 127.0.0.1, or an existing scheduler"
    supports_timeout = True

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        chunks_per_worker: int = 2,
        host: str = "127.0.0.1",
        connect_timeout: float = CONNECT_TIMEOUT,
        worker_timeout: float = 120.0,
        tls_ca_file: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ):
        try:
            from . import dask_security
        except ImportError:
            raise ConfigError(
                "the dask executor needs dask.distributed: pip install 'zoo-core[dask]'"
            ) from None
        for option, value in (("connect_timeout", connect_timeout), ("worker_timeout", worker_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"dask: {option} must be a number of seconds > 0, got {value!r}")
        self.scheduler = None if scheduler is None else dask_security.check_address(scheduler)
        self.host = dask_security.check_host(host)
        self.n_workers = int(workers or 2)
        self.chunks_per_worker = int(chunks_per_worker)
        if self.n_workers < 1 or self.chunks_per_worker < 1:
            raise ConfigError("dask: workers and chunks_per_worker must be >= 1")
        self.connect_timeout = float(connect_timeout)
        self.worker_timeout = float(worker_timeout)
        self.workers = self.n_workers
        self._security = None
        if self.scheduler is not None:
            self._security = dask_security.client_security(self.scheduler, tls_ca_file, tls_cert, tls_key)
        elif any(v is not None for v in (tls_ca_file, tls_cert, tls_key)):
            raise ConfigError(
                "dask: tls_ca_file, tls_cert and tls_key are for a scheduler you name (scheduler="
                "tls://HOST:PORT); zoo's own cluster makes its credentials itself"
            )
        self._client = None
        self._cluster = None
        self._scratch: str | None = None
        self._sks = None
        self._sks_future = None
        if self.scheduler is not None:
            self.client  # fail now, not after the first model has trained  # noqa: B018

    @property
    def client(self):
        """The connected ``distributed.Client``, made on first use."""
        if self._client is None:
            if self.scheduler:
                self._client = self._connect()
                # a chunk per thread: a worker with 4 threads runs 4 chunks at once
                self.workers = max(1, sum(self._client.nthreads().values()))
            else:
                self._client = self._start_private_cluster()
        return self._client

    def _connect(self):
        from distributed import Client

        try:
            return Client(self.scheduler, security=self._security, timeout=self.connect_timeout)
        except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ssl errors, ...
            reason = _one_line(exc)
        # the failed Client closes itself in __del__; left to the garbage collector, that can
        # run inside a later Client's start-up and deadlock distributed's loop runner
        gc.collect()
        tls = ", and that tls_ca_file, tls_cert and tls_key are the cluster's" if self.scheduler.startswith("tls://") else ""
        raise ConfigError(
            f"dask: cannot connect to the scheduler at {self.scheduler} within {self.connect_timeout:g} s "
            f"({reason}). Check that the scheduler is running and reachable at that host and port{tls}; "
            f"executor option connect_timeout=SECONDS waits longer"
        )

    def _start_private_cluster(self):
        from distributed import Client

        from .dask_security import start_private_cluster

        self._scratch = tempfile.mkdtemp(prefix="zoo-dask-")  # 0700: spilled pickles stay ours
        self._cluster, self._security = start_private_cluster(self.n_workers, self.host, self._scratch)
        return Client(self._cluster, security=self._security)

    def _scattered(self, sks):
        """The SKS on the workers: scattered once, again if it or its holders were lost.

        A worker can die during the scatter itself: that is tried again (three times in all)
        once a worker is there, like any other lost work.
        """
        if self._sks_future is not None and sks is self._sks and self._sks_future.status == "finished":
            return self._sks_future
        self._sks, self._sks_future = sks, None
        for _attempt in range(3):
            self._wait_for_a_worker()
            try:
                self._sks_future = self.client.scatter(sks, broadcast=True, hash=False)
                return self._sks_future
            except (OSError, *_lost_work()) as exc:  # TimeoutError: no worker left to take it
                error = exc
        raise SKSError(f"dask: could not send {sks.name} to the workers ({_one_line(error)})")

    def _wait_for_a_worker(self) -> None:
        client = self.client
        if client.nthreads():
            return
        try:
            client.wait_for_workers(1, timeout=self.worker_timeout)
        except Exception:  # noqa: BLE001 - distributed raises its TimeoutError
            raise SKSError(
                f"dask: no worker joined {self._where()} within {self.worker_timeout:g} s; check "
                f"that the workers are running (executor option worker_timeout=SECONDS waits longer)"
            ) from None

    def _where(self) -> str:
        return f"the scheduler at {self.scheduler}" if self.scheduler else "zoo's own cluster"

    def _check_connected(self) -> None:
        """Raise if the scheduler is gone for good (Dask gives up after ``connect_timeout``)."""
        status = getattr(self._client, "status", "running")
        deadline = time.perf_counter() + self.connect_timeout
        while status in ("connecting", "newly-created") and time.perf_counter() < deadline:
            time.sleep(0.1)
            status = self._client.status
        if status != "running":
            raise SKSError(
                f"dask: lost the connection to {self._where()}; check that the scheduler is still "
                f"running, then resume the run (zoo run --resume RUN_DIR)"
            )

    def run(self, sks, chunks, timeout=None):
        from distributed import wait

        client = self.client
        self._check_connected()
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
            poll = POLL_SECONDS if left is None else min(left, POLL_SECONDS)
            try:
                wait([futures[i] for i in pending], timeout=poll, return_when="FIRST_COMPLETED")
            except Exception:  # noqa: BLE001 - TimeoutError on expiry, CancelledError if one was
                pass
            for i in list(pending):
                # "lost": a worker died holding the result; the scheduler recomputes it
                if futures[i].status in ("pending", "lost"):
                    continue
                outcome = self._outcome(futures[i], left)
                if outcome is not None:
                    results[i] = outcome
                    pending.discard(i)
            if any(r is not None and r.interrupted for r in results):
                self._sks_future = None  # a worker died: scatter afresh before the next batch
            if pending and deadline is not None and time.perf_counter() >= deadline:
                self._stop_late([futures[i] for i in pending])
                for i in pending:
                    results[i] = ChunkResult(
                        error=SKSError(f"{sks.name}: {len(chunks[i])} queries ran past the timeout of {timeout:g} s per query"),
                        timed_out=True,
                    )
                pending = set()
            elif pending and self._client.status != "running":
                self._check_connected()
        return results  # type: ignore[return-value]

    def _outcome(self, fut, left: float | None) -> ChunkResult | None:
        """The chunk's result, its SKS's error, or an interruption; None if not ready after all.

        ``fut.status`` was checked just before, but a worker can die in between: a "finished"
        result then turns "lost" (``result()`` waits for the recomputation, at most ``left``
        seconds) or "cancelled" (its input, the scattered SKS, died with it).
        """
        try:
            values, seconds = fut.result(timeout=left)
            return ChunkResult(values=values, seconds=seconds)
        except _lost_work() as exc:
            return ChunkResult(error=SKSError(f"dask: chunk lost with its worker ({_one_line(exc)})"), interrupted=True)
        except Exception as exc:  # noqa: BLE001 - the SKS's own error, or not ready yet
            if isinstance(exc, TimeoutError) and fut.status != "error":
                return None  # waited ``left`` seconds for a recomputation: the deadline decides
            return ChunkResult(error=exc)

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
                try:
                    client.restart()
                except Exception:  # noqa: BLE001 - workers without a nanny: they stay busy
                    pass
        self._sks_future = None  # restarted workers lost the scattered SKS

    def close(self) -> None:
        client, cluster, scratch = self._client, self._cluster, self._scratch
        self._client = self._cluster = self._scratch = None
        self._sks_future = None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def __repr__(self) -> str:
        where = self.scheduler or f"private tls://{self.host} cluster, {self.n_workers} workers"
        return f"<DaskExecutor {where}>"

