"""OpenMP threads of the tblite library, set per call and restored after.

Why zoo sets them: tblite parallelises with OpenMP, whose default is one thread per core.
For the small molecules zoo queries, threads cost more in hand-offs than they give, and on
a shared or busy machine far more: a GFN2-xTB single point of CO took 2.5 to 23 ms with two
OpenMP threads on two busy cores (load 2-4) and 0.44 ms with one.
Parallelism in zoo comes from evaluating many rows at once (the ``processes`` and ``dask``
executors), one thread each.

``OMP_NUM_THREADS`` would do the same, but only if set before the OpenMP runtime starts and
for the whole process. Instead the ``xtb`` knowledge source calls ``omp_set_num_threads``
of the OpenMP runtime tblite already loaded (found with ``RTLD_NOLOAD``, so no other
runtime is ever loaded) around each evaluation, and puts the previous value back.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

#: OpenMP runtimes by soname: GNU (the tblite wheels link this one), LLVM, Intel
RUNTIMES = ("libgomp.so.1", "libomp.so", "libomp.so.5", "libiomp5.so")

_found: tuple[str, ctypes.CDLL] | None = None


def runtime() -> tuple[str, ctypes.CDLL] | None:
    """(soname, library) of the OpenMP runtime loaded in this process, or None.

    Call it after ``import tblite.interface`` (which loads the runtime). A hit is kept; a
    miss is looked for again next time (a few failed ``dlopen`` calls, microseconds).
    """
    global _found
    mode = getattr(os, "RTLD_NOLOAD", 0)
    if _found is not None or not mode:  # no RTLD_NOLOAD: never risk loading a second runtime
        return _found
    for soname in RUNTIMES:
        try:
            lib = ctypes.CDLL(soname, mode=mode)
        except OSError:
            continue
        if hasattr(lib, "omp_set_num_threads") and hasattr(lib, "omp_get_max_threads"):
            _found = (soname, lib)
            break
    return _found


def describe(threads: int) -> str:
    """How many threads tblite runs with, for ``about()``."""
    found = runtime()
    if threads <= 0:
        return "OpenMP default (threads = 0)"
    if found is None:
        return f"{threads} asked, but no OpenMP runtime was found to set it (OMP_NUM_THREADS rules)"
    return f"{threads} ({found[0]})"


@contextmanager
def omp_threads(threads: int) -> Iterator[None]:
    """Run the body with ``threads`` OpenMP threads (0: leave the runtime's setting)."""
    found = runtime() if threads > 0 else None
    if found is None:
        yield
        return
    lib = found[1]
    before = int(lib.omp_get_max_threads())
    lib.omp_set_num_threads(int(threads))
    try:
        yield
    finally:
        lib.omp_set_num_threads(before)
