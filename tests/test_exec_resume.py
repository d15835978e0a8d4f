"""Runs that are killed, interrupted, budgeted or spread over workers, end to end.

These run the real default task (ASE EMT through the fcc-alloy-lattice task), made small.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import zoo.train

SMALL = {"sks": "ase-emt", "steps": 12, "task_options": {"batch_unlabelled": 4}, "eval_every": 0}
ZOO = [sys.executable, "-m", "zoo.cli"] if False else [str(Path(sys.executable).with_name("zoo"))]


def _run(tmp_path, name, **extra):
    return zoo.train.run({**SMALL, "out": str(tmp_path / name), **extra}, progress=False, echo=lambda m: None)


@pytest.mark.slow
def test_serial_and_two_dask_workers_give_the_same_final_loss(tmp_path):
    serial = _run(tmp_path, "serial", baseline=False)
    dask = _run(tmp_path, "dask", baseline=False, executor="dask", workers=2)
    assert dask["final_loss"] == pytest.approx(serial["final_loss"], rel=1e-6)
    assert dask["sks_queries"] == serial["sks_queries"]


@pytest.mark.slow
def test_budget_stops_cleanly(tmp_path):
    # each step costs 4 forward + 4 gradient queries: a budget of 30 allows 3 steps
    summary = _run(tmp_path, "budget", baseline=False, budget=30)
    assert summary["steps"] == 3 and summary["sks_queries"] == 24
    assert "budget" in summary["stopped"]


def test_dry_run_counts_without_querying(tmp_path):
    cost = zoo.train.dry_run({**SMALL, "out": str(tmp_path / "dry")})
    # 4 unlabelled alloys a step; forward CGE on d = 1: 1 forward + 1 gradient query each
    assert (cost["rows_per_step"], cost["queries_per_row"], cost["queries"]) == (4, 2, 96)
    assert not (tmp_path / "dry").exists()


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_kill_minus_nine_then_resume_recomputes_nothing(tmp_path):
    reference = _run(tmp_path, "reference", baseline=False, steps=20, checkpoint_every=4)
    out = tmp_path / "killed"
    cmd = ZOO + ["run", "--sks", "ase-emt", "--steps", "20", "--no-baseline", "--no-progress",
                 "--task-option", "batch_unlabelled=4", "--out", str(out)]
    config = out.parent / "killed.toml"
    config.write_text("checkpoint_every = 4\neval_every = 0\n")
    proc = subprocess.Popen(cmd + ["--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until past a checkpoint, mid-way between two
        # a step takes ~20 ms: kill one or two steps after a checkpoint (every 4), so the next
        # checkpoint cannot be written between this look and the kill
        n = metrics.read_text().count("\n") if metrics.exists() else 0  # complete lines only
        if n >= 10 and n % 4 in (1, 2):
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    from zoo import checkpoint

    done_before_kill = len(_lines(metrics))  # metrics are flushed every step
    at_checkpoint = checkpoint.load(out / "checkpoints" / "sks-coupled.pt")["step"]
    assert done_before_kill > at_checkpoint  # there is work between checkpoint and kill

    summary = zoo.train.resume(out, progress=False, echo=lambda m: None)
    # every query of the steps done after the checkpoint (8 a step) was answered by the
    # cache on replay - plus, perhaps, the 4 forward rows of the step the kill interrupted
    replayed = 8 * (done_before_kill - at_checkpoint)
    assert replayed <= summary["cache_hits"] <= replayed + 4
    # and nothing else was sent twice: queries + hits add up to the uninterrupted run's
    assert summary["sks_queries"] + summary["cache_hits"] == reference["sks_queries"]
    assert summary["final_loss"] == pytest.approx(reference["final_loss"], rel=1e-9)
    steps = [r["step"] for r in _lines(out / "metrics.jsonl")]
    assert steps == list(range(20))  # metrics continuous, no step twice


@pytest.mark.slow
def test_ctrl_c_writes_a_checkpoint_and_says_how_to_resume(tmp_path):
    out = tmp_path / "interrupted"
    cmd = ZOO + ["run", "--sks", "ase-emt", "--steps", "200", "--no-baseline", "--no-progress",
                 "--task-option", "batch_unlabelled=4", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(_lines(metrics)) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "zoo run --resume" in err and "Traceback" not in err
    from zoo import checkpoint

    state = checkpoint.load(out / "checkpoints" / "sks-coupled.pt")
    assert 3 <= state["step"] < 200
