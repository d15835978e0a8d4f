"""Executors: where a batch of SKS queries runs (``serial``, ``processes``, ``dask``)."""

from .base import Chunk, ChunkResult, Executor, run_chunk, split
from .serial import Serial

__all__ = ["Chunk", "ChunkResult", "Executor", "Serial", "run_chunk", "split"]
