"""A third-party plugin, packaged for real: tests/plugin_example (zoo-plugin-example).

The package is written only against DESIGN.md's public API. The slow test installs it with
pip into a fresh virtual environment and uses it through ``zoo`` there, exactly as a user
who ran ``pip install zoo-plugin-example`` would.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
import zoo.plugins

from child_venv import ZOO_CLI, make_child_venv, pip_install

EXAMPLE = Path(__file__).parent / "plugin_example"

# The check run in both tests: build the SKS by name, wrap it in a layer with CGE, backprop.
# CGE central is exact on a quadratic up to rounding (|f| < 300, mu = 1e-3: < 1e-10).
CHECK = textwrap.dedent(
    """
    import numpy as np, torch, zoo
    sks = zoo.knowledge_source("example-quadratic", c=[1.0, -2.0, 0.5])
    layer = zoo.SKSLayer(sks, estimator="cge")
    z = torch.tensor([[1.0, 2.0, -3.0], [0.5, -9.9995, 10.0]], dtype=torch.float64, requires_grad=True)
    layer(z).sum().backward()
    expected = 2 * np.array([1.0, -2.0, 0.5]) * z.detach().numpy()
    np.testing.assert_allclose(z.grad.numpy(), expected, atol=1e-7)
    assert np.allclose(sks.gradient(z.detach().numpy()), expected)
    print("GRADIENT-OK", layer.queries)
    """
)


def test_example_plugin_in_process(monkeypatch):
    """Fast check of the same module without installing it (entry point done by hand)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    module = importlib.import_module("zoo_example")
    try:
        assert zoo.plugins.register_plugin(module, "example")
        reg = zoo.registered("sks")["example-quadratic"]
        assert reg.plugin == "example"
        out = {}
        exec(CHECK, {"print": lambda *a: out.setdefault("printed", a)})
        # 2 forward rows + 2 rows x 2d central queries (d = 3)
        assert out["printed"] == ("GRADIENT-OK", 2 + 2 * 6)
        with pytest.raises(zoo.ConfigError, match="3 numbers"):
            zoo.knowledge_source("example-quadratic", c=[1.0])
    finally:
        sys.modules.pop("zoo_example", None)


@pytest.mark.slow
def test_example_plugin_installed_with_pip_into_a_fresh_venv(tmp_path):
    # pip builds in the source tree; build from a copy so tests/ stays clean
    src = tmp_path / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    run = make_child_venv(tmp_path / "venv", plugins="example,estimators,executors")
    pip_install(run, src)
    assert "zoo_example" in run("-m", "pip", "show", "--files", "zoo-plugin-example")

    zoo_cli = ZOO_CLI
    rows = {r["name"]: r for r in json.loads(run(*zoo_cli, "list", "sks", "--json"))}
    assert rows["example-quadratic"]["plugin"] == "example"
    assert rows["example-quadratic"]["class"] == "zoo_example:ExampleQuadratic"
    plugins = {p["name"]: p for p in json.loads(run(*zoo_cli, "plugins", "--json"))["plugins"]}
    assert plugins["example"]["distribution"] == "zoo-plugin-example"
    assert plugins["example"]["version"] == "0.1.0"
    assert plugins["example"]["error"] is None
    assert plugins["example"]["registers"] == {"sks": ["example-quadratic"]}

    out = run("-c", CHECK)
    assert out.split() == ["GRADIENT-OK", str(2 + 2 * 6)]
