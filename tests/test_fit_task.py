"""The generic ``fit`` task: any SKS trained from a CSV table.

The toy SKS has a known answer: its pressure vanishes at a = 3.5 + x, so with ``zero =
pressure`` the coupled model can learn a(x) on rows without any volume label, while the
data-only twin has only the few volume labels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
import zoo.train
from zoo.cli import cli


class ToyEOS(zoo.KnowledgeSource):
    name = "fake-eos"
    description = "pressure 100 (a_eq(x) - a) GPa and volume a^3, a_eq = 3.5 + 0.5 sin(4 pi x)"
    input_spec = zoo.Spec(["x", "a"], lower=[0.0, 2.0], upper=[1.0, 6.0], units=["", "Å"])
    output_spec = zoo.Spec(["pressure", "volume"], units=["GPa", "Å^3"])

    def evaluate(self, inputs, contexts=None):
        x, a = inputs[:, 0], inputs[:, 1]
        return np.stack([100.0 * (a_eq(x) - a), a**3], axis=1)


def a_eq(x):
    """Where the toy's pressure vanishes: a wiggly function a few labels cannot pin down."""
    return 3.5 + 0.5 * np.sin(4 * np.pi * x)


class Toys:
    @zoo.hookimpl
    def register_knowledge_sources(self, register):
        register(ToyEOS)



@pytest.fixture
def toys():
    zoo.plugins.register_plugin(Toys(), "toys")


def write_table(path, n=40, volume_every=3):
    """Features f; x = f labels the SKS input x on every row; volume on every 3rd row."""
    rng = np.random.default_rng(0)
    f = rng.uniform(0, 1, n)
    lines = ["# f: a feature; x labels the SKS input x; volume is labelled through the SKS", "f,x,volume"]
    for i in range(n):
        vol = f"{a_eq(f[i]) ** 3:.6f}" if i % volume_every == 0 else ""
        lines.append(f"{f[i]:.6f},{f[i]:.6f},{vol}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_learns_through_the_sks_and_beats_the_twin(toys, tmp_path, monkeypatch):
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: b"")
    data = write_table(tmp_path / "t.csv")
    result = CliRunner().invoke(cli, [
        "run", "--sks", "fake-eos", "--task", "fit", "--task-option", f"data={data}",
        "--task-option", 'zero="pressure"', "--steps", "400", "--lr", "0.02", "--no-progress", "--json",
        "--out", str(tmp_path / "run"),
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    coupled, twin = summary["variants"]["sks-coupled"]["test"], summary["variants"]["data-only"]["test"]
    assert set(coupled) >= {"test_mae_x", "test_mae_volume", "test_nmae"}
    # ~10 volume labels cannot pin two periods of a sine; the zero-pressure condition on
    # every row, through x (labelled everywhere), gives a_eq(x) and so the volume; what is
    # left is the model's error in x amplified by dV/dx = 3 a^2 a_eq'(x), up to ~300 Å^3
    assert coupled["test_mae_x"] < 0.02
    assert coupled["test_mae_volume"] < 300 * coupled["test_mae_x"]
    assert coupled["test_mae_volume"] < twin["test_mae_volume"] / 3
    assert summary["data"]["labels"] == ["x", "volume"] and summary["data"]["features"] == ["f"]


def test_fit_contract(toys, tmp_path):
    from zoo.testing import check_task

    data = write_table(tmp_path / "t.csv")
    check_task(zoo.task("fit", data=str(data), zero="pressure", n_validation=2), zoo.knowledge_source("fake-eos"))


@pytest.mark.parametrize(
    "table, options, fragment",
    [
        ("f,g\n1,2\n3,4\n", {}, "nothing to learn"),
        ("f,volume\n1,\n2,\n", {}, "at least 2 labelled rows"),
        ("f,volume\n1,2,3\n", {}, "cells"),
        ("f,volume\n1,8\n2,27\n", {"zero": "heat"}, "not outputs"),
        ("f,volume\n1,8\n2,27\n", {"features": ["g"]}, "not numeric columns"),
        ("f,f\n1,8\n", {}, "repeated"),
    ],
)
def test_fit_errors_say_what_is_wrong(toys, tmp_path, table, options, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(table)
    task = zoo.task("fit", data=str(path), **options)
    with pytest.raises(zoo.ConfigError, match=fragment):
        task.setup(zoo.knowledge_source("fake-eos"), 0)


def test_fit_needs_its_table(toys):
    with pytest.raises(zoo.ConfigError, match="data=FILE.csv"):
        zoo.task("fit")


def test_fit_is_the_default_for_an_sks_without_a_task_when_a_table_is_given(toys, tmp_path, monkeypatch):
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: b"")
    data = write_table(tmp_path / "t.csv")
    result = CliRunner().invoke(cli, ["run", "--sks", "fake-eos", "--task-option", f"data={data}", "--steps", "2",
                                      "--no-progress", "--json", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["task"] == "fit"
    from test_cli import assert_one_line_error

    assert_one_line_error(CliRunner().invoke(cli, ["run", "--sks", "fake-eos", "--out", str(tmp_path / "o")]),
                          "no default task", "--task fit --task-option data=FILE.csv")


def test_targets_make_the_other_labels_side_labels_known_everywhere(toys, tmp_path, monkeypatch):
    """x is known on every row (a side label), volume only on every third (the target): the
    test set and n_labelled count volume rows only, and x still supervises every other row."""
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: b"")
    data = write_table(tmp_path / "t.csv")
    task = zoo.task("fit", data=str(data), targets="volume", zero="pressure", n_labelled=4)
    task.setup(zoo.knowledge_source("fake-eos"), 0)
    volume = task.label_cols.index("volume")
    assert np.isfinite(task.y[task.test, volume].numpy()).all()  # every test row has the target
    assert len(task.train) == 4 and len(task.test) == round(0.25 * 14)
    visible = task.y_visible.numpy()
    assert np.isnan(visible[task.test]).all()  # nothing of the test rows is seen
    assert np.isfinite(visible[task.unlabelled, task.label_cols.index("x")]).all()
    assert np.isnan(visible[task.unlabelled, volume]).all()
    result = CliRunner().invoke(cli, [
        "run", "--sks", "fake-eos", "--task", "fit", "--task-option", f"data={data}", "--task-option", "targets=volume",
        "--task-option", 'zero="pressure"', "--task-option", "n_labelled=4", "--steps", "300", "--lr", "0.02",
        "--no-progress", "--json", "--out", str(tmp_path / "run"),
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    coupled, twin = summary["variants"]["sks-coupled"]["test"], summary["variants"]["data-only"]["test"]
    assert set(coupled) == {"test_mae_volume"} and summary["data"]["targets"] == ["volume"]
    assert coupled["test_mae_volume"] < twin["test_mae_volume"] / 2
