"""zoo-plugin-example: a third-party zoo plugin, written only against zoo's public API.

It registers one knowledge source, ``example-quadratic``: f(x) = sum_i c_i x_i^2 over three
inputs, whose gradient 2 c_i x_i is known in closed form (and needs no context), so a test
can check zoo's estimated gradients against it.
"""

from __future__ import annotations

import numpy as np

import zoo

__version__ = "0.1.0"


class ExampleQuadratic(zoo.KnowledgeSource):
    """f(x) = sum_i c_i x_i^2 on [-10, 10]^3."""

    name = "example-quadratic"
    description = "sum of c_i x_i^2 over three inputs (an example plugin)"
    input_spec = zoo.Spec(["x0", "x1", "x2"], lower=-10.0, upper=10.0, units="Å")
    output_spec = zoo.Spec(["f"], units="eV")

    def __init__(self, c=(1.0, 2.0, 3.0)):
        c = np.asarray(c, dtype=np.float64)
        if c.shape != (3,):
            raise zoo.ConfigError(f"{self.name}: c must hold 3 numbers, got {c.tolist()}")
        self.c = c
        self.options = {"c": c.tolist()}

    def evaluate(self, inputs, contexts=None):
        return (inputs**2 @ self.c)[:, None]

    def gradient(self, inputs):
        """The exact gradient, (n, 3): what zoo's estimators should reproduce."""
        return 2.0 * self.c * np.asarray(inputs, dtype=np.float64)


@zoo.hookimpl
def register_knowledge_sources(register):
    register(ExampleQuadratic)
