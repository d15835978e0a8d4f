"""The plugin manager: finding, loading and reporting plugins.

Plugins are modules listed under the ``zoo`` entry-point group, zoo's own built-ins included
(the entry points of the ``zoo-core`` distribution, declared in its pyproject.toml exactly as a
third party declares its own). Lessons from other plugin ecosystems shape this module:

* Loading is lazy: nothing here runs when ``zoo.cli`` is imported, so a broken plugin cannot
  take down ``zoo --help`` (simonw/llm#1280).
* Each entry point loads in its own ``try``: one that fails to import, or implements a hook
  that does not exist (a typo pluggy's ``check_pending`` would only catch globally), is
  unregistered and recorded in :func:`load_errors`, and every other plugin still works.
* Hooks are called one plugin at a time (:func:`call_each`), so an exception or a duplicate
  name can be blamed on the plugin that caused it, which pluggy alone cannot do - but in
  pluggy's own order (``tryfirst`` first, ``trylast`` last) and through pluggy's hook
  execution, so its tracing applies. Hook wrappers (``wrapper=True``, ``hookwrapper=True``)
  have nothing to wrap in a one-plugin call: a plugin that declares one is refused, with a
  :class:`~zoo.errors.PluginError` saying so, rather than silently never run.

Environment variables:

``ZOO_PLUGINS``
    Comma-separated names of the third-party entry points to load; unset loads all, empty
    loads none. zoo's built-ins always load: without them nothing would run.
``ZOO_TRACE_PLUGINS=1``
    Print every hook call, each implementation and what it registered, to stderr (through
    pluggy's ``add_hookcall_monitoring``).
"""

from __future__ import annotations

import difflib
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError

GROUP = "zoo"
#: the distribution whose entry points are zoo's built-ins
BUILTIN_DISTRIBUTION = "zoo-core"


@dataclass
class PluginInfo:
    """What ``zoo plugins`` shows for one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    #: loaded, but something about it needs the user's attention (an entry-point name clash)
    warning: str | None = None


_pm: pluggy.PluginManager | None = None
_infos: dict[str, PluginInfo] = {}


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created (and entry points loaded) on first use."""
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager(GROUP)
        pm.add_hookspecs(hookspecs)
        if _tracing():
            pm.add_hookcall_monitoring(_trace_before, _trace_after)
        _pm = pm
        _load_entry_points(pm)
    return _pm


def reset() -> None:
    """Forget every loaded plugin (tests use this after installing or faking entry points)."""
    global _pm
    _pm = None
    _infos.clear()


def _selected() -> set[str] | None:
    raw = os.environ.get("ZOO_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    selected = _selected()
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        if selected is not None and ep.name not in selected and not _builtin(dist):
            continue
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.name if dist else None,
            version=dist.version if dist else None,
        )
        name = ep.name
        if name in _infos:
            # two distributions claim one entry-point name: each keeps its own name in zoo
            # (its distribution appended), so what each registers is credited to it, and
            # both are told about the clash
            first = _infos[name]
            name = f"{ep.name} ({info.distribution or ep.value})"
            clash = (
                f"entry point name {ep.name!r} is used by both {_where(first)} and {_where(info)}; "
                f"rename one of them"
            )
            info.name, info.warning = name, clash
            first.warning = clash
        _infos[name] = info
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            info.error = _describe(exc)
            continue
        register_plugin(plugin, name, info)


def _builtin(dist: Any) -> bool:
    """Whether an entry point is one of zoo's own (its distribution is zoo-core)."""
    name = getattr(dist, "name", None) or ""
    return name.lower().replace("_", "-") == BUILTIN_DISTRIBUTION


def _where(info: PluginInfo) -> str:
    return f"{info.distribution} {info.version} ({info.module})" if info.distribution else info.module


