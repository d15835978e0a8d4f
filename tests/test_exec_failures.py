"""The failure policy against real failures: raising rows, NaN rows, hangs, dying workers."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import numpy as np
import pytest

import zoo
from zoo.evaluation import Evaluator, FailurePolicy
from zoo.testing import SyntheticSource


def _rows(n, d=2, seed=1):
    return np.random.default_rng(seed).uniform(-3, 3, (n, d))


def _marked(sks, x, salt, fraction):
    """Rows the synthetic SKS marks for a failure kind, computed independently of zoo."""
    return np.array([sks._u(r, salt) < fraction for r in x])


def _exact(x):
    return np.sum((x - 1.0) ** 2, axis=1)


def test_rows_that_raise_are_isolated_and_skipped():
    sks = SyntheticSource(raise_fraction=0.05)
    x = _rows(200)
    bad = _marked(sks, x, 3, 0.05)
    assert 3 <= bad.sum() <= 25  # the fixture really has failing rows
    ev = Evaluator(zoo.executor("serial"), policy=FailurePolicy(retries=2, on_failure="skip"))
    y = ev.evaluate(sks, x)[:, 0]
    assert np.all(np.isnan(y[bad]))
    np.testing.assert_allclose(y[~bad], _exact(x[~bad]), rtol=1e-14)
    # each bad row: one isolated attempt plus two retries, all raising
    assert ev.stats.raised == 3 * bad.sum()
    assert ev.stats.failed == bad.sum()
    assert ev.stats.retried == 2 * bad.sum()


def test_abort_raises_with_the_first_error():
    sks = SyntheticSource(raise_fraction=0.05)
    ev = Evaluator(zoo.executor("serial"), policy=FailurePolicy(retries=0, on_failure="abort"))
    with pytest.raises(zoo.SKSError, match="synthetic failure"):
        ev.evaluate(sks, _rows(200))


def test_penalty_fills_failed_rows():
    sks = SyntheticSource(nan_fraction=0.1)
    x = _rows(100)
    bad = _marked(sks, x, 4, 0.1)
    assert bad.any()
    ev = Evaluator(zoo.executor("serial"), policy=FailurePolicy(retries=1, on_failure="penalty", penalty=123.0))
    y = ev.evaluate(sks, x)[:, 0]
    assert np.all(y[bad] == 123.0)
    np.testing.assert_allclose(y[~bad], _exact(x[~bad]))
    assert ev.stats.nonfinite == 2 * bad.sum()  # first try and one retry


def test_flaky_rows_succeed_on_retry():
    random.seed(0)  # the flaky failures draw from Python's global generator
    sks = SyntheticSource(flaky_fraction=0.2)
    x = _rows(30)
    ev = Evaluator(zoo.executor("serial"), policy=FailurePolicy(retries=8))
    y = ev.evaluate(sks, x)[:, 0]
    np.testing.assert_allclose(y, _exact(x))
    assert ev.stats.retried > 0 and ev.stats.failed == 0


@pytest.mark.slow
def test_a_hanging_query_times_out_and_the_rest_survive():
    sks = SyntheticSource(hang_fraction=0.1)
    x = _rows(12, seed=3)
    hang = _marked(sks, x, 2, 0.1)
    assert 1 <= hang.sum() <= 3
    with zoo.executor("processes", workers=2) as ex:
        ev = Evaluator(ex, policy=FailurePolicy(retries=0, timeout=1.0))
        y = ev.evaluate(sks, x)[:, 0]
    assert np.all(np.isnan(y[hang]))
    np.testing.assert_allclose(y[~hang], _exact(x[~hang]))
    assert ev.stats.timeouts == hang.sum()


@pytest.mark.slow
def test_a_crashing_row_costs_only_itself():
    sks = SyntheticSource(crash_fraction=0.1)
    x = _rows(20, seed=5)
    crash = _marked(sks, x, 1, 0.1)
    assert crash.any()
    with zoo.executor("processes", workers=2) as ex:
        ev = Evaluator(ex, policy=FailurePolicy(retries=0))
        y = ev.evaluate(sks, x)[:, 0]
    assert np.all(np.isnan(y[crash]))
    np.testing.assert_allclose(y[~crash], _exact(x[~crash]))


def _kill_a_worker_later(pids, delay):
    def kill():
        time.sleep(delay)
        for pid in pids():
            os.kill(pid, signal.SIGKILL)
            return

    t = threading.Thread(target=kill, daemon=True)
    t.start()
    return t


@pytest.mark.slow
def test_a_worker_killed_mid_batch_only_costs_its_in_flight_queries():
    sks = SyntheticSource(cost_ms=40)
    x = _rows(40, seed=7)
    with zoo.executor("processes", workers=2) as ex:
        ev = Evaluator(ex, policy=FailurePolicy(retries=0))
        ev.evaluate(sks, x[:2])  # start the pool
        pids = lambda: [p.pid for p in ex._pool._processes.values()]  # noqa: E731
        killer = _kill_a_worker_later(pids, 0.3)
        y = ev.evaluate(sks, x)[:, 0]
        killer.join()
    np.testing.assert_allclose(y, _exact(x))
    assert ev.stats.failed == 0
    assert ev.stats.queries > 42  # the in-flight queries were sent again


@pytest.mark.slow
def test_a_dask_worker_killed_mid_batch_is_survived():
    sks = SyntheticSource(cost_ms=40)
    x = _rows(40, seed=8)
    with zoo.executor("dask", workers=2) as ex:
        ev = Evaluator(ex, policy=FailurePolicy(retries=1))
        ev.evaluate(sks, x[:2])
        victims = list(ex.client.run(os.getpid).values())[:1]
        killer = _kill_a_worker_later(lambda: victims, 0.3)
        y = ev.evaluate(sks, x)[:, 0]
        killer.join()
        assert victims[0] not in ex.client.run(os.getpid).values()  # the kill really happened
    np.testing.assert_allclose(y, _exact(x))
    assert ev.stats.failed == 0
