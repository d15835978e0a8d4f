"""zoo-plugin-pymatgen as a plugin: its entry point, what it registers, and what it imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import zoo

ZOO = Path(sys.executable).with_name("zoo")


def run_python(code: str, **env: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_zoo_plugins_lists_what_it_registers():
    proc = subprocess.run([str(ZOO), "plugins", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    plugin = next(p for p in info["plugins"] if p["name"] == "pymatgen")
    assert plugin["error"] is None
    assert plugin["distribution"] == "zoo-plugin-pymatgen" and plugin["module"] == "zoo_pymatgen.plugin"
    assert sorted(plugin["registers"]["sks"]) == ["pymatgen-bvs", "pymatgen-ewald", "pymatgen-xrd"]
    assert sorted(plugin["registers"]["tasks"]) == ["rocksalt-bvs-lattice", "rocksalt-lattice-energy", "xrd-lattice"]


def test_every_sks_names_a_registered_default_task_that_names_it_back():
    sks, tasks = zoo.registered("sks"), zoo.registered("tasks")
    for name in ("pymatgen-xrd", "pymatgen-ewald", "pymatgen-bvs"):
        task = sks[name].cls.default_task
        assert task in tasks and tasks[task].plugin == "pymatgen"
        assert tasks[task].cls.default_sks == name


def test_entry_point_module_imports_nothing_heavy():
    out = run_python(
        "import sys, zoo_pymatgen.plugin\n"
        "print(sorted(m for m in ('pymatgen', 'torch', 'ase', 'numpy') if m in sys.modules))"
    )
    assert out.strip() == "['numpy']"  # numpy comes with zoo itself


@pytest.mark.slow
def test_ase_is_imported_only_for_atoms_contexts():
    # only this plugin and zoo's built-ins: zoo-plugin-ase would import ASE itself
    out = run_python(
        "import sys, zoo\n"
        "from pymatgen.core import Lattice, Structure\n"
        "s = Structure(Lattice.cubic(4.12), ['Cs', 'Cl'], [[0, 0, 0], [0.5, 0.5, 0.5]])\n"
        "for name in ('pymatgen-xrd', 'pymatgen-ewald', 'pymatgen-bvs'):\n"
        "    zoo.knowledge_source(name, inputs='scale')([[1.0]], [s])\n"
        "print('ase' in sys.modules, 'pymatgen.io.ase' in sys.modules)\n"
        "import ase.build\n"
        "zoo.knowledge_source('pymatgen-ewald')([[1.0]], [ase.build.bulk('CsCl', 'cesiumchloride', a=4.12)])\n"
        "print('pymatgen.io.ase' in sys.modules)",
        ZOO_PLUGINS="pymatgen,estimators,schedulers,executors",
    )
    assert out.split() == ["False", "False", "True"]
