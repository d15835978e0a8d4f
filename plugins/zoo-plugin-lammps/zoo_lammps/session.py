"""A persistent LAMMPS session: one long-lived ``lmp`` process, fed batch after batch
through its stdin.

Why: starting ``lmp`` costs ~30-50 ms (MPI, LAMMPS's own set-up), 100 times a 32-atom EAM
query, and a training step sends small batches (8-100 rows, two calls a step), so with a
process per ``evaluate`` call most of a LAMMPS-backed run was start-up. A session starts
on first use in the process that evaluates and serves every later call there (a pickled
source carries none: each executor worker starts its own), as ASE's ``keep_alive`` does,
but still batched and still the user's own ``lmp`` (any build, MPI ones included).

Protocol: LAMMPS reads its commands from stdin when no ``-in`` is given. A batch is a list
of zoo's own lines (:func:`zoo_lammps.script.plan`), every one checked by
:func:`zoo_lammps.safety.check_script` before any is sent, ending with ``print "ZOO_DONE
n"``, n counting the session's batches, so nothing an earlier batch printed can pass for
this one's end. Structures go in, and forces come out, through files in the session's own
folder, as in a one-process run; thermo lines, errors and the marker come back on stdout.
Commands and output are exchanged at once (poll on both), so a batch larger than a pipe's
buffer cannot deadlock. LAMMPS's stdout is a pseudo-terminal in raw mode, not a pipe: C
stdio buffers a pipe by the block, and builds without a flush after ``print`` (Debian's
2021 ``lmp``, which has no ``-nonbuf`` switch either) would hold the marker back until
the buffer filled; on a terminal stdio flushes every line, whatever the build.

Failures: a session whose ``lmp`` died (a LAMMPS ERROR ends the process), hung past the
timeout, or was interrupted (Ctrl-C) is killed and never used again; the caller
(:mod:`zoo_lammps.batch`) starts a fresh one for the rows still to do.

No orphans: ``lmp`` runs in its own process group (a Ctrl-C at the terminal reaches zoo,
which kills it, not LAMMPS half-way through a line), with a parent-death signal (SIGKILL,
``prctl(PR_SET_PDEATHSIG)``) so it dies with the process that started it even if that
process is SIGKILLed; every open session is closed at exit (``atexit`` and
multiprocessing's exit hooks, which executor workers run), when its source is garbage
collected, and by ``LammpsSource.close()``. The parent-death signal follows the *thread*
that started the child, so every session is started from one daemon thread that lives as
long as the process (:class:`_Launcher`): a Dask worker thread that ends cannot take a
session with it. A forked child forgets its parent's sessions (it must not write to their
pipes).
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import multiprocessing.util
import os
import pty
import queue
import selectors
import signal
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from zoo import SKSError

from . import safety
from . import workdir as folders
from .potentials import Links
from .runner import ENV_VAR, Executable, Result

#: how long a closing session may take to leave on its own before it is killed
CLOSE_WAIT = 2.0
_CHUNK = 1 << 16


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, resolved once (the child must not look anything up after fork)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class _Launcher:
    """Starts processes from one daemon thread that lives as long as this process.

    Linux sends the parent-death signal when the *thread* that forked the child ends, so a
    session started from a short-lived thread (a Dask worker thread that seceded, a user's
    thread) would be killed under a later call. A daemon thread is never joined: it ends
    only with the process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue | None = None
        self._pid = -1

    def popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen:
        """``subprocess.Popen(*args, **kwargs)``, run by the launcher thread."""
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: a thread of its own
                self._jobs = queue.SimpleQueue()
                threading.Thread(target=self._serve, args=(self._jobs,), name="zoo-lammps-launcher",
                                 daemon=True).start()
                self._pid = os.getpid()
            jobs = self._jobs
        done: Future = Future()
        jobs.put((lambda: subprocess.Popen(*args, **kwargs), done))
        try:
            return done.result()
        except BaseException:  # interrupted while waiting: a process started anyway must go
            done.add_done_callback(_kill_started)
            raise

    @staticmethod
    def _serve(jobs: queue.SimpleQueue) -> None:
        while True:
            fn, done = jobs.get()
            try:
                done.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)


def _kill_started(done: Future) -> None:
    if done.exception() is None:
        proc = done.result()
        proc.kill()
        proc.wait()


