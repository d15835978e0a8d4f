"""Contract checks a plugin author calls from their own tests.

``zoo.testing`` is to zoo what ``pytester`` is to pytest: the checks every knowledge source
must pass for zoo to use it safely, in one call::

    from zoo.testing import check_knowledge_source

    def test_contract():
        sks = zoo.knowledge_source("my-sks")
        check_knowledge_source(sks, inputs=[[1.0], [2.0]], contexts=[atoms1, atoms2])

Tasks have one too, :func:`check_task` (its loss must be a function of the model and the
step). Each failed check raises ``AssertionError`` saying which rule was broken and why zoo needs it.
No test framework is imported, so the checks run under pytest, unittest or a plain script.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from .sks import KnowledgeSource, Spec


def _fail(sks: KnowledgeSource, message: str) -> None:
    raise AssertionError(f"{type(sks).__name__} ({getattr(sks, 'name', '?')!r}): {message}")


def sample_inputs(spec: Spec, n: int = 4, seed: int = 0) -> np.ndarray:
    """``n`` rows spread inside the spec's bounds (needs finite bounds)."""
    if not (np.all(np.isfinite(spec.lower)) and np.all(np.isfinite(spec.upper))):
        raise ValueError("the spec has infinite bounds: pass inputs=... explicitly")
    rng = np.random.default_rng(seed)
    return spec.lower + (spec.upper - spec.lower) * rng.uniform(0.1, 0.9, (n, len(spec)))


def check_knowledge_source(
    sks: KnowledgeSource,
    inputs: Any = None,
    contexts: Sequence[Any] | None = None,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    failing_row: tuple[Any, Any] | None = None,
    check_bounds: bool = True,
) -> np.ndarray:
    """Check ``sks`` against the KnowledgeSource contract; return its outputs on ``inputs``.

    Checks: name/description/specs are declared; ``evaluate`` returns float64 of shape
    (n, d_out) with finite values for valid inputs; the same call twice gives the same
    values (estimators difference nearby calls, so noise would swamp the gradient); row i
    of a batch equals evaluating row i alone (zoo batches the queries of many samples);
    the object and its inputs pickle and the copy gives the same values (executors ship
    them to other processes); queries exactly on finite bounds work (one-sided differences
    go there). ``failing_row=(input_row, context)`` names a row that must come back NaN
    without spoiling the rows around it.

    Parameters
    ----------
    sks
        The knowledge source, built (``zoo.knowledge_source("name", **options)``).
    inputs
        (n, d_in) valid input rows; default: 4 rows spread inside finite bounds.
    contexts
        One context per row, or None.
    rtol, atol
        How close repeated and batched evaluations must agree.
    failing_row
        ``(input_row, context)`` of a row that must fail (NaN) on its own.
    check_bounds
        Whether to evaluate exactly at the finite bounds.

    Returns
    -------
    numpy.ndarray
        The outputs on ``inputs``, (n, d_out).

    Raises
    ------
    AssertionError
        A rule is broken; the message says which and why zoo needs it.

    Examples
    --------
    In a plugin's tests::

        def test_contract():
            check_knowledge_source(zoo.knowledge_source("spring"), inputs=[[0.9], [1.4]],
                                   contexts=[1.0, 1.2])
    """
    _check_declared(sks)
    x = sample_inputs(sks.input_spec) if inputs is None else np.atleast_2d(np.asarray(inputs, float))
    if contexts is not None and len(contexts) != len(x):
        raise ValueError(f"{len(contexts)} contexts for {len(x)} input rows")
    tol = {"rtol": rtol, "atol": atol}
    y = _check_values(sks, x, contexts, tol)
    _check_pickle(sks, x, contexts, y, tol)
    if check_bounds:
        _check_bounds(sks, x, contexts)
    if failing_row is not None:
        _check_failing_row(sks, x, contexts, y, failing_row, tol)
    return y


def _check_declared(sks: Any) -> None:
    if not isinstance(sks, KnowledgeSource):
        _fail(sks, "is not a zoo.KnowledgeSource subclass instance")
    for attr in ("name", "description"):
        if not isinstance(getattr(sks, attr, None), str) or not getattr(sks, attr):
            _fail(sks, f"class attribute {attr!r} must be a non-empty str")
    for attr in ("input_spec", "output_spec"):
        if not isinstance(getattr(sks, attr, None), Spec):
            _fail(sks, f"{attr} must be a zoo.Spec (set it as a class attribute or in __init__)")


