"""The evaluation cache: a query answered once is never sent again."""

from __future__ import annotations

import numpy as np

import zoo
from zoo.cache import Cache, query_keys
from zoo.evaluation import Evaluator
from zoo.testing import SyntheticSource


def test_repeated_queries_are_answered_from_the_cache(tmp_path):
    sks = SyntheticSource(d=2)
    x = np.random.default_rng(0).normal(size=(10, 2))
    ev = Evaluator(zoo.executor("serial"), cache=Cache(tmp_path / "c.sqlite"))
    first = ev.evaluate(sks, x)
    assert (ev.stats.queries, ev.stats.cache_hits) == (10, 0)
    again = ev.evaluate(sks, np.vstack([x[:4], x[:4] + 1.0]))
    assert (ev.stats.queries, ev.stats.cache_hits) == (14, 4)
    np.testing.assert_array_equal(again[:4], first[:4])


def test_the_cache_survives_its_process(tmp_path):
    sks = SyntheticSource(d=2)
    x = np.arange(6.0).reshape(3, 2)
    Evaluator(zoo.executor("serial"), cache=Cache(tmp_path / "c.sqlite")).evaluate(sks, x)
    fresh = Evaluator(zoo.executor("serial"), cache=Cache(tmp_path / "c.sqlite"))
    y = fresh.evaluate(sks, x)
    assert fresh.stats.queries == 0 and fresh.stats.cache_hits == 3
    np.testing.assert_allclose(y[:, 0], np.sum((x - 1) ** 2, axis=1))


def test_keys_depend_on_options_and_context():
    x = np.zeros((1, 2))
    a = query_keys(SyntheticSource(d=2), x, None)
    assert query_keys(SyntheticSource(d=2), x, None) == a  # stable
    assert query_keys(SyntheticSource(d=2, cost_ms=1.0), x, None) != a  # options
    assert query_keys(SyntheticSource(d=2), x + 1e-15, None) != a  # every bit of the input
    assert query_keys(SyntheticSource(d=2), x, [2.0]) != query_keys(SyntheticSource(d=2), x, [3.0])


def test_failed_rows_are_not_cached(tmp_path):
    sks = SyntheticSource(d=2, nan_fraction=1.0)
    cache = Cache(tmp_path / "c.sqlite")
    Evaluator(zoo.executor("serial"), cache=cache).evaluate(sks, np.zeros((3, 2)))
    assert len(cache) == 0
