"""The Dask executor's front door and its resilience.

zoo's own cluster: only zoo's client gets in (TLS with credentials made for the run), nothing
serves HTTP, and a worker SIGKILLed mid-batch does not end the evaluation. A scheduler the
user names: its address and credentials are checked before any connection, and one that
cannot be reached fails fast with one clear error. Everything runs against real Dask
processes on 127.0.0.1.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import psutil
import pytest

import zoo
from zoo.evaluation import Evaluator, FailurePolicy
from zoo.testing import SyntheticSource

ZOO = str(Path(sys.executable).with_name("zoo"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _listening(pid: int) -> set[tuple[str, int]]:
    return {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }


def _answers_http(port: int) -> bool:
    """Whether something on ``port`` answers a plain HTTP request like a web server."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def _tls_without_certificate_is_refused(port: int) -> bool:
    """Complete a TLS handshake that offers no client certificate; True if the server hangs up.

    A server that accepted such a client would wait for Dask's first message instead: the
    read then times out, which counts as *not* refused.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as raw, ctx.wrap_socket(raw) as s:
            return s.recv(1) == b""
    except TimeoutError:
        return False
    except (ssl.SSLError, ConnectionError):
        return True


@pytest.fixture(scope="module")
def private():
    """zoo's own two-worker cluster, started once for the read-only checks below."""
    ex = zoo.executor("dask", workers=2)
    x = np.random.default_rng(0).uniform(-2, 2, (6, 2))
    np.testing.assert_allclose(ex.evaluate(SyntheticSource(), x)[:, 0], np.sum((x - 1) ** 2, axis=1))
    yield ex
    ex.close()


def test_the_cluster_speaks_tls_on_loopback_only(private):
    info = private.client.scheduler_info()
    assert private.client.scheduler.address.startswith("tls://127.0.0.1:")
    assert len(info["workers"]) == 2
    for address, worker in info["workers"].items():
        assert address.startswith("tls://127.0.0.1:"), address
        assert worker["nanny"].startswith("tls://127.0.0.1:"), worker["nanny"]


def test_a_client_with_the_credentials_gets_in(private):
    """The control for the refusals below: the address is right and the key opens it."""
    from distributed import Client

    with Client(private.client.scheduler.address, security=private._security, timeout=5) as c:
        assert len(c.scheduler_info()["workers"]) == 2


def _refused(address: str, **kwargs) -> str | None:
    """Try to connect as a client; the error's name, or None if it got in.

    The dead Client is collected right here: its ``__del__``, run later by the garbage
    collector inside another Client's start-up, deadlocks distributed's loop runner.
    """
    from distributed import Client

    try:
        Client(address, **kwargs).close()
        return None
    except Exception as exc:  # noqa: BLE001 - whatever the refusal looks like
        name = type(exc).__name__
    gc.collect()
    return name


@pytest.mark.parametrize("how", ["no credentials", "someone else's credentials", "plain tcp"])
def test_a_client_without_zoo_credentials_is_refused(private, how):
    from distributed.security import Security

    address = private.client.scheduler.address
    kwargs = {"timeout": 3}
    if how == "someone else's credentials":
        kwargs["security"] = Security.temporary()
    elif how == "plain tcp":
        address = address.replace("tls://", "tcp://")
    start = time.perf_counter()
    assert _refused(address, **kwargs) is not None
    assert time.perf_counter() - start < 6, "the refusal should not wait for a time-out"


def test_tls_without_a_client_certificate_is_cut_off_by_every_server(private):
    """The server side of the refusal: scheduler, nannies and workers all demand a certificate."""
    info = private.client.scheduler_info()
    addresses = [private.client.scheduler.address]
    for address, worker in info["workers"].items():
        addresses += [address, worker["nanny"]]
    assert len(addresses) == 5
    for address in addresses:
        assert _tls_without_certificate_is_refused(_port(address)), address


