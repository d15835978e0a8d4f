"""Run configuration (layers, options, TOML files), schedules, and checkpoints."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

import zoo
from zoo import checkpoint
from zoo.config import RunConfig, parse_option, read_toml, resolve

# -- config layers -------------------------------------------------------------------------------


def test_defaults():
    cfg = resolve()
    assert cfg == RunConfig()
    assert cfg.estimator == "rge" and cfg.steps == 200 and cfg.baseline is True


def test_later_layers_win_and_none_does_not_override():
    cfg = resolve({"steps": 10, "lr": 0.1, "seed": 1}, {"steps": 20, "seed": None}, {"lr": 0.5})
    assert cfg.steps == 20 and cfg.lr == 0.5 and cfg.seed == 1


def test_option_tables_merge_key_by_key():
    cfg = resolve(
        {"estimator_options": {"q": 4, "mu": 1e-3}, "sks_options": {"a": 1}},
        {"estimator_options": {"mu": 1e-2, "difference": "central"}},
        {"sks_options": {"b": 2}},
    )
    assert cfg.estimator_options == {"q": 4, "mu": 1e-2, "difference": "central"}
    assert cfg.sks_options == {"a": 1, "b": 2}


def test_int_is_accepted_for_a_float_setting():
    cfg = resolve({"lr": 1})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)


@pytest.mark.parametrize(
    "layer, match",
    [
        ({"steps": "ten"}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),  # a bool is not an int here
        ({"baseline": 1}, "baseline"),
        ({"lr": "fast"}, "lr"),
        ({"steps": 0}, "steps"),
        ({"workers": 0}, "workers"),
        ({"lr": 0.0}, "lr"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"sks_options": 3}, "sks_options"),
        ({"stpes": 3}, "did you mean 'steps'"),
    ],
)
def test_bad_settings_are_config_errors(layer, match):
    with pytest.raises(zoo.ConfigError, match=match):
        resolve(layer)


def test_read_toml(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('sks = "fake-square"\nsteps = 5\n[estimator_options]\nq = 4\n')
    assert read_toml(path) == {"sks": "fake-square", "steps": 5, "estimator_options": {"q": 4}}


@pytest.mark.parametrize(
    "text, match",
    [
        (None, "does not exist"),
        ("steps = = 3\n", "cannot read"),
        ("step = 3\n", "did you mean 'steps'"),
        ('estimator_options = "q=4"\n', "must be a table"),
    ],
)
def test_read_toml_errors(tmp_path, text, match):
    path = tmp_path / "run.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(zoo.ConfigError, match=match) as err:
        read_toml(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("q=16", ("q", 16)),
        ("mu=1e-3", ("mu", 0.001)),
        ("lower=[3.5, 4]", ("lower", [3.5, 4])),
        ("outputs=[\"energy\", \"pressure\"]", ("outputs", ["energy", "pressure"])),
        ("inputs=lattice_constant", ("inputs", "lattice_constant")),
        ("calculator=ase-emt", ("calculator", "ase-emt")),
        ('name="quoted string"', ("name", "quoted string")),
        ("flag=true", ("flag", True)),
        (" key = 2 ", ("key", 2)),
        ("expr=a=b", ("expr", "a=b")),
        ("empty=", ("empty", "")),
    ],
)
def test_parse_option(text, expected):
    key, value = parse_option(text)
    assert (key, value) == expected
    assert type(value) is type(expected[1])


@pytest.mark.parametrize("text", ["q", "1q=3", "a b=3", "=3"])
def test_parse_option_errors(text):
    with pytest.raises(zoo.ConfigError):
        parse_option(text)


def test_prepare_merges_option_tables_of_file_and_flags(fit_plugin):
    """A config file's [estimator_options] and --estimator-option flags both apply."""
    from zoo.train import prepare

    file_layer = {"sks": "fake-square", "estimator_options": {"q": 4}, "sks_options": {}}
    flags = {"estimator_options": {"mu": 0.01}, "steps": None}
    config, task = prepare(file_layer, flags)
    assert config.estimator_options == {"q": 4, "mu": 0.01}


