"""One failed row is a NaN row; a call where every row failed is an error.

zoo's knowledge-source contract: ``evaluate`` returns a NaN row for a row that fails, and
raises only when the whole call failed. :func:`evaluate_rows` is that loop for codes that
compute row by row (ASE, pymatgen); :class:`RowFailures` is its bookkeeping, for codes that
compute a batch their own way (LAMMPS, one process per batch).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from zoo import SKSError, ZooError


class RowFailures:
    """The rows of one call that failed, with why, in the order they failed."""

    def __init__(self, who: str):
        self.who = who
        #: (row, why), in the order the rows failed
        self.errors: list[tuple[int, str]] = []

    def add(self, row: int, message: str, label: str = "") -> None:
        """Row ``row`` failed with ``message``; ``label`` names it (e.g. its formula)."""
        self.errors.append((row, f"row {row}{f' ({label})' if label else ''}: {message}"))

    @property
    def rows(self) -> list[int]:
        return [row for row, _ in self.errors]

    def check(self, n_rows: int, where: str = "") -> None:
        """Raise :class:`zoo.SKSError` quoting the first failure if all ``n_rows`` failed."""
        if n_rows and len(set(self.rows)) >= n_rows:
            raise SKSError(f"{self.who}: every row failed; first: {self.errors[0][1]}{where}")


def evaluate_rows(
    who: str,
    n_rows: int,
    width: int,
    compute: Callable[[int], np.ndarray],
    describe: Callable[[int], str] | None = None,
) -> np.ndarray:
    """Output rows (n_rows, width): ``compute(i)`` for each row, NaN where it raises or gives
    a non-finite value; :class:`zoo.SKSError` if every row failed.

    A :class:`zoo.ZooError` from ``compute`` is no row's fault (a context of the wrong type, a
    missing program) and ends the call. ``describe(i)`` names row i in the error (e.g. its
    formula).
    """
    out = np.full((n_rows, width), np.nan)
    failures = RowFailures(who)
    for i in range(n_rows):
        try:
            values = np.asarray(compute(i), dtype=np.float64)
            if not np.all(np.isfinite(values)):
                raise ValueError("the computation gave non-finite values")
            out[i] = values
        except ZooError:
            raise
        except Exception as exc:  # noqa: BLE001 - one failed row is a NaN row
            failures.add(i, f"{type(exc).__name__}: {exc}", describe(i) if describe is not None else "")
    failures.check(n_rows)
    return out


__all__ = ["RowFailures", "evaluate_rows"]
