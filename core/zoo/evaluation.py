"""Getting SKS values robustly: cache first, then the executor, then the failure policy.

Every SKS query zoo makes goes through :class:`Evaluator`:

1. rows already in the cache are answered from it (``cache_hits``);
2. the rest go to the executor in chunks, in one batch;
3. a chunk that raised is re-run row by row, so one bad row does not sink its neighbours;
4. rows that raised, came back NaN/inf or ran past the timeout are retried up to
   ``retries`` times;
5. what still fails is handled by the policy: ``skip`` (a NaN row: the layer sends it no
   gradient queries and a task's ``nanmean`` drops it from the loss), ``penalty`` (the
   row is filled with ``penalty``), or ``abort`` (raise :class:`zoo.SKSError`).

Every count lands in :class:`EvaluationStats`, which the run's metrics and summary report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .cache import Cache, query_keys
from .config import ON_FAILURE
from .errors import ConfigError, SKSError
from .executors.base import Executor, split
from .sks import KnowledgeSource


@dataclass
class FailurePolicy:
    """What to do with a query that raises, returns NaN/inf, or hangs."""

    retries: int = 1
    on_failure: str = "skip"
    penalty: float = 0.0
    #: seconds per query; needs an executor that runs the SKS in another process
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.on_failure not in ON_FAILURE:
            raise ConfigError(f"on_failure must be one of {ON_FAILURE}, got {self.on_failure!r}")
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0, got {self.retries}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(f"the SKS timeout must be > 0 seconds, got {self.timeout}")


@dataclass
class EvaluationStats:
    """Counters of everything the evaluator did (rows, not calls)."""

    queries: int = 0  # rows sent to the SKS, retries included
    cache_hits: int = 0
    retried: int = 0  # rows sent again after a failure
    raised: int = 0  # failed attempts by kind
    nonfinite: int = 0
    timeouts: int = 0
    failed: int = 0  # rows given up on after all retries
    sks_seconds: float = 0.0  # time spent inside SKS calls, summed over workers

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Evaluator:
    """Evaluates SKS rows through an executor, with a cache and a failure policy."""

    def __init__(self, executor: Executor, cache: Cache | None = None, policy: FailurePolicy | None = None):
        self.executor, self.cache = executor, cache
        self.policy = policy or FailurePolicy()
        if self.policy.timeout is not None and not executor.supports_timeout:
            raise ConfigError(
                f"an SKS timeout needs an executor that runs the SKS in another process; the "
                f"{executor.name!r} executor cannot stop a hung call. Use --executor processes "
                f"(or dask)"
            )
        self.stats = EvaluationStats()
        self.last_error: str | None = None

    def evaluate(self, sks: KnowledgeSource, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        x = np.ascontiguousarray(inputs, dtype=np.float64)
        n = len(x)
        y = np.full((n, len(sks.output_spec)), np.nan)
        if n == 0:
            return y
        keys = query_keys(sks, x, contexts) if self.cache is not None else None
        todo = np.arange(n)
        if keys is not None:
            found = self.cache.get(keys, width=len(sks.output_spec))
            # only finite rows are stored; a non-finite one (a damaged or edited file) is
            # asked again when the policy allows retries
            usable = (lambda v: True) if self.policy.retries == 0 else (lambda v: bool(np.isfinite(v).all()))
            hit = np.array([k in found and usable(found[k]) for k in keys])
            for i in np.flatnonzero(hit):
                y[i] = found[keys[i]]
            self.stats.cache_hits += int(hit.sum())
            todo = np.flatnonzero(~hit)
        failed = self._settle(sks, x, contexts, todo, y, self.executor.workers * self.executor.chunks_per_worker)
        for _ in range(self.policy.retries):
            if failed.size == 0:
                break
            self.stats.retried += len(failed)
            failed = self._settle(sks, x, contexts, failed, y, len(failed))
        if keys is not None:
            done = np.setdiff1d(todo, failed)
            self.cache.put([keys[i] for i in done], y[done])
        if failed.size:
            self.stats.failed += len(failed)
            if self.policy.on_failure == "abort":
                raise SKSError(
                    f"{sks.name}: {len(failed)} of {n} queries failed after "
                    f"{self.policy.retries} retries (on_failure='abort'); first error: {self.last_error}"
                )
            y[failed] = self.policy.penalty if self.policy.on_failure == "penalty" else np.nan
        return y

    def _settle(self, sks, x, contexts, rows: np.ndarray, y: np.ndarray, n_chunks: int) -> np.ndarray:
        """Run ``rows`` until each has a value or a failure of its own; return the failed.

        Rows of a chunk that failed as a whole (one bad row among many, or a pool torn down
        under it) are re-run one row per chunk, as long as that makes progress.
        """
        failed, rerun = self._pass(sks, x, contexts, rows, y, n_chunks)
        while rerun.size:
            more, again = self._pass(sks, x, contexts, rerun, y, len(rerun))
            failed = np.union1d(failed, more)
            if again.size >= rerun.size:
                # no progress (e.g. a row that kills its worker takes the others in flight
                # with it): one row in flight at a time finds the culprit
                for i in again:
                    more, alone = self._pass(sks, x, contexts, np.array([i]), y, 1)
                    if alone.size:
                        self.stats.raised += 1
                        self.last_error = f"query {i} stopped its worker (crashed or was killed) twice"
                    failed = np.union1d(failed, np.union1d(more, alone))
                break
            rerun = again
        return failed.astype(int)

    def _pass(self, sks, x, contexts, rows: np.ndarray, y: np.ndarray, n_chunks: int):
        """Run ``rows`` once; fill ``y``; return (rows that failed, rows to run again)."""
        if rows.size == 0:
            return rows, rows
        ctx = None if contexts is None else [contexts[i] for i in rows]
        chunks = split(x[rows], ctx, n_chunks)
        results = self.executor.run(sks, chunks, self.policy.timeout)
        self.stats.queries += len(rows)
        failed, isolate = [], []
        start = 0
        for chunk, result in zip(chunks, results):
            idx = rows[start : start + len(chunk)]
            start += len(chunk)
            if result.error is not None:
                if isinstance(result.error, ConfigError):
                    raise result.error  # a wrong option or shape: no retry can fix it
                if result.interrupted or len(idx) > 1:
                    isolate.extend(idx)  # not (yet) any one row's fault
                    continue
                self.last_error = f"{type(result.error).__name__}: {result.error}"
                if result.timed_out:
                    self.stats.timeouts += 1
                else:
                    self.stats.raised += 1
                failed.extend(idx)
                continue
            self.stats.sks_seconds += result.seconds
            values = np.asarray(result.values, dtype=np.float64)
            ok = np.all(np.isfinite(values), axis=1)
            y[idx[ok]] = values[ok]
            if not ok.all():
                self.stats.nonfinite += int((~ok).sum())
                self.last_error = f"{int((~ok).sum())} row(s) returned NaN/inf"
                failed.extend(idx[~ok])
        return np.array(failed, dtype=int), np.array(isolate, dtype=int)

