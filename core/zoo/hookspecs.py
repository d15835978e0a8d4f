"""Every hook a zoo plugin can implement, and nothing else.

A plugin is a module (or object) with functions marked ``@zoo.hookimpl`` whose names match
these specs. An implementation may accept fewer arguments than its spec, so hooks can grow new
arguments without breaking old plugins. Each ``register`` callable takes a class with a
``name`` class attribute (what users type, e.g. ``"ase-emt"``) and a one-line
``description``; registering a name that another plugin registered too is an error that names
both plugins.

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
