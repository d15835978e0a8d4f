"""The case studies under examples/ run from their configs, as their READMEs say, through
the real CLI and the real knowledge sources (a few steps each; the READMEs quote full runs).

potential-parameters runs through LAMMPS and, as its README offers, through ASE's Morse
calculator as the fallback; xrd-lattice through pymatgen's XRDCalculator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ZOO = Path(sys.executable).with_name("zoo")

CASES = [
    pytest.param("potential-parameters", [], ("zoo_ase", "zoo_lammps"), "lammps", id="potential-lammps"),
    pytest.param("potential-parameters", ["--sks", "ase-morse"], ("zoo_ase",), "ase-morse", id="potential-ase"),
    pytest.param("xrd-lattice", [], ("zoo_pymatgen",), "pymatgen-xrd", id="xrd"),
    pytest.param("g2-bond-lengths", [], ("zoo_tblite",), "xtb", id="g2"),
    pytest.param("fit-table", [], ("zoo_ase",), "ase-morse", id="fit-table"),
]


@pytest.mark.parametrize("example,extra,needs,sks", CASES)
def test_example_config_runs(example, extra, needs, sks, tmp_path):
    for module in needs:
        pytest.importorskip(module)
    config = ROOT / "examples" / example / "config.toml"
    assert (ROOT / "examples" / example / "README.md").is_file()
    out = tmp_path / "run"
    proc = subprocess.run(
        [str(ZOO), "run", "--config", str(config), *extra, "--steps", "3", "--no-progress", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,  # configs name files from the repository root
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sks"] == sks and summary["steps"] == 3
    assert set(summary["variants"]) == {"sks-coupled", "data-only"}
    assert summary["variants"]["sks-coupled"]["sks_queries"] > 0
    assert summary["failed_queries"] == 0
    assert any(k.startswith("test_mae") for k in summary["variants"]["data-only"]["test"])
