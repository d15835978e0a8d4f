"""The default task of ``lammps`` (eam-alloy-lattice): its labels, its structures, and a
short run through the CLI and the Python API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo_lammps.alloy_task import load_dataset
from zoo_lammps.alloys import ELEMENTS, atom_counts, random_fcc_alloy

ZOO = Path(sys.executable).with_name("zoo")


def test_label_file_is_sane():
    data = load_dataset()
    n = len(data["a0"])
    assert n == 240
    np.testing.assert_allclose(data["fractions"].sum(axis=1), 1.0, atol=1e-4)
    assert np.allclose(data["fractions"] * 32, np.round(data["fractions"] * 32), atol=1e-3)
    assert 3.4 < data["a0"].min() and data["a0"].max() < 4.1
    assert len({tuple(f) for f in data["fractions"]}) == n  # no repeated composition


def test_pure_metal_labels_match_an_independent_emt_fit():
    """Pure metals have no internal relaxation, so a0 is where the EMT energy of the ideal
    cubic cell is lowest: fit E(a) on 7 points with ASE's EquationOfState (a method
    independent of the label script's BFGS + cell filter). Fit error ~1e-4 Å."""
    pytest.importorskip("ase")
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.eos import EquationOfState

    data = load_dataset()
    for k, el in enumerate(ELEMENTS[:3]):
        row = int(np.flatnonzero(data["fractions"][:, k] == 1.0)[0])
        a_label = data["a0"][row]
        vols, energies = [], []
        for a in a_label * np.linspace(0.98, 1.02, 7):
            atoms = bulk(el, "fcc", a=a, cubic=True)
            atoms.calc = EMT()
            vols.append(atoms.get_volume())
            energies.append(atoms.get_potential_energy())
        v0, _, _ = EquationOfState(vols, energies).fit()
        assert abs((v0) ** (1 / 3) - a_label) < 5e-4, (el, v0 ** (1 / 3), a_label)


def test_structures_are_those_of_zoo_ase():
    """Same numbers, same alloy as zoo-plugin-ase's builder (when it is installed)."""
    zoo_ase_alloys = pytest.importorskip("zoo_ase.alloys")
    for frac, seed in [((0.25, 0.25, 0, 0.25, 0.25, 0), 7), ((0.1, 0.2, 0.3, 0.1, 0.2, 0.1), 3)]:
        ours, theirs = random_fcc_alloy(frac, seed, a=3.7), zoo_ase_alloys.random_fcc_alloy(frac, seed, a=3.7)
        assert ours.symbols == tuple(theirs.get_chemical_symbols())
        np.testing.assert_allclose(ours.positions, theirs.positions, atol=1e-12)
        np.testing.assert_allclose(ours.cell, theirs.cell.array, atol=1e-12)
    assert atom_counts((1 / 3, 1 / 3, 1 / 3, 0, 0, 0), 32).tolist() == [11, 11, 10, 0, 0, 0]


def check_run(out: Path, steps: int, batch: int) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "eam-alloy-lattice" and summary["sks"] == "lammps"
    # forward CGE on d = 1: 1 forward + 1 gradient query per unlabelled alloy and step
    assert summary["sks_queries"] == steps * batch * 2
    assert summary["nan_gradient_rows"] == 0
    for v in summary["variants"].values():
        t = v["test"]
        assert 0 < t["test_mae"] <= t["test_rmse"] <= t["test_max"] < 1.0
    return summary


@pytest.mark.slow
def test_cli_default_task(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [str(ZOO), "run", "--sks", "lammps", "--steps", "3", "--task-option", "batch_unlabelled=4",
         "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("sks-coupled") for line in proc.stdout.splitlines())
    check_run(out, 3, 4)


@pytest.mark.slow
def test_python_api_small(tmp_path):
    summary = zoo.run(
        {"sks": "lammps", "steps": 2, "out": str(tmp_path / "api"), "baseline": False,
         "task_options": {"batch_unlabelled": 3, "n_unlabelled": 10}},
        progress=False, echo=lambda s: None,
    )
    assert summary["data"]["unlabelled"] == 10
    check_run(tmp_path / "api", 2, 3)


def test_task_rejects_an_sks_without_pressure(tmp_path):
    with pytest.raises(zoo.ConfigError, match="pressure"):
        zoo.run({"sks": "lammps", "steps": 1, "out": str(tmp_path / "r"),
                 "sks_options": {"outputs": ["energy"]}}, progress=False, echo=lambda s: None)
