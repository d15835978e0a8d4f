"""The plugin system: hooks, registries, load errors, entry points, and the CLI's view of them."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import zoo
import zoo.hookspecs
import zoo.plugins
from zoo.cli import cli
from zoo.executors import Serial

from core_fakes import FitTask, QuadSKS, make_fake_dist, plugin_object, purge_modules

ZOO = str(Path(sys.executable).with_name("zoo"))
TESTS = Path(__file__).parent


def _registers(*classes):
    def hook(register):
        for cls in classes:
            register(cls)

    return hook


def _list_json(kind: str) -> dict[str, dict]:
    result = CliRunner().invoke(cli, ["list", kind, "--json"])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


# -- small components of every kind, as a third party would write them ------------------


class ForwardDiff(zoo.Estimator):
    """A minimal third-party estimator: forward differences on every axis."""

    name = "fake-fd"
    description = "forward differences (test)"

    def queries_per_sample(self, d):
        return d

    def plan(self, z, lower, upper, rng):
        B, d = z.shape
        u = np.broadcast_to(np.eye(d), (B, d, d))
        return zoo.Plan(points=z[:, None, :] + self.mu * u, weights=u / self.mu)


class HalfwaySchedule(zoo.Schedule):
    name = "fake-linear"
    description = "linear decay to zero (test)"

    def factor(self, step, total):
        return 1.0 - step / total


class CountingExecutor(Serial):
    """The serial executor, counting the calls it gets (whichever entry point zoo uses)."""

    name = "fake-counting"
    description = "serial, but counts its calls (test)"

    def __init__(self):
        super().__init__()
        self.used = 0

    def evaluate(self, *args, **kwargs):
        self.used += 1
        return super().evaluate(*args, **kwargs)

    def run(self, *args, **kwargs):
        self.used += 1
        return super().run(*args, **kwargs)


# -- built-ins ------------------------------------------------------------------------------


def test_builtins_load_through_entry_points_like_any_plugin():
    infos = {i.name: i for i in zoo.plugins.plugin_infos()}
    for name in ("estimators", "schedulers", "executors"):
        assert name in infos
        assert infos[name].distribution == "zoo-core"
        assert infos[name].error is None
    assert infos["estimators"].hooks == ["register_estimators"]
    est = zoo.registered("estimators")
    assert {"rge", "cge"} <= set(est)
    assert est["rge"].plugin == "estimators"
    assert set(zoo.registered("schedulers")) >= {"constant", "cosine"}
    assert "serial" in zoo.registered("executors")


# -- one test per hook spec (the meta-test below insists on it) -------------------------------


@pytest.fixture
def builtin_estimators_only(monkeypatch):
    """Load zoo's built-ins only (no third-party entry point), so listings do not import
    every SKS plugin."""
    monkeypatch.setenv("ZOO_PLUGINS", "")
    zoo.plugins.reset()


def test_register_knowledge_sources(builtin_estimators_only):
    assert zoo.plugins.register_plugin(
        plugin_object(register_knowledge_sources=_registers(QuadSKS)), "quad-plugin"
    )
    reg = zoo.registered("sks")["fake-quad"]
    assert reg.plugin == "quad-plugin" and reg.cls is QuadSKS
    sks = zoo.knowledge_source("fake-quad", nan_above=3.0)
    assert isinstance(sks, QuadSKS) and sks.nan_above == 3.0
    # an option the class does not take is a ConfigError naming what it accepts
    with pytest.raises(zoo.ConfigError, match="nan_above"):
        zoo.knowledge_source("fake-quad", colour="red")
    assert _list_json("sks")["fake-quad"]["plugin"] == "quad-plugin"


def test_register_estimators(builtin_estimators_only):
    assert zoo.plugins.register_plugin(
        plugin_object(register_estimators=_registers(ForwardDiff)), "fd-plugin"
    )
    est = zoo.estimator("fake-fd", mu=1e-6)
    # f(x) = 3 x0 - 2 x1 is linear, so forward differences are exact up to rounding
    g, n = est.vjp(lambda x: (x @ np.array([3.0, -2.0]))[:, None], [[1.0, 2.0]])
    np.testing.assert_allclose(g, [[3.0, -2.0]], atol=1e-6)
    assert n == 3  # f(z) and one query per axis
    assert _list_json("estimators")["fake-fd"]["plugin"] == "fd-plugin"


def test_register_schedulers(builtin_estimators_only):
    assert zoo.plugins.register_plugin(
        plugin_object(register_schedulers=_registers(HalfwaySchedule)), "sched-plugin"
    )
    assert zoo.scheduler("fake-linear").factor(5, 10) == 0.5
    assert _list_json("schedulers")["fake-linear"]["plugin"] == "sched-plugin"


def test_register_executors(builtin_estimators_only):
    assert zoo.plugins.register_plugin(
        plugin_object(register_executors=_registers(CountingExecutor)), "exec-plugin"
    )
    sks = QuadSKS()
    layer = zoo.SKSLayer(sks, estimator="cge", executor="fake-counting")
    assert isinstance(layer.executor, CountingExecutor)
    layer(torch.zeros(2, 3, dtype=torch.float64))
    assert layer.executor.used == 1 and len(sks.calls) == 1 and len(sks.calls[0][0]) == 2
    assert _list_json("executors")["fake-counting"]["plugin"] == "exec-plugin"


def test_register_tasks(builtin_estimators_only):
    assert zoo.plugins.register_plugin(
        plugin_object(register_tasks=_registers(FitTask)), "task-plugin"
    )
    task = zoo.task("fake-fit", init=2.5)
    assert isinstance(task, FitTask) and task.init == 2.5
    assert _list_json("tasks")["fake-fit"]["plugin"] == "task-plugin"


def test_register_commands():
    import click

    def register_commands(cli):
        @cli.command("fake-hello")
        @click.option("--who", default="world")
        def hello(who):
            """Say hello (a command added by a test plugin)."""
            click.echo(f"hello {who}")

    assert zoo.plugins.register_plugin(plugin_object(register_commands=register_commands), "cmd")
    try:
        zoo.cli._add_plugin_commands()
        runner = CliRunner()
        help_ = runner.invoke(cli, ["--help"])
        assert help_.exit_code == 0
        assert "fake-hello" in help_.stdout
        assert "Say hello" in help_.stdout
        said = runner.invoke(cli, ["fake-hello", "--who", "zoo"])
        assert said.exit_code == 0 and said.stdout.strip() == "hello zoo"
    finally:
        cli.commands.pop("fake-hello", None)


def test_every_hookspec_has_a_test_named_after_it():
    """In the spirit of datasette's test_plugin_hooks_have_tests: a new hook needs a test."""
    specs = [
        name
        for name in dir(zoo.hookspecs)
        if hasattr(getattr(zoo.hookspecs, name), "zoo_spec")
    ]
    assert {
        "register_knowledge_sources", "register_estimators", "register_schedulers",
        "register_executors", "register_tasks", "register_commands",
    } <= set(specs)  # the hooks DESIGN.md lists
    test_names = []
    for path in TESTS.glob("test_*.py"):
        tree = ast.parse(path.read_text())
        test_names += [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        ]
    missing = [s for s in specs if not any(s in t for t in test_names)]
    assert not missing, f"hook specs without a test named after them: {missing}"


