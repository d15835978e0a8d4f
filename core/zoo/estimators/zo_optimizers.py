"""Full-ZO optimisers as estimator entries: ``zo-sgd``, ``zo-sgd-mmt``, ``zo-signsgd``, ``zo-adam``.

Zhang et al., "Revisiting Zeroth-Order Optimization for Memory-Efficient LLM Fine-Tuning:
A Benchmark" (2024) compares exactly these four: the same ZO gradient estimate of the whole
loss (no backprop anywhere), fed to SGD, SGD with momentum, SignSGD or Adam.

Each entry *holds* a direction estimator (``estimator="rge"`` by default, or ``"cge"``,
``"sparse-cge"``, any registered one that implements ``parameter_plan``) and *names* its
optimizer. ``full_zo = True`` tells the training loop to use :mod:`zoo.fullzo` instead of an
SKS layer's backward:

    est = zoo.estimator("zo-adam", q=16, mu=1e-3)
    opt = est.make_optimizer(model.parameters(), lr=1e-3)
    stats = zoo.fullzo.estimate_parameter_gradients(model, loss_fn, layer, est, seed, step)
    opt.step()

The knobs (``mu``, ``q``, ``sparsity``) are those of the held estimator, read and written
through this object, so schedules work unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from .base import DirectionPlan, Estimator, Plan


class ZOOptimizerEstimator(Estimator):
    """A direction estimator plus the optimizer that steps on its full-ZO gradient."""

    full_zo = True
    #: the optimizer name understood by :func:`zoo.optim.make_optimizer`
    optimizer: ClassVar[str] = ""

    def __init__(self, estimator: str = "rge", **options: Any):
        from .. import registry

        opt_names = set(self._optimizer_option_names())
        self.optimizer_options = {k: options.pop(k) for k in list(options) if k in opt_names}
        if isinstance(estimator, Estimator):
            inner = estimator
        else:
            inner = registry.estimator(str(estimator), **options)
        if getattr(inner, "full_zo", False):
            raise ConfigError(f"{self.name}: estimator must be a direction estimator (rge, cge, ...), not {inner.name!r}")
        if type(inner).parameter_plan is Estimator.parameter_plan:
            raise ConfigError(f"{self.name}: estimator {inner.name!r} has no full-ZO (parameter_plan) support")
        self.__dict__["inner"] = inner
        self.__dict__["knobs"] = tuple(inner.knobs)
        from ..optim import check_optimizer_options

        check_optimizer_options(self.optimizer, self.optimizer_options)

    @classmethod
    def _optimizer_option_names(cls) -> tuple[str, ...]:
        from ..optim import OPTIMIZER_OPTIONS

        return OPTIMIZER_OPTIONS[cls.optimizer]

    # knobs live on the held estimator
    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        inner = self.__dict__.get("inner")
        if inner is not None and name in self.__dict__.get("knobs", ()):
            setattr(inner, name, value)
        else:
            object.__setattr__(self, name, value)

    def _check(self) -> None:
        self.inner._check()

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), **Estimator.state_dict(self)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.inner.load_state_dict(state.pop("inner", {}))
        Estimator.load_state_dict(self, state)

    def make_optimizer(self, params: Any, lr: float):
        """The torch optimizer that steps on the estimated gradients."""
        from ..optim import make_optimizer

        return make_optimizer(self.optimizer, params, lr, **self.optimizer_options)

    # the held estimator does the estimating, also inside an SKS layer
    def queries_per_sample(self, d: int) -> int:
        return self.inner.queries_per_sample(d)

    def plan(self, z, lower, upper, rng) -> Plan:
        return self.inner.plan(z, lower, upper, rng)

    def combine(self, plan: Plan, f0: np.ndarray, fq: np.ndarray, v: np.ndarray) -> np.ndarray:  # type: ignore[override]
        g = self.inner.combine(plan, f0, fq, v)
        object.__setattr__(self, "last_stats", getattr(self.inner, "last_stats", None))
        return g

    def parameter_plan(self, d: int, rng: np.random.Generator) -> DirectionPlan:
        return self.inner.parameter_plan(d, rng)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(inner={self.inner.name}, optimizer={self.optimizer}, {self.optimizer_options})"


class ZOSGD(ZOOptimizerEstimator):
    name = "zo-sgd"
    description = "Full-ZO: ZO gradient of the whole loss (RGE by default) + plain SGD"
    optimizer = "zo-sgd"


class ZOSGDMomentum(ZOOptimizerEstimator):
    name = "zo-sgd-mmt"
    description = "Full-ZO: ZO gradient of the whole loss + SGD with momentum (0.9)"
    optimizer = "zo-sgd-mmt"


class ZOSignSGD(ZOOptimizerEstimator):
    name = "zo-signsgd"
    description = "Full-ZO: ZO gradient of the whole loss + SignSGD (step along its sign)"
    optimizer = "zo-signsgd"


class ZOAdam(ZOOptimizerEstimator):
    name = "zo-adam"
    description = "Full-ZO: ZO gradient of the whole loss + Adam"
    optimizer = "zo-adam"


ZO_OPTIMIZERS = (ZOSGD, ZOSGDMomentum, ZOSignSGD, ZOAdam)
