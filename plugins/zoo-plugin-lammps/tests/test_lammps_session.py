"""The persistent LAMMPS session (zoo_lammps.session): one lmp per worker, kept across
calls, giving the very numbers of one process per call whatever ran before; a session that
dies, hangs or is interrupted is replaced; no lmp outlives the process that started it
(normal exit, SIGKILL, Ctrl-C, executor shutdown). Real lmp processes throughout, found
through /proc."""

from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import SKSError
from zoo_lammps import Structure, runner, script
from zoo_lammps.alloys import random_fcc_alloy
from zoo_lammps.session import Session

from lammps_testlib import distorted

LMP = os.path.realpath(runner.find_lmp(None).path)
TAG = "ZOO_LAMMPS_TEST_TAG"
FCC4 = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def lmp_children(parent: int) -> set[int]:
    """Live lmp processes whose parent is ``parent``."""
    out = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == parent and stat[0] != "Z" and os.path.realpath(proc / "exe") == LMP:
                    out.add(int(proc.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def tagged_lmp(tag: str, exe: str = LMP) -> set[int]:
    """Live lmp processes started with ``ZOO_LAMMPS_TEST_TAG=tag`` in their environment
    (inherited from the zoo process that started them, wherever they were reparented)."""
    out = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.path.realpath(proc / "exe") != exe:
                    continue
                env = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"{TAG}={tag}".encode() in env and alive(int(proc.name)):
                out.add(int(proc.name))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def computing(pid: int, seconds: float = 30.0) -> bool:
    """Wait until ``pid`` has used 0.2 s of CPU more than now (it is computing)."""
    start, deadline = cpu_seconds(pid), time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cpu_seconds(pid) - start >= 0.2:
            return True
        time.sleep(0.02)
    return False


def gone(pids, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def session_pids(sks) -> list[int]:
    return sks.__dict__["_sessions"].pids


def eam(**options):
    return zoo.knowledge_source("lammps", **{"inputs": "positions", "outputs": ["energy", "stress", "forces"],
                                             "n_atoms": 32, **options})


def cu4() -> Structure:
    return Structure(np.eye(3) * 3.615, FCC4 * 3.615, ("Cu",) * 4)


@pytest.fixture(scope="module")
def rattled(cu):
    """Eight differently rattled sheared copies of 32-atom Cu, as input rows."""
    base = distorted(cu, seed=2)
    rng = np.random.default_rng(5)
    return base, (base.positions[None] + rng.normal(0, 0.04, (8, 32, 3))).reshape(8, -1)


@pytest.fixture(scope="module")
def alloys():
    """Structures of four element sets (each its own LAMMPS section: eam funcfl mixing)."""
    return [distorted(random_fcc_alloy(c, seed=s, repeat=2, a=3.9), seed=s)
            for s, c in enumerate([(1, 0, 0, 0, 0, 0), (0.5, 0.5, 0, 0, 0, 0), (0, 1, 0, 0, 0, 0),
                                   (0.25, 0.25, 0.25, 0, 0.25, 0)])]


# ------------------------------------------------------------------ the same numbers

def test_both_modes_give_identical_numbers(rattled, alloys):
    """persistent=True and persistent=False send LAMMPS the same commands: bit for bit
    the same energy, stress and forces, over several calls (the session's later calls
    keep the system set up by the first), for one element set and for several."""
    base, x = rattled
    session, process = eam(), eam(persistent=False)
    for rows in (slice(0, 1), slice(0, 8), slice(3, 6)):
        n = len(x[rows])
        np.testing.assert_array_equal(session(x[rows], [base] * n), process(x[rows], [base] * n))
    strain = zoo.knowledge_source("lammps", inputs="strain", outputs=["energy", "stress"])
    strain_once = zoo.knowledge_source("lammps", inputs="strain", outputs=["energy", "stress"], persistent=False)
    e = np.random.default_rng(1).uniform(-0.01, 0.01, (8, 6))
    contexts = [alloys[i % 4] for i in range(8)]
    for _ in range(2):
        np.testing.assert_array_equal(strain(e, contexts), strain_once(e, contexts))
    lj = dict(inputs=["epsilon", "sigma"], outputs=["energy", "pressure"])
    p = np.array([[0.0104, 3.40], [0.012, 3.3], [0.0104, 3.45]])
    np.testing.assert_array_equal(zoo.knowledge_source("lammps", **lj)(p, [alloys[0]] * 3),
                                  zoo.knowledge_source("lammps", persistent=False, **lj)(p, [alloys[0]] * 3))
    for sks in (session, strain):
        sks.close()


def test_a_row_gives_the_same_numbers_whatever_ran_before(alloys, monkeypatch):
    """Alone in a new session, after batches of other element sets (which set LAMMPS up
    with other funcfl files: pair_style eam mixes all files of a set-up onto one grid),
    after batches of its own element set (the session then keeps its set-up: no clear),
    or in a batch in another order: always the same numbers."""
    sent: list[list[str]] = []
    run = Session.run

    def spy(self, lines, timeout):
        sent.append(list(lines))
        return run(self, lines, timeout)

    monkeypatch.setattr(Session, "run", spy)
    opts = dict(inputs="strain", outputs=["energy", "stress"])
    e = np.random.default_rng(3).uniform(-0.01, 0.01, (6, 6))
    row, ctx = e[:1], alloys[1]
    alone = zoo.knowledge_source("lammps", **opts)(row, [ctx])
    sks = zoo.knowledge_source("lammps", **opts)
    sks(e[1:], [alloys[0], alloys[2], alloys[3], alloys[0], alloys[2]])  # other element sets
    np.testing.assert_array_equal(sks(row, [ctx]), alone)
    sks(e[2:5], [ctx] * 3)  # the same element set: kept
    np.testing.assert_array_equal(sks(row, [ctx]), alone)
    y = sks(e[[4, 2, 0, 3]], [alloys[3], ctx, ctx, alloys[0]])  # another order, other sets around
    np.testing.assert_array_equal(y[2:3], alone)
    assert len(session_pids(sks)) == 1
    kept = [lines for lines in sent if lines[0].startswith(("print", "dump", "undump"))]
    assert len(kept) >= 2, "the session never kept a set-up: this test would prove nothing"
    assert zoo.knowledge_source("lammps", persistent=False, **opts)(row, [ctx]).tolist() == alone.tolist()
    sks.close()


# ------------------------------------------------------------------ one lmp per worker

def test_one_lmp_serves_every_call_and_one_process_per_call_leaves_none(rattled):
    base, x = rattled
    before = lmp_children(os.getpid())
    sks = eam()
    pids = set()
    for k in range(5):
        sks(x[k : k + 2], [base] * 2)
        pids.update(session_pids(sks))
    assert len(pids) == 1 and lmp_children(os.getpid()) - before == pids
    sks.close()
    assert gone(pids) and lmp_children(os.getpid()) == before
    once = eam(persistent=False)
    once(x[:2], [base] * 2)
    assert "_sessions" not in once.__dict__ and lmp_children(os.getpid()) == before


def test_a_pickled_source_carries_no_session_and_starts_its_own(rattled):
    base, x = rattled
    sks = eam()
    y = sks(x[:2], [base] * 2)
    copy = pickle.loads(pickle.dumps(sks))
    assert "_sessions" not in copy.__dict__
    np.testing.assert_array_equal(copy(x[:2], [base] * 2), y)
    assert set(session_pids(copy)).isdisjoint(session_pids(sks))
    for source in (sks, copy):
        source.close()


def test_a_collected_source_takes_its_lmp_with_it(rattled):
    base, x = rattled
    sks = eam()
    sks(x[:1], [base])
    pids = session_pids(sks)
    del sks
    gc.collect()
    assert pids and gone(pids)


def test_threads_calling_one_source_get_a_session_each(rattled):
    """A Dask worker runs tasks in threads that share its copy of the source: calls at the
    same time each take their own session, and the numbers are those of a lone call."""
    base, x = rattled
    sks = eam()
    want = eam(persistent=False)(x, [base] * 8)
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda k: sks(x[k : k + 1], [base]), [k % 8 for k in range(24)]))
    np.testing.assert_array_equal(np.concatenate(got[:8]), want)
    assert 1 <= len(session_pids(sks)) <= 3
    sks.close()


def test_a_session_started_from_a_thread_outlives_the_thread(rattled):
    """The parent-death signal follows the thread that started a child: sessions start
    from one launcher thread, so a session started under a thread that has ended (a Dask
    worker's seceded thread, a user's) stays alive for the next call."""
    base, x = rattled
    sks = eam()
    worker = threading.Thread(target=sks, args=(x[:1], [base]))
    worker.start()
    worker.join()
    (pid,) = session_pids(sks)
    time.sleep(0.2)
    assert alive(pid)
    sks(x[:2], [base] * 2)
    assert session_pids(sks) == [pid]
    sks.close()


# ------------------------------------------------------------------ dead, hung, interrupted

def test_a_session_killed_mid_batch_is_replaced_and_the_call_completes(monkeypatch):
    """SIGKILL to the session's lmp half-way through a long batch: the rows it finished
    are kept, a new session computes the rest, and the numbers equal a one-process run."""
    cu = cu4()
    x = np.linspace(0.97, 1.03, 20000)[:, None]
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs=["energy", "pressure"])
    sks(x[:1], [cu])
    (pid,) = session_pids(sks)
    codes = []
    run = Session.run

    def run_and_kill(self, lines, timeout):
        if self.pid == pid:
            threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
        result = run(self, lines, timeout)
        codes.append((self.pid, result.returncode, len(result.output.split("ZOO_ROW")) - 1))
        return result

    monkeypatch.setattr(Session, "run", run_and_kill)
    y = sks(x, [cu] * len(x))
    monkeypatch.undo()
    # the first session died by the signal after some of its rows, a second did the rest
    assert len(codes) == 2 and codes[0][:2] == (pid, -signal.SIGKILL), codes
    assert 0 < codes[0][2] < len(x) and codes[1][0] != pid and codes[0][2] + codes[1][2] >= len(x)
    assert not alive(pid) and session_pids(sks) == [codes[1][0]]
    np.testing.assert_array_equal(y, zoo.knowledge_source("lammps", inputs="scale", outputs=["energy", "pressure"],
                                                          persistent=False)(x, [cu] * len(x)))
    sks.close()


