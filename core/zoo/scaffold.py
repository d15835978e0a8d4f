"""``zoo new-plugin NAME``: a third-party plugin package that installs, passes its tests
and trains.

The generated package is the smallest complete plugin: a pyproject with the ``zoo`` entry
point; a knowledge source (an analytic spring, so its tests have an exact answer to check
against; replace ``evaluate`` with a call to your code); a default task built on the
generic table task (:class:`zoo.tasks.FitTask`) with a packaged ``data.csv``, so
``zoo run --sks NAME --steps 3`` and ``zoo diagnose --sks NAME`` work right after ``pip
install``; and tests that run ``zoo.testing``'s contract checks and the gradient zoo
estimates through ``zoo.SKSLayer``.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from .errors import ConfigError

NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "zoo-plugin-$name"
version = "0.1.0"
description = "A zoo knowledge source: $name"
readme = "README.md"
requires-python = ">=3.10"
license = "MIT"
# zoo's plugin API is 0.x: pin the minor version you tested against
dependencies = ["zoo-core>=0.1,<0.2", "numpy"]

[project.optional-dependencies]
test = ["pytest"]

# How zoo finds the plugin: one entry point in the `zoo` group.
[project.entry-points.zoo]
$module = "zoo_$module"

[tool.setuptools]
packages = ["zoo_$module"]

[tool.setuptools.package-data]
zoo_$module = ["data.csv"]
''')

MODULE = Template('''\
"""zoo-plugin-$name: a knowledge source for zoo, and a task to train through it.

Edit ``evaluate`` to call your simulator or analysis code (keep heavy imports inside it or
``__init__``, so ``zoo --help`` stays fast), ``input_spec``/``output_spec`` to name its
inputs and outputs with their bounds and units, and ``data.csv`` to hold your labels.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

import zoo
from zoo.tasks import FitTask


class $cls(zoo.KnowledgeSource):
    """A harmonic spring: E = k (r - r0)^2 / 2 and its force -k (r - r0). A placeholder with
    a known answer; replace ``evaluate`` with a call to your code."""

    name = "$name"
    description = "Harmonic spring energy and force (a template: replace with your code)"
    default_task = "$name-fit"
    input_spec = zoo.Spec(["r"], lower=0.1, upper=10.0, units="Å")
    output_spec = zoo.Spec(["energy", "force"], units=["eV", "eV/Å"])

    def __init__(self, k: float = 2.0, r0: float = 1.5):
        # zoo records these options itself (self.options); the cache keys on them
        if not k > 0:
            raise zoo.ConfigError("$name: k must be > 0")
        self.k, self.r0 = float(k), float(r0)

    def evaluate(self, inputs, contexts=None):
        # inputs: (n, 1) float64; contexts: per-row data or None. A failed row is NaN.
        r = inputs[:, 0]
        return np.stack([0.5 * self.k * (r - self.r0) ** 2, -self.k * (r - self.r0)], axis=1)


class ${cls}Fit(FitTask):
    """Learn r from the features in data.csv: its few labelled rows, plus the SKS's
    zero-force condition on every row. Point ``data=`` at your own table to train on it."""

    name = "$name-fit"
    description = "Fit $name from the packaged data.csv (a template)"
    default_sks = "$name"

    def __init__(self, data: str | None = None, zero: str | list[str] | None = "force", **options):
        table = data or str(resources.files("zoo_$module").joinpath("data.csv"))
        super().__init__(data=table, zero=zero, **options)


@zoo.hookimpl
def register_knowledge_sources(register):
    register($cls)


@zoo.hookimpl
def register_tasks(register):
    register(${cls}Fit)
''')

DATA = """\
# features (load) and labels: r is an input of $name, so it labels the model directly;
# an empty cell is an unlabelled row (the zero-force condition still applies to it)
load,r
0.0,1.52
0.1,
0.2,1.49
0.3,
0.4,
0.5,1.51
0.6,
0.7,
0.8,1.50
0.9,
1.0,
1.1,1.48
1.2,
1.3,
1.4,1.51
1.5,
"""

TEST = Template('''\
"""Tests of zoo-plugin-$name: the zoo contract, the gradient zoo estimates through the
source, and its task."""

import numpy as np
import torch

import zoo
from zoo.testing import check_knowledge_source, check_task


def test_contract():
    check_knowledge_source(zoo.knowledge_source("$name"), inputs=[[1.0], [2.5]])


def test_registered_through_the_entry_point():
    assert zoo.registered("sks")["$name"].plugin == "$module"
    assert zoo.registered("tasks")["$name-fit"].plugin == "$module"


def test_gradient_through_the_layer():
    sks = zoo.knowledge_source("$name", k=2.0, r0=1.5)
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-4, difference="central"))
    r = torch.tensor([[2.0], [1.0]], dtype=torch.float64, requires_grad=True)
    layer(r)[:, 0].sum().backward()
    # dE/dr = k (r - r0), and central differences are exact for a quadratic
    np.testing.assert_allclose(r.grad.numpy(), [[1.0], [-1.0]], atol=1e-8)


def test_task_contract():
    check_task(zoo.task("$name-fit"), zoo.knowledge_source("$name"))
''')

README = Template('''\
# zoo-plugin-$name

A knowledge source for [zoo](https://github.com/zoo-sciml/zoo), and a task to train through
it. Install it beside zoo-core, check it, and train:

```bash
pip install -e '.[test]'
zoo list sks                  # shows $name
pytest                        # the contract, the gradient, the task
zoo run --sks $name --steps 3 # its default task, $name-fit, on the packaged data.csv
zoo diagnose --sks $name      # is the estimated gradient good here? which mu, which q?
```

What to edit next:

1. `zoo_$module/__init__.py`, class `$cls`: replace `evaluate` with a call to your code, and
   `input_spec`/`output_spec` with its inputs (with bounds and units) and outputs.
2. `zoo_$module/data.csv`: your table. Columns named like an output are labels *through*
   your code; columns named like an input label the model's output; the other numeric
   columns are features; an empty cell is a missing label. Or train on any table without
   editing the package: `zoo run --sks $name --task fit --task-option data=FILE.csv`.
3. `zero="force"` in `${cls}Fit` asks that output to vanish on every row (an equilibrium
   condition); change or drop it for your physics.
4. When the generic table task is not enough, write your own `zoo.Task` (the docs' "writing
   a plugin" page has a complete one).
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
        root / f"zoo_{module}" / "data.csv": Template(DATA),
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(values))
    return root
