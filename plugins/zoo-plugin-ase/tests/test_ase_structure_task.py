"""``ase-structure``, the default task of ase-calculator: relax a structure file through the
SKS. The exact answers come from outside the task: the Lennard-Jones minimum by hand
(2^(1/6) sigma), ASE's own optimisers (a cell filter for the crystal, LBFGS for xTB's water).
The CLI runs as a real subprocess, as a user types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from click.testing import CliRunner

import zoo
from zoo.testing import check_task

ZOO = Path(sys.executable).with_name("zoo")  # the console script of this venv
LJ = {"calculator": "ase.calculators.lj:LennardJones", "calculator_options": {"rc": 5.0}}
R_MIN = 2 ** (1 / 6)  # Lennard-Jones pair minimum for sigma = 1


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("structures")
    # three LJ atoms off their equilateral minimum (sides 1.0, 1.25, ~1.38)
    ase.io.write(folder / "trimer.xyz", Atoms("Ar3", positions=[[0, 0, 0], [1.0, 0, 0], [0.3, 1.2, 0.1]]))
    ase.io.write(folder / "dimer.xyz", Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 1.3]]))
    ase.io.write(folder / "h2o.xyz", molecule("H2O"))
    ase.io.write(folder / "cu.cif", bulk("Cu", "fcc", a=3.7, cubic=True))
    return folder


def source(path: Path, **options):
    return zoo.knowledge_source("ase-calculator", structure=str(path), outputs="energy", **options)


def pair_distances(xyz: np.ndarray) -> np.ndarray:
    xyz = np.asarray(xyz).reshape(-1, 3)
    i, j = np.triu_indices(len(xyz), 1)
    return np.linalg.norm(xyz[i] - xyz[j], axis=1)


def ase_lattice_constant() -> float:
    """EMT's Cu lattice constant by ASE's own route: BFGS on a cell filter (a one-atom fcc
    cell has no internal freedom, so this is the zero-pressure lattice constant)."""
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = bulk("Cu", "fcc", a=3.7)
    atoms.calc = EMT()
    BFGS(FrechetCellFilter(atoms, hydrostatic_strain=True), logfile=None).run(fmax=1e-7, steps=200)
    return float((4 * atoms.get_volume()) ** (1 / 3))


def run(config: dict, tmp_path: Path) -> dict:
    return zoo.run({"out": str(tmp_path / "run"), **config}, progress=False, echo=lambda s: None)


# -- the contract and the references -----------------------------------------------------------
@pytest.mark.parametrize("name,options", [("trimer.xyz", LJ), ("cu.cif", {})])
def test_task_contract(files, name, options):
    metrics = check_task(zoo.task("ase-structure"), source(files / name, **options))
    assert metrics["test_mae"] > 0.01  # the file is off the minimum: the untrained model is too


def test_references_are_the_exact_minima(files):
    task = zoo.task("ase-structure")
    task.setup(source(files / "trimer.xyz", **LJ), seed=0)
    np.testing.assert_allclose(pair_distances(task.ref.z), R_MIN, atol=1e-4)  # fmax 1e-3 / k = 57 eV/Å^2
    task.setup(source(files / "dimer.xyz", inputs="bond_length", **LJ), seed=0)
    assert task.ref.z[0] == pytest.approx(R_MIN, abs=1e-9)
    task.setup(source(files / "cu.cif"), seed=0)
    assert task.kind == "lattice_constant" and task.start[0] == pytest.approx(3.7, abs=1e-9)
    assert task.ref.z[0] == pytest.approx(ase_lattice_constant(), abs=1e-6)


# -- training reaches them ---------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name,options", [
    ("trimer.xyz", LJ), ("dimer.xyz", {**LJ, "inputs": "bond_length"}), ("cu.cif", {}),
])
def test_zo_relaxation_reaches_the_minimum(files, tmp_path, name, options):
    """The task's defaults (200 steps, Adam at lr 0.01 on a cosine schedule, central CGE)
    bring every distance within 1e-4 Å of the minimum (measured: 3e-6 to 1e-5 Å)."""
    summary = run({"sks": "ase-calculator", "sks_options": {"structure": str(files / name), **options}}, tmp_path)
    assert summary["task"] == "ase-structure" and summary["steps"] == 200
    coupled, twin = summary["variants"]["sks-coupled"]["test"], summary["variants"]["data-only"]["test"]
    assert coupled["test_max"] < 1e-4 and twin["test_max"] > 0.05
    assert summary["final_loss"] < 1e-7  # eV above the minimum
    if name == "cu.cif":  # the twin never moves: its error is the file's distance to the minimum
        assert twin["test_mae"] == pytest.approx(abs(3.7 - ase_lattice_constant()), abs=1e-6)


@pytest.mark.slow
def test_xtb_water_relaxes_to_ases_minimum(files, tmp_path):
    tblite = pytest.importorskip("tblite.ase", reason="tblite (GFN-xTB) is not installed")
    from ase.optimize import LBFGS

    xtb = {"method": "GFN2-xTB", "verbosity": 0}
    water = molecule("H2O")
    water.calc = tblite.TBLite(**xtb)
    LBFGS(water, logfile=None).run(fmax=1e-4, steps=500)
    options = {"structure": str(files / "h2o.xyz"), "calculator": "tblite.ase:TBLite",
               "calculator_options": xtb, "fresh_calculator": True}
    task = zoo.task("ase-structure")
    task.setup(zoo.knowledge_source("ase-calculator", outputs="energy", **options), seed=0)
    np.testing.assert_allclose(task.target, pair_distances(water.positions), atol=1e-3)
    summary = run({"sks": "ase-calculator", "steps": 100, "sks_options": options}, tmp_path)
    assert summary["test"]["test_max"] < 1e-3 < summary["variants"]["data-only"]["test"]["test_max"]
    assert summary["sks_queries"] == 100 * (2 * 9 + 1)  # central CGE on 9 positions + the forward pass


# -- the command line, as a user types it ------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name,d,kind", [("h2o.xyz", 9, "positions"), ("cu.cif", 1, "lattice_constant")])
def test_cli_default_task_on_a_structure_file(files, tmp_path, name, d, kind):
    out, steps = tmp_path / "run", 3
    proc = subprocess.run(
        [str(ZOO), "run", "--sks", "ase-calculator", "--sks-option", f"structure={files / name}",
         "--steps", str(steps), "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "ase-structure" and summary["data"]["inputs"] == kind
    assert summary["sks_queries"] == steps * (2 * d + 1)
    assert np.isfinite(summary["test"]["test_mae"])


@pytest.mark.parametrize("name,d", [("h2o.xyz", 9), ("cu.cif", 1)])
def test_cli_diagnose_on_a_structure_file(files, name, d):
    import zoo.cli

    zoo.cli._add_plugin_commands()  # as `zoo` itself does: diagnose is registered like a plugin's
    result = CliRunner().invoke(zoo.cli.cli, ["diagnose", "--sks", "ase-calculator", "--sks-option",
                                              f"structure={files / name}", "--points", "1"])
    assert result.exit_code == 0, result.output
    assert f"d = {d} input" in result.output and "recommend" in result.output


def test_cli_without_a_structure_is_one_error_line():
    proc = subprocess.run([str(ZOO), "run", "--sks", "ase-calculator", "--steps", "1", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("Error: ase-structure relaxes the structure of the option structure=FILE; "
                                   "give one, e.g. --sks-option structure=molecule.xyz (or crystal.cif)")


def test_what_the_task_cannot_relax(files):
    task = zoo.task("ase-structure")
    with pytest.raises(zoo.ConfigError, match=r"relaxes one of the inputs .*\['strain'\]"):
        task.setup(source(files / "cu.cif", inputs="strain"), seed=0)
    with pytest.raises(zoo.ConfigError, match="must include 'energy'"):
        task.setup(zoo.knowledge_source("ase-calculator", structure=str(files / "cu.cif"), outputs="pressure"), 0)
    plain = zoo.FunctionSource(lambda x: x**2, inputs=["x"], outputs=["y"], name="square")
    with pytest.raises(zoo.ConfigError, match="through an ASE knowledge source"):
        task.setup(plain, seed=0)
    with pytest.raises(zoo.ConfigError, match="fmax"):
        zoo.task("ase-structure", fmax=0)
