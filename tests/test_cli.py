"""The ``zoo`` command line: user errors are one line and exit 2; listings have --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import zoo
import zoo.plugins
from zoo.cli import cli

from core_fakes import plugin_object

ZOO = str(Path(sys.executable).with_name("zoo"))


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_run_unknown_sks_lists_the_known_ones(fit_plugin):
    result = invoke("run", "--sks", "no-such-sks", "--no-progress")
    known = sorted(zoo.registered("sks"))
    assert "fake-square" in known
    assert_one_line_error(result, "'no-such-sks'", *known)


@pytest.mark.parametrize(
    "text, fragments",
    [
        (None, ["does not exist"]),
        ("steps = = 3\n", ["cannot read config file"]),
        ("sks = 'fake-square'\nstep = 3\n", ["unknown setting 'step'", "did you mean 'steps'"]),
        ("sks = 'fake-square'\nsteps = 'ten'\n", ["'steps'", "int"]),
    ],
    ids=["missing", "invalid-toml", "unknown-key", "bad-type"],
)
def test_run_config_file_errors(tmp_path, fit_plugin, text, fragments):
    path = tmp_path / "run.toml"
    if text is not None:
        path.write_text(text)
    result = invoke("run", "--config", str(path), "--no-progress", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "out").exists()


def test_run_sks_option_without_equals(fit_plugin, tmp_path):
    result = invoke("run", "--sks", "fake-square", "--sks-option", "verbose", "--out", str(tmp_path / "o"))
    assert_one_line_error(result, "'verbose'", "KEY=VALUE")


def test_run_unknown_estimator_option(fit_plugin, tmp_path):
    result = invoke(
        "run", "--sks", "fake-square", "--estimator", "cge", "--estimator-option", "q=4",
        "--no-progress", "--out", str(tmp_path / "o"),
    )
    assert_one_line_error(result, "'cge'", "mu", "difference")


def test_run_into_a_used_folder_says_how_to_resume(fit_plugin, tmp_path):
    (tmp_path / "something").write_text("x")
    result = invoke("run", "--sks", "fake-square", "--out", str(tmp_path))
    assert_one_line_error(result, "--resume")


def test_run_through_the_cli(fit_plugin, tmp_path, monkeypatch):
    import zoo.train

    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: None)  # ~2 s of matplotlib
    out = tmp_path / "run"
    result = invoke(
        "run", "--sks", "fake-square", "--estimator", "cge", "--steps", "3", "--seed", "1",
        "--estimator-option", "difference=central", "--no-baseline", "--no-progress", "--json",
        "--out", str(out),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 3 and summary["estimator"] == "cge" and summary["sks"] == "fake-square"
    assert list(summary["variants"]) == ["sks-coupled"]
    # 3 steps x (4 forward rows + 4 rows x 2 central queries on d = 1)
    assert summary["sks_queries"] == 3 * (4 + 4 * 2)
    assert json.loads((out / "summary.json").read_text()) == summary


def test_list_estimators_json():
    result = invoke("list", "estimators", "--json")
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"rge", "cge"} <= set(rows)
    assert rows["rge"]["plugin"] == "estimators"
    assert rows["rge"]["class"] == "zoo.estimators.rge:RandomEstimator"
    assert rows["cge"]["description"]


def test_list_text_and_empty(monkeypatch):
    result = invoke("list", "schedulers")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any(l.startswith("constant") and l.endswith("[schedulers]") for l in lines)
    for info in zoo.plugins.plugin_infos():  # built-ins included: nothing registers a task
        zoo.plugins.unregister_plugin(info.name)
    result = invoke("list", "tasks")
    assert result.exit_code == 0 and "no tasks registered" in result.stdout


def test_list_unknown_kind_is_a_usage_error():
    result = invoke("list", "estimator")
    assert result.exit_code == 2
    assert "estimators" in result.stderr


def test_a_name_clash_takes_down_only_that_name():
    """Two plugins registering 'rge' lose 'rge' alone: every other estimator still lists and
    runs, the listing warns naming both plugins, and asking for 'rge' is one error line."""
    class Twin(zoo.Estimator):
        name = "rge"

    zoo.plugins.register_plugin(plugin_object(register_estimators=lambda register: register(Twin)), "twin")
    result = invoke("list", "estimators", "--json")
    assert result.exit_code == 0
    names = {row["name"] for row in json.loads(result.stdout)}
    assert "rge" not in names and {"cge", "sparse-cge"} <= names
    warning = result.stderr.strip()
    assert "'rge'" in warning and "'twin'" in warning and "'estimators'" in warning
    assert zoo.estimator("cge").name == "cge"
    with pytest.raises(zoo.PluginError, match="'twin'") as err:
        zoo.estimator("rge")
    assert "'estimators'" in str(err.value)
    plugins = json.loads(invoke("plugins", "--json").stdout)
    assert any("'twin'" in e and "'rge'" in e for e in plugins["errors"])
    assert {"twin", "estimators"} <= {p["name"] for p in plugins["plugins"] if "rge" in p["registers"].get("estimators", [])}


def test_plugins_json(fit_plugin):
    result = invoke("plugins", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    rows = {r["name"]: r for r in data["plugins"]}
    assert data["errors"] == []
    fake = rows["fake-fit-plugin"]
    assert fake["registers"] == {"sks": ["fake-square"], "tasks": ["fake-fit"]}
    assert fake["hooks"] == ["register_knowledge_sources", "register_tasks"]
    assert fake["error"] is None
    assert rows["estimators"]["distribution"] == "zoo-core"
    assert rows["estimators"]["version"] == zoo.__version__
    assert list(rows["estimators"]["registers"]) == ["estimators"]
    assert {"cge", "rge"} <= set(rows["estimators"]["registers"]["estimators"])


def test_plugins_reports_clashes_and_failures():
    class Twin(zoo.Estimator):
        name = "cge"

    def boom(register):
        raise RuntimeError("kaboom")

    zoo.plugins.register_plugin(plugin_object(register_estimators=lambda register: register(Twin)), "twin")
    zoo.plugins.register_plugin(plugin_object(register_schedulers=boom), "exploder")
    result = invoke("plugins", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert len(data["errors"]) == 1 and "'twin'" in data["errors"][0]
    rows = {r["name"]: r for r in data["plugins"]}
    assert "kaboom" in rows["exploder"]["error"]
    text = invoke("plugins")
    assert text.exit_code == 0
    assert "FAILED TO LOAD: register_schedulers raised RuntimeError: kaboom" in text.stdout


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and zoo.__version__ in result.stdout


@pytest.mark.slow  # imports every installed SKS plugin to list their names
def test_real_process_unknown_sks_is_one_line_without_traceback():
    known = sorted(zoo.registered("sks"))
    assert "ase-emt" in known  # zoo-plugin-ase is installed in this environment
    proc = subprocess.run(
        [ZOO, "run", "--sks", "no-such-sks"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "'no-such-sks'" in lines[0] and "Traceback" not in proc.stderr
    for name in known:
        assert name in lines[0]
    assert proc.stdout == ""


def test_real_process_list_estimators_json():
    proc = subprocess.run([ZOO, "list", "estimators", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {"rge", "cge"} <= {r["name"] for r in json.loads(proc.stdout)}


def test_old_full_zo_estimator_flag_runs_with_one_warning_line(fit_plugin, tmp_path, monkeypatch):
    import zoo.train

    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: None)
    result = invoke(
        "run", "--sks", "fake-square", "--estimator", "zo-adam", "--estimator-option", "q=2",
        "--steps", "2", "--no-progress", "--json", "--out", str(tmp_path / "run"),
    )
    assert result.exit_code == 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Warning: estimator 'zo-adam' is deprecated"), lines
    assert "--mode full-zo --optimizer adam" in lines[0]
    summary = json.loads(result.stdout)
    assert (summary["mode"], summary["optimizer"], summary["estimator"]) == ("full-zo", "adam", "rge")
    # 2 steps, q = 2 directions over the one parameter: (1 + 2) x 4 rows each
    assert summary["sks_queries"] == 2 * 3 * 4


def test_optimizer_flags_reach_the_run(fit_plugin, tmp_path, monkeypatch):
    import zoo.train

    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: None)
    out = tmp_path / "run"
    result = invoke("run", "--sks", "fake-square", "--mode", "full-zo", "--optimizer", "sgd",
                    "--optimizer-option", "momentum=0", "--steps", "1", "--no-progress", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    saved = zoo.config.read_toml(out / "config.toml")
    assert saved["optimizer"] == "sgd" and saved["optimizer_options"] == {"momentum": 0}
    assert_one_line_error(invoke("run", "--sks", "fake-square", "--optimizer", "lbfgs", "--out", str(tmp_path / "x")),
                          "'optimizer'", "adam", "sgd", "signsgd")


def test_run_help_names_every_optimizer():
    from zoo.optim import OPTIMIZERS

    text = " ".join(invoke("run", "--help").stdout.split())
    assert all(name in text for name in OPTIMIZERS), text
