"""Every hook a zoo plugin can implement, and nothing else.

A plugin is a module (or object) with functions marked ``@zoo.hookimpl`` whose names match
these specs. An implementation may accept fewer arguments than its spec, so hooks can grow new
arguments without breaking old plugins. Each ``register`` callable takes a class and checks
one thing: a ``name`` class attribute, a non-empty string (what users type, e.g.
``"ase-emt"``); a one-line ``description`` is what ``zoo list`` shows beside it (and
``zoo.testing.check_knowledge_source`` asks for one). Registering a name that another plugin
registered too is an error that names both plugins, and the name is left out.

:data:`KINDS` says which ``register_*`` hook registers which kind of component; the
registry, ``zoo list`` and ``zoo plugins`` all read it from here.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")

Register = Callable[[type], Any]


@hookspec
def register_knowledge_sources(register: Register) -> None:
    """Register :class:`zoo.KnowledgeSource` subclasses: ``register(MySKS)``.

    Parameters
    ----------
    register
        Call it once per class; it returns the class, so it also works as a decorator.

    Examples
    --------
    In the module a plugin's ``zoo`` entry point names::

        @zoo.hookimpl
        def register_knowledge_sources(register):
            register(Spring)
    """


@hookspec
def register_estimators(register: Register) -> None:
    """Register :class:`zoo.Estimator` subclasses (gradient estimators).

    Parameters
    ----------
    register
        Call it once per class: ``register(MyEstimator)``.
    """


@hookspec
def register_schedulers(register: Register) -> None:
    """Register :class:`zoo.Schedule` subclasses (per-step factors of lr, mu, q, sparsity).

    Parameters
    ----------
    register
        Call it once per class: ``register(MySchedule)``.
    """


@hookspec
def register_executors(register: Register) -> None:
    """Register :class:`zoo.Executor` subclasses (where SKS queries run).

    Parameters
    ----------
    register
        Call it once per class: ``register(MyExecutor)``.
    """


@hookspec
def register_tasks(register: Register) -> None:
    """Register :class:`zoo.Task` subclasses (data + model + loss for ``zoo run``).

    Parameters
    ----------
    register
        Call it once per class: ``register(MyTask)``.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands to the ``zoo`` command group: ``@cli.command()``.

    Called when the ``zoo`` console script starts (``zoo.cli.main``), never on ``import
    zoo.cli``, so a plugin that fails here cannot break ``zoo --help``. zoo's own
    ``diagnose`` and ``new-plugin`` commands are added this way.

    Parameters
    ----------
    cli
        The ``zoo`` :class:`click.Group`.

    Examples
    --------
    ::

        @zoo.hookimpl
        def register_commands(cli):
            import click

            @cli.command(name="spring-info")
            def spring_info():
                click.echo("spring: a harmonic spring")
    """


class Kind(NamedTuple):
    """A kind of component: the hook that registers it and what a user calls one."""

    hook: str
    label: str


#: kind (as ``zoo list KIND`` spells it) -> its registration hook and label
KINDS: dict[str, Kind] = {
    "sks": Kind(register_knowledge_sources.__name__, "knowledge source"),
    "estimators": Kind(register_estimators.__name__, "estimator"),
    "schedulers": Kind(register_schedulers.__name__, "scheduler"),
    "executors": Kind(register_executors.__name__, "executor"),
    "tasks": Kind(register_tasks.__name__, "task"),
}
