"""Molecules through ASE's sources: positions and bond_length on structures without a cell,
a lattice kind on them refused in one line (never one value at every input), the defaults a
molecule file sets, and GFN2-xTB (tblite's ASE calculator) through ase-calculator.

References are ASE's own numbers on structures built here by hand."""

from __future__ import annotations

import importlib.metadata

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

import zoo
from zoo.testing import check_knowledge_source
from zoo_atomistic import Structure

LJ = "ase.calculators.lj:LennardJones"
CELL_KINDS = ["lattice_constant", "scale", "strain", "lattice_lengths", "lattice_abc", "lattice_parameters",
              "cell", "frac_positions"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("molecules")
    ase.io.write(folder / "h2o.xyz", molecule("H2O"))
    ase.io.write(folder / "ch4.xyz", molecule("CH4"))
    ase.io.write(folder / "cu.cif", bulk("Cu", "fcc", a=3.7, cubic=True))
    boxed = molecule("H2O", vacuum=4.0)  # a cell, but periodic in no direction
    ase.io.write(folder / "boxed.extxyz", boxed)
    return folder


def ase_energy(atoms: Atoms, calc) -> float:
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms.get_potential_energy()


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("name", ["h2o.xyz", "boxed.extxyz"])
def test_a_cell_kind_on_a_molecule_file_is_one_config_error(files, name, kind):
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("ase-calculator", structure=str(files / name), inputs=kind)
    msg = str(info.value)
    assert msg.startswith(f"ase-calculator: structure '{files / name}' (H2O): inputs {kind!r}")
    assert "not periodic" in msg and "'positions' or 'bond_length'" in msg and "\n" not in msg


@pytest.mark.parametrize("kind", ["scale", "strain", "lattice_constant", "frac_positions"])
def test_a_cell_kind_on_a_molecule_context_is_an_sks_error_naming_it(kind):
    """The issue: inputs='scale' on a molecule returned one energy at every scale. Now the
    call fails, naming the context, before anything is computed."""
    sks = zoo.knowledge_source("ase-emt", inputs=kind, outputs="energy", n_atoms=4)
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True)
    water = molecule("H2O")
    water.append("H")  # 4 atoms, like the crystal, so only the missing cell is wrong
    if kind == "frac_positions":
        row = crystal.get_scaled_positions().ravel()
    else:
        row = (sks.input_spec.lower + sks.input_spec.upper) / 2
    assert np.isfinite(sks([row], [crystal])).all()
    neutral = Structure(np.zeros((3, 3)), water.positions, tuple(water.get_chemical_symbols()), pbc=False)
    for contexts in ([crystal, water], [crystal, neutral]):
        with pytest.raises(zoo.SKSError, match=rf"^ase-emt: context 1 \(H3O\): inputs {kind!r} .* not periodic"):
            sks([row, row], contexts)


@pytest.mark.parametrize("output", ["pressure", "stress", "volume", "volume_per_atom"])
def test_cell_outputs_of_a_molecule_are_refused(files, output):
    with pytest.raises(zoo.ConfigError, match=rf"\(H2O\): outputs \[{output!r}\] need a periodic cell"):
        zoo.knowledge_source("ase-calculator", structure=str(files / "h2o.xyz"), outputs=["energy", output])
    sks = zoo.knowledge_source("ase-emt", inputs="positions", n_atoms=3, outputs=output)
    with pytest.raises(zoo.SKSError, match=r"context 0 \(H2O\): outputs"):
        sks([molecule("H2O").positions.ravel()], [molecule("H2O")])


def test_a_periodic_structure_without_a_cell_is_refused():
    flat = Atoms("Cu2", positions=[[0, 0, 0], [1.8, 0, 0]], pbc=True)  # pbc, but a zero cell
    sks = zoo.knowledge_source("ase-emt", inputs="scale", outputs="energy")
    with pytest.raises(zoo.SKSError, match=r"context 0 \(Cu2\): .*no volume"):
        sks([[1.0]], [flat])


def test_bond_length_needs_a_centre(files, tmp_path):
    ase.io.write(tmp_path / "c2h6.xyz", molecule("C2H6"))
    with pytest.raises(zoo.ConfigError, match=r"\(C2H6\): inputs 'bond_length' .*no atom is the nearest neighbour"):
        zoo.knowledge_source("ase-calculator", structure=str(tmp_path / "c2h6.xyz"), inputs="bond_length")
    sks = zoo.knowledge_source("ase-emt", inputs="bond_length", outputs="energy")
    with pytest.raises(zoo.SKSError, match=r"context 1 \(C2H6\)"):
        sks([[1.1], [1.1]], [molecule("CH4"), molecule("C2H6")])


def test_atom_counts_must_match_n_atoms(files):
    with pytest.raises(zoo.ConfigError, match=r"\(H2O\): it has 3 atoms.*n_atoms=4"):
        zoo.knowledge_source("ase-calculator", structure=str(files / "h2o.xyz"), n_atoms=4)
    sks = zoo.knowledge_source("ase-emt", inputs="positions", n_atoms=3, outputs="energy")
    with pytest.raises(zoo.SKSError, match=r"context 1 \(CH4\): it has 5 atoms.*n_atoms=3"):
        sks(np.zeros((2, 9)), [molecule("H2O"), molecule("CH4")])