# -- clashes, unknown names, contract breaches ---------------------------------------------


def test_duplicate_name_from_two_plugins_names_both():
    class One(ForwardDiff):
        name = "twin"

    class Two(ForwardDiff):
        name = "twin"

    zoo.plugins.register_plugin(plugin_object(register_estimators=_registers(One)), "alpha")
    zoo.plugins.register_plugin(plugin_object(register_estimators=_registers(Two)), "beta")
    assert "twin" not in zoo.registered("estimators")  # neither wins by load order
    with pytest.raises(zoo.PluginError) as err:
        zoo.estimator("twin")
    msg = str(err.value)
    assert "'twin'" in msg and "'alpha'" in msg and "'beta'" in msg
    assert "'alpha'" in zoo.registry.clashes("estimators")["twin"]


def test_duplicate_of_a_builtin_name_names_the_builtin_plugin():
    class MyRGE(ForwardDiff):
        name = "rge"

    zoo.plugins.register_plugin(plugin_object(register_estimators=_registers(MyRGE)), "copycat")
    assert zoo.estimator("cge").name == "cge"  # the other built-ins are unaffected
    with pytest.raises(zoo.PluginError, match="rge") as err:
        zoo.estimator("rge")
    assert "'estimators'" in str(err.value) and "'copycat'" in str(err.value)


