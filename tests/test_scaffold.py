"""``zoo new-plugin NAME`` writes a package that installs and passes its own tests."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import zoo
from child_venv import ZOO_CLI, make_child_venv, pip_install
from zoo.cli import _add_plugin_commands, cli


def _new_plugin(tmp_path, name="demo"):
    _add_plugin_commands()
    result = CliRunner().invoke(cli, ["new-plugin", name, "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return tmp_path / f"zoo-plugin-{name}"


def test_new_plugin_writes_a_package(tmp_path):
    root = _new_plugin(tmp_path)
    assert (root / "pyproject.toml").read_text().count('demo = "zoo_demo"') == 1
    assert (root / "zoo_demo" / "__init__.py").exists()
    assert (root / "tests" / "test_demo.py").exists()


@pytest.mark.parametrize("bad", ["Demo", "1demo", "de mo", "demo;rm", "../demo", ""])
def test_bad_names_are_refused(tmp_path, bad):
    with pytest.raises(zoo.ConfigError, match="plugin name"):
        from zoo.scaffold import new_plugin

        new_plugin(bad, tmp_path)


def test_an_existing_folder_is_not_overwritten(tmp_path):
    _new_plugin(tmp_path)
    result = CliRunner().invoke(cli, ["new-plugin", "demo", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "already exists" in result.output


@pytest.mark.slow
def test_the_package_installs_and_passes_its_own_tests(tmp_path):
    root = _new_plugin(tmp_path, "spring-demo")
    run = make_child_venv(tmp_path / "venv", plugins="spring_demo,estimators,executors,schedulers,diagnose")
    pip_install(run, root)
    rows = {r["name"]: r for r in json.loads(run(*ZOO_CLI, "list", "sks", "--json"))}
    assert rows["spring-demo"]["plugin"] == "spring_demo"
    out = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests"), cwd=str(tmp_path))
    assert "4 passed" in out
    # and it trains and diagnoses out of the box, on its default task and packaged data
    summary = json.loads(run(*ZOO_CLI, "run", "--sks", "spring-demo", "--steps", "3", "--no-progress",
                             "--json", "--out", str(tmp_path / "run"), cwd=str(tmp_path)))
    assert summary["task"] == "spring-demo-fit" and summary["steps"] == 3
    assert (tmp_path / "run" / "summary.json").exists()
    report = json.loads(run(*ZOO_CLI, "diagnose", "--sks", "spring-demo", "--points", "2", "--json",
                            cwd=str(tmp_path)))
    assert report["sks"] == "spring-demo" and report["d"] == 1 and report["queries"] > 0