_LAUNCHER = _Launcher()
#: every open session of this process (closed at exit)
_OPEN: set["Session"] = set()
_OPEN_LOCK = threading.Lock()
_EXIT_HOOKED = -1


class Session:
    """One ``lmp`` process reading commands from its stdin, in a folder of its own."""

    def __init__(self, exe: Executable, parent_dir: str | None):
        self.exe = exe
        self.parent_dir = parent_dir
        self.folder = folders.make(parent_dir)
        #: potential files linked into the folder, under the same names for every batch
        self.links = Links(self.folder)
        #: the system LAMMPS holds (zoo_lammps.script.System) and whether it dumps forces
        self.system = None
        self.dumping = False
        #: data files in the folder, one per set of atom types, for every batch
        self.data: dict[tuple[str, ...], str] = {}
        self.batches = 0
        self.owner = os.getpid()
        cmd = [exe.path, "-nocite", "-log", "none", "-echo", "none"]
        #: the pseudo-terminal's side zoo reads LAMMPS's output from (see the module's docstring)
        self.out_fd = -1
        try:
            self.out_fd, terminal = pty.openpty()
            try:
                tty.setraw(terminal)  # no echo, no "\r\n" for "\n": bytes as LAMMPS writes them
                self.proc = _LAUNCHER.popen(
                    cmd, cwd=self.folder, env=exe.env(), stdin=subprocess.PIPE, stdout=terminal,
                    stderr=terminal, start_new_session=True, preexec_fn=_die_with_parent,
                )
            finally:
                os.close(terminal)  # the child holds its own copy: EOF when it ends
        except BaseException as exc:
            if self.out_fd >= 0:
                os.close(self.out_fd)
            folders.remove(self.folder)
            if not isinstance(exc, OSError):
                raise
            raise SKSError(f"cannot start LAMMPS {exe.path!r}: {exc}; set the option lmp or {ENV_VAR}") from None
        os.set_blocking(self.proc.stdin.fileno(), False)
        _register(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, lines: Sequence[str], timeout: float) -> Result:
        """Send one batch and collect its output up to its end marker.

        Every line is checked before any is sent; a refused line is a ConfigError and
        nothing reaches LAMMPS. The result's ``returncode`` is None while the process
        lives; ``timed_out``: the batch ran past ``timeout`` seconds and the process was
        killed. An exception (Ctrl-C) kills the process too.
        """
        self.batches += 1
        marker = f"ZOO_DONE {self.batches}"
        text = "\n".join([*lines, f'print "{marker}"']) + "\n"
        safety.check_script(text)
        # from here on LAMMPS's state is unknown until the caller records the batch's
        self.system, self.dumping = None, False
        t0 = time.perf_counter()
        try:
            output, done, timed_out = self._exchange(text.encode("ascii"), f"\n{marker}\n".encode(), t0 + timeout)
        except BaseException:
            self.kill()
            raise
        if timed_out:
            self.kill()
        elif not done:  # the process ended (an ERROR, a crash)
            try:
                self.proc.wait(timeout=max(0.1, t0 + timeout - time.perf_counter()))
            except subprocess.TimeoutExpired:
                self.kill()
        text_out = output.decode("utf-8", errors="replace")
        code = None if done or timed_out else self.proc.returncode
        return Result(code, text_out, time.perf_counter() - t0, timed_out)

    def _exchange(self, data: bytes, marker: bytes, deadline: float) -> tuple[bytes, bool, bool]:
        """Write ``data`` to stdin while reading stdout, until ``marker``, EOF or the
        deadline: (output, marker seen, timed out)."""
        out_fd, in_fd = self.out_fd, self.proc.stdin.fileno()
        chunks: list[bytes] = []
        tail = b"\n"  # the marker's leading newline may be the previous batch's last byte
        sent, view = 0, memoryview(data)
        with selectors.DefaultSelector() as sel:
            sel.register(out_fd, selectors.EVENT_READ)
            sel.register(in_fd, selectors.EVENT_WRITE)
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return b"".join(chunks), False, True
                for key, _ in sel.select(left):
                    if key.fd == in_fd:
                        try:
                            sent += os.write(in_fd, view[sent : sent + _CHUNK])
                        except BlockingIOError:
                            continue
                        except (BrokenPipeError, OSError):  # it has gone: read what it said
                            sent = len(data)
                        if sent >= len(data):
                            sel.unregister(in_fd)
                        continue
                    chunk = _read(out_fd)
                    if not chunk:
                        return b"".join(chunks), False, False
                    chunks.append(chunk)
                    window = tail + chunk
                    if marker in window:
                        return b"".join(chunks), True, False
                    tail = window[-len(marker) :]

    def kill(self) -> None:
        """Kill the process group now (a hang, an interrupt, a state nobody knows)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self._close_pipes()
        _unregister(self)

    def close(self, keep_folder: bool = False) -> None:
        """End the session: stdin closed (LAMMPS leaves at end of input), killed if it does
        not within :data:`CLOSE_WAIT` s; the folder removed unless ``keep_folder``."""
        if self.owner != os.getpid():
            return  # a forked child's copy: the parent's to close
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=CLOSE_WAIT)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        if not keep_folder:
            folders.remove(self.folder)

    def _close_pipes(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self.out_fd >= 0:
            os.close(self.out_fd)
            self.out_fd = -1


def _read(fd: int) -> bytes:
    """What is waiting on a pseudo-terminal; b"" at its end (Linux says EIO, not EOF, once
    every process holding the other side has gone and the rest has been read)."""
    try:
        return os.read(fd, _CHUNK)
    except OSError as exc:
        if exc.errno == errno.EIO:
            return b""
        raise


class Sessions:
    """The idle sessions of one knowledge source in this process.

    A call takes one (or starts one) and gives it back when done, so calls from several
    threads at once (a Dask worker's) each get their own ``lmp``. A session is reused only
    for the same ``lmp`` and working-folder parent; idle ones made for other settings are
    closed when met.
    """

    def __init__(self) -> None:
        self._idle: list[Session] = []
        self._lock = threading.Lock()

    def take(self, exe: Executable, parent_dir: str | None) -> Session:
        """An idle live session for ``exe`` in ``parent_dir``, else a new one."""

        def fits(session: Session) -> bool:
            return session.exe.path == exe.path and session.parent_dir == parent_dir and session.alive

        found, stale = None, []
        with self._lock:
            # sessions inherited through fork are not ours: dropped, never closed
            mine = [s for s in self._idle if s.owner == os.getpid()]
            self._idle = []
            for session in mine:
                if found is None and fits(session):
                    found = session
                elif fits(session):
                    self._idle.append(session)
                else:
                    stale.append(session)
        for session in stale:
            session.close()
        return found if found is not None else Session(exe, parent_dir)

    def give_back(self, session: Session) -> None:
        with self._lock:
            self._idle.append(session)

    def close(self) -> None:
        """Close every idle session (a session in use is closed by its call, or at exit)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()

    @property
    def pids(self) -> list[int]:
        """The ``lmp`` processes of the idle sessions."""
        with self._lock:
            return [s.pid for s in self._idle]


def _register(session: Session) -> None:
    global _EXIT_HOOKED
    with _OPEN_LOCK:
        _OPEN.add(session)
        if _EXIT_HOOKED != os.getpid():
            _EXIT_HOOKED = os.getpid()
            atexit.register(close_all)
            # executor workers (multiprocessing) leave through os._exit, after these hooks
            multiprocessing.util.Finalize(None, close_all, exitpriority=100)


def _unregister(session: Session) -> None:
    with _OPEN_LOCK:
        _OPEN.discard(session)


def close_all() -> None:
    """Close every session this process opened."""
    with _OPEN_LOCK:
        sessions = [s for s in _OPEN if s.owner == os.getpid()]
    for session in sessions:
        try:
            session.close()
        except Exception:  # noqa: BLE001 - at exit, close the others regardless
            pass


def _forget_after_fork() -> None:
    """In a forked child: the parent's sessions are not ours to use or close; drop our
    copies of their pipes so the parent's lmp still sees end of input when it goes."""
    global _OPEN_LOCK
    _OPEN_LOCK = threading.Lock()
    for session in list(_OPEN):
        session._close_pipes()
    _OPEN.clear()


os.register_at_fork(after_in_child=_forget_after_fork)

__all__ = ["Session", "Sessions", "close_all"]