def test_the_http_probe_sees_dasks_usual_http_server():
    """The control for the next test: a stock scheduler serves HTTP even with the dashboard off."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        http = cluster.scheduler.http_server
        assert http is not None and _answers_http(http.port)


def test_nothing_serves_http(private):
    client = private.client
    info = client.scheduler_info()
    assert info["services"] == {} and private._cluster.scheduler.http_server is None
    assert all(w["services"] == {} for w in info["workers"].values())
    assert client.run(lambda dask_worker: dask_worker.http_server is None) == dict.fromkeys(info["workers"], True)
    comm_ports = {_port(client.scheduler.address)}
    for address, worker in info["workers"].items():
        comm_ports |= {_port(address), _port(worker["nanny"])}
    # a worker process listens on its TLS comm port and nothing else (stock Dask adds HTTP)
    for address, pid in client.run(os.getpid).items():
        assert _listening(pid) == {("127.0.0.1", _port(address))}, address
    # this process holds the scheduler and the nannies: their ports, none of them HTTP
    here = _listening(os.getpid())
    in_process = {_port(client.scheduler.address)} | {_port(w["nanny"]) for w in info["workers"].values()}
    assert in_process <= {port for _, port in here}
    assert not any(_answers_http(port) for _, port in here)
    assert not any(_answers_http(port) for port in comm_ports)


def test_the_key_is_on_no_command_line_or_environment(private):
    key = private._security.tls_client_key
    assert "PRIVATE KEY" in key
    marker = key.splitlines()[1]  # a line of the key itself
    for pid in private.client.run(os.getpid).values():
        proc = psutil.Process(pid)
        assert marker not in " ".join(proc.cmdline())
        assert not any(marker in v for v in proc.environ().values())
    scratch = Path(private._scratch)
    assert scratch.stat().st_mode & 0o077 == 0  # spilled pickles: nobody else reads or plants them


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_killed_mid_batch_ends_nothing(workers):
    """SIGKILL a worker mid-batch, with no retries allowed: every row still gets its value.

    With one worker the kill also takes the only copy of the scattered SKS: zoo must scatter
    it again to the worker its nanny restarts, or every re-sent row would fail.
    """
    sks = SyntheticSource(cost_ms=40, busy=False)
    x = np.random.default_rng(workers).uniform(-3, 3, (40, 2))
    with zoo.executor("dask", workers=workers) as ex:
        ev = Evaluator(ex, policy=FailurePolicy(retries=0, on_failure="abort"))
        ev.evaluate(sks, x[:2])
        scattered = ex._sks_future.key
        victim = next(iter(ex.client.run(os.getpid).values()))
        killer = threading.Timer(0.4, os.kill, (victim, signal.SIGKILL))
        killer.start()
        y = ev.evaluate(sks, x)[:, 0]
        killer.join()
        assert victim not in ex.client.run(os.getpid).values()  # the kill really happened
        assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE
        if workers == 1:
            assert ex._sks_future.key != scattered  # scattered again after the loss
    np.testing.assert_allclose(y, np.sum((x - 1.0) ** 2, axis=1), rtol=1e-14)
    assert ev.stats.failed == 0 and ev.stats.raised == 0


class _Finished:
    """A future that said "finished" and then lost its result: the race behind review (d)."""

    status = "finished"

    def __init__(self, exc: BaseException):
        self.exc = exc

    def result(self, timeout=None):
        raise self.exc


def _lost(kind: str) -> BaseException:
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    return {
        "cancelled": FutureCancelledError("run_chunk-1", reason="lost dependencies"),
        "killed": KilledWorker("run_chunk-1", SimpleNamespace(address="tls://127.0.0.1:1"), 3),
        "comm": CommClosedError("in <TLS (closed)>: Stream is closed"),
    }[kind]


@pytest.mark.parametrize("kind", ["cancelled", "killed", "comm"])
def test_a_result_lost_after_finishing_is_an_interruption(kind):
    ex = zoo.executor("dask", workers=1)  # no cluster is started for this
    outcome = ex._outcome(_Finished(_lost(kind)), None)
    assert outcome.interrupted and outcome.error is not None and outcome.values is None


def test_the_sks_own_error_is_not_an_interruption():
    ex = zoo.executor("dask", workers=1)
    future = _Finished(ValueError("bad structure"))
    future.status = "error"
    outcome = ex._outcome(future, None)
    assert not outcome.interrupted and isinstance(outcome.error, ValueError)


# -- a scheduler the user names: checked before any connection ---------------------------


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1:8786", "tcp://127.0.0.1:8786; rm -rf /", "tls://10.0.0.1:8786\n", "tcp://a b:1",
     "tls://host:8786/x", "tcp://host:port", "tls://-host:1", "http://127.0.0.1:8787"],
)
def test_scheduler_addresses_are_whole_tokens(address):
    with pytest.raises(zoo.ConfigError, match="scheduler must be an address"):
        zoo.executor("dask", scheduler=address)


@pytest.fixture
def pems(tmp_path):
    from zoo.executors.dask_security import write_credentials

    return write_credentials(tmp_path / "tls")


def test_written_credentials_are_private(pems):
    assert pems["key"].parent.stat().st_mode & 0o777 == 0o700
    for path in pems.values():
        assert path.stat().st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" in pems["key"].read_text() and "CERTIFICATE" in pems["cert"].read_text()


def test_missing_credential_files_are_named(pems, tmp_path):
    missing = tmp_path / "nope.pem"
    port = _free_port()
    for option in ("tls_ca_file", "tls_cert", "tls_key"):
        paths = {"tls_ca_file": pems["ca"], "tls_cert": pems["cert"], "tls_key": pems["key"], option: missing}
        with pytest.raises(zoo.ConfigError, match=rf"{option} '.*nope.pem' is not a file"):
            zoo.executor("dask", scheduler=f"tls://127.0.0.1:{port}", **{k: str(v) for k, v in paths.items()})


def test_credentials_must_match_the_address(pems):
    with pytest.raises(zoo.ConfigError, match="need a tls:// scheduler"):
        zoo.executor("dask", scheduler="tcp://127.0.0.1:8786", tls_ca_file=str(pems["ca"]))
    with pytest.raises(zoo.ConfigError, match="both tls_ca_file .* and tls_cert"):
        zoo.executor("dask", scheduler="tls://127.0.0.1:8786", tls_key=str(pems["key"]))
    with pytest.raises(zoo.ConfigError, match="zoo's own cluster makes its credentials"):
        zoo.executor("dask", workers=2, tls_cert=str(pems["cert"]))


def test_a_tls_scheduler_without_any_credentials_says_where_to_put_them():
    import dask

    blank = {"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None,
             "distributed.comm.tls.client.key": None}
    with dask.config.set(blank), pytest.raises(zoo.ConfigError, match="tls_ca_file=CA.pem .* distributed.comm.tls"):
        zoo.executor("dask", scheduler="tls://127.0.0.1:8786")


@pytest.mark.parametrize("value", [0, -1, "soon", True])
def test_connect_timeout_is_checked(value):
    with pytest.raises(zoo.ConfigError, match="connect_timeout must be a number of seconds"):
        zoo.executor("dask", scheduler="tcp://127.0.0.1:8786", connect_timeout=value)


def test_dask_config_credentials_are_used(pems):
    """No tls_* options: dask's own config names the files (and nothing is reachable)."""
    import dask

    config = {"distributed.comm.tls.ca-file": str(pems["ca"]),
              "distributed.comm.tls.client.cert": str(pems["cert"]),
              "distributed.comm.tls.client.key": str(pems["key"])}
    with dask.config.set(config), pytest.raises(zoo.ConfigError, match="cannot connect to the scheduler"):
        zoo.executor("dask", scheduler=f"tls://127.0.0.1:{_free_port()}", connect_timeout=1)


