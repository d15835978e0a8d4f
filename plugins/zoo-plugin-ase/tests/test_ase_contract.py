"""ase-emt keeps the KnowledgeSource contract (DESIGN.md): pickling, float64 (n, d_out),
determinism, NaN rows for rows that fail, zoo errors for calls and configs that fail."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms

import zoo
from zoo_atomistic import KINDS
from zoo_ase.alloys import random_fcc_alloy

from ase_testlib import ALLOY, emt_reference

OUTS = ["energy", "pressure", "stress"]


def strain_rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.02, 0.02, (n, 6))


def test_registered_by_name_with_default_task():
    sks = zoo.knowledge_source("ase-emt")
    assert sks.name == "ase-emt"
    assert sks.input_spec.names == ("a",)  # default input: lattice constant
    assert sks.output_spec.names == ("energy_per_atom",)
    assert type(sks).default_task == "fcc-alloy-lattice"


def test_pickle_round_trip_gives_identical_results(triclinic_alloy, alloy):
    sks = zoo.knowledge_source("ase-emt", inputs="strain", outputs=OUTS)
    x = strain_rows(3)
    ctx = [triclinic_alloy, alloy, triclinic_alloy]
    before = sks(x, ctx)  # the live calculator now holds state; it must not leak into pickles
    clone = pickle.loads(pickle.dumps(sks))
    assert clone.input_spec == sks.input_spec and clone.output_spec == sks.output_spec
    assert clone.options == sks.options
    np.testing.assert_array_equal(clone(x, ctx), before)
    np.testing.assert_array_equal(sks(x, ctx), before)  # the original still works too
    # and the contexts pickle too (everything passed to evaluate must)
    np.testing.assert_array_equal(clone(x, pickle.loads(pickle.dumps(ctx))), before)


def test_output_dtype_and_shape(alloy, rattled_alloy):
    sks = zoo.knowledge_source(
        "ase-emt", inputs="positions", outputs=["energy_per_atom", "stress", "forces"], n_atoms=32
    )
    x = np.stack([alloy.get_positions().ravel(), rattled_alloy.get_positions().ravel()])
    for y in (sks(x, [alloy] * 2), sks.evaluate(x, [alloy] * 2)):
        assert isinstance(y, np.ndarray)
        assert y.dtype == np.float64
        assert y.shape == (2, 1 + 6 + 96) == (len(x), len(sks.output_spec))
    # float32 inputs are accepted and computed in float64
    y32 = sks(x.astype(np.float32), [alloy] * 2)
    assert y32.dtype == np.float64 and y32.shape == (2, 103)


def test_deterministic_and_order_independent(triclinic_alloy, alloy):
    """The calculator is reused across rows; its cached state must never leak."""
    sks = zoo.knowledge_source("ase-emt", inputs="strain", outputs=OUTS)
    x = strain_rows(4, seed=1)
    ctx = [triclinic_alloy, alloy, alloy, triclinic_alloy]
    y1 = sks(x, ctx)
    y2 = sks(x, ctx)
    np.testing.assert_array_equal(y1, y2)
    perm = [2, 0, 3, 1]
    np.testing.assert_array_equal(sks(x[perm], [ctx[i] for i in perm]), y1[perm])
    # repeated identical rows (the calculator's cache path) give the same numbers
    y3 = sks(np.repeat(x[:1], 3, axis=0), [ctx[0]] * 3)
    np.testing.assert_array_equal(y3, np.repeat(y1[:1], 3, axis=0))


def test_contexts_are_not_modified(triclinic_alloy):
    ctx = triclinic_alloy.copy()
    cell, pos = ctx.cell.array.copy(), ctx.positions.copy()
    sks = zoo.knowledge_source("ase-emt", inputs="strain", outputs="energy")
    sks(strain_rows(2), [ctx, ctx])
    np.testing.assert_array_equal(ctx.cell.array, cell)
    np.testing.assert_array_equal(ctx.positions, pos)
    assert ctx.calc is None


def test_emt_cannot_compute_fe():
    """Precondition of the NaN-row tests: ASE's EMT has no parameters for Fe or U."""
    for el in ("Fe", "U"):
        a = bulk(el, "fcc", a=3.6)
        a.calc = EMT()
        with pytest.raises(NotImplementedError):
            a.get_potential_energy()


