"""Optimisers for full-ZO training: ZO-SGD, ZO-SGD with momentum, ZO-SignSGD, ZO-Adam.

The gradient estimate is written into each parameter's ``.grad`` by
:func:`zoo.fullzo.estimate_parameter_gradients`, so three of the four are torch's own
optimizers (as DeepZero does it); only SignSGD needs a small class of its own.

* ``zo-sgd``: torch.optim.SGD, no momentum.
* ``zo-sgd-mmt``: torch.optim.SGD with ``momentum`` (0.9).
* ``zo-signsgd``: :class:`SignSGD` - theta -= lr * sign(g) (Liu et al., "signSGD via
  zeroth-order oracle", ICLR 2019): the sign is robust to the estimate's scale, which for
  RGE carries the whole variance of |g|.
* ``zo-adam``: torch.optim.Adam (``betas``, ``eps``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .errors import ConfigError

#: options each optimizer accepts (besides lr)
OPTIMIZER_OPTIONS: dict[str, tuple[str, ...]] = {
    "zo-sgd": ("weight_decay",),
    "zo-sgd-mmt": ("momentum", "weight_decay"),
    "zo-signsgd": ("momentum", "weight_decay"),
    "zo-adam": ("betas", "eps", "weight_decay"),
}


class SignSGD(torch.optim.Optimizer):
    """theta <- theta - lr * sign(m), m = momentum * m + g (m = g without momentum)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, weight_decay: float = 0.0):
        if not lr > 0:
            raise ConfigError(f"zo-signsgd: lr must be > 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"zo-signsgd: momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ConfigError(f"zo-signsgd: weight_decay must be >= 0, got {weight_decay}")
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


def check_optimizer_options(name: str, options: dict[str, Any]) -> None:
    if name not in OPTIMIZER_OPTIONS:
        raise ConfigError(f"unknown ZO optimizer {name!r}; choose one of {', '.join(OPTIMIZER_OPTIONS)}")
    unknown = sorted(set(options) - set(OPTIMIZER_OPTIONS[name]))
    if unknown:
        raise ConfigError(f"{name}: unknown option(s) {unknown}; it accepts {', '.join(OPTIMIZER_OPTIONS[name])}")


def make_optimizer(name: str, params: Iterable[Any], lr: float, **options: Any) -> torch.optim.Optimizer:
    """The optimizer called ``name`` (see the module docstring) over ``params``."""
    check_optimizer_options(name, options)
    if not lr > 0:
        raise ConfigError(f"{name}: lr must be > 0, got {lr}")
    try:
        if name == "zo-sgd":
            return torch.optim.SGD(params, lr=lr, **options)
        if name == "zo-sgd-mmt":
            return torch.optim.SGD(params, lr=lr, **{"momentum": 0.9, **options})
        if name == "zo-signsgd":
            return SignSGD(params, lr=lr, **options)
        if "betas" in options:
            options["betas"] = tuple(options["betas"])
        return torch.optim.Adam(params, lr=lr, **options)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{name}: {exc}") from None
