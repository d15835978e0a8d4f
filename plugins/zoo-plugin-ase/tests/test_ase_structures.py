"""Structure files through ASE's readers: cif as a structure= option, and multi-frame
extxyz files, one frame by PATH@INDEX or all of them as contexts (zoo_ase.read_structures).

References are EMT on the same structures built in memory (ase_testlib.emt_reference).
"""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase.calculators.emt import EMT

import zoo
import zoo_ase
from zoo_ase.alloys import random_fcc_alloy

from ase_testlib import ALLOY, emt_reference


@pytest.fixture(scope="module")
def frames():
    """Three alloys at different lattice constants, each with its EMT energy stored."""
    out = []
    for i, (f, a) in enumerate([(ALLOY, 3.7), ((1, 0, 0, 0, 0, 0), 3.6), ((0, 0.5, 0.5, 0, 0, 0), 4.05)]):
        atoms = random_fcc_alloy(f, seed=i, a=a)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def extxyz(tmp_path_factory, frames):
    path = tmp_path_factory.mktemp("frames") / "alloys.extxyz"
    ase.io.write(path, frames, format="extxyz")
    return path


def test_cif_structure_option(tmp_path, alloy):
    path = tmp_path / "alloy.cif"
    ase.io.write(path, alloy, format="cif")  # ideal sites (fractions k/4) at a = 3.75 Å
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs=["energy", "pressure"],
                               structure=str(path))
    assert sorted(sks.structure.get_chemical_symbols()) == sorted(alloy.get_chemical_symbols())
    x = np.array([[3.65], [3.8]])
    y = sks(x)
    for row, a in zip(y, x[:, 0]):
        ref = emt_reference(random_fcc_alloy(ALLOY, seed=7, a=a))
        np.testing.assert_allclose(row, [ref["energy"][0], ref["pressure"][0]], rtol=1e-8, atol=1e-8)


def test_read_structures_gives_every_frame_with_its_labels(extxyz, frames):
    got = zoo_ase.read_structures(extxyz)
    assert len(got) == len(frames)
    for g, f in zip(got, frames):
        assert g.get_chemical_formula() == f.get_chemical_formula()
        np.testing.assert_allclose(g.positions, f.positions, atol=1e-8)
        # the stored EMT energy comes back as the frame's label
        np.testing.assert_allclose(g.get_potential_energy(), f.get_potential_energy(), rtol=1e-10)
    assert len(zoo_ase.read_structures(extxyz, index="1:")) == 2


def test_frames_as_contexts(extxyz, frames):
    """A multi-frame file as a dataset of contexts: at scale 1 the SKS reproduces the
    energies the file stores (computed by EMT when it was written)."""
    ctx = zoo_ase.read_structures(extxyz)
    sks = zoo.knowledge_source("ase-emt", inputs="scale", outputs="energy")
    y = sks(np.ones((len(ctx), 1)), ctx)
    np.testing.assert_allclose(y[:, 0], [f.get_potential_energy() for f in frames], rtol=1e-9)
    # the contexts keep their file labels: the SKS computed on copies, at other scales too
    sks(np.full((len(ctx), 1), 1.03), ctx)
    np.testing.assert_array_equal([c.get_potential_energy() for c in ctx],
                                  [f.get_potential_energy() for f in zoo_ase.read_structures(extxyz)])


def test_multi_frame_structure_option_needs_an_index(extxyz, frames):
    with pytest.raises(zoo.ConfigError, match=r"holds 3 structures.*@INDEX"):
        zoo.knowledge_source("ase-emt", structure=str(extxyz))
    sks = zoo.knowledge_source("ase-emt", inputs="scale", outputs="energy", structure=f"{extxyz}@1")
    np.testing.assert_allclose(sks([[1.0]])[0, 0], frames[1].get_potential_energy(), rtol=1e-9)
    with pytest.raises(zoo.ConfigError, match="takes one"):
        zoo.knowledge_source("ase-emt", structure=f"{extxyz}@0:2")


def test_read_structures_errors(tmp_path):
    with pytest.raises(zoo.ConfigError, match="does not exist"):
        zoo_ase.read_structures(tmp_path / "none.extxyz")
    with pytest.raises(zoo.ConfigError, match="does not exist"):
        zoo.knowledge_source("ase-emt", structure=str(tmp_path / "none.extxyz@0"))
    bad = tmp_path / "bad.cif"
    bad.write_text("data_x\n_cell_length_a oops\n")
    with pytest.raises(zoo.ConfigError, match="bad.cif"):
        zoo_ase.read_structures(bad)


def test_package_import_stays_light():
    """zoo_ase's __init__ (imported with the entry point) must not import ASE's io."""
    import subprocess
    import sys

    code = "import sys, zoo_ase.plugin; print('ase.io' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