def test_prepare_uses_task_defaults_below_explicit_settings(fit_plugin):
    from zoo.train import prepare

    config, task = prepare({"sks": "fake-square"}, {"lr": 0.2})
    assert config.task == "fake-fit"  # the SKS's default task
    assert config.steps == 7  # FitTask.defaults
    assert config.lr == 0.2  # explicit beats the task default
    assert isinstance(task, fit_plugin.FitTask)
    config, _ = prepare({"task": "fake-fit"})
    assert config.sks == "fake-square"  # the task's default SKS
    with pytest.raises(zoo.ConfigError, match="--sks"):
        prepare({})


# -- schedules -----------------------------------------------------------------------------------


def test_constant_schedule():
    s = zoo.scheduler("constant")
    assert [s.factor(t, 10) for t in range(10)] == [1.0] * 10


@pytest.mark.parametrize("final", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("total", [2, 7, 50])
def test_cosine_schedule(final, total):
    s = zoo.scheduler("cosine", final=final)
    values = [s.factor(t, total) for t in range(total)]
    assert values[0] == pytest.approx(1.0, abs=1e-15)
    assert values[-1] == pytest.approx(final, abs=1e-15)
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone non-increasing
    if total % 2 == 1:  # the midpoint of a cosine from 1 to final is their mean
        assert values[total // 2] == pytest.approx((1 + final) / 2, abs=1e-12)
    # past the end it stays at final
    assert s.factor(total + 5, total) == pytest.approx(final, abs=1e-15)


def test_cosine_single_step_and_bad_final():
    assert zoo.scheduler("cosine", final=0.2).factor(0, 1) == 1.0
    for bad in (-0.1, math.nan):
        with pytest.raises(zoo.ConfigError):
            zoo.scheduler("cosine", final=bad)


# -- checkpoints ---------------------------------------------------------------------------------


class NotAWeight:
    """A custom class: pickling it into a checkpoint must not be loadable."""

    def __init__(self):
        self.payload = 42


def _state():
    return {
        "step": 3,
        "done": False,
        "model": {"w": torch.arange(6.0).reshape(2, 3)},
        "losses": [1.0, 0.5, 0.25],
        "layer_rng": '{"state": 1}',
        "torch_rng": torch.get_rng_state(),
    }


def test_checkpoint_round_trip(tmp_path):
    path = tmp_path / "ck" / "model.pt"  # parent folders are created
    state = _state()
    checkpoint.save(state, path)
    back = checkpoint.load(path)
    assert back["step"] == 3 and back["done"] is False and back["losses"] == [1.0, 0.5, 0.25]
    assert torch.equal(back["model"]["w"], state["model"]["w"])
    assert torch.equal(back["torch_rng"], state["torch_rng"])
    assert back["layer_rng"] == state["layer_rng"]
    assert os.listdir(path.parent) == ["model.pt"]  # no temporary file left behind


def test_checkpoint_overwrite_is_atomic_when_save_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    checkpoint.save(_state(), path)
    before = path.read_bytes()

    def half_write(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04 truncated checkpoint")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", half_write)
    new = _state()
    new["step"] = 99
    with pytest.raises(RuntimeError, match="disk full"):
        checkpoint.save(new, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]
    monkeypatch.undo()
    assert checkpoint.load(path)["step"] == 3


def test_checkpoint_interrupted_save_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupted(obj, fh, *args, **kwargs):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(_state(), tmp_path / "model.pt")
    assert os.listdir(tmp_path) == []


def test_checkpoint_load_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"step": 1, "thing": NotAWeight()}, path)
    with pytest.raises(zoo.ZooError, match="evil.pt"):
        checkpoint.load(path)


def test_checkpoint_load_errors(tmp_path):
    with pytest.raises(zoo.ZooError, match="does not exist"):
        checkpoint.load(tmp_path / "missing.pt")
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(zoo.ZooError):
        checkpoint.load(bad)