def test_failing_row_is_nan_others_fine(alloy):
    fe = bulk("Fe", "fcc", a=3.6, cubic=True).repeat(2)  # 32 atoms, like the alloy
    cu = random_fcc_alloy((1, 0, 0, 0, 0, 0), seed=0, a=3.6)
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs=OUTS)
    x = np.array([[3.7], [3.7], [3.62], [3.7]])
    y = sks(x, [alloy, fe, cu, alloy])
    assert np.all(np.isnan(y[1]))
    assert np.all(np.isfinite(y[[0, 2, 3]]))
    # the rows after the failure are still right (the failed row left no bad state behind)
    for i, ref_atoms in [(0, random_fcc_alloy(ALLOY, seed=7, a=3.7)),
                           (2, random_fcc_alloy((1, 0, 0, 0, 0, 0), seed=0, a=3.62)),
                           (3, random_fcc_alloy(ALLOY, seed=7, a=3.7))]:
        ref = emt_reference(ref_atoms)
        np.testing.assert_allclose(y[i, 0], ref["energy"][0], rtol=1e-10)
        np.testing.assert_allclose(y[i, 2:], ref["stress"], rtol=1e-8, atol=1e-8)


def test_failing_row_in_layer_gives_zero_gradient_and_warning(alloy):
    """Through the layer, a NaN row stays NaN forward; its gradient row is not estimated."""
    import torch

    fe = bulk("Fe", "fcc", a=3.6, cubic=True).repeat(2)
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs="energy")
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-4), seed=0)
    z = torch.tensor([[3.7], [3.7]], dtype=torch.float64, requires_grad=True)
    y = layer(z, [alloy, fe])
    assert torch.isnan(y[1, 0]) and torch.isfinite(y[0, 0])
    y[0].sum().backward()  # only the good row in the loss
    assert z.grad[1, 0] == 0.0
    ref = emt_reference(random_fcc_alloy(ALLOY, seed=7, a=3.7))
    expect = 3 * ref["volume"][0] / 3.7 * ref["stress_ev"][:3].mean()  # dE/da = -P 3V/a
    assert abs(z.grad[0, 0].item() - expect) < 1e-5 * abs(expect)


def test_all_rows_failing_raises_sks_error():
    fe = bulk("Fe", "fcc", a=3.6, cubic=True)
    u = bulk("U", "fcc", a=4.5, cubic=True)
    sks = zoo.knowledge_source("ase-emt", inputs="scale", outputs="energy")
    with pytest.raises(zoo.SKSError, match="Fe"):
        sks([[1.0], [1.01]], [fe, u])
    assert issubclass(zoo.SKSError, zoo.ZooError)


def test_non_atoms_context_raises_sks_error(alloy):
    sks = zoo.knowledge_source("ase-emt", inputs="scale", outputs="energy")
    for bad in ({"symbols": "Cu"}, np.zeros((4, 3)), "Cu.cif"):
        with pytest.raises(zoo.SKSError, match="Atoms"):
            sks([[1.0], [1.0]], [alloy, bad])


def test_no_contexts_and_no_structure_raises_sks_error():
    sks = zoo.knowledge_source("ase-emt", inputs="scale", outputs="energy")
    with pytest.raises(zoo.SKSError, match="structure"):
        sks([[1.0]])


def test_unknown_inputs_lists_choices():
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("ase-emt", inputs="temperature")
    msg = str(info.value)
    assert "temperature" in msg
    for choice in ("lattice_constant", "scale", "strain", "positions"):
        assert choice in msg


def test_unknown_outputs_lists_choices():
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("ase-emt", outputs=["energy", "magmom"])
    msg = str(info.value)
    assert "magmom" in msg
    for choice in ("energy", "energy_per_atom", "pressure", "stress", "volume", "forces"):
        assert choice in msg
    with pytest.raises(zoo.ConfigError):
        zoo.knowledge_source("ase-emt", outputs=[])


@pytest.mark.parametrize("kw", [{"inputs": "positions"}, {"outputs": ["forces"]}])
def test_positions_and_forces_need_n_atoms(kw):
    with pytest.raises(zoo.ConfigError, match="n_atoms"):
        zoo.knowledge_source("ase-emt", **kw)