def test_unknown_name_lists_known_names_and_closest_match():
    with pytest.raises(zoo.UnknownNameError) as err:
        zoo.estimator("rgee")
    msg = str(err.value)
    assert "'rgee'" in msg
    assert "Did you mean 'rge'?" in msg
    assert "cge" in msg and "rge" in msg
    assert err.value.known == sorted(zoo.registered("estimators"))
    assert isinstance(err.value, zoo.ZooError) and isinstance(err.value, KeyError)
    # nothing close: no suggestion, still the list
    with pytest.raises(zoo.UnknownNameError) as err:
        zoo.scheduler("zzzzzz")
    assert "Did you mean" not in str(err.value) and "cosine" in str(err.value)


def test_unknown_kind_is_an_unknown_name():
    with pytest.raises(zoo.UnknownNameError, match="'estimators'"):
        zoo.registered("estimator")


def test_misspelled_hook_is_rejected_with_did_you_mean():
    def register_estimator(register):  # missing the final "s"
        register(ForwardDiff)

    assert not zoo.plugins.register_plugin(
        plugin_object(register_estimator=register_estimator), "typo"
    )
    err = zoo.plugins.load_errors()["typo"]
    assert "'register_estimator'" in err
    assert "did you mean 'register_estimators'" in err
    assert zoo.plugins.get_plugin_manager().get_plugin("typo") is None
    # the rest of zoo is unaffected
    assert {"rge", "cge"} <= set(zoo.registered("estimators"))
    assert "fake-fd" not in zoo.registered("estimators")


def test_hook_with_wrong_argument_name_is_rejected():
    def register_estimators(reg):  # the spec's argument is "register"
        reg(ForwardDiff)

    assert not zoo.plugins.register_plugin(
        plugin_object(register_estimators=register_estimators), "badargs"
    )
    assert "reg" in zoo.plugins.load_errors()["badargs"]
    assert "fake-fd" not in zoo.registered("estimators")


def test_raising_hook_is_blamed_on_its_plugin_and_others_still_register():
    def boom(register):
        raise RuntimeError("boom in a plugin")

    zoo.plugins.register_plugin(plugin_object(register_estimators=boom), "exploding")
    zoo.plugins.register_plugin(
        plugin_object(register_estimators=_registers(ForwardDiff)), "well-behaved"
    )
    names = zoo.registered("estimators")
    assert {"rge", "cge", "fake-fd"} <= set(names)
    errors = zoo.plugins.load_errors()
    assert "exploding" in errors
    assert "well-behaved" not in errors and "estimators" not in errors
    assert "register_estimators" in errors["exploding"] and "boom in a plugin" in errors["exploding"]


def test_registering_a_class_without_name_is_blamed_on_the_plugin():
    class Nameless(zoo.Estimator):
        pass

    zoo.plugins.register_plugin(plugin_object(register_estimators=_registers(Nameless)), "nameless")
    assert {"rge", "cge"} <= set(zoo.registered("estimators"))
    assert "name" in zoo.plugins.load_errors()["nameless"]


