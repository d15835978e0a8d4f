"""The autograd bridge: a torch module whose forward runs a knowledge source and whose
backward asks a zeroth-order estimator for the gradient the knowledge source cannot give.

Forward evaluates f(z) (float64) through the executor. Backward receives v = dl/dy from
autograd, plans every query point of every sample, evaluates them in ONE batched call
(f(z) is reused from the forward pass, so forward differences cost q extra queries per
sample, not q + 1), and returns the estimate of v^T J_f(z) to autograd, which carries it on
into the upstream model. Rows whose upstream vector is zero get no queries at all.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from . import registry
from .cache import Cache
from .errors import ConfigError, SKSError
from .estimators.base import Estimator
from .evaluation import EvaluationStats, Evaluator, FailurePolicy
from .executors import Executor
from .sks import KnowledgeSource

OUT_OF_BOUNDS = ("clamp", "error")


class _SKSFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, layer: "SKSLayer", contexts: Sequence[Any] | None):
        x = z.detach().to("cpu", torch.float64).numpy()
        x = layer._inside(x)
        y = layer.evaluate(x, contexts)
        ctx.layer, ctx.contexts, ctx.x, ctx.y = layer, contexts, x, y
        return torch.as_tensor(y, dtype=z.dtype, device=z.device)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        v = grad_y.detach().to("cpu", torch.float64).numpy()
        grad = ctx.layer._estimate(ctx.x, ctx.y, v, ctx.contexts)
        return torch.as_tensor(grad, dtype=grad_y.dtype, device=grad_y.device), None, None


class SKSLayer(torch.nn.Module):
    """A knowledge source as a layer: ``y = layer(z, contexts)``; ``y.backward()`` fills z.grad.

    Parameters
    ----------
    sks:
        A :class:`zoo.KnowledgeSource`, or a registered name (built with no options).
    estimator:
        An :class:`zoo.Estimator` or a registered name (default ``"rge"``).
    executor:
        An :class:`zoo.Executor` or a registered name (default ``"serial"``).
    seed:
        Seed of the generator the estimator draws its directions from (in this process,
        whatever the executor, so results do not depend on where queries run).
    out_of_bounds:
        ``"clamp"`` (default): inputs outside the SKS's ``input_spec`` are evaluated at the
        nearest point inside, and the gradient estimated there passes straight through, so
        the model is pushed back into the domain. ``"error"``: raise instead.
    cache:
        A :class:`zoo.cache.Cache` (or a path to one): queries answered before are not sent.
    policy:
        A :class:`zoo.evaluation.FailurePolicy`: retries, skip/penalty/abort, timeout.

    Raises
    ------
    ConfigError
        An unknown ``out_of_bounds``, an estimator whose per-input ``mu`` does not have one
        step per SKS input, or an unknown registered name.

    Examples
    --------
    >>> import torch, zoo
    >>> sks = zoo.FunctionSource(lambda x: x**2, ["x"], ["y"])
    >>> layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-4))
    >>> z = torch.tensor([[3.0]], dtype=torch.float64, requires_grad=True)
    >>> layer(z).sum().backward()
    >>> round(z.grad.item(), 6)    # d(x^2)/dx at 3, by central differences
    6.0
    """

    def __init__(
        self,
        sks: KnowledgeSource | str,
        estimator: Estimator | str = "rge",
        executor: Executor | str = "serial",
        seed: int | None = None,
        out_of_bounds: str = "clamp",
        cache: Cache | str | None = None,
        policy: FailurePolicy | None = None,
    ):
        super().__init__()
        self.sks = registry.knowledge_source(sks) if isinstance(sks, str) else sks
        self.estimator = registry.estimator(estimator) if isinstance(estimator, str) else estimator
        spec = self.sks.input_spec
        if hasattr(self.estimator, "step"):  # a per-input mu of the wrong length fails here, not mid-run
            self.estimator.step(spec.lower, spec.upper, len(spec))
        self.executor = registry.executor(executor) if isinstance(executor, str) else executor
        cache = Cache(cache) if isinstance(cache, str) else cache
        self.evaluator = Evaluator(self.executor, cache=cache, policy=policy)
        if out_of_bounds not in OUT_OF_BOUNDS:
            raise ConfigError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}, got {out_of_bounds!r}")
        self.out_of_bounds = out_of_bounds
        self.rng = np.random.default_rng(seed)
        self.reset_counters()

    def reset_counters(self) -> None:
        self.evaluator.stats = EvaluationStats()
        #: rows asked for by the estimator (cache hits included)
        self.gradient_queries = 0
        #: gradient rows dropped (set to zero) because a query came back NaN/inf
        self.nan_gradient_rows = 0

    def forward(self, z: torch.Tensor, contexts: Sequence[Any] | None = None) -> torch.Tensor:
        """Run the SKS on the rows of ``z``; its backward asks the estimator.

        Parameters
        ----------
        z
            A floating (batch, d_in) tensor in the SKS's input order (float32 is fine: the
            SKS runs in float64 and the result comes back in ``z``'s dtype and device).
        contexts
            A length-batch sequence of per-row fixed data, or None.

        Returns
        -------
        torch.Tensor
            (batch, d_out) in ``z``'s dtype; a row whose query failed for good is NaN (drop
            it from the loss: :func:`zoo.tasks.finite_rows`).

        Raises
        ------
        ConfigError
            ``z`` is not a real floating tensor of shape (batch, d_in), or the contexts do
            not match the rows.
        """
        if not isinstance(z, torch.Tensor) or not (z.is_floating_point() or z.is_complex()):
            # an integer output would silently truncate the SKS's values (int [[1],[3]]
            # through x*0.5+0.25 gives [[0],[1]]), and integers carry no gradient anyway
            raise ConfigError(
                f"{self.sks.name}: SKSLayer needs a floating-point tensor, got "
                f"{getattr(z, 'dtype', type(z).__name__)}; convert it first, e.g. z.double()"
            )
        if z.is_complex():
            raise ConfigError(f"{self.sks.name}: SKSLayer needs a real tensor, got {z.dtype}")
        if z.ndim != 2 or z.shape[1] != len(self.sks.input_spec):
            raise ConfigError(
                f"{self.sks.name}: layer input must be (batch, {len(self.sks.input_spec)}) for "
                f"{list(self.sks.input_spec.names)}, got {tuple(z.shape)}"
            )
        if contexts is not None and len(contexts) != z.shape[0]:
            raise ConfigError(f"{self.sks.name}: {len(contexts)} contexts for {z.shape[0]} rows")
        return _SKSFunction.apply(z, self, contexts)

    @property
    def queries(self) -> int:
        """SKS queries actually sent (forward and gradient, retries included, cache hits not)."""
        return self.evaluator.stats.queries

    @property
    def stats(self):
        """All counters of the evaluator: queries, cache hits, retries, failures, SKS time."""
        return self.evaluator.stats

    def evaluate(self, x: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        """Evaluate the SKS on rows ``x``: cache, executor, failure policy."""
        return self.evaluator.evaluate(self.sks, x, contexts)

    def _inside(self, x: np.ndarray) -> np.ndarray:
        spec = self.sks.input_spec
        inside = spec.contains(x)
        if inside.all():
            return x
        if self.out_of_bounds == "error":
            row = int(np.argmin(inside))
            raise SKSError(
                f"{self.sks.name}: input row {row} {x[row].tolist()} is outside the bounds "
                f"{spec.lower.tolist()}..{spec.upper.tolist()} of {list(spec.names)}"
            )
        return spec.clip(x)

    def _estimate(self, x, y, v, contexts) -> np.ndarray:
        grad = np.zeros_like(x)
        active = np.flatnonzero(np.any(v != 0, axis=1) & np.all(np.isfinite(y), axis=1))
        if active.size == 0:
            return grad
        spec = self.sks.input_spec
        plan = self.estimator.plan(x[active], spec.lower, spec.upper, self.rng)
        B, m, d = plan.points.shape
        rows = plan.points.reshape(B * m, d)
        ctx = None if contexts is None else [contexts[i] for i in active for _ in range(m)]
        fq = self.evaluate(rows, ctx).reshape(B, m, -1)
        self.gradient_queries += B * m
        g = self.estimator.combine(plan, y[active], fq, v[active])
        bad = ~np.all(np.isfinite(g), axis=1)
        if bad.any():
            self.nan_gradient_rows += int(bad.sum())
            warnings.warn(
                f"{self.sks.name}: {int(bad.sum())} gradient row(s) had NaN/inf queries; "
                "their gradient is set to zero for this step",
                RuntimeWarning,
                stacklevel=2,
            )
            g[bad] = 0.0
        grad[active] = g
        return grad

    # -- state that a checkpoint must carry so that a resumed run draws the same directions
    def rng_state(self) -> str:
        return json.dumps(self.rng.bit_generator.state)

    def set_rng_state(self, state: str) -> None:
        self.rng.bit_generator.state = json.loads(state)

    def extra_repr(self) -> str:
        return f"sks={self.sks!r}, estimator={self.estimator.name}, executor={self.executor.name}"