def _check_values(sks: KnowledgeSource, x: np.ndarray, contexts: Sequence[Any] | None,
                  tol: dict[str, float]) -> np.ndarray:
    """Type, shape and finiteness of a batch; the same batch twice; each row alone."""
    n, d_out = len(x), len(sks.output_spec)
    y = sks.evaluate(x.copy(), contexts)
    if not isinstance(y, np.ndarray) or y.dtype != np.float64:
        _fail(sks, f"evaluate must return a float64 numpy array, got {type(y).__name__} "
                   f"{getattr(y, 'dtype', '')}")
    if y.shape != (n, d_out):
        _fail(sks, f"evaluate returned shape {y.shape}, expected {(n, d_out)} (n rows x outputs "
                   f"{list(sks.output_spec.names)})")
    if not np.all(np.isfinite(y)):
        _fail(sks, f"valid inputs gave non-finite outputs in rows {np.flatnonzero(~np.isfinite(y).all(1)).tolist()}")
    again = sks.evaluate(x.copy(), contexts)
    if not np.allclose(again, y, **tol):
        _fail(sks, "the same inputs gave different outputs; finite differences need a "
                   "deterministic SKS (fix seeds, or raise mu above the noise)")
    for i in range(n):
        single = sks.evaluate(x[i : i + 1].copy(), None if contexts is None else [contexts[i]])
        if not np.allclose(single[0], y[i], **tol):
            _fail(sks, f"row {i} evaluated alone differs from the same row in a batch "
                       f"({single[0].tolist()} vs {y[i].tolist()}); rows must be independent")
    return y


def _check_pickle(sks: KnowledgeSource, x: np.ndarray, contexts: Sequence[Any] | None, y: np.ndarray,
                  tol: dict[str, float]) -> None:
    try:
        clone = pickle.loads(pickle.dumps(sks))
        ctx_clone = None if contexts is None else pickle.loads(pickle.dumps(list(contexts)))
    except Exception as exc:  # noqa: BLE001
        _fail(sks, f"does not pickle ({exc}); executors ship it to other processes")
    if not np.allclose(clone.evaluate(x.copy(), ctx_clone), y, **tol):
        _fail(sks, "an unpickled copy gives different outputs")


def _check_bounds(sks: KnowledgeSource, x: np.ndarray, contexts: Sequence[Any] | None) -> None:
    spec, d_out = sks.input_spec, len(sks.output_spec)
    for side, bound in (("lower", spec.lower), ("upper", spec.upper)):
        if not np.all(np.isfinite(bound)):
            continue
        at = np.broadcast_to(bound, x[:1].shape).copy()
        out = sks.evaluate(at, None if contexts is None else [contexts[0]])
        if out.shape != (1, d_out) or not np.all(np.isfinite(out)):
            _fail(sks, f"evaluating exactly at the {side} bound {bound.tolist()} failed; "
                       "estimators query there, so narrow the bounds in input_spec")


def _check_failing_row(sks: KnowledgeSource, x: np.ndarray, contexts: Sequence[Any] | None, y: np.ndarray,
                       failing_row: tuple[Any, Any], tol: dict[str, float]) -> None:
    bad_x, bad_ctx = failing_row
    rows = np.vstack([x[:1], np.atleast_2d(np.asarray(bad_x, float)), x[:1]])
    ctx = None if contexts is None else [contexts[0], bad_ctx, contexts[0]]
    out = sks.evaluate(rows, ctx)
    if not np.all(np.isnan(out[1])):
        _fail(sks, f"the failing row gave {out[1].tolist()}, not a NaN row")
    if not (np.allclose(out[0], y[0], **tol) and np.allclose(out[2], y[0], **tol)):
        _fail(sks, "a failing row changed the values of the rows around it")


