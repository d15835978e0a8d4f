"""Every hook a zoo plugin can implement, and nothing else.

A plugin is a module (or object) with functions marked ``@zoo.hookimpl`` whose names match
these specs. An implementation may accept fewer arguments than its spec, so hooks can grow new
arguments without breaking old plugins. Each ``register`` callable takes a class with a
``name`` class attribute (what users type, e.g. ``"ase-emt"``) and a one-line
``description``; registering a name that another plugin registered too is an error that names
both plugins.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")

Register = Callable[[type], Any]


@hookspec
def register_knowledge_sources(register: Register) -> None:
    """Register :class:`zoo.KnowledgeSource` subclasses: ``register(MySKS)``."""


@hookspec
def register_estimators(register: Register) -> None:
    """Register :class:`zoo.Estimator` subclasses (gradient estimators)."""


@hookspec
def register_schedulers(register: Register) -> None:
    """Register :class:`zoo.Schedule` subclasses (per-step values of lr, mu, q, ...)."""


@hookspec
def register_executors(register: Register) -> None:
    """Register :class:`zoo.Executor` subclasses (where SKS queries run)."""


@hookspec
def register_tasks(register: Register) -> None:
    """Register :class:`zoo.Task` subclasses (data + model + loss for ``zoo run``)."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands to the ``zoo`` command group: ``@cli.command()``."""