def test_a_session_that_died_between_calls_is_replaced(rattled):
    base, x = rattled
    sks = eam()
    y = sks(x[:3], [base] * 3)
    (pid,) = session_pids(sks)
    os.kill(pid, signal.SIGKILL)
    assert gone([pid])
    np.testing.assert_array_equal(sks(x[:3], [base] * 3), y)
    assert pid not in session_pids(sks)
    sks.close()


def test_a_session_that_keeps_dying_is_an_error(tmp_path):
    """An lmp that dies at once (here /bin/false): replaced once, then SKSError; nothing
    is left running or on disk."""
    sks = zoo.knowledge_source("lammps", lmp="/bin/false", inputs="scale", outputs="energy", workdir=str(tmp_path))
    before = lmp_children(os.getpid())
    with pytest.raises(SKSError, match=r"crashed \(exit code 1, no ERROR line\)"):
        sks([[1.0]], [cu4()])
    assert list(tmp_path.iterdir()) == [] and lmp_children(os.getpid()) == before


def test_a_hung_session_is_killed_at_the_timeout_and_the_next_call_starts_afresh(tmp_path):
    cu = cu4()
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy", workdir=str(tmp_path))
    y = sks([[1.0]], [cu])
    (pid,) = session_pids(sks)
    sks.options["timeout"] = 0.05
    x = np.linspace(0.95, 1.05, 20000)[:, None]
    with pytest.raises(SKSError, match="longer than timeout=0.05 s and was killed"):
        sks(x, [cu] * len(x))
    assert not alive(pid) and list(tmp_path.iterdir()) == []
    sks.options["timeout"] = 600.0
    np.testing.assert_array_equal(sks([[1.0]], [cu]), y)
    sks.close()


