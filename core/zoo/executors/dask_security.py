"""Who may talk to zoo's Dask cluster: TLS credentials, checked addresses, no HTTP servers.

Whoever can send a task to a Dask scheduler runs code in its workers, so a cluster is only as
private as its front door. Two cases:

* **the cluster zoo starts** (``--executor dask --workers N``): scheduler, nannies and workers
  listen on ``tls://127.0.0.1`` only, with a certificate made afresh for the run
  (``Security.temporary()``) that lives in zoo's memory and reaches the workers through their
  start-up pipe, never a command line or the environment (Dask writes it to disk only for the
  instant it loads it, in a fresh 0700 temporary directory). A client without that
  certificate, any other local user's included, is refused at the TLS handshake. No HTTP server is started
  at all (Dask starts one on every scheduler and worker even with the dashboard off: the
  classes below skip it), and worker scratch files go to a private 0700 directory.
* **a scheduler you name** (``--scheduler``): zoo only connects. A ``tls://`` address needs
  the cluster's CA file and a client certificate and key (``tls_ca_file``, ``tls_cert``,
  ``tls_key``, or dask's own ``distributed.comm.tls.*`` config); a ``tcp://`` address has no
  authentication at all, which is only safe on a network that nobody else can reach.

Imported only when a Dask executor is built: it imports ``distributed`` at module level,
and its worker class must be importable by name in the worker processes.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from distributed import Nanny, Scheduler, SpecCluster, Worker
from distributed.security import Security

from ..errors import ConfigError

_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])"
#: scheduler addresses zoo accepts, as whole tokens: PROTOCOL://HOST[:PORT] (or inproc://...)
ADDRESS = re.compile(rf"\A(?:(?:tcp|tls|ucx)://{_HOST}(?::[0-9]{{1,5}})?|inproc://[A-Za-z0-9./-]{{1,200}})\Z")
HOST = re.compile(rf"\A{_HOST}\Z")


class QuietScheduler(Scheduler):
    """A scheduler that serves no HTTP at all (no dashboard, no /health, no /metrics)."""

    def start_http_server(self, *args: Any, **kwargs: Any) -> None:
        self.http_server = None


class QuietWorker(Worker):
    """A worker that serves no HTTP at all (Dask would otherwise listen on a random port)."""

    def start_http_server(self, *args: Any, **kwargs: Any) -> None:
        self.http_server = None


def check_address(address: str) -> str:
    """``address`` if it is one whole ``PROTOCOL://HOST[:PORT]`` token, else a ConfigError."""
    if not isinstance(address, str) or not ADDRESS.fullmatch(address):
        raise ConfigError(
            f"dask: scheduler must be an address like tls://HOST:PORT or tcp://HOST:PORT, got {address!r}"
        )
    return address


def check_host(host: str) -> str:
    """The interface zoo's own cluster binds to: one host name or IP address."""
    if not isinstance(host, str) or not HOST.fullmatch(host):
        raise ConfigError(f"dask: host must be a host name or IP address like 127.0.0.1, got {host!r}")
    return host


def temporary_security() -> Security:
    """Fresh TLS credentials held only by this process (and the workers it starts)."""
    try:
        return Security.temporary()
    except ImportError:
        raise ConfigError(
            "the dask executor's private cluster needs the 'cryptography' package for its TLS "
            "credentials: pip install cryptography"
        ) from None


def _existing_file(option: str, path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ConfigError(f"dask: {option} must be the path of a PEM file, got {path!r}")
    full = Path(path).expanduser()
    if not full.is_file():
        raise ConfigError(f"dask: {option} {str(path)!r} is not a file; give the path of the cluster's PEM file")
    return str(full)


def client_security(
    address: str, tls_ca_file: Any = None, tls_cert: Any = None, tls_key: Any = None
) -> Security | None:
    """The credentials for a scheduler zoo did not start, checked before any connection.

    Explicit files win; with none, a ``tls://`` address takes dask's own configuration
    (``distributed.comm.tls.ca-file``, ``.client.cert``, ``.client.key``), and must find it.
    """
    given = {"tls_ca_file": tls_ca_file, "tls_cert": tls_cert, "tls_key": tls_key}
    named = [k for k, v in given.items() if v is not None]
    tls = address.startswith("tls://")
    if named and not tls:
        raise ConfigError(
            f"dask: {', '.join(named)} need a tls:// scheduler address, got {address!r}"
        )
    if not tls:
        return None
    if named:
        if tls_ca_file is None or tls_cert is None:
            raise ConfigError(
                "dask: a tls:// scheduler needs both tls_ca_file (the cluster's CA) and tls_cert "
                "(zoo's client certificate; tls_key too unless the certificate file holds the key)"
            )
        return Security(
            tls_ca_file=_existing_file("tls_ca_file", tls_ca_file),
            tls_client_cert=_existing_file("tls_cert", tls_cert),
            tls_client_key=None if tls_key is None else _existing_file("tls_key", tls_key),
            require_encryption=True,
        )
    security = Security()  # dask's configuration: distributed.comm.tls.*
    if not (security.tls_ca_file and security.tls_client_cert):
        raise ConfigError(
            f"dask: the scheduler {address} needs TLS credentials: --executor-option "
            "tls_ca_file=CA.pem --executor-option tls_cert=CERT.pem --executor-option "
            "tls_key=KEY.pem, or dask's config distributed.comm.tls.ca-file / .client.cert / .client.key"
        )
    return security


def start_private_cluster(n_workers: int, host: str, local_directory: str) -> tuple[SpecCluster, Security]:
    """A LocalCluster's equivalent that only its creator can use; returns it and the key.

    ``LocalCluster`` cannot swap its scheduler class, so this builds the same
    ``SpecCluster`` it would: one scheduler, ``n_workers`` nannies with one single-threaded
    worker process each, memory split evenly between them.
    """
    security = temporary_security()
    common = {"host": host, "protocol": "tls://", "security": security}
    scheduler = {
        "cls": QuietScheduler,
        "options": {**common, "port": 0, "dashboard": False, "dashboard_address": None},
    }
    worker = {
        "cls": Nanny,
        "options": {
            **common,
            "nthreads": 1,
            "worker_class": QuietWorker,
            "dashboard": False,
            "dashboard_address": None,
            "memory_limit": 1.0 / n_workers,
            "local_directory": local_directory,
            "silence_logs": logging.WARN,
        },
    }
    cluster = SpecCluster(
        scheduler=scheduler,
        workers={i: worker for i in range(n_workers)},
        worker=worker,
        security=security,
        silence_logs=logging.WARN,
        name="zoo",
    )
    return cluster, security


def write_credentials(directory: str | os.PathLike) -> dict[str, Path]:
    """Write a fresh self-signed CA/certificate/key triple for a cluster you start yourself.

    One certificate serves every role (scheduler, workers, zoo), like Dask's own
    ``Security.temporary()``: whoever can read ``key.pem`` can join or drive the cluster, so
    the directory is made 0700 and the files 0600. Returns ``{"ca": ..., "cert": ..., "key": ...}``.
    """
    security = temporary_security()
    where = Path(directory).expanduser()
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(where, 0o700)
    files = {
        "ca": (where / "ca.pem", security.tls_ca_file),
        "cert": (where / "cert.pem", security.tls_client_cert),
        "key": (where / "key.pem", security.tls_client_key),
    }
    for path, text in files.values():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
    return {name: path for name, (path, _) in files.items()}
