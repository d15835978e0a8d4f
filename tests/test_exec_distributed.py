"""Distributed for real: `dask scheduler` and `dask worker` as separate processes, over TLS.

The cluster is started the way a user (or dask-jobqueue) starts one, with the `dask` command
line and certificate files; zoo joins it through `zoo run --scheduler tls://...` with the
credentials as executor options. One worker is SIGKILLed mid-run and another started: the
run must end normally with the serial run's final loss.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import zoo.train

BIN = Path(sys.executable).parent
STEPS = 40
TASK = {"sks": "ase-emt", "steps": STEPS, "task_options": {"batch_unlabelled": 4}, "eval_every": 0, "baseline": False}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TLSCluster:
    """A scheduler and workers started with the dask CLI; every process dies with the test."""

    def __init__(self, where: Path):
        from zoo.executors.dask_security import write_credentials

        self.where = where
        self.pems = write_credentials(where / "tls")
        self.tls = ["--tls-ca-file", str(self.pems["ca"]), "--tls-cert", str(self.pems["cert"]),
                    "--tls-key", str(self.pems["key"])]
        self.address = f"tls://127.0.0.1:{_free_port()}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.client = None

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.where / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        # its own session, so the finalizer can kill whatever it started too
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def start_scheduler(self) -> None:
        port = self.address.rsplit(":", 1)[1]
        self._spawn("scheduler", [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", port,
                                  "--protocol", "tls", "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                                  *self.tls])

    def start_worker(self, name: str) -> subprocess.Popen:
        return self._spawn(name, [str(BIN / "dask"), "worker", self.address, "--no-nanny", "--nthreads", "1",
                                  "--host", "127.0.0.1", "--name", name, "--no-dashboard",
                                  "--dashboard-address", "127.0.0.1:0",
                                  "--local-directory", str(self.where / name), *self.tls])

    def connect(self):
        """A client of our own, with the same files, to watch the workers come and go."""
        from distributed import Client
        from distributed.security import Security

        security = Security(tls_ca_file=str(self.pems["ca"]), tls_client_cert=str(self.pems["cert"]),
                            tls_client_key=str(self.pems["key"]), require_encryption=True)
        self.client = Client(self.address, security=security, timeout=60)
        return self.client

    def worker_names(self) -> set[str]:
        return {w["name"] for w in self.client.scheduler_info()["workers"].values()}

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in self.where.glob("*.log"))

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path):
    c = TLSCluster(tmp_path / "cluster")
    try:
        c.start_scheduler()
        c.start_worker("w1")
        c.start_worker("w2")
        c.connect().wait_for_workers(2, timeout=60)
        yield c
    finally:
        c.stop()


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


# 15-20 s on an idle 2-core machine, 36 s at a load of 5
@pytest.mark.slow
def test_a_run_survives_a_worker_killed_and_replaced_mid_run(cluster, tmp_path):
    serial = zoo.train.run({**TASK, "out": str(tmp_path / "serial")}, progress=False, echo=lambda m: None)

    out = tmp_path / "distributed"
    (tmp_path / "run.toml").write_text("eval_every = 0\n")
    cmd = [str(BIN / "zoo"), "run", "--config", str(tmp_path / "run.toml"), "--sks", "ase-emt",
           "--steps", str(STEPS), "--task-option", "batch_unlabelled=4", "--no-baseline", "--no-progress",
           "--executor", "dask", "--scheduler", cluster.address,
           "--executor-option", f"tls_ca_file={cluster.pems['ca']}",
           "--executor-option", f"tls_cert={cluster.pems['cert']}",
           "--executor-option", f"tls_key={cluster.pems['key']}",
           "--out", str(out), "--json"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        metrics = out / "metrics.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline and _lines(metrics) < 5 and run.poll() is None:
            time.sleep(0.02)
        assert run.poll() is None and 5 <= _lines(metrics) < STEPS, cluster.logs()

        victim = cluster.procs["w1"]
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        cluster.start_worker("w3")
        deadline = time.time() + 60
        while time.time() < deadline and cluster.worker_names() != {"w2", "w3"}:
            time.sleep(0.1)
        assert cluster.worker_names() == {"w2", "w3"}, cluster.logs()
        replaced_at = _lines(metrics)

        stdout, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, stderr + cluster.logs()
    assert "Traceback" not in stderr
    summary = json.loads(stdout)
    assert summary["steps"] == STEPS and summary["executor"] == "dask"
    assert summary["failed_queries"] == 0
    assert summary["final_loss"] == pytest.approx(serial["final_loss"], rel=1e-6)
    # the kill and the replacement both landed mid-run, and the new worker took work
    assert replaced_at < STEPS
    executed = cluster.client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert sum(executed.values()) > 0 and len(executed) == 2
    assert executed[next(a for a, w in cluster.client.scheduler_info()["workers"].items() if w["name"] == "w3")] > 0
