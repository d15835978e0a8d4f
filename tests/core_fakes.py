"""Small analytic fakes shared by the core tests (knowledge sources, tasks, plugins).

Everything here has a closed-form gradient, so a test can compare zoo's estimates with the
exact answer instead of with zoo's own output.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import torch

import zoo

# ---------------------------------------------------------------------------------------
# A vector-valued quadratic knowledge source with per-row contexts
# ---------------------------------------------------------------------------------------

#: f(x; s) = s * [0.5 x^T A1 x + b1.x,  0.5 x^T A2 x + b2.x,  c.x]   (x in R^3, s per row)
A1 = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 3.0]])
B1 = np.array([0.1, -0.2, 0.3])
A2 = np.array([[1.0, 0.0, 0.2], [0.0, -2.0, 0.0], [0.2, 0.0, 0.5]])
B2 = np.array([-1.0, 0.0, 0.5])
C3 = np.array([0.7, -0.4, 1.5])


def quad_values(x: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
    x = np.atleast_2d(x)
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (len(x),))
    y1 = 0.5 * np.einsum("ni,ij,nj->n", x, A1, x) + x @ B1
    y2 = 0.5 * np.einsum("ni,ij,nj->n", x, A2, x) + x @ B2
    y3 = x @ C3
    return s[:, None] * np.stack([y1, y2, y3], axis=1)


def quad_vjp(x: np.ndarray, v: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Exact v^T J f at each row of x: s * (v1 (A1 x + b1) + v2 (A2 x + b2) + v3 c)."""
    x, v = np.atleast_2d(x), np.atleast_2d(v)
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (len(x),))
    g = v[:, :1] * (x @ A1 + B1) + v[:, 1:2] * (x @ A2 + B2) + v[:, 2:3] * C3
    return s[:, None] * g


