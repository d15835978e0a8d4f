"""Executors: the same values in the same order on serial, a process pool and Dask."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.evaluation import Evaluator, FailurePolicy
from zoo.testing import SyntheticSource


def _batch(n=23, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-2, 2, (n, d)), [float(s) for s in rng.uniform(0.5, 2.0, n)]


def _exact(x, ctx):
    return (np.asarray(ctx)[:, None] * np.sum((x - 1.0) ** 2, axis=1, keepdims=True))


def test_executors_are_registered():
    assert {"serial", "processes", "dask"} <= set(zoo.registered("executors"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["serial", "processes", "dask"])
def test_values_come_back_in_order(name):
    x, ctx = _batch()
    with zoo.executor(name, workers=2) as ex:
        y = ex.evaluate(SyntheticSource(d=3), x, ctx)
    np.testing.assert_allclose(y, _exact(x, ctx), rtol=1e-14)


@pytest.mark.slow
def test_dask_local_cluster_binds_to_loopback():
    with zoo.executor("dask", workers=1) as ex:
        ex.evaluate(SyntheticSource(), np.zeros((2, 2)))
        address = ex.client.scheduler.address
        workers = list(ex.client.scheduler_info()["workers"])
    # zoo's private cluster: TLS on loopback only (docs/security.md)
    assert address.startswith("tls://127.0.0.1:"), address
    assert workers and all(w.startswith("tls://127.0.0.1:") for w in workers), workers


def test_fork_is_refused():
    with pytest.raises(zoo.ConfigError, match="forkserver"):
        zoo.executor("processes", start_method="fork")


def test_dask_scheduler_address_is_checked():
    with pytest.raises(zoo.ConfigError, match="tcp://"):
        zoo.executor("dask", scheduler="127.0.0.1:8786; rm -rf /")


def test_timeout_needs_an_executor_that_can_stop_a_query():
    with pytest.raises(zoo.ConfigError, match="--executor processes"):
        Evaluator(zoo.executor("serial"), policy=FailurePolicy(timeout=1.0))


def test_chunks_are_sized_for_the_workers():
    from zoo.executors import split

    x = np.arange(10.0)[:, None]
    chunks = split(x, None, 4)
    assert [len(c) for c in chunks] == [2, 3, 2, 3] or sum(len(c) for c in chunks) == 10
    assert np.array_equal(np.concatenate([c.inputs for c in chunks]), x)
    assert len(split(x[:3], None, 8)) == 3  # never an empty chunk
