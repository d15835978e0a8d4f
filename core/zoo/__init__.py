"""zoo: train PyTorch models end-to-end through black-box scientific software.

The public API, everything a plugin author or user imports::

    import zoo
    zoo.hookimpl                       # marks a plugin's hook implementations
    zoo.KnowledgeSource, zoo.Spec      # the contract a simulator is wrapped in
    zoo.knowledge_source("ase-emt")    # build registered components by name
    zoo.estimator("rge", q=16, mu=1e-3)
    zoo.SKSLayer(sks, estimator=..., executor="serial")   # a torch.nn.Module
    zoo.FunctionSource(fn, ["a", "b"], ["y"])             # a plain function as an SKS

Names that need torch (SKSLayer, Task, run) load on first use, so ``import zoo`` in a
plugin's entry-point module stays cheap and ``zoo --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError, PluginError, SKSError, UnknownNameError, ZooError
from .estimators.base import Estimator, Plan
from .executors import Executor
from .function_source import FunctionSource
from .hookspecs import hookimpl
from .registry import estimator, executor, knowledge_source, registered, scheduler, task
from .schedulers import Schedule
from .sks import KnowledgeSource, Spec

__version__ = "0.1.0"

_LAZY = {
    "SKSLayer": ("zoo.layer", "SKSLayer"),
    "Task": ("zoo.tasks", "Task"),
    "run": ("zoo.train", "run"),
}

__all__ = [
    "ConfigError",
    "Estimator",
    "Executor",
    "FunctionSource",
    "KnowledgeSource",
    "Plan",
    "PluginError",
    "SKSError",
    "SKSLayer",
    "Schedule",
    "Spec",
    "Task",
    "UnknownNameError",
    "ZooError",
    "estimator",
    "executor",
    "hookimpl",
    "knowledge_source",
    "registered",
    "run",
    "scheduler",
    "task",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
