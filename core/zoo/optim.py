"""The optimizers a run can use: one table, for both modes and both variants.

``optimizer`` (with ``[optimizer_options]``) picks the torch optimizer that takes every step
of a run. In hybrid mode it steps on backprop gradients (ZO only inside the SKS layer); in
``mode = "full-zo"`` on the ZO estimate of the whole loss's gradient, which
:func:`zoo.fullzo.estimate_parameter_gradients` writes into each ``p.grad`` - so the four
optimizers of Zhang et al., "Revisiting Zeroth-Order Optimization for Memory-Efficient LLM
Fine-Tuning: A Benchmark" (2024) are rows of this table:

==============  =======================================================
ZO-SGD          ``optimizer = "sgd"`` with ``momentum = 0``
ZO-SGD-MMT      ``optimizer = "sgd"`` (momentum 0.9, the default)
ZO-SGD-Sign     ``optimizer = "signsgd"``
ZO-Adam         ``optimizer = "adam"``
==============  =======================================================

**The data-only twin uses the same row, the same options and the same learning rate** on
its exact (backprop) gradients. That is what makes the comparison fair: the two variants
differ only in where their gradient comes from, never in how a gradient becomes a step
(ZO-Adam's twin is Adam at the same lr; ZO-SignSGD's twin is sign-SGD on exact gradients).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import ConfigError


class SignSGD(torch.optim.Optimizer):
    """theta <- theta - lr * sign(m), m = momentum * m + g (m = g without momentum).

    Liu et al., "signSGD via zeroth-order oracle" (ICLR 2019): the sign is robust to the
    estimate's scale, which for RGE carries the whole variance of |g|.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, weight_decay: float = 0.0):
        if not lr > 0:
            raise ConfigError(f"signsgd: lr must be > 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"signsgd: momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ConfigError(f"signsgd: weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"]:
                    g = g.add(p, alpha=group["weight_decay"])
                if group["momentum"]:
                    buf = self.state[p].get("momentum_buffer")
                    if buf is None:
                        buf = self.state[p]["momentum_buffer"] = g.clone()
                    else:
                        buf.mul_(group["momentum"]).add_(g)
                    g = buf
                p.add_(torch.sign(g), alpha=-group["lr"])
        return loss


@dataclass(frozen=True)
class OptimizerKind:
    """One row of :data:`OPTIMIZERS`: a torch optimizer class, the options a config may set
    (besides ``lr``), and zoo's defaults for them."""

    cls: Callable[..., torch.optim.Optimizer]
    description: str
    options: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)


#: every optimizer ``optimizer = NAME`` can choose, by name
OPTIMIZERS: dict[str, OptimizerKind] = {
    "adam": OptimizerKind(torch.optim.Adam, "Adam", ("betas", "eps", "weight_decay")),
    "sgd": OptimizerKind(
        torch.optim.SGD, "SGD with momentum (0.9; momentum = 0 for plain SGD)",
        ("momentum", "weight_decay", "nesterov"), {"momentum": 0.9},
    ),
    "signsgd": OptimizerKind(SignSGD, "sign-SGD: steps of lr along sign(g)", ("momentum", "weight_decay")),
}


def check_optimizer(name: str, options: dict[str, Any]) -> None:
    """Raise a :class:`ConfigError` for an unknown optimizer or an option it does not take."""
    if name not in OPTIMIZERS:
        hint = ""
        if name.startswith("zo-"):
            hint = " (the full-ZO optimizers are now mode = \"full-zo\" with one of these)"
        known = "; ".join(f"{n} ({kind.description})" for n, kind in OPTIMIZERS.items())
        raise ConfigError(f"unknown optimizer {name!r}{hint}; choose one of: {known}")
    accepted = OPTIMIZERS[name].options
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"optimizer {name!r}: unknown option(s) {unknown}; it accepts {', '.join(accepted)}")


def make_optimizer(name: str, params: Iterable[Any], lr: float, **options: Any) -> torch.optim.Optimizer:
    """The optimizer called ``name`` (a key of :data:`OPTIMIZERS`) over ``params``.

    The old full-ZO names (``zo-sgd``, ``zo-sgd-mmt``, ``zo-signsgd``, ``zo-adam``) still
    work, with a :class:`DeprecationWarning`, as the rows they stand for.
    """
    from .deprecation import legacy_optimizer

    name, options = legacy_optimizer(name, options)
    check_optimizer(name, options)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and math.isfinite(lr)):
        raise ConfigError(f"optimizer {name!r}: lr must be a positive number, got {lr!r}")
    kind = OPTIMIZERS[name]
    options = {**kind.defaults, **options}
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    try:
        return kind.cls(params, lr=lr, **options)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"optimizer {name!r}: {exc}") from None