# -- what a molecule can take -----------------------------------------------------------------
def test_a_molecule_file_defaults_to_positions_and_its_atom_count(files):
    sks = zoo.knowledge_source("ase-calculator", structure=str(files / "h2o.xyz"), outputs=["energy", "forces"])
    assert sks.input_spec.names == ("x0", "y0", "z0", "x1", "y1", "z1", "x2", "y2", "z2")
    assert sks.output_spec.names[1:4] == ("fx0", "fy0", "fz0") and len(sks.output_spec) == 10
    water = molecule("H2O")
    moved = water.positions + np.array([[0.0, 0.0, 0.05], [0.0, 0.03, 0.0], [0.0, 0.0, 0.0]])
    y = sks([moved.ravel()])[0]
    ref = water.copy()
    ref.positions = moved
    ref.calc = EMT()
    assert y[0] == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(y[1:], ref.get_forces().ravel(), rtol=1e-10, atol=1e-12)
    # a crystal file keeps the lattice constant
    crystal = zoo.knowledge_source("ase-calculator", structure=str(files / "cu.cif"), outputs="energy")
    assert crystal.input_spec.names == ("a",)
    assert crystal([[3.6]])[0, 0] == pytest.approx(ase_energy(bulk("Cu", "fcc", a=3.6, cubic=True), EMT()), rel=1e-10)


def test_bond_length_stretches_methane_about_carbon(files):
    sks = zoo.knowledge_source("ase-calculator", calculator=LJ, calculator_options={"sigma": 1.0, "rc": 6.0},
                               structure=str(files / "ch4.xyz"), inputs="bond_length", outputs="energy")
    assert sks.input_spec.names == ("r",) and sks.input_spec.units == ("Å",)
    ch4 = molecule("CH4")
    for r in (1.0, 1.3):
        by_hand = ch4.copy()
        u = ch4.positions[1:] - ch4.positions[0]
        by_hand.positions[1:] = ch4.positions[0] + r * u / np.linalg.norm(u, axis=1, keepdims=True)
        assert sks([[r]])[0, 0] == pytest.approx(ase_energy(by_hand, LennardJones(sigma=1.0, rc=6.0)), rel=1e-12)


def test_cache_key_names_the_structure_by_content(tmp_path):
    path = tmp_path / "m.xyz"
    ase.io.write(path, molecule("H2O"))
    first = zoo.knowledge_source("ase-calculator", structure=str(path)).cache_options()
    assert first == zoo.knowledge_source("ase-calculator", structure=str(path)).cache_options()
    assert first["inputs"] == "positions" and first["n_atoms"] == 3
    bent = molecule("H2O")
    bent.positions[1, 2] += 0.1
    ase.io.write(path, bent)  # the same path, another molecule: another key
    assert zoo.knowledge_source("ase-calculator", structure=str(path)).cache_options() != first
    # no structure: the key is what it was before the default became 'inputs=None'
    assert zoo.knowledge_source("ase-calculator").cache_options()["inputs"] == "lattice_constant"


# -- a real quantum code: GFN2-xTB through tblite's ASE calculator ----------------------------
XTB = {"method": "GFN2-xTB", "verbosity": 0}


@pytest.fixture(scope="module")
def tblite():
    return pytest.importorskip("tblite.ase", reason="tblite (GFN-xTB) is not installed")


def xtb_source(**options):
    return zoo.knowledge_source("ase-calculator", calculator="tblite.ase:TBLite", calculator_options=XTB,
                                fresh_calculator=True, **options)


def test_xtb_positions_gradient_is_ase_forces(tblite):
    """zoo's estimate of dE/dx from xTB energies alone is minus xTB's analytic forces."""
    import torch

    water = molecule("H2O")
    rows = water.positions.reshape(1, -1) + np.random.default_rng(1).normal(0.0, 0.03, (3, 9))
    sks = xtb_source(inputs="positions", n_atoms=3, outputs="energy")
    check_knowledge_source(sks, rows, [water] * 3, check_bounds=False)
    layer = zoo.SKSLayer(sks, zoo.estimator("cge", mu=1e-4, difference="central"))
    z = torch.tensor(rows, requires_grad=True)
    layer(z, [water] * 3).sum().backward()
    forces = []
    for row in rows:
        atoms = water.copy()
        atoms.positions = row.reshape(3, 3)
        atoms.calc = tblite.TBLite(**XTB)
        forces.append(atoms.get_forces().ravel())
    forces = np.array(forces)
    assert np.abs(forces).max() > 0.5  # displaced: forces of order eV/Å, so the check means something
    np.testing.assert_allclose(z.grad.numpy(), -forces, atol=1e-4)
    assert sks.version.endswith(f"+tblite-{importlib.metadata.version('tblite')}")


def test_fresh_calculator_builds_one_per_row():
    built = []

    def counting_lj(**kwargs):
        built.append(kwargs)
        return LennardJones(**kwargs)

    water = molecule("H2O")
    rows = np.repeat(water.positions.reshape(1, -1), 3, axis=0)
    shared = zoo.knowledge_source("ase-calculator", calculator=counting_lj, inputs="positions", n_atoms=3)
    n = len(built)
    shared(rows, [water] * 3)
    assert len(built) == n  # the shared calculator, built with the source
    fresh = zoo.knowledge_source("ase-calculator", calculator=counting_lj, inputs="positions", n_atoms=3,
                                 fresh_calculator=True)
    n = len(built)
    np.testing.assert_array_equal(fresh(rows, [water] * 3), shared(rows, [water] * 3))
    assert len(built) == n + 3
    with pytest.raises(zoo.ConfigError, match="fresh_calculator must be true or false"):
        zoo.knowledge_source("ase-calculator", fresh_calculator="yes")
