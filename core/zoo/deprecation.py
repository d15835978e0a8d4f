"""Old names that still work, each with one :class:`ZooDeprecationWarning` naming its successor.

Everything that maps an old spelling onto the current design lives here, so the rest of zoo
only knows the current one:

* the full-ZO optimisers that used to be estimator names (``zo-sgd``, ``zo-sgd-mmt``,
  ``zo-signsgd``, ``zo-adam``; they wrapped another estimator) are now ``mode = "full-zo"``
  with an ``optimizer`` from :data:`zoo.optim.OPTIMIZERS` and any registered estimator;
* checkpoints written before estimators carried their state in one ``state`` dict.

The CLI prints a ZooDeprecationWarning as one ``Warning: ...`` line on stderr.
"""

from __future__ import annotations

import warnings
from typing import Any


class ZooDeprecationWarning(DeprecationWarning):
    """An old zoo name or setting that still works; the message says what replaces it."""


def deprecated(message: str, stacklevel: int = 3) -> None:
    warnings.warn(message, ZooDeprecationWarning, stacklevel=stacklevel)


#: old full-ZO estimator name -> (optimizer, the optimizer options it implied)
FULL_ZO_ESTIMATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "zo-sgd": ("sgd", {"momentum": 0.0}),
    "zo-sgd-mmt": ("sgd", {}),
    "zo-signsgd": ("signsgd", {}),
    "zo-adam": ("adam", {}),
}


def _instead(old: str, optimizer: str, preset: dict[str, Any], estimator: str) -> str:
    opts = "".join(f", optimizer_options.{k} = {v!r}" for k, v in preset.items())
    flags = "".join(f" --optimizer-option {k}={v}" for k, v in preset.items())
    return (
        f"estimator {old!r} is deprecated: full-ZO training is now mode = \"full-zo\" with "
        f"optimizer = \"{optimizer}\"{opts} and any estimator (here \"{estimator}\"); on the "
        f"command line: --mode full-zo --optimizer {optimizer}{flags} --estimator {estimator}"
    )


def _split_options(old: str, options: dict[str, Any]) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(direction estimator, optimizer, optimizer options, estimator options) of an old entry."""
    from .errors import ConfigError
    from .optim import OPTIMIZERS

    optimizer, preset = FULL_ZO_ESTIMATORS[old]
    options = dict(options)
    inner = options.pop("estimator", "rge")
    if not isinstance(inner, str) or inner in FULL_ZO_ESTIMATORS:
        raise ConfigError(f"{old}: estimator must be a direction estimator (rge, cge, ...), got {inner!r}")
    accepted = OPTIMIZERS[optimizer].options
    opt_options = {**preset, **{k: options.pop(k) for k in list(options) if k in accepted}}
    return inner, optimizer, opt_options, options


def legacy_settings(merged: dict[str, Any]) -> dict[str, Any]:
    """Run settings with an old full-ZO ``estimator`` rewritten into the current ones."""
    old = merged.get("estimator")
    if old not in FULL_ZO_ESTIMATORS:
        return merged
    inner, optimizer, opt_options, est_options = _split_options(old, merged.get("estimator_options", {}))
    deprecated(_instead(old, optimizer, FULL_ZO_ESTIMATORS[old][1], inner), stacklevel=4)
    return {
        **merged,
        "mode": "full-zo",
        "estimator": inner,
        "estimator_options": est_options,
        "optimizer": optimizer,
        "optimizer_options": {**opt_options, **merged.get("optimizer_options", {})},
    }


def legacy_estimator(old: str, **options: Any) -> Any:
    """``zoo.estimator("zo-adam", ...)``: the direction estimator it held (rge by default),
    with ``make_optimizer(params, lr)`` attached so that old full-ZO scripts keep running."""
    import functools

    from . import registry
    from .optim import check_optimizer, make_optimizer

    inner, optimizer, opt_options, est_options = _split_options(old, options)
    deprecated(_instead(old, optimizer, FULL_ZO_ESTIMATORS[old][1], inner), stacklevel=4)
    check_optimizer(optimizer, opt_options)
    est = registry.estimator(inner, **est_options)
    est.make_optimizer = functools.partial(make_optimizer, optimizer, **opt_options)
    return est


def legacy_optimizer(name: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``make_optimizer("zo-adam", ...)``: the optimizer row the old name stands for."""
    if name not in FULL_ZO_ESTIMATORS:
        return name, options
    optimizer, preset = FULL_ZO_ESTIMATORS[name]
    deprecated(f"optimizer {name!r} is deprecated: use {optimizer!r}"
               + "".join(f" with {k} = {v!r}" for k, v in preset.items()), stacklevel=4)
    return optimizer, {**preset, **options}


def legacy_estimator_state(state: dict[str, Any]) -> dict[str, Any]:
    """An estimator's checkpointed state in the current shape (``Estimator.load_state_dict``).

    Before, attributes were saved by name (``_prior``, ``scores``, ``groups``, and full-ZO's
    ``_fullzo_prior`` / ``_fullzo_sequential``), and the old full-ZO entries nested their
    direction estimator's under ``inner``. A current state passes through unchanged.
    """
    from .fullzo import STATE_KEY

    flat = {**state.get("inner", {}), **{k: v for k, v in state.items() if k != "inner"}}
    new = {k: v for k, v in flat.items() if not k.startswith("_")}
    if "_prior" in flat:
        new["prior"] = flat["_prior"]
    fullzo = {k: flat[f"_fullzo_{k}"] for k in ("prior", "sequential") if f"_fullzo_{k}" in flat}
    if fullzo:
        new[STATE_KEY] = fullzo
    return new
