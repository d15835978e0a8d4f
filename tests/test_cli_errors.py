"""Every mistake a user can make at ``zoo run`` is one ``Error:`` line, exit 2, and leaves
no run folder behind (so the same ``--out`` works once the mistake is fixed).

The table holds what a security and reliability review found giving tracebacks, silent
nonsense, or a half-made run folder that then blocked the retry.
"""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest
import torch

import zoo
from zoo.cli import cli
from click.testing import CliRunner

from test_cli import assert_one_line_error


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


FAKE = ("--sks", "fake-square", "--no-progress")

# (extra arguments, config file text or None, fragments the one error line must hold)
BAD_STARTS = [
    (["--lr", "nan"], None, ["'lr'", "finite"]),
    (["--lr", "inf"], None, ["'lr'", "finite"]),
    (["--seed", "-1"], None, ["'seed'"]),
    (["--seed", str(2**64)], None, ["'seed'"]),
    (["--estimator", "rge", "--estimator-option", "q=1e400"], None, ["'rge'", "q="]),
    (["--estimator", "rge", "--estimator-option", "mu=nan"], None, ["mu"]),
    (["--estimator", "rge", "--estimator-option", "q=-3"], None, ["q"]),
    ([], "[schedule_options]\nlr = 3\n", ["schedule_options.lr", "table"]),
    ([], "[schedule_options.momentum]\nfinal = 3\n", ["schedule_options.momentum"]),
    ([], "workers_max = -1\n", ["workers_max"]),
    (["--workers", "100000", "--executor", "processes"], None, ["'workers'", "100000", "--workers-max"]),
    ([], "threads = 100000\n", ["'threads'", "--workers-max"]),
    (["--executor", "processes", "--executor-option", "workers=100000"], None, ["workers", "--workers-max"]),
    (["--task-option", "init=abc"], None, ["'fake-fit'", "init="]),
    (["--sks-option", "inputs=5"], None, ["'fake-square'"]),
    (["--force"], None, ["--force", "--resume"]),
]


@pytest.mark.parametrize("extra, config, fragments", BAD_STARTS,
                         ids=[" ".join(map(str, e)) or c.splitlines()[0] for e, c, _ in BAD_STARTS])
def test_bad_start_is_one_line_and_leaves_no_folder(fit_plugin, tmp_path, extra, config, fragments):
    out = tmp_path / "out"
    args = [*FAKE, *extra, "--out", out]
    if config is not None:
        (tmp_path / "c.toml").write_text(config)
        args += ["--config", tmp_path / "c.toml"]
    assert_one_line_error(invoke("run", *args), *fragments)
    assert not out.exists()


def test_workers_max_lets_a_user_mean_it(fit_plugin, tmp_path, monkeypatch):
    """The cap is a guard, not a wall: --workers-max raises it (serial ignores workers)."""
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: b"")
    many = 4 * (os.cpu_count() or 1) + 1
    result = invoke("run", *FAKE, "--workers", many, "--workers-max", many, "--steps", 1,
                    "--no-baseline", "--out", tmp_path / "ok")
    assert result.exit_code == 0, result.output


def test_non_utf8_config(fit_plugin, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("sks = 'fake-square'\n# Å in Latin-1: \xc5\n".encode("latin-1"))
    assert_one_line_error(invoke("run", "--config", path, "--out", tmp_path / "o"), "UTF-8")
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder(fit_plugin, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert_one_line_error(invoke("run", *FAKE, "--out", ro / "run"), "run folder")
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("where", ["/dev/null", "a-file"])
def test_out_that_is_not_a_folder(fit_plugin, tmp_path, where):
    target = tmp_path / where if where == "a-file" else where
    if where == "a-file":
        target.write_text("x")
    line = assert_one_line_error(invoke("run", *FAKE, "--out", target))
    assert str(target) in line
    if where == "a-file":
        assert target.read_text() == "x"


def test_a_refused_start_can_be_retried_with_the_same_out(fit_plugin, tmp_path, monkeypatch):
    """The reviewer's sequence: a bad option, then the corrected command with the same
    --out was refused as 'already holds a run' (and --resume would replay the bad option)."""
    monkeypatch.setattr(zoo.train, "plot_losses", lambda *a, **k: b"")
    out = tmp_path / "run"
    assert_one_line_error(invoke("run", *FAKE, "--sks-option", "bogus=1", "--out", out), "bogus")
    assert not out.exists()
    result = invoke("run", *FAKE, "--steps", 2, "--no-baseline", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "summary.json").exists()


def test_task_option_of_the_wrong_type_through_a_real_task(tmp_path):
    """n_labelled=abc reached int() inside the fcc task: a ValueError traceback before."""
    out = tmp_path / "o"
    result = invoke("run", "--sks", "ase-emt", "--task-option", "n_labelled=abc", "--no-progress", "--out", out)
    assert_one_line_error(result, "n_labelled")
    assert not out.exists()


def test_sks_option_of_the_wrong_type_through_a_real_sks(tmp_path):
    out = tmp_path / "o"
    result = invoke("run", "--sks", "ase-emt", "--sks-option", "inputs=5", "--no-progress", "--out", out)
    assert_one_line_error(result, "inputs")
    assert not out.exists()


# -- the library side of the same rules ------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"names": [1, 2]}, "strings"),
        ({"names": ["a", ""]}, "strings"),
        ({"names": ["a"], "lower": float("nan")}, "NaN"),
        ({"names": ["a", "b"], "upper": [1.0, float("nan")]}, "NaN"),
        ({"names": ["a"], "lower": "zero"}, "numbers"),
        ({"names": ["a", "b"], "lower": [0.0, 1.0, 2.0]}, "2 numbers"),
        ({"names": ["a"], "units": [3]}, "units"),
    ],
)
def test_spec_rejects_what_would_make_every_row_nan(kwargs, fragment):
    with pytest.raises(zoo.ConfigError, match=fragment):
        zoo.Spec(**kwargs)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8])
