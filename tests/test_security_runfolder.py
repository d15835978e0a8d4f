"""A run folder is data, not code: resuming one that someone else prepared writes nothing
outside it, calls nothing it names, and replays only the run that was started.

Each attack comes from a security review of the landed code: symlinks in place of the
run's files (``--resume`` truncated their targets), ``calculator = "os:system"`` in a
config (ran a command on resume), a config edited between interruption and resume (used
silently, and the summary misreported the run), flags given with ``--resume`` (ignored
without a word), a damaged ``metrics.jsonl`` and a config switched to another task
(tracebacks).
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

import zoo
import zoo.train
from zoo.cli import cli

from test_cli import assert_one_line_error


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def no_plot(monkeypatch):
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: b"png")


@pytest.fixture
def finished_run(fit_plugin, tmp_path, no_plot):
    """A small finished run of the fake task."""
    out = tmp_path / "run"
    result = invoke("run", "--sks", "fake-square", "--estimator", "cge", "--steps", 4, "--no-baseline",
                    "--no-progress", "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize(
    "name", ["metrics.jsonl", "summary.json", "loss.png", "config.toml", "cache.sqlite", "checkpoints",
             "checkpoints/sks-coupled.pt"]
)
def test_resume_refuses_symlinks_and_writes_nothing_outside(finished_run, tmp_path, name):
    victim = tmp_path / "victim"
    if name == "checkpoints":
        victim.mkdir()
        (victim / "sks-coupled.pt").write_bytes(b"precious")
        precious = victim / "sks-coupled.pt"
    else:
        victim.write_bytes(b"precious")
        precious = victim
    target = finished_run / name
    if target.is_dir():
        import shutil

        shutil.rmtree(target)
    else:
        target.unlink()
    os.symlink(victim, target)
    result = invoke("run", "--resume", finished_run, "--no-progress")
    assert_one_line_error(result, "symbolic link", name.split("/")[-1])
    assert precious.read_bytes() == b"precious"


def test_fresh_run_never_writes_through_a_planted_link(fit_plugin, tmp_path, no_plot):
    """Even in a new (empty) folder, a file zoo creates replaces, never follows, a link:
    the atomic writes swap the directory entry; appends open with O_NOFOLLOW."""
    from zoo.rundir import RunFolder

    folder = RunFolder(tmp_path / "f")
    folder.create()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, folder.path / "summary.json")
    with pytest.raises(zoo.ConfigError, match="symbolic link"):
        folder.write_text("summary.json", "{}")
    with pytest.raises(zoo.ConfigError, match="symbolic link"):
        with folder.open("summary.json", mode="a"):
            pass
    assert victim.read_text() == "precious"
    with pytest.raises(zoo.ConfigError, match="plain file name"):
        folder.file("../victim")


def test_config_edited_since_the_checkpoint_needs_force(finished_run, no_plot):
    cfg = finished_run / "config.toml"
    text = cfg.read_text()
    cfg.write_text(text.replace("steps = 4", "steps = 6"))
    assert_one_line_error(invoke("run", "--resume", finished_run, "--no-progress"), "changed", "--force")
    summary_before = (finished_run / "summary.json").read_text()
    assert json.loads(summary_before)["resumed"] is None
    result = invoke("run", "--resume", finished_run, "--no-progress", "--force", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 6
    assert summary["resumed"] == {"from_steps": {"sks-coupled": 4}, "config_changed": True}
    # restoring the file makes a plain resume acceptable again... for the old checkpoints:
    # the new checkpoint was written under the edited file, so now the old text is the change
    cfg.write_text(text)
    assert_one_line_error(invoke("run", "--resume", finished_run, "--no-progress"), "changed")


def test_unchanged_resume_says_it_resumed(finished_run, no_plot):
    result = invoke("run", "--resume", finished_run, "--no-progress", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["resumed"] == {"from_steps": {"sks-coupled": 4}, "config_changed": False}
    assert summary["config_sha256"] and summary["steps"] == 4


def test_flags_ignored_on_resume_are_named(finished_run, no_plot):
    result = invoke("run", "--resume", finished_run, "--steps", 50, "--sks", "lammps", "--no-progress")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert any("--steps" in w for w in warnings) and any("--sks" in w for w in warnings)
    assert len(warnings) == 2
    assert json.loads((finished_run / "summary.json").read_text())["steps"] == 4


def test_config_switched_to_another_task_is_refused_not_a_traceback(finished_run, no_plot, fit_plugin):
    """Forced past the hash check, a checkpoint of another model is still one error line."""
    import core_fakes
    import torch

    class Wider(core_fakes.FitTask):
        name = "fake-fit-wide"

        def make_model(self):
            return torch.nn.Linear(2, 2)

    class Extra:
        @zoo.hookimpl
        def register_tasks(self, register):
            register(Wider)

    zoo.plugins.register_plugin(Extra(), "extra-task")
    cfg = finished_run / "config.toml"
    cfg.write_text(cfg.read_text().replace('task = "fake-fit"', 'task = "fake-fit-wide"'))
    assert_one_line_error(invoke("run", "--resume", finished_run, "--no-progress"), "changed")
    assert_one_line_error(invoke("run", "--resume", finished_run, "--no-progress", "--force"),
                          "does not fit the model", "fake-fit-wide")


@pytest.mark.parametrize(
    "damage",
    [b"\xff\xfe not utf-8\n", b"5\n", b'["a list"]\n', b'{"variant": "sks-coupled", "step": "x"}\n', b"{cut"],
    ids=["bytes", "number", "list", "bad-step", "cut"],
)
def test_damaged_metrics_are_dropped_on_resume(finished_run, no_plot, damage):
    metrics = finished_run / "metrics.jsonl"
    good = metrics.read_bytes()
    metrics.write_bytes(good + damage)
    result = invoke("run", "--resume", finished_run, "--no-progress")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3]


def test_not_a_run_folder(tmp_path):
    assert_one_line_error(invoke("run", "--resume", tmp_path / "nothing", "--no-progress"), "not a zoo run folder")


def test_calculator_os_system_in_a_run_folder_calls_nothing(tmp_path):
    """The review's attack: a run folder whose config names os:system as the calculator."""
    run = tmp_path / "evil"
    run.mkdir()
    canary = tmp_path / "PWNED"
    (run / "config.toml").write_text(
        'sks = "ase-calculator"\ntask = "fcc-alloy-lattice"\nsteps = 2\n'
        '[sks_options]\ncalculator = "os:system"\n'
        f'[sks_options.calculator_options]\ncommand = "touch {canary}"\n'
    )
    line = assert_one_line_error(invoke("run", "--resume", run, "--no-progress"), "ase-calculator")
    assert not canary.exists(), line
    # and the same through a fresh start with --sks-option
    out = tmp_path / "o"
    assert_one_line_error(
        invoke("run", "--sks", "ase-calculator", "--sks-option", "calculator=os:system",
               "--sks-option", f'calculator_options={{command="touch {canary}"}}', "--no-progress",
               "--out", out),
        "ase-calculator",
    )
    assert not canary.exists() and not out.exists()