def register_plugin(plugin: Any, name: str, info: PluginInfo | None = None) -> bool:
    """Register ``plugin`` under ``name``; return False (and record why) if it is rejected.

    Used for entry points and by tests or notebooks that want a plugin without packaging it.
    """
    pm = get_plugin_manager()
    if info is None:
        if pm.get_plugin(name) is not None or pm.is_registered(plugin):
            # refused, and recorded apart: never blame the plugin already under this name
            key = f"{name} ({_module_name(plugin)})"
            _infos[key] = PluginInfo(
                name=key,
                module=_module_name(plugin),
                error=f"a plugin named {name!r} is already registered; choose another name",
            )
            return False
        info = _infos.setdefault(name, PluginInfo(name=name, module=_module_name(plugin)))
    try:
        pm.register(plugin, name=name)
    except Exception as exc:  # noqa: BLE001 - pluggy's validation errors and others alike
        info.error = _describe(exc)
        return False
    problem = _contract_problem(pm, plugin)
    if problem:
        pm.unregister(plugin)
        info.error = problem
        return False
    info.hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or [])
    info.error = None
    return True


def _contract_problem(pm: pluggy.PluginManager, plugin: Any) -> str:
    """Why a registered plugin breaks zoo's hook contract ('' if it does not)."""
    callers = pm.get_hookcallers(plugin) or []
    unknown = [c.name for c in callers if c.spec is None]
    if unknown:
        return "; ".join(_unknown_hook_message(h) for h in unknown)
    wrappers = sorted(
        c.name for c in callers for impl in c.get_hookimpls()
        if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper)
    )
    if wrappers:
        return _describe(PluginError(
            f"{', '.join(wrappers)} is marked as a hook wrapper (wrapper=True or hookwrapper=True); "
            f"zoo calls each plugin's hooks on their own, so a wrapper would never run: remove "
            f"the wrapper flag and register directly"
        ))
    return ""


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered by :func:`register_plugin` or an entry point."""
    pm = get_plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    _infos.pop(name, None)


def _unknown_hook_message(hook: str) -> str:
    known = [n for n in dir(hookspecs) if n.startswith("register_")]
    close = difflib.get_close_matches(hook, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"implements unknown hook {hook!r}{hint}; zoo's hooks are {', '.join(known)}"


def _module_name(plugin: Any) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__module__


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def plugin_infos() -> list[PluginInfo]:
    """Every plugin zoo tried to load, loaded or not, sorted by name."""
    get_plugin_manager()
    return sorted(_infos.values(), key=lambda i: i.name)


def load_errors() -> dict[str, str]:
    """``{plugin name: error}`` for plugins that failed to load or broke the contract."""
    return {i.name: i.error for i in plugin_infos() if i.error}


def _tracing() -> bool:
    return os.environ.get("ZOO_TRACE_PLUGINS", "") not in ("", "0")


def _trace_before(hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
    for impl in impls:
        print(f"zoo: {hook_name}() -> {impl.plugin_name} ({_module_name(impl.plugin)})", file=sys.stderr)


def _trace_after(outcome: Any, hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
    """What the call did: the exception it raised, or what it registered (a ``register``
    argument that is a :class:`zoo.registry.Registrar` keeps a line per registration)."""
    if outcome.exception is not None:
        print(f"zoo:   raised {_describe(outcome.exception)}", file=sys.stderr)
    for line in getattr(kwargs.get("register"), "trace", ()):
        print(f"zoo:   {line}", file=sys.stderr)


def call_each(hook_name: str, make_kwargs: Callable[[str], dict[str, Any]]) -> None:
    """Call ``hook_name`` on one plugin at a time, in pluggy's order.

    pluggy runs a hook's implementations last-registered first, ``tryfirst`` ones before
    and ``trylast`` ones after the rest (it keeps them in :meth:`get_hookimpls` in reverse
    and runs the list backwards); so does this. ``make_kwargs(plugin_name)`` builds that
    plugin's arguments (so a ``register`` callback can know who is registering). An
    exception inside a plugin's hook is recorded against that plugin and the others still
    run.
    """
    pm = get_plugin_manager()
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    for impl in reversed(impls):
        others = [i.plugin for i in impls if i.plugin is not impl.plugin]
        try:
            pm.subset_hook_caller(hook_name, others)(**make_kwargs(impl.plugin_name))
        except Exception as exc:  # noqa: BLE001 - blame the plugin, keep the rest
            info = _infos.setdefault(impl.plugin_name, PluginInfo(impl.plugin_name, _module_name(impl.plugin)))
            info.error = f"{hook_name} raised {_describe(exc)}"
