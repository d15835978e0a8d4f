"""The ``zoo`` command line (click).

Importing this module loads no plugin: :func:`main` loads them (each in its own ``try``)
only to let them add commands, so a broken plugin shows up in ``zoo plugins`` instead of
breaking ``zoo --help``. Errors a user can fix print one line and exit 2.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import click

from .config import MODES, ON_FAILURE
from .deprecation import ZooDeprecationWarning
from .errors import ZooError
from .hookspecs import KINDS

#: what ``zoo list KIND`` accepts: every kind of component a plugin registers
LIST_KINDS = tuple(KINDS)


class ZooGroup(click.Group):
    """A click group that turns :class:`ZooError` into one line on stderr and exit code 2,
    and each deprecation warning into one ``Warning:`` line."""

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_deprecations():
            try:
                return super().invoke(ctx)
            except ZooError as exc:
                from .errors import Interrupted

                click.echo(f"Error: {exc}", err=True)
                ctx.exit(130 if isinstance(exc, Interrupted) else 2)


@contextlib.contextmanager
def _one_line_deprecations() -> Iterator[None]:
    """Show each :class:`ZooDeprecationWarning` once, as one line on stderr (Python would
    hide it, or print it over two lines with a source line the user did not write)."""
    shown: set[str] = set()
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if not issubclass(category, ZooDeprecationWarning):
            return original(message, category, filename, lineno, file, line)
        if str(message) not in shown:
            shown.add(str(message))
            click.echo(f"Warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", ZooDeprecationWarning)
        warnings.showwarning = show
        yield


@click.group(cls=ZooGroup)
@click.version_option(package_name="zoo-core", prog_name="zoo")
def cli() -> None:
    """Train PyTorch models through black-box scientific software with zeroth-order gradients.

    \b
    Quick start:  zoo run --sks ase-emt
    Components:   zoo list sks|estimators|schedulers|executors|tasks
    Plugins:      zoo plugins
    """


def _options(pairs: tuple[str, ...]) -> dict[str, Any] | None:
    from .config import parse_option

    return dict(parse_option(p) for p in pairs) if pairs else None


@cli.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file; flags win over it.")
@click.option("--sks", help="Knowledge source to train through (zoo list sks).")
@click.option("--task", help="Task to train (default: the SKS's own default task).")
@click.option("--estimator", help="Gradient estimator (zoo list estimators).")
@click.option("--executor", help="Where SKS queries run (zoo list executors).")
@click.option("--workers", type=int, help="Workers for a parallel executor.")
@click.option("--workers-max", type=int, help="Allow more workers/threads than 4 x the CPUs.")
@click.option("--steps", type=int, help="Training steps per model.")
@click.option("--seed", type=int, help="Seed for data split, weights and directions.")
@click.option("--lr", type=float, help="Learning rate.")
@click.option("--optimizer", help="adam (default), sgd or signsgd; both variants, both modes.")
@click.option("--out", help="Run folder (default runs/<sks>-<time>).")
@click.option("--resume", "resume_dir", metavar="RUN", help="Continue the run in this folder.")
@click.option("--force", is_flag=True, help="With --resume: continue even though config.toml was edited.")
@click.option("--sks-option", "sks_opts", multiple=True, metavar="KEY=VALUE", help="An SKS option (repeatable).")
@click.option("--task-option", "task_opts", multiple=True, metavar="KEY=VALUE", help="A task option (repeatable).")
@click.option("--estimator-option", "est_opts", multiple=True, metavar="KEY=VALUE", help="An estimator option, e.g. q=16.")
@click.option("--executor-option", "exe_opts", multiple=True, metavar="KEY=VALUE", help="An executor option.")
@click.option("--optimizer-option", "opt_opts", multiple=True, metavar="KEY=VALUE", help="An optimizer option, e.g. momentum=0.")
@click.option("--baseline/--no-baseline", default=None, help="Also train the data-only twin (default: yes).")
@click.option("--mode", type=click.Choice(MODES), help="hybrid (backprop + ZO at the SKS) or full-zo.")
@click.option("--scheduler", help="Join an existing Dask scheduler, e.g. tcp://HOST:8786.")
@click.option("--cache", help="Evaluation cache: run (default), off, or a path shared by runs.")
@click.option("--sks-timeout", type=float, help="Seconds a query may run (processes/dask executors).")
@click.option("--retries", type=int, help="Retries of a failed query (default 1).")
@click.option("--on-failure", type=click.Choice(ON_FAILURE), help="After the retries.")
@click.option("--budget", type=int, help="Stop cleanly once this many SKS queries are spent.")
@click.option("--dry-run", is_flag=True, help="Print the SKS queries the run would cost, then stop.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(config_file, sks, task, estimator, executor, workers, workers_max, steps, seed, lr, optimizer, out,
        resume_dir, force, sks_opts, task_opts, est_opts, exe_opts, opt_opts, baseline, mode, scheduler,
        cache, sks_timeout, retries, on_failure, budget, dry_run, progress, as_json) -> None:
    """Train a model through a knowledge source, beside its data-only twin."""
    from . import train
    from .config import read_toml

    echo = (lambda _msg: None) if as_json else click.echo
    if resume_dir:
        # a resumed run replays its own config.toml: say so for every setting given with it
        ctx = click.get_current_context()
        for param in ctx.command.params:
            if param.name in ("resume_dir", "force", "progress", "as_json"):
                continue
            source = ctx.get_parameter_source(param.name)
            if source is click.core.ParameterSource.COMMANDLINE:
                click.echo(
                    f"Warning: {param.opts[0]} is ignored with --resume: a resumed run continues "
                    f"with its saved config.toml",
                    err=True,
                )
        summary = train.resume(resume_dir, progress=progress, echo=echo, force=force)
        if as_json:
            click.echo(json.dumps(summary, indent=2))
        return
    if force:
        from .errors import ConfigError

        raise ConfigError("--force only applies to --resume RUN (it continues a run whose config.toml was edited)")
    file_layer = read_toml(config_file) if config_file else {}
    flags = {
        "sks": sks, "task": task, "estimator": estimator, "executor": executor,
        "workers": workers, "workers_max": workers_max, "steps": steps, "seed": seed, "lr": lr,
        "optimizer": optimizer, "out": out,
        "baseline": baseline, "mode": mode, "scheduler": scheduler, "cache": cache,
        "sks_timeout": sks_timeout, "retries": retries, "on_failure": on_failure, "budget": budget,
        "sks_options": _options(sks_opts), "task_options": _options(task_opts),
        "estimator_options": _options(est_opts), "executor_options": _options(exe_opts),
        "optimizer_options": _options(opt_opts),
    }
    if dry_run:
        cost = train.dry_run(file_layer, flags)
        if as_json:
            click.echo(json.dumps(cost, indent=2))
        else:
            click.echo(
                f"{cost['sks']} / {cost['task']} with {cost['estimator']}: {cost['steps']} steps x "
                f"{cost['rows_per_step']} rows x {cost['queries_per_row']} queries = "
                f"{cost['queries']} SKS queries at most ({cost['note']})"
            )
        return
    summary = train.run(file_layer, flags, progress=progress, echo=echo)
    if as_json:
        click.echo(json.dumps(summary, indent=2))


@cli.command(name="list")
@click.argument("kind", type=click.Choice(LIST_KINDS))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(kind: str, as_json: bool) -> None:
    """List the registered components of KIND."""
    from . import registry

    rows = [
        {"name": r.name, "plugin": r.plugin, "description": r.description,
         "class": f"{r.cls.__module__}:{r.cls.__qualname__}"}
        for r in registry.registered(kind).values()
    ]
    for clash in registry.clashes(kind).values():
        click.echo(f"Warning: left out, {clash}", err=True)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        click.echo(f"{r['name'].ljust(width)}  {r['description']}  [{r['plugin']}]")
    if not rows:
        click.echo(f"no {kind} registered; install a plugin that provides some")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """Installed plugins: versions, what each registers, and load errors."""
    from . import plugins as plugin_mod
    from . import registry

    registers: dict[str, dict[str, list[str]]] = {}
    clashes: list[str] = []
    for kind in LIST_KINDS:
        for reg in registry.claims(kind):
            registers.setdefault(reg.plugin, {}).setdefault(kind, []).append(reg.name)
        clashes += registry.clashes(kind).values()
    rows = [
        {"name": i.name, "module": i.module, "distribution": i.distribution, "version": i.version,
         "hooks": i.hooks, "registers": registers.get(i.name, {}), "error": i.error,
         "warning": i.warning}
        for i in plugin_mod.plugin_infos()
    ]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "errors": clashes}, indent=2))
        return
    for r in rows:
        dist = f"{r['distribution']} {r['version']}" if r["distribution"] else r["module"]
        click.echo(f"{r['name']}  ({dist})")
        for kind, names in r["registers"].items():
            click.echo(f"    {kind}: {', '.join(names)}")
        if r["error"]:
            click.echo(f"    FAILED TO LOAD: {r['error']}")
        if r["warning"]:
            click.echo(f"    WARNING: {r['warning']}")
    for clash in clashes:
        click.echo(f"Name clash: {clash}")


def _add_plugin_commands() -> None:
    from . import plugins as plugin_mod

    plugin_mod.call_each("register_commands", lambda _name: {"cli": cli})


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: let plugins add commands, then run click."""
    try:
        _add_plugin_commands()
    except Exception as exc:  # noqa: BLE001 - never let plugins break the CLI itself
        print(f"zoo: warning: plugin commands not loaded: {exc}", file=sys.stderr)
    cli.main(args=argv, prog_name="zoo")