def test_read_only_folder_mid_run_is_one_line_and_keeps_the_checkpoint(fit_plugin, tmp_path, no_plot, monkeypatch):
    """A folder that stops taking writes (read-only remount, full disk, chmod) mid-run: one
    error line, and the last checkpoint is the intact one written before. Root ignores
    chmod, so the kernel's refusal is simulated at the one place zoo writes checkpoints."""
    import zoo.checkpoint

    out = tmp_path / "run"
    real_save = zoo.checkpoint.save
    calls = {"n": 0}

    def failing_save(state, path):
        calls["n"] += 1
        if calls["n"] >= 3:
            import tempfile

            def refuse(*a, **k):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(tempfile, "mkstemp", refuse)
        return real_save(state, path)

    monkeypatch.setattr(zoo.checkpoint, "save", failing_save)
    (tmp_path / "c.toml").write_text("checkpoint_every = 1\n")
    result = invoke("run", "--sks", "fake-square", "--estimator", "cge", "--steps", 6, "--no-baseline",
                    "--no-progress", "--config", tmp_path / "c.toml", "--out", out)
    monkeypatch.undo()
    assert_one_line_error(result, "cannot write checkpoint", "intact")
    state = zoo.checkpoint.load(out / "checkpoints" / "sks-coupled.pt")
    assert state["step"] == 2
    assert not list((out / "checkpoints").glob(".*.tmp"))
