"""Name -> class registries for every kind of plugin component, and the factories users call.

This is the one typed facade over the hooks (as tox does it): the rest of zoo calls
``create("estimators", "rge", q=8)`` and never touches ``pm.hook`` itself.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any

from . import plugins
from .errors import ConfigError, PluginError, UnknownNameError

#: kind -> (hook name, what a user calls one of them)
KINDS: dict[str, tuple[str, str]] = {
    "sks": ("register_knowledge_sources", "knowledge source"),
    "estimators": ("register_estimators", "estimator"),
    "schedulers": ("register_schedulers", "scheduler"),
    "executors": ("register_executors", "executor"),
    "tasks": ("register_tasks", "task"),
}


@dataclass(frozen=True)
class Registration:
    """One registered component: its class and the plugin that registered it."""

    name: str
    cls: type
    plugin: str

    @property
    def description(self) -> str:
        return str(getattr(self.cls, "description", "") or "")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownNameError("kind", kind, KINDS)


def registered(kind: str) -> dict[str, Registration]:
    """All components of ``kind`` the installed plugins register, by name.

    Raises :class:`PluginError` naming both plugins when two register the same name.
    """
    _check_kind(kind)
    hook, label = KINDS[kind]
    found: dict[str, Registration] = {}
    clashes: list[str] = []

    def make_kwargs(plugin_name: str) -> dict[str, Any]:
        def register(cls: type) -> type:
            name = getattr(cls, "name", None)
            if not isinstance(name, str) or not name:
                raise PluginError(f"{cls!r} has no 'name' class attribute (a non-empty str)")
            if name in found:
                clashes.append(
                    f"{label} name {name!r} is registered by both plugin "
                    f"{found[name].plugin!r} ({found[name].cls.__module__}) and plugin "
                    f"{plugin_name!r} ({cls.__module__}); uninstall or disable one of them "
                    f"(ZOO_PLUGINS lists the plugins to load)"
                )
                return cls
            found[name] = Registration(name, cls, plugin_name)
            if plugins._tracing():
                print(f"zoo:   registered {label} {name!r}", file=sys.stderr)
            return cls

        return {"register": register}

    plugins.call_each(hook, make_kwargs)
    if clashes:
        raise PluginError("; ".join(clashes))
    return dict(sorted(found.items()))


def get(kind: str, name: str) -> Registration:
    """The registration of ``name``, or an error listing the known names and the closest."""
    table = registered(kind)
    if name not in table:
        raise UnknownNameError(KINDS[kind][1], name, table)
    return table[name]


def create(kind: str, name: str, /, **options: Any) -> Any:
    """Build the component ``name`` of ``kind`` with keyword ``options``."""
    cls = get(kind, name).cls
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        params = [p for p in inspect.signature(cls).parameters.values() if p.kind != p.VAR_KEYWORD]
        accepted = ", ".join(p.name for p in params) or "none"
        raise ConfigError(
            f"{KINDS[kind][1]} {name!r}: {exc} (options it accepts: {accepted})"
        ) from None
    return cls(**options)


def knowledge_source(name: str, /, **options: Any) -> Any:
    """Build a registered knowledge source by name, e.g. ``knowledge_source("ase-emt")``."""
    return create("sks", name, **options)


def estimator(name: str, /, **options: Any) -> Any:
    """Build a registered estimator by name, e.g. ``estimator("rge", q=16, mu=1e-3)``."""
    return create("estimators", name, **options)


def scheduler(name: str, /, **options: Any) -> Any:
    """Build a registered schedule by name, e.g. ``scheduler("cosine", final=0.1)``."""
    return create("schedulers", name, **options)


def executor(name: str, /, **options: Any) -> Any:
    """Build a registered executor by name, e.g. ``executor("serial")``."""
    return create("executors", name, **options)


def task(name: str, /, **options: Any) -> Any:
    """Build a registered task by name."""
    return create("tasks", name, **options)
