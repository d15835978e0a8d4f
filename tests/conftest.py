"""Shared fixtures of the core tests."""

from __future__ import annotations

import importlib

import pytest

import zoo.plugins


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch):
    """Every test starts and ends with a freshly loaded plugin manager, all plugins selected.

    ``reset()`` only forgets; entry points load again lazily on next use, so plugins a test
    registered (or fake distributions it put on sys.path) never leak into the next test.
    """
    monkeypatch.delenv("ZOO_PLUGINS", raising=False)
    monkeypatch.delenv("ZOO_TRACE_PLUGINS", raising=False)
    zoo.plugins.reset()
    importlib.invalidate_caches()
    yield
    zoo.plugins.reset()


@pytest.fixture
def fit_plugin():
    """Registers the fake SKS ``fake-square`` and task ``fake-fit`` (tests/core_fakes.py)."""
    import core_fakes

    core_fakes.reset_fit_counters()
    assert zoo.plugins.register_plugin(core_fakes.FitPlugin(), "fake-fit-plugin")
    yield core_fakes
    core_fakes.reset_fit_counters()