def test_unregister_plugin():
    zoo.plugins.register_plugin(plugin_object(register_estimators=_registers(ForwardDiff)), "tmp")
    assert "fake-fd" in zoo.registered("estimators")
    zoo.plugins.unregister_plugin("tmp")
    assert "fake-fd" not in zoo.registered("estimators")
    assert "tmp" not in {i.name for i in zoo.plugins.plugin_infos()}


def test_registering_a_taken_plugin_name_does_not_blame_the_existing_plugin():
    """A second plugin under the name of a loaded one is refused; the first stays healthy."""
    ok = zoo.plugins.register_plugin(
        plugin_object(register_estimators=_registers(ForwardDiff)), "estimators"
    )
    assert ok is False
    assert "rge" in zoo.registered("estimators")
    info = {i.name: i for i in zoo.plugins.plugin_infos()}["estimators"]
    assert info.error is None, f"the built-in plugin was marked as failed: {info.error}"


def _recording(label, order, **marks):
    """A plugin whose register_tasks appends ``label`` to ``order``, with hookimpl ``marks``."""
    ns = type("TestPlugin", (), {})()
    ns.register_tasks = zoo.hookimpl(**marks)(lambda register: order.append(label))
    return ns


def test_hooks_are_called_in_pluggys_order(builtin_estimators_only):
    """zoo calls one plugin at a time, in the order pluggy itself would call them: the last
    registered first, tryfirst before the rest and trylast after (whatever order they were
    registered in)."""
    order: list[str] = []
    for label, marks in [("early", {"tryfirst": True}), ("p1", {}), ("late", {"trylast": True}), ("p2", {})]:
        assert zoo.plugins.register_plugin(_recording(label, order, **marks), label)
    zoo.registered("tasks")
    ours = list(order)
    order.clear()
    zoo.plugins.get_plugin_manager().hook.register_tasks(register=lambda cls: cls)  # pluggy, directly
    assert ours == order == ["early", "p2", "p1", "late"]


def test_a_hook_wrapper_is_refused_with_a_plugin_error(builtin_estimators_only):
    def wraps(register):
        yield

    for flag in ("wrapper", "hookwrapper"):
        ns = type("TestPlugin", (), {})()
        ns.register_estimators = zoo.hookimpl(**{flag: True})(wraps)
        assert not zoo.plugins.register_plugin(ns, f"wrapping-{flag}")
        err = zoo.plugins.load_errors()[f"wrapping-{flag}"]
        assert "PluginError" in err and "register_estimators" in err and "wrapper" in err
        assert zoo.plugins.get_plugin_manager().get_plugin(f"wrapping-{flag}") is None
    assert {"rge", "cge"} <= set(zoo.registered("estimators"))


def test_trace_plugins_prints_each_call(monkeypatch, capsys):
    monkeypatch.setenv("ZOO_TRACE_PLUGINS", "1")
    zoo.plugins.register_plugin(plugin_object(register_estimators=lambda register: 1 / 0), "zerodiv")
    zoo.registered("estimators")
    err = capsys.readouterr().err.splitlines()
    call = err.index("zoo: register_estimators() -> estimators (zoo.default_plugins.estimators)")
    assert "zoo:   registered estimator 'rge'" in err[call + 1:call + 4]
    raised = next(i for i, line in enumerate(err) if line.startswith("zoo: register_estimators() -> zerodiv ("))
    assert err[raised + 1].startswith("zoo:   raised ZeroDivisionError")
    monkeypatch.delenv("ZOO_TRACE_PLUGINS")
    zoo.plugins.reset()
    zoo.registered("estimators")
    assert capsys.readouterr().err == ""


# -- entry points ---------------------------------------------------------------------------


#: zoo-core's own entry points, as its installed metadata declares them
BUILTINS = {ep.name for ep in metadata.entry_points(group="zoo") if ep.dist and ep.dist.name == "zoo-core"}
assert {"estimators", "executors", "schedulers"} <= BUILTINS


