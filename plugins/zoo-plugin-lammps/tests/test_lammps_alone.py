"""zoo-plugin-lammps stands alone: no ASE needed, and configs cannot inject LAMMPS commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ZOO = str(Path(sys.executable).with_name("zoo"))

# Make `import ase` fail in the child, as in a venv holding only zoo-core and this plugin.
WITHOUT_ASE = """
import sys
sys.modules["ase"] = None  # any `import ase...` now raises ImportError
from zoo.cli import main
sys.argv[0] = "zoo"
main()
"""


def _zoo_without_ase(*args):
    return subprocess.run([sys.executable, "-c", WITHOUT_ASE, *args], capture_output=True, text=True, timeout=300)


def test_without_ase_the_lammps_sks_is_listed_and_the_ase_ones_are_not():
    proc = _zoo_without_ase("list", "sks", "--json")
    assert proc.returncode == 0, proc.stderr
    names = {row["name"] for row in json.loads(proc.stdout)}
    assert "lammps" in names
    assert not {n for n in names if n.startswith("ase-")}


def test_without_ase_the_lammps_sks_computes():
    code = WITHOUT_ASE.split("from zoo.cli")[0] + """
import numpy as np, zoo
from zoo_lammps.structure import Structure
cell = np.eye(3) * 3.615
frac = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
cu = Structure(cell=cell, positions=frac @ cell, symbols=("Cu",) * 4)
sks = zoo.knowledge_source("lammps", inputs="scale", outputs=["energy_per_atom"], potential="Cu_u3.eam")
print(float(sks([[1.0]], [cu])[0, 0]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # Foiles' Cu_u3 potential is fitted to the cohesive energy of Cu, 3.54 eV/atom
    assert abs(float(proc.stdout.split()[-1]) + 3.54) < 1e-3


def test_an_injection_through_a_config_file_is_one_clear_error(tmp_path):
    config = tmp_path / "evil.toml"
    config.write_text(
        'sks = "lammps"\nsteps = 1\n[sks_options]\npair_coeff = "* * Cu_u3.eam\\nshell touch '
        + str(tmp_path / "pwned") + '"\n'
    )
    proc = subprocess.run([ZOO, "run", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("Error:") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "pwned").exists()


def test_without_ase_the_shared_tasks_run_through_lammps(tmp_path):
    """The labels of zoo-atomistic's tasks ship as files, so LAMMPS alone runs the default
    task and the pair-potential tasks (their EMT pressures were computed once, with ASE)."""
    for task, options in (("eam-alloy-lattice", ["batch_unlabelled=2"]),
                          ("morse-alloy-eos", ["n_labelled=3", "n_test=4", "batch_alloys=2"])):
        out = tmp_path / task
        args = ["run", "--sks", "lammps", "--task", task, "--steps", "2", "--no-baseline", "--no-progress",
                "--out", str(out)]
        proc = _zoo_without_ase(*args, *(x for o in options for x in ("--task-option", o)))
        assert proc.returncode == 0, proc.stderr[-2000:]
        summary = json.loads((out / "summary.json").read_text())
        assert summary["task"] == task and summary["sks_queries"] > 0 and summary["failed_queries"] == 0