def test_ctrl_c_kills_the_session_and_leaves_no_folder(tmp_path, monkeypatch):
    """A KeyboardInterrupt while LAMMPS computes: its lmp is killed (nobody knows where in
    the batch it stopped), the folder goes, and the next call starts a new session."""
    cu = cu4()
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy", workdir=str(tmp_path))
    y = sks([[1.0]], [cu])
    (pid,) = session_pids(sks)
    run = Session.run

    def run_and_interrupt(self, lines, timeout):
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        return run(self, lines, timeout)

    monkeypatch.setattr(Session, "run", run_and_interrupt)
    x = np.linspace(0.95, 1.05, 20000)[:, None]
    with pytest.raises(KeyboardInterrupt):
        sks(x, [cu] * len(x))
    monkeypatch.undo()
    assert not alive(pid) and list(tmp_path.iterdir()) == []
    np.testing.assert_array_equal(sks([[1.0]], [cu]), y)
    sks.close()


def test_an_interrupt_before_anything_is_sent_keeps_the_session(tmp_path, monkeypatch):
    """Ctrl-C while zoo writes a batch's files: nothing reached LAMMPS, so the session
    lives on (its folder without the batch's files) and serves the next call."""
    cu = cu4()
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy", workdir=str(tmp_path))
    y = sks([[1.0]], [cu])
    (pid,) = session_pids(sks)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(script, "snapshot", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sks([[1.01]], [cu])
    monkeypatch.undo()
    assert session_pids(sks) == [pid] and alive(pid)
    (folder,) = tmp_path.iterdir()
    assert not list(folder.glob("rows*"))
    np.testing.assert_array_equal(sks([[1.0]], [cu]), y)
    sks.close()


# ------------------------------------------------------------------ no orphans

CHILD = r"""
import sys, time
import numpy as np
import zoo
from zoo_lammps import Structure

FCC4 = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * 3.615
cu = Structure(np.eye(3) * 3.615, FCC4, ("Cu",) * 4)
mode, arg = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy", lmp=arg if mode == "deaf" else None)
if mode == "deaf":  # an lmp that neither reads its input nor writes: the call waits
    print("ready", flush=True)
    sks([[1.0]], [cu])
if mode == "pool":
    executor = zoo.executor(arg, workers=2)
    for step in range(3):
        executor.evaluate(sks, np.linspace(0.99, 1.01, 8)[:, None], [cu] * 8)
        print("batch", flush=True)
        sys.stdin.readline()
    executor.close()
    print("closed", flush=True)
    sys.stdin.readline()
    sys.exit(0)
sks([[1.0]], [cu])
print("ready", flush=True)
if mode == "exit":
    sys.stdin.readline()  # the test counts this process's lmp first
    sys.exit(0)
if mode == "busy":
    x = np.linspace(0.95, 1.05, 40000)[:, None]
    sks(x, [cu] * len(x))
elif mode == "wait":
    time.sleep(120)
"""


@pytest.fixture
def child():
    """Start a zoo process running CHILD in ``mode``; its lmp carry a unique tag."""
    procs = []

    def start(mode: str, *args: str):
        tag = uuid.uuid4().hex
        proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, *args], env={**os.environ, TAG: tag},
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc, tag

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_no_lmp_left_after_a_normal_exit(child):
    proc, tag = child("exit")
    assert proc.stdout.readline() == "ready\n"
    pids = tagged_lmp(tag)
    assert len(pids) == 1
    proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0 and gone(pids) and not tagged_lmp(tag)