@pytest.mark.parametrize("value, expected", [(None, {"demoa", "demob"}), ("demoa", {"demoa"}),
                                             ("demoa, demob", {"demoa", "demob"}), ("", set())])
def test_zoo_plugins_selects_third_party_entry_points_and_builtins_always_load(tmp_path, monkeypatch, value,
                                                                                expected):
    make_fake_dist(tmp_path, "demo_a", {"demoa": "demo_sel_a"}, {"demo_sel_a": _registering("est-a")})
    make_fake_dist(tmp_path, "demo_b", {"demob": "demo_sel_b"}, {"demo_sel_b": _registering("est-b")})
    monkeypatch.syspath_prepend(str(tmp_path))
    if value is not None:
        monkeypatch.setenv("ZOO_PLUGINS", value)
    zoo.plugins.reset()
    try:
        infos = {i.name: i for i in zoo.plugins.plugin_infos()}
        assert {n for n in infos if n.startswith("demo")} == expected
        assert BUILTINS <= set(infos) and all(infos[n].distribution == "zoo-core" for n in BUILTINS)
        estimators = zoo.registered("estimators")
        assert {"rge", "cge"} <= set(estimators) and "serial" in zoo.registered("executors")
        assert {n for n in estimators if n.startswith("est-")} == {f"est-{n[-1]}" for n in expected}
    finally:
        purge_modules("demo_sel_a", "demo_sel_b")


def test_builtins_are_registered_once():
    """Declared as entry points (like any plugin), loaded once: no name clashes with itself."""
    names = [i.name for i in zoo.plugins.plugin_infos() if i.distribution == "zoo-core"]
    assert sorted(names) == sorted(BUILTINS)
    for kind in zoo.hookspecs.KINDS:
        ours = [r.name for r in zoo.registry.claims(kind) if r.plugin in BUILTINS]
        assert len(ours) == len(set(ours)), (kind, ours)
    assert zoo.registered("estimators")["rge"].plugin == "estimators"


BROKEN_MOD = """
    raise ImportError("demo_broken needs a library that is not installed")
"""
TYPO_MOD = """
    import zoo

    @zoo.hookimpl
    def register_knowledge_source(register):
        pass
"""
CMD_MOD = """
    import click
    import zoo

    @zoo.hookimpl
    def register_commands(cli):
        @cli.command("demo-hello")
        def hello():
            '''Say hello from an installed plugin.'''
            click.echo("hello from demo")
"""
BAD_CMD_MOD = """
    import zoo

    @zoo.hookimpl
    def register_commands(cli):
        raise RuntimeError("commands exploded")
"""


@pytest.fixture
def fake_dists(tmp_path):
    make_fake_dist(tmp_path, "demo_broken", {"broken": "demo_broken_mod"}, {"demo_broken_mod": BROKEN_MOD})
    make_fake_dist(tmp_path, "demo_typo", {"typo": "demo_typo_mod"}, {"demo_typo_mod": TYPO_MOD})
    make_fake_dist(tmp_path, "demo_cmd", {"democmd": "demo_cmd_mod"}, {"demo_cmd_mod": CMD_MOD})
    make_fake_dist(tmp_path, "demo_badcmd", {"badcmd": "demo_badcmd_mod"}, {"demo_badcmd_mod": BAD_CMD_MOD})
    yield tmp_path
    purge_modules("demo_broken_mod", "demo_typo_mod", "demo_cmd_mod", "demo_badcmd_mod")


