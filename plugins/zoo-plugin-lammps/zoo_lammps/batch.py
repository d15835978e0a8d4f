"""Running one batch of rows through ``lmp``: one process for all of them, and a fresh
process for the rest whenever a row makes LAMMPS stop.

A row whose LAMMPS ERROR stops the run is left out (NaN, recorded in ``failures``) and the
rows not yet done run again in a fresh process, so one bad row never spoils the others; a
batch with k failing rows costs k extra start-ups. A failure that is no row's fault (a
crash, a timeout, an ERROR while setting up) is a :class:`zoo.SKSError`. Every run's folder
is removed when it is done or has failed, unless ``keep_workdir`` keeps the failed ones.
"""

from __future__ import annotations

import warnings

import numpy as np

from zoo import SKSError
from zoo_atomistic import RowFailures

from . import runner, script
from . import workdir as folders
from .potentials import PairModel
from .settings import Settings

#: per row: the thermo values (pe, pressure tensor) and the forces (or None)
Results = dict[int, tuple[np.ndarray, "np.ndarray | None"]]


class Batch:
    """The runs of one ``evaluate`` call."""

    def __init__(self, who: str, exe: runner.Executable, model: PairModel, settings: Settings, forces: bool):
        self.who, self.exe, self.model, self.settings, self.forces = who, exe, model, settings, forces
        self.failures = RowFailures(who)
        #: folders of failed runs that keep_workdir kept
        self.kept: list[str] = []

    def run(self, jobs: list[script.RowJob]) -> Results:
        """Compute ``jobs``; a row that makes LAMMPS fail is left out."""
        for types in {j.types for j in jobs}:
            self.model.check_types(types)
        results: Results = {}
        pending = list(jobs)
        while pending:
            by_types: dict[tuple[str, ...], list[script.RowJob]] = {}
            for job in pending:
                by_types.setdefault(job.types, []).append(job)
            with folders.folder(self.settings.workdir, self.settings.keep) as folder:
                failed = self._once(folder, list(by_types.items()), results)
                if failed is None:
                    break
                folder.failed = True
                if self.settings.keep:
                    self.kept.append(str(folder.path))
            pending = [j for j in pending if j.index not in results and j.index != failed]
        self._report(bool(results))
        return results

    def _once(self, folder: folders.Folder, sections, results: Results) -> int | None:
        """One ``lmp`` process over ``sections``: its rows go into ``results``. Returns None
        when every row is done, else the row whose LAMMPS ERROR stopped the run; raises
        SKSError for a failure that is no row's fault."""
        name, orders = script.write(folder.path, sections, self.model, self.forces)
        res = runner.run(self.exe, folder.path, name, self.settings.timeout)
        parsed = script.parse_output(res.output)
        paths = [folder.path / f"zoo{s}.forces" for s in range(len(sections))]
        fx = script.parse_forces(paths) if self.forces else {}
        for idx, values in parsed.rows.items():
            if not self.forces or idx in fx:
                results[idx] = (values, fx.get(idx))
        order = [i for o in orders for i in o]
        where = f"(lmp {self.exe.path}; {folder.where})"
        tail = "\n".join(res.output.strip().splitlines()[-15:])
        if res.timed_out:
            raise SKSError(
                f"{self.who}: LAMMPS ran longer than timeout={self.settings.timeout:g} s and was killed "
                f"after {len(parsed.rows)} of {len(order)} rows {where}; raise the option timeout if the "
                f"batch is just large. Output ends:\n{tail}"
            )
        if parsed.error is None:
            missing = [i for i in order if i not in results]
            if res.returncode != 0:
                raise SKSError(f"{self.who}: LAMMPS crashed (exit code {res.returncode}, no ERROR line) "
                               f"{where}. Output ends:\n{tail}")
            if missing or not parsed.done:
                raise SKSError(f"{self.who}: LAMMPS finished without results for rows {missing[:10]} "
                               f"{where}. Output ends:\n{tail}")
            return None
        # the section that was running: the last one whose set-up finished
        section = parsed.ready[-1] if parsed.ready else None
        failed = next((i for i in orders[section] if i not in results), None) if section is not None else None
        if failed is None:
            raise SKSError(f"{self.who}: LAMMPS failed while setting up: {parsed.error} {where}")
        self.failures.add(failed, parsed.error)
        return failed

    def _report(self, any_result: bool) -> None:
        """SKSError if every row failed, else a warning naming the failed rows."""
        if not self.failures.errors:
            return
        where = f" (working folders kept: {', '.join(self.kept)})" if self.kept else ""
        if not any_result:
            self.failures.check(len(self.failures.rows), where)
        rows = self.failures.rows
        warnings.warn(
            f"{self.who}: LAMMPS failed on row(s) {rows[:10]}{'...' if len(rows) > 10 else ''}, which are "
            f"NaN; first error: {self.failures.errors[0][1]}{where}",
            RuntimeWarning,
            stacklevel=4,
        )


__all__ = ["Batch"]
