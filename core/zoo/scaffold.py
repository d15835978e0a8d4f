"""``zoo new-plugin NAME``: a third-party plugin package that installs and passes its tests.

The generated package is the smallest complete plugin: a pyproject with the ``zoo`` entry
point, a knowledge source (an analytic spring energy, so its tests have an exact answer to
check against; replace ``evaluate`` with a call to your code), and tests that run
``zoo.testing.check_knowledge_source`` and check the gradient zoo estimates through
``zoo.SKSLayer``.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from .errors import ConfigError

NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "zoo-plugin-$name"
version = "0.1.0"
description = "A zoo knowledge source: $name"
requires-python = ">=3.10"
dependencies = ["zoo-core"]

[project.optional-dependencies]
test = ["pytest"]

# How zoo finds the plugin: one entry point in the `zoo` group.
[project.entry-points.zoo]
$module = "zoo_$module"

[tool.setuptools]
packages = ["zoo_$module"]
''')

MODULE = Template('''\
"""zoo-plugin-$name: a knowledge source for zoo.

Replace ``evaluate`` with a call to your simulator or analysis code. Keep heavy imports
(your code's Python API) inside ``evaluate`` or ``__init__``, so ``zoo --help`` stays fast.
"""

from __future__ import annotations

import numpy as np

import zoo


class $cls(zoo.KnowledgeSource):
    """Energy of a harmonic spring, E = k (r - r0)^2 / 2: a placeholder with a known gradient."""

    name = "$name"
    description = "Harmonic spring energy (a template: replace with your code)"
    input_spec = zoo.Spec(["r"], lower=0.1, upper=10.0, units="Å")
    output_spec = zoo.Spec(["energy"], units="eV")

    def __init__(self, k: float = 2.0, r0: float = 1.5):
        if k <= 0:
            raise zoo.ConfigError("$name: k must be > 0")
        self.options = {"k": k, "r0": r0}
        self.k, self.r0 = float(k), float(r0)

    def evaluate(self, inputs, contexts=None):
        # inputs: (n, 1) float64; contexts: per-row data or None. A failed row is NaN.
        return 0.5 * self.k * (inputs[:, :1] - self.r0) ** 2


@zoo.hookimpl
def register_knowledge_sources(register):
    register($cls)
''')

TEST = Template('''\
"""Tests of zoo-plugin-$name: the zoo contract, and the gradient zoo estimates through it."""

import numpy as np
import torch

import zoo
from zoo.testing import check_knowledge_source


def test_contract():
    check_knowledge_source(zoo.knowledge_source("$name"), inputs=[[1.0], [2.5]])


def test_registered_through_the_entry_point():
    assert zoo.registered("sks")["$name"].plugin == "$module"


def test_gradient_through_the_layer():
    sks = zoo.knowledge_source("$name", k=2.0, r0=1.5)
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-4))
    r = torch.tensor([[2.0], [1.0]], dtype=torch.float64, requires_grad=True)
    layer(r).sum().backward()
    # dE/dr = k (r - r0), and central differences are exact for a quadratic
    np.testing.assert_allclose(r.grad.numpy(), [[1.0], [-1.0]], atol=1e-8)
''')

README = Template('''\
# zoo-plugin-$name

A knowledge source for zoo. Install beside zoo-core and check it:

```bash
pip install -e '.[test]'
zoo list sks            # shows $name
pytest
```

Then train through it: `zoo run --sks $name --task YOUR_TASK`.
''')


def new_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write ``zoo-plugin-NAME/`` under ``directory``; return its path."""
    if not NAME.match(name):
        raise ConfigError(
            f"plugin name {name!r} must be lower-case letters and digits, words joined by - or _ "
            f"(e.g. my-code)"
        )
    module = name.replace("-", "_")
    cls = "".join(part.capitalize() for part in re.split(r"[-_]", name)) + "Source"
    root = Path(directory) / f"zoo-plugin-{name}"
    if root.exists():
        raise ConfigError(f"{str(root)!r} already exists; choose another name or directory")
    values = {"name": name, "module": module, "cls": cls}
    files = {
        root / "pyproject.toml": PYPROJECT,
        root / f"zoo_{module}" / "__init__.py": MODULE,
        root / "tests" / f"test_{module}.py": TEST,
        root / "README.md": README,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(values))
    return root