def quad_torch(z: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The same function written in torch, for autograd references."""
    a1, a2 = torch.as_tensor(A1, dtype=z.dtype), torch.as_tensor(A2, dtype=z.dtype)
    b1, b2 = torch.as_tensor(B1, dtype=z.dtype), torch.as_tensor(B2, dtype=z.dtype)
    c3 = torch.as_tensor(C3, dtype=z.dtype)
    y1 = 0.5 * torch.einsum("ni,ij,nj->n", z, a1, z) + z @ b1
    y2 = 0.5 * torch.einsum("ni,ij,nj->n", z, a2, z) + z @ b2
    y3 = z @ c3
    return scale[:, None] * torch.stack([y1, y2, y3], dim=1)


class QuadSKS(zoo.KnowledgeSource):
    """Analytic vector-valued SKS; contexts are dicts ``{"scale": s}``; records every call."""

    name = "fake-quad"
    description = "Analytic quadratic test SKS"
    input_spec = zoo.Spec(["a", "b", "c"], lower=-4.0, upper=4.0, units="Å")
    output_spec = zoo.Spec(["y1", "y2", "y3"])

    def __init__(self, nan_above: float | None = None):
        self.options = {"nan_above": nan_above}
        self.nan_above = nan_above
        self.calls: list[tuple[np.ndarray, list | None]] = []

    def evaluate(self, inputs, contexts=None):
        self.calls.append((np.array(inputs, copy=True), None if contexts is None else list(contexts)))
        scale = 1.0 if contexts is None else np.array([c["scale"] for c in contexts], float)
        y = quad_values(inputs, scale)
        if self.nan_above is not None:
            y[inputs[:, 0] > self.nan_above] = np.nan
        return y


# ---------------------------------------------------------------------------------------
# A one-parameter task for end-to-end runs
# ---------------------------------------------------------------------------------------

#: the parameter the coupled model must learn: y_i = s_i * THETA_STAR**2
THETA_STAR = 1.5
SCALES = (0.5, 1.0, 1.5, 2.0)


class SquareSKS(zoo.KnowledgeSource):
    """f(z; s) = s * z^2 on z in [0, 10]. Counts every evaluated row (class-wide)."""

    name = "fake-square"
    description = "s * z^2, a one-input test SKS"
    default_task = "fake-fit"
    input_spec = zoo.Spec(["z"], lower=0.0, upper=10.0)
    output_spec = zoo.Spec(["y"])

    rows_evaluated = 0
    calls = 0
    #: raise KeyboardInterrupt on this call number (1-based), once; None: never
    interrupt_on_call: int | None = None

    def evaluate(self, inputs, contexts=None):
        cls = type(self)
        cls.calls += 1
        if cls.interrupt_on_call is not None and cls.calls == cls.interrupt_on_call:
            cls.interrupt_on_call = None
            raise KeyboardInterrupt
        cls.rows_evaluated += len(inputs)
        s = np.array([c["scale"] for c in contexts], float)
        return s[:, None] * inputs**2


class ScalarModel(torch.nn.Module):
    def __init__(self, init: float):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.tensor([init], dtype=torch.float64))

    def forward(self, n: int) -> torch.Tensor:
        return self.theta.expand(n).reshape(n, 1)


class FitTask(zoo.Task):
    """Learn theta so that s_i * theta^2 matches y_i = s_i * THETA_STAR^2 (MSE)."""

    name = "fake-fit"
    description = "Fit one parameter through fake-square"
    default_sks = "fake-square"
    defaults = {"steps": 7, "lr": 0.05}
    primary_metric = "test_mae"

    #: raise KeyboardInterrupt at this step of task.loss, once; None: never
    interrupt_at: int | None = None

    def __init__(self, init: float = 1.0):
        self.init = float(init)

    def setup(self, sks, seed):
        self.contexts = [{"scale": s} for s in SCALES]
        self.scale = torch.tensor(SCALES, dtype=torch.float64)
        self.y = self.scale[:, None] * THETA_STAR**2

    def make_model(self):
        return ScalarModel(self.init)

    def loss(self, model, layer, step):
        cls = type(self)
        if cls.interrupt_at is not None and step == cls.interrupt_at:
            cls.interrupt_at = None
            raise KeyboardInterrupt
        z = model(len(SCALES))
        if layer is None:  # the data-only twin: it predicts y directly from theta
            pred = z
        else:
            pred = layer(z, self.contexts)
        loss = torch.mean((pred - self.y) ** 2)
        return loss, {"theta": float(model.theta.item())}

    def evaluate(self, model):
        return {"test_mae": abs(float(model.theta.item()) - THETA_STAR)}

    def describe_data(self):
        return {"n_train": len(SCALES)}


#: the theta the fake validation rows prefer: between the start (1.0) and THETA_STAR, so
#: training passes it and the validation error falls, then rises
THETA_VAL = 1.3


class OverfitTask(FitTask):
    """FitTask with validation rows that prefer THETA_VAL: val_mae = |theta - THETA_VAL|."""

    name = "fake-overfit"
    description = "fake-fit whose validation error turns up half-way"

    def validate(self, model):
        return {"val_mae": abs(float(model.theta.item()) - THETA_VAL)}


class FitPlugin:
    """Registers the fake SKS and task, as a third-party plugin would."""

    @zoo.hookimpl
    def register_knowledge_sources(self, register):
        register(SquareSKS)

    @zoo.hookimpl
    def register_tasks(self, register):
        register(FitTask)


class OverfitPlugin:
    """Registers ``fake-overfit`` (with FitPlugin for its SKS)."""

    @zoo.hookimpl
    def register_tasks(self, register):
        register(OverfitTask)


def reset_fit_counters() -> None:
    SquareSKS.rows_evaluated = 0
    SquareSKS.calls = 0
    SquareSKS.interrupt_on_call = None
    FitTask.interrupt_at = None


# ---------------------------------------------------------------------------------------
# Fake installed distributions (a dist-info folder plus a module) for entry-point tests
# ---------------------------------------------------------------------------------------


def make_fake_dist(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write ``<dist>-0.1.dist-info`` with ``[zoo]`` entry points, and modules, under root."""
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    name = dist.replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[zoo]\n{lines}")
    for mod, source in modules.items():
        (root / f"{mod}.py").write_text(textwrap.dedent(source))


def purge_modules(*names: str) -> None:
    for name in names:
        sys.modules.pop(name, None)


def plugin_object(**hooks: Any) -> Any:
    """A plugin object whose attributes are the given hook functions, marked as hookimpls."""
    ns = type("TestPlugin", (), {})()
    for hook_name, fn in hooks.items():
        setattr(ns, hook_name, zoo.hookimpl(fn))
    return ns