def test_broken_entry_points_are_reported_and_the_rest_works(fake_dists, monkeypatch):
    monkeypatch.syspath_prepend(str(fake_dists))
    zoo.plugins.reset()
    infos = {i.name: i for i in zoo.plugins.plugin_infos()}
    broken = infos["broken"]
    assert broken.distribution == "demo-broken" and broken.version == "0.1"
    assert broken.module == "demo_broken_mod"
    assert "ImportError" in broken.error and "not installed" in broken.error
    assert "did you mean 'register_knowledge_sources'" in infos["typo"].error
    assert infos["democmd"].error is None and infos["democmd"].hooks == ["register_commands"]
    assert infos["estimators"].error is None
    assert {"rge", "cge"} <= set(zoo.registered("estimators"))
    errors = zoo.plugins.load_errors()
    assert "broken" in errors and "typo" in errors
    assert not {"democmd", "badcmd", "estimators", "schedulers", "executors"} & set(errors)


def _registering(est_name: str) -> str:
    return (
        "import zoo\n"
        f"class E(zoo.Estimator):\n    name = {est_name!r}\n"
        "@zoo.hookimpl\ndef register_estimators(register):\n    register(E)\n"
    )


def test_two_distributions_claiming_one_entry_point_name(tmp_path, monkeypatch):
    """Both load; each keeps what it registers (credited to its own distribution, not to the
    one that happened to take the name first), and both carry a warning naming both."""
    make_fake_dist(tmp_path, "demo_a", {"same": "demo_same_a"}, {"demo_same_a": _registering("est-a")})
    make_fake_dist(tmp_path, "demo_b", {"same": "demo_same_b"}, {"demo_same_b": _registering("est-b")})
    monkeypatch.syspath_prepend(str(tmp_path))
    zoo.plugins.reset()
    try:
        infos = {i.distribution: i for i in zoo.plugins.plugin_infos() if i.name.startswith("same")}
        assert set(infos) == {"demo-a", "demo-b"}
        for info in infos.values():
            assert info.error is None
            assert "'same'" in info.warning and "demo-a" in info.warning and "demo-b" in info.warning
        est = zoo.registered("estimators")
        assert est["est-a"].plugin == infos["demo-a"].name
        assert est["est-b"].plugin == infos["demo-b"].name
        assert infos["demo-a"].name != infos["demo-b"].name
    finally:
        purge_modules("demo_same_a", "demo_same_b")


def _zoo(args, pythonpath, **env):
    return subprocess.run(
        [ZOO, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(pythonpath), **env},  # ZOO_PLUGINS unset by fixture
    )


@pytest.mark.slow
def test_cli_survives_broken_plugins_in_a_real_process(fake_dists):
    help_ = _zoo(["--help"], fake_dists)
    assert help_.returncode == 0, help_.stderr
    assert "Traceback" not in help_.stderr
    assert "demo-hello" in help_.stdout  # register_commands from an installed plugin

    hello = _zoo(["demo-hello"], fake_dists)
    assert hello.returncode == 0 and hello.stdout.strip() == "hello from demo"

    # the listings import every plugin's classes: keep to the ones this test is about
    only = {"ZOO_PLUGINS": "broken,typo,democmd,badcmd,estimators"}
    listed = _zoo(["list", "estimators"], fake_dists, **only)
    assert listed.returncode == 0, listed.stderr
    assert "rge" in listed.stdout and "cge" in listed.stdout

    shown = _zoo(["plugins", "--json"], fake_dists, **only)
    assert shown.returncode == 0, shown.stderr
    rows = {r["name"]: r for r in json.loads(shown.stdout)["plugins"]}
    assert "not installed" in rows["broken"]["error"]
    assert rows["broken"]["distribution"] == "demo-broken"
    assert "register_knowledge_source" in rows["typo"]["error"]
    assert "commands exploded" in rows["badcmd"]["error"]
    assert rows["estimators"]["error"] is None
    assert list(rows["estimators"]["registers"]) == ["estimators"]
    assert {"cge", "rge"} <= set(rows["estimators"]["registers"]["estimators"])

    text = _zoo(["plugins"], fake_dists, ZOO_PLUGINS="broken,estimators")
    assert text.returncode == 0
    assert "FAILED TO LOAD" in text.stdout and "not installed" in text.stdout
