"""The evaluation cache: SQLite, keyed by (SKS name, version, options, input row, context).

A query zoo has answered once is never sent again: not within a run (CGE and resumed runs
repeat points exactly), not after a kill -9 (each batch is committed as it completes), and,
with a shared cache file, not across runs. Only finite results are stored, so a failed query
is tried again next time. Keys are SHA-256 digests; values are the float64 output rows.

The file is data: a value is only ever read back as raw little-endian float64 bytes (never
unpickled), and one whose length is not the SKS's output width is ignored as a miss, so a
damaged or tampered cache cannot inject objects or wrongly shaped rows.

A run's own cache (``RUN/cache.sqlite``) is opened in SQLite's exclusive locking mode: WAL
then keeps its index in heap memory instead of a memory-mapped ``-shm`` file, which would
raise SIGBUS if the run folder became unwritable under it. A shared cache file keeps the
normal mode, so several runs can use it (one writer at a time).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ZooError
from .sks import KnowledgeSource

_BATCH = 500  # SQLite's default limit on host parameters is 999


def sks_fingerprint(sks: KnowledgeSource) -> bytes:
    """What identifies the function an SKS computes: its name, version and options (less
    the run-time settings it names in ``runtime_options``)."""
    cache_options = getattr(sks, "cache_options", None)
    raw = cache_options() if callable(cache_options) else getattr(sks, "options", {})
    options = json.dumps(raw, sort_keys=True, default=repr)
    return f"{sks.name}\0{sks.version}\0{options}".encode()


def query_keys(sks: KnowledgeSource, inputs: np.ndarray, contexts: Sequence[Any] | None) -> list[bytes]:
    """One digest per row; each distinct context object is keyed once per call."""
    base = hashlib.sha256(sks_fingerprint(sks))
    rows = np.ascontiguousarray(inputs, dtype="<f8")
    ctx_keys: dict[int, bytes] = {}
    keys = []
    for i, row in enumerate(rows):
        h = base.copy()
        h.update(row.tobytes())
        if contexts is not None:
            ctx = contexts[i]
            if id(ctx) not in ctx_keys:
                ctx_keys[id(ctx)] = hashlib.sha256(sks.context_key(ctx)).digest()
            h.update(ctx_keys[id(ctx)])
        keys.append(h.digest())
    return keys


class Cache:
    """A SQLite store of SKS evaluations; safe to share between runs (one writer at a time)."""

    def __init__(self, path: str | Path, exclusive: bool = False):
        self.path = Path(path)
        self.exclusive = exclusive
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0)
            if exclusive:
                self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives the process being killed (what resume needs)
            # without an fsync per batch; only a power cut can lose the last batches
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS evals (key BLOB PRIMARY KEY, value BLOB NOT NULL)")
            self._db.commit()
        except (sqlite3.Error, OSError) as exc:
            raise ZooError(f"cannot open the evaluation cache {str(self.path)!r}: {exc}") from None
        #: entries ignored because they were not ``width`` float64 values
        self.damaged = 0

    def get(self, keys: list[bytes], width: int | None = None) -> dict[bytes, np.ndarray]:
        """Stored rows of ``keys``; with ``width``, entries of any other size are misses."""
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        try:
            for start in range(0, len(unique), _BATCH):
                part = unique[start : start + _BATCH]
                marks = ",".join("?" * len(part))
                for key, value in self._db.execute(f"SELECT key, value FROM evals WHERE key IN ({marks})", part):
                    if not isinstance(value, bytes) or len(value) % 8 or (width is not None and len(value) != 8 * width):
                        self.damaged += 1
                        continue
                    found[bytes(key)] = np.frombuffer(value, dtype="<f8").copy()
        except sqlite3.Error as exc:
            raise ZooError(f"cannot read the evaluation cache {str(self.path)!r}: {exc}") from None
        return found

    def put(self, keys: list[bytes], values: np.ndarray) -> None:
        rows = [(k, np.ascontiguousarray(v, dtype="<f8").tobytes()) for k, v in zip(keys, values)]
        if rows:
            try:
                self._db.executemany("INSERT OR REPLACE INTO evals (key, value) VALUES (?, ?)", rows)
                self._db.commit()
            except sqlite3.Error as exc:
                raise ZooError(
                    f"cannot write the evaluation cache {str(self.path)!r}: {exc}; is its folder "
                    f"writable? (the last checkpoint is intact: resume once it is)"
                ) from None

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM evals").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    # a cache travels as its path: each process opens its own connection
    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "exclusive": self.exclusive}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state.get("exclusive", False))