def test_sks_layer_refuses_integer_tensors(dtype):
    """int64 [[1],[3]] through x*0.5+0.25 came back as [[0],[1]]: a silent wrong answer."""
    from core_fakes import QuadSKS

    layer = zoo.SKSLayer(QuadSKS(), estimator="cge")
    with pytest.raises(zoo.ConfigError, match="floating-point"):
        layer(torch.ones((2, 3), dtype=dtype), [{"scale": 1.0}] * 2)
    y = layer(torch.ones((2, 3), dtype=torch.float64), [{"scale": 1.0}] * 2)
    assert y.dtype == torch.float64


class _Exits(zoo.KnowledgeSource):
    name = "fake-exits"
    input_spec = zoo.Spec(["x"])
    output_spec = zoo.Spec(["y"])

    def evaluate(self, inputs, contexts=None):
        raise SystemExit(3)


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_sys_exit_inside_an_sks_is_that_call_failing(executor):
    with zoo.executor(executor, **({"workers": 1} if executor == "processes" else {})) as ex:
        results = ex.run(_Exits(), [zoo.executors.base.Chunk(np.zeros((2, 1)), None)])
    assert isinstance(results[0].error, zoo.SKSError)
    assert "sys.exit(3)" in str(results[0].error)


# -- the evaluation cache is data -----------------------------------------------------


def _tamper(path, value: bytes | str | float) -> None:
    db = sqlite3.connect(path)
    db.execute("UPDATE evals SET value = ?", (value,))
    db.commit()
    db.close()


@pytest.mark.parametrize(
    "blob",
    [np.zeros(2).tobytes(), b"\x80\x04\x95", __import__("pickle").dumps(object), "text", 1.5],
    ids=["wrong-width", "truncated", "pickle", "text", "real"],
)
def test_damaged_cache_entries_are_misses(tmp_path, blob):
    """Values of the wrong width, pickle blobs, text: never unpickled, never served."""
    from core_fakes import QuadSKS
    from zoo.cache import Cache
    from zoo.evaluation import Evaluator

    sks = QuadSKS()
    x = np.array([[0.5, 1.0, -1.0], [1.0, 2.0, 0.0]])
    ctx = [{"scale": 1.0}] * 2
    cache = Cache(tmp_path / "c.sqlite")
    first = Evaluator(zoo.executor("serial"), cache).evaluate(sks, x, ctx)
    cache.close()
    _tamper(tmp_path / "c.sqlite", blob)
    cache = Cache(tmp_path / "c.sqlite")
    ev = Evaluator(zoo.executor("serial"), cache)
    again = ev.evaluate(sks, x, ctx)
    cache.close()
    np.testing.assert_array_equal(again, first)
    assert ev.stats.cache_hits == 0 and ev.stats.queries == 2
    assert cache.damaged == 2


def test_a_cached_nan_is_asked_again_when_retries_allow(tmp_path):
    from core_fakes import QuadSKS
    from zoo.cache import Cache
    from zoo.evaluation import Evaluator, FailurePolicy

    sks = QuadSKS()
    x = np.array([[0.5, 1.0, -1.0]])
    ctx = [{"scale": 1.0}]
    cache = Cache(tmp_path / "c.sqlite")
    good = Evaluator(zoo.executor("serial"), cache).evaluate(sks, x, ctx)
    cache.close()
    _tamper(tmp_path / "c.sqlite", np.full(3, np.nan).tobytes())
    for retries, queries in ((1, 1), (0, 0)):
        cache = Cache(tmp_path / "c.sqlite")
        ev = Evaluator(zoo.executor("serial"), cache, FailurePolicy(retries=retries))
        y = ev.evaluate(sks, x, ctx)
        cache.close()
        assert ev.stats.queries == queries
        if retries:
            np.testing.assert_array_equal(y, good)  # asked again, and the good row stored
            _tamper(tmp_path / "c.sqlite", np.full(3, np.nan).tobytes())
        else:
            assert np.isnan(y).all()  # retries = 0: the user asked for no second tries