@pytest.mark.slow
def test_an_unreachable_scheduler_fails_fast_with_one_line(tmp_path):
    """Through the real CLI: exit 2, one `Error:` line saying what to check, no traceback."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    cmd = [ZOO, "run", "--sks", "ase-emt", "--steps", "2", "--no-baseline", "--no-progress",
           "--executor", "dask", "--scheduler", address, "--executor-option", "connect_timeout=2",
           "--out", str(tmp_path / "run")]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: dask: cannot connect to the scheduler at " + address), proc.stderr
    assert "within 2 s" in lines[0] and "connect_timeout" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "run").exists()  # a refused start leaves no run folder
    assert took < 25  # start-up plus 2 s: Dask's own default would retry for 30 s


@pytest.fixture
def bare_scheduler():
    """A real scheduler with no workers (in this process, plain tcp on loopback)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster


def test_a_cluster_without_workers_is_an_error_not_a_hang(bare_scheduler):
    with zoo.executor("dask", scheduler=bare_scheduler.scheduler_address, worker_timeout=1) as ex:
        start = time.perf_counter()
        with pytest.raises(zoo.SKSError, match="no worker joined the scheduler at tcp://127.0.0.1:.* within 1 s"):
            ex.evaluate(SyntheticSource(), np.zeros((2, 2)))
        assert time.perf_counter() - start < 10


def test_a_lost_scheduler_ends_the_run_with_one_error(bare_scheduler):
    ex = zoo.executor("dask", scheduler=bare_scheduler.scheduler_address, connect_timeout=1)
    try:
        bare_scheduler.close()
        start = time.perf_counter()
        with pytest.raises(zoo.SKSError, match=r"lost the connection to the scheduler at tcp://127.0.0.1:\d+; .*zoo run --resume"):
            ex.evaluate(SyntheticSource(), np.zeros((2, 2)))
        assert time.perf_counter() - start < 10
    finally:
        ex.close()