def test_misspelt_option_is_a_config_error():
    """A typo such as n_atom=32 (for n_atoms) must not be swallowed as an EMT parameter.

    EMT's only parameter is ``asap_cutoff``; ASE's Calculator stores any other keyword
    silently, so the SKS has to check the names itself.
    """
    with pytest.raises(zoo.ConfigError, match="n_atom"):
        zoo.knowledge_source("ase-emt", inputs="positions", n_atoms=4, n_atom=32)
    # the one real EMT parameter is accepted
    zoo.knowledge_source("ase-emt", asap_cutoff=True)


def test_bounds_options_override_defaults():
    sks = zoo.knowledge_source("ase-emt", lower=3.0, upper=4.6)
    assert sks.input_spec.lower.tolist() == [3.0] and sks.input_spec.upper.tolist() == [4.6]
    default = zoo.knowledge_source("ase-emt", inputs="strain")
    kind = KINDS["strain"]  # the vocabulary's one table of default bounds
    assert np.all(default.input_spec.lower == kind.lower) and np.all(default.input_spec.upper == kind.upper)
    with pytest.raises(zoo.ConfigError):
        zoo.knowledge_source("ase-emt", lower=4.0, upper=3.0)


@pytest.mark.parametrize("filename,fmt", [("alloy.extxyz", "extxyz"), ("POSCAR", "vasp")])
def test_structure_file_used_without_contexts(tmp_path, alloy, filename, fmt):
    import ase.io

    path = tmp_path / filename
    ase.io.write(path, alloy, format=fmt)  # ideal sites at a = 3.75: exact in both formats
    sks = zoo.knowledge_source(
        "ase-emt", inputs="lattice_constant", outputs=["energy", "pressure"], structure=str(path)
    )
    x = np.array([[3.65], [3.8]])
    y = sks(x)
    for row, a in zip(y, x[:, 0]):
        ref = emt_reference(random_fcc_alloy(ALLOY, seed=7, a=a))
        np.testing.assert_allclose(row, [ref["energy"][0], ref["pressure"][0]], rtol=1e-9, atol=1e-9)
    # contexts still win over the file
    cu = random_fcc_alloy((1, 0, 0, 0, 0, 0), seed=0, a=3.6)
    y_cu = sks([[3.65]], [cu])
    ref = emt_reference(random_fcc_alloy((1, 0, 0, 0, 0, 0), seed=0, a=3.65))
    np.testing.assert_allclose(y_cu[0, 0], ref["energy"][0], rtol=1e-10)
    # the structure travels with a pickled SKS (a worker has no access to the file)
    clone = pickle.loads(pickle.dumps(sks))
    path.unlink()
    np.testing.assert_array_equal(clone(x), y)


def test_missing_structure_file_is_config_error(tmp_path):
    with pytest.raises(zoo.ConfigError, match="nothere.extxyz"):
        zoo.knowledge_source("ase-emt", structure=str(tmp_path / "nothere.extxyz"))


def test_unreadable_structure_file_is_config_error(tmp_path):
    bad = tmp_path / "garbage.extxyz"
    bad.write_text("this is not\na structure\n")
    with pytest.raises(zoo.ConfigError, match="garbage.extxyz"):
        zoo.knowledge_source("ase-emt", structure=str(bad))


def test_positions_input_moves_constrained_atoms_and_forces_unconstrained(tmp_path, rattled_alloy):
    """A POSCAR with selective dynamics reads back with FixAtoms; the SKS must still put
    every atom where the input row says and return the true forces (-dE/dx), else the
    positions input is silently ignored for fixed atoms and forces are no gradient."""
    import ase.io

    atoms = rattled_alloy.copy()
    atoms.set_constraint(FixAtoms(indices=[0, 1, 2]))
    path = tmp_path / "POSCAR"
    ase.io.write(path, atoms, format="vasp")
    assert ase.io.read(path).constraints  # precondition: the constraint survives the file
    sks = zoo.knowledge_source(
        "ase-emt", inputs="positions", outputs=["energy", "forces"], n_atoms=32, structure=str(path)
    )
    x = ase.io.read(path).get_positions()
    x[0] += [0.1, -0.05, 0.02]  # move a fixed atom
    y = sks(x.reshape(1, -1))[0]
    ref_atoms = ase.io.read(path)
    ref_atoms.set_constraint()
    ref_atoms.positions = x
    ref = emt_reference(ref_atoms)
    np.testing.assert_allclose(y[0], ref["energy"][0], rtol=1e-10)
    np.testing.assert_allclose(y[1:], ref["forces"], rtol=1e-8, atol=1e-8)
