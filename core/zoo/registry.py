"""Name -> class registries for every kind of plugin component, and the factories users call.

This is the one typed facade over the hooks (as tox does it): the rest of zoo calls
``create("estimators", "rge", q=8)`` and never touches ``pm.hook`` itself.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from . import plugins
from .deprecation import FULL_ZO_ESTIMATORS, legacy_estimator
from .errors import ConfigError, PluginError, UnknownNameError
from .hookspecs import KINDS


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


class Registrar:
    """The ``register`` callable one plugin's ``register_*`` hook receives.

    It records each class under the plugin's name, and keeps a line per registration in
    :attr:`trace` for the plugin tracer (``ZOO_TRACE_PLUGINS=1``).
    """

    def __init__(self, plugin: str, label: str, into: list[Registration]):
        self.plugin, self.label, self.into = plugin, label, into
        self.trace: list[str] = []

    def __call__(self, cls: type) -> type:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{cls!r} has no 'name' class attribute (a non-empty str)")
        self.into.append(Registration(name, cls, self.plugin))
        self.trace.append(f"registered {self.label} {name!r}")
        return cls


def _collect(kind: str) -> tuple[dict[str, Registration], dict[str, str], list[Registration]]:
    """Usable registrations of ``kind`` by name, ``{name: why}`` for names two plugins claim,
    and every registration made (clashing ones included), in order."""
    _check_kind(kind)
    hook, label = KINDS[kind]
    made: list[Registration] = []
    plugins.call_each(hook, lambda plugin_name: {"register": Registrar(plugin_name, label, made)})
    claimants: dict[str, list[Registration]] = {}
    for reg in made:
        claimants.setdefault(reg.name, []).append(reg)
    found = {name: regs[0] for name, regs in claimants.items() if len(regs) == 1}
    clashes = {}
    for name, regs in claimants.items():
        if len(regs) > 1:
            who = " and ".join(f"plugin {r.plugin!r} ({r.cls.__module__})" for r in regs)
            clashes[name] = (
                f"{label} name {name!r} is registered by both {who}; uninstall or disable one "
                f"of them (ZOO_PLUGINS lists the plugins to load)"
            )
    return found, clashes, [r for regs in claimants.values() for r in regs]


def registered(kind: str) -> dict[str, Registration]:
    """All components of ``kind`` the installed plugins register, by name.

    A name that two plugins register is left out (see :func:`clashes`): it would be a guess
    which one a user means, and one clash must not take every other name down with it.

    Parameters
    ----------
    kind
        ``"sks"``, ``"estimators"``, ``"schedulers"``, ``"executors"`` or ``"tasks"`` (as
        ``zoo list KIND`` spells them).

    Returns
    -------
    dict
        ``{name: Registration}`` sorted by name; a registration has ``name``, ``cls``,
        ``plugin`` and ``description``.

    Raises
    ------
    UnknownNameError
        ``kind`` is none of those.

    Examples
    --------
    >>> import zoo
    >>> "cge" in zoo.registered("estimators")
    True
    >>> zoo.registered("estimators")["cge"].plugin
    'estimators'
    """
    return dict(sorted(_collect(kind)[0].items()))


def clashes(kind: str) -> dict[str, str]:
    """``{name: message}`` for names of ``kind`` that more than one plugin registers."""
    return _collect(kind)[1]


def claims(kind: str) -> list[Registration]:
    """Every registration of ``kind``, names that clash included (what ``zoo plugins`` shows)."""
    return _collect(kind)[2]


def get(kind: str, name: str) -> Registration:
    """The registration of ``name``, or an error listing the known names and the closest.

    A name two plugins claim is a :class:`PluginError` naming both; an unknown name also
    mentions the plugins that failed to load, since the name may be one of theirs.
    """
    table, clashed, _ = _collect(kind)
    if name in clashed:
        raise PluginError(clashed[name])
    if name not in table:
        err = UnknownNameError(KINDS[kind][1], name, table)
        broken = plugins.load_errors()
        if broken:
            listed = "; ".join(f"{p}: {e.splitlines()[0]}" for p, e in sorted(broken.items()))
            err.args = (f"{err.args[0]} Plugins that failed to load (see `zoo plugins`): {listed}",)
        raise err
    return table[name]


def create(kind: str, name: str, /, **options: Any) -> Any:
    """Build the component ``name`` of ``kind`` with keyword ``options``.

    Options are bound against the class's signature first (an unknown option lists the
    accepted ones); a TypeError, ValueError or OverflowError the constructor raises is a
    value it could not take (``inputs=5`` where a name is wanted, ``q=1e400``) and becomes
    a :class:`ConfigError` naming the component. The old full-ZO estimator names
    (``zo-adam``, ...) build the direction estimator they held, with a deprecation warning.
    """
    if kind == "estimators" and name in FULL_ZO_ESTIMATORS:
        return legacy_estimator(name, **options)
    cls = get(kind, name).cls
    label = KINDS[kind][1]
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise PluginError(f"{label} {name!r} ({cls.__module__}) does not implement {missing}")
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        params = [p for p in inspect.signature(cls).parameters.values() if p.kind != p.VAR_KEYWORD]
        accepted = ", ".join(p.name for p in params) or "none"
        raise ConfigError(
            f"{label} {name!r}: {exc} (options it accepts: {accepted})"
        ) from None
    try:
        return cls(**options)
    except (TypeError, ValueError, OverflowError) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "none"
        raise ConfigError(
            f"{label} {name!r} cannot take its options ({given}): {type(exc).__name__}: {exc}"
        ) from exc


def knowledge_source(name: str, /, **options: Any) -> Any:
    """Build a registered knowledge source by name, e.g. ``knowledge_source("ase-emt")``.

    Parameters
    ----------
    name
        A name ``zoo list sks`` shows.
    **options
        The source's options (its constructor's keyword arguments).

    Returns
    -------
    KnowledgeSource
        The built source.

    Raises
    ------
    UnknownNameError
        No installed plugin registers ``name`` (the message lists the known names and the
        closest one).
    ConfigError
        An option the source does not accept (the message lists those it does), or a value
        it cannot take.
    PluginError
        Two plugins register ``name``, or the class is abstract.

    Examples
    --------
    >>> import zoo
    >>> sks = zoo.knowledge_source("ase-emt", outputs=["pressure"])    # doctest: +SKIP
    """
    return create("sks", name, **options)


def estimator(name: str, /, **options: Any) -> Any:
    """Build a registered estimator by name, e.g. ``estimator("rge", q=16, mu=1e-3)``.

    Options, errors and the lookup are those of :func:`knowledge_source`; ``mu`` may be one
    number, a list with one step per SKS input, or a fraction of each input's bound width
    with ``relative_mu=True``.

    Examples
    --------
    >>> import zoo
    >>> zoo.estimator("cge", mu=[1e-3, 0.1], difference="forward").queries_per_sample(2)
    2
    """
    return create("estimators", name, **options)


def scheduler(name: str, /, **options: Any) -> Any:
    """Build a registered schedule by name, e.g. ``scheduler("cosine", final=0.1)``.

    Options, errors and the lookup are those of :func:`knowledge_source`.

    Examples
    --------
    >>> import zoo
    >>> zoo.scheduler("cosine", final=0.1).factor(100, 100)
    0.1
    """
    return create("schedulers", name, **options)


def executor(name: str, /, **options: Any) -> Any:
    """Build a registered executor by name, e.g. ``executor("processes", workers=2)``.

    Options, errors and the lookup are those of :func:`knowledge_source`.
    """
    return create("executors", name, **options)


def task(name: str, /, **options: Any) -> Any:
    """Build a registered task by name, e.g. ``task("fit", data="table.csv")``.

    Options, errors and the lookup are those of :func:`knowledge_source`.
    """
    return create("tasks", name, **options)