def check_task(task: Any, sks: KnowledgeSource, seed: int = 0, steps: Sequence[int] = (0, 1, 7)) -> dict[str, float]:
    """Check a task against the rules zoo's training loop relies on; returns its test metrics.

    * ``setup`` then ``make_model`` work with this SKS;
    * ``loss(model, layer, step)`` is a deterministic function of the model and the step, for
      the data-only twin (``layer=None``) and the SKS-coupled model: full-ZO training
      evaluates it several times within one step, and a resumed run must draw the batches
      the interrupted one would have (draw minibatches from a generator seeded by the step);
    * the loss is a finite scalar tensor and the metrics a dict of numbers;
    * ``evaluate(model)`` gives the task's ``primary_metric`` as a finite number.

    Parameters
    ----------
    task
        The task, built with its options (``zoo.task("name", **options)``).
    sks
        The knowledge source to set it up with.
    seed
        The run's seed.
    steps
        The steps at which the loss is computed twice and compared.

    Returns
    -------
    dict
        ``task.evaluate(model)`` of the untrained model.

    Raises
    ------
    AssertionError
        A rule is broken; the message says which and how to fix it.

    Examples
    --------
    In a plugin's tests::

        def test_task_contract():
            check_task(zoo.task("spring-length"), zoo.knowledge_source("spring"))
    """
    import torch

    from .layer import SKSLayer

    def fail(message: str) -> None:
        raise AssertionError(f"{type(task).__name__} ({getattr(task, 'name', '?')!r}): {message}")

    task.setup(sks, seed)
    torch.manual_seed(seed)
    model = task.make_model()
    layer = SKSLayer(sks, "cge", seed=seed)
    for variant, lay in (("data-only", None), ("sks-coupled", layer)):
        for step in steps:
            with torch.no_grad():
                first, metrics = task.loss(model, lay, step)
                second, _ = task.loss(model, lay, step)
            if not isinstance(first, torch.Tensor) or first.numel() != 1:
                fail(f"{variant} loss at step {step} is not a scalar tensor: {first!r}")
            if not torch.isfinite(first):
                fail(f"{variant} loss at step {step} is {float(first)}")
            if not isinstance(metrics, dict) or not all(isinstance(v, (int, float)) for v in metrics.values()):
                fail(f"{variant} metrics at step {step} must be a dict of numbers, got {metrics!r}")
            if float(first) != float(second):
                fail(
                    f"{variant} loss at step {step} changed between two calls with the same model "
                    f"({float(first)!r} then {float(second)!r}); draw minibatches from a generator "
                    f"seeded by the step, e.g. torch.Generator().manual_seed(seed * 1_000_003 + step)"
                )
    with torch.no_grad():
        out = task.evaluate(model)
    key = getattr(task, "primary_metric", "test_mae")
    if key not in out or not np.isfinite(out[key]):
        fail(f"evaluate() must give a finite {key!r} (its primary_metric), got {out!r}")
    return out


class SyntheticSource(KnowledgeSource):
    """An analytic knowledge source with a controllable cost and controllable failures.

    For testing executors, failure policies and caches, and for benchmarks that need an
    SKS of known cost: f(x) = sum_j (x_j - 1)^2 (times the row's context, a float, if given),
    with gradient 2 (x - 1). Failures are chosen by a hash of the input row, so the same row
    fails the same way in every process and on every retry (``flaky_fraction`` is the
    exception: it fails at random, so a retry can succeed).

    Options: ``d`` inputs; ``cost_ms`` per query (busy CPU loop, like a real simulator, or
    sleep with ``busy=False``); ``raise_fraction``, ``nan_fraction``, ``hang_fraction``,
    ``crash_fraction`` (the worker process exits), ``flaky_fraction``.
    """

    name = "synthetic"
    description = "Analytic test function with controllable cost and failures"

    def __init__(
        self,
        d: int = 2,
        cost_ms: float = 0.0,
        busy: bool = True,
        raise_fraction: float = 0.0,
        nan_fraction: float = 0.0,
        hang_fraction: float = 0.0,
        crash_fraction: float = 0.0,
        flaky_fraction: float = 0.0,
    ):
        self.options = dict(
            d=d, cost_ms=cost_ms, busy=busy, raise_fraction=raise_fraction, nan_fraction=nan_fraction,
            hang_fraction=hang_fraction, crash_fraction=crash_fraction, flaky_fraction=flaky_fraction,
        )
        self.d, self.cost_ms, self.busy = int(d), float(cost_ms), busy
        self.input_spec = Spec([f"x{i}" for i in range(self.d)], lower=-10.0, upper=10.0)
        self.output_spec = Spec(["f"])

    @staticmethod
    def _u(row: np.ndarray, salt: int) -> float:
        """A number in [0, 1) fixed by the row's bytes: the same in every process."""
        import hashlib

        digest = hashlib.sha256(salt.to_bytes(2, "little") + np.ascontiguousarray(row, "<f8").tobytes()).digest()
        return int.from_bytes(digest[:8], "little") / 2.0**64

    def _spend(self) -> None:
        import time

        if self.cost_ms <= 0:
            return
        if not self.busy:
            time.sleep(self.cost_ms / 1e3)
            return
        end = time.perf_counter() + self.cost_ms / 1e3
        while time.perf_counter() < end:
            pass

    def evaluate(self, inputs, contexts=None):
        import os
        import random
        import time

        o = self.options
        out = np.empty((len(inputs), 1))
        for i, row in enumerate(inputs):
            self._spend()
            if self._u(row, 1) < o["crash_fraction"]:
                os._exit(17)
            if self._u(row, 2) < o["hang_fraction"]:
                time.sleep(3600)
            if self._u(row, 3) < o["raise_fraction"]:
                raise RuntimeError(f"synthetic failure at row {row.tolist()}")
            if random.random() < o["flaky_fraction"]:
                raise RuntimeError("synthetic flaky failure")
            scale = 1.0 if contexts is None or contexts[i] is None else float(contexts[i])
            value = scale * float(np.sum((row - 1.0) ** 2))
            out[i, 0] = np.nan if self._u(row, 4) < o["nan_fraction"] else value
        return out