@pytest.mark.parametrize("mode", ["wait", "busy"], ids=["idle", "mid-batch"])
def test_no_lmp_left_when_zoo_is_sigkilled(child, mode):
    """The parent-death signal: a SIGKILLed zoo process cannot close anything, yet its lmp
    dies with it, idle or in the middle of a batch."""
    proc, tag = child(mode)
    assert proc.stdout.readline() == "ready\n"
    pids = tagged_lmp(tag)
    assert len(pids) == 1
    if mode == "busy":
        assert computing(next(iter(pids))), "the batch never started"
    proc.kill()
    proc.wait()
    assert gone(pids, 5.0), f"lmp {pids} outlived its SIGKILLed parent"


def test_the_parent_death_signal_kills_an_lmp_that_ignores_its_pipes(child, tmp_path):
    """An lmp busy with neither input nor output would not notice its parent's death
    through a closed pipe; the parent-death signal kills it anyway. (Stand-in: a script
    that execs sleep, started as the session's lmp.)"""
    sleep = os.path.realpath("/bin/sleep")
    deaf = tmp_path / "deaf-lmp"
    deaf.write_text(f"#!/bin/sh\nexec {sleep} 300\n")
    deaf.chmod(0o755)
    proc, tag = child("deaf", str(deaf))
    assert proc.stdout.readline() == "ready\n"
    deadline = time.monotonic() + 20
    while not (pids := tagged_lmp(tag, sleep)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pids) == 1
    proc.kill()
    proc.wait()
    assert gone(pids, 5.0), "the stand-in lmp outlived its SIGKILLed parent"


def test_no_lmp_left_after_ctrl_c(child):
    proc, tag = child("busy")
    assert proc.stdout.readline() == "ready\n"
    pids = tagged_lmp(tag)
    assert len(pids) == 1 and computing(next(iter(pids))), "the batch never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err and gone(pids, 5.0)


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_executor_workers_keep_their_sessions_and_take_them_away(child, executor):
    """The processes and dask executors send the source to each worker once: each worker
    starts one session on its first chunk and keeps it for later batches; when the pool
    or the cluster shuts down, the sessions go with their workers."""
    if executor == "dask":
        pytest.importorskip("distributed")
    proc, tag = child("pool", executor)
    seen = []
    for _ in range(3):
        assert proc.stdout.readline() == "batch\n", proc.stderr.read()
        seen.append(tagged_lmp(tag))
        proc.stdin.write("go\n")
        proc.stdin.flush()
    # dask runs a worker's tasks in threads: calls at once may each take a session
    most = 2 if executor == "processes" else 4
    assert 1 <= len(seen[0]) <= most and seen[0] <= seen[-1] and len(seen[-1]) <= most, seen
    assert proc.stdout.readline() == "closed\n"
    assert gone(seen[-1], 10.0), "the pool's workers left their lmp running"
    proc.stdin.write("go\n")
    proc.stdin.flush()
    proc.communicate(timeout=60)
    assert proc.returncode == 0
