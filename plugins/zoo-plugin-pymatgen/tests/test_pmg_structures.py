"""What the vocabulary's input kinds do to a pymatgen structure, and the context handling
shared by every pymatgen knowledge source (pure logic: each kind against the structure its
meaning promises, built by hand)."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import IStructure, Lattice, Structure

import zoo
from zoo_atomistic import KINDS
from zoo_atomistic import Structure as NeutralStructure
from zoo_pymatgen import structures
from zoo_pymatgen.structures import as_structure, checked_lattice

from pmg_testlib import rocksalt as _rocksalt


def rocksalt_ions(a: float) -> Structure:
    return _rocksalt(a, oxidized=True)

TRI = Structure(Lattice.from_parameters(4.1, 4.3, 4.6, 84, 95, 101), ["Cs", "Cl", "Cl"],
                [[0, 0, 0], [0.5, 0.45, 0.55], [0.2, 0.7, 0.1]])


def applied(kind: str, row, atoms_per_cell: int = 4) -> Structure:
    work = TRI.copy()
    structures.apply(KINDS[kind], TRI.lattice, work, np.asarray(row, dtype=float), atoms_per_cell)
    return work


def test_lattice_parameters_sets_all_six_and_keeps_fractions():
    s = applied("lattice_parameters", [3.9, 4.4, 4.8, 80, 97, 110])
    np.testing.assert_allclose(s.lattice.parameters, [3.9, 4.4, 4.8, 80, 97, 110], rtol=1e-12)
    np.testing.assert_allclose(s.frac_coords, TRI.frac_coords, atol=1e-15)
    # oriented as pymatgen orients a cell from its parameters
    np.testing.assert_allclose(s.lattice.matrix, Lattice.from_parameters(3.9, 4.4, 4.8, 80, 97, 110).matrix,
                               atol=1e-14)


def test_lattice_abc_lengths_constant_and_scale_keep_angles_and_orientation():
    # lattice_constant: the cubic a of the volume per atom, a = (4 V / N)^(1/3) with 4 atoms per cell
    a_now = (4 * TRI.volume / len(TRI)) ** (1 / 3)
    for kind, row, abc in (
        ("lattice_abc", [3.9, 4.4, 4.8], [3.9, 4.4, 4.8]),
        ("lattice_lengths", [4.0, 4.8], [4.0, 4.0 * 4.3 / 4.1, 4.8]),
        ("lattice_constant", [5.0], np.array([4.1, 4.3, 4.6]) * 5.0 / a_now),
        ("scale", [1.1], np.array([4.1, 4.3, 4.6]) * 1.1),
    ):
        s = applied(kind, row)
        np.testing.assert_allclose(s.lattice.abc, abc, rtol=1e-12, err_msg=kind)
        np.testing.assert_allclose(s.lattice.angles, TRI.lattice.angles, rtol=1e-12, err_msg=kind)
        # each lattice vector only stretched: same direction as before
        unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
        np.testing.assert_allclose(unit(s.lattice.matrix), unit(TRI.lattice.matrix), atol=1e-12)
        np.testing.assert_allclose(s.frac_coords, TRI.frac_coords, atol=1e-15)


def test_lattice_constant_of_a_rock_salt_primitive_cell_is_its_a_with_8_atoms_per_cell():
    prim = Structure(Lattice([[0, 2.8, 2.8], [2.8, 0, 2.8], [2.8, 2.8, 0]]), ["Na", "Cl"],
                     [[0, 0, 0], [0.5, 0.5, 0.5]])
    work = prim.copy()
    structures.apply(KINDS["lattice_constant"], prim.lattice, work, np.array([5.9]), 8)
    np.testing.assert_allclose(work.lattice.abc, [5.9 / np.sqrt(2)] * 3, rtol=1e-12)


def test_strain_is_the_voigt_engineering_strain():
    row = [0.01, -0.02, 0.03, 0.04, -0.02, 0.01]
    s = applied("strain", row)
    # each lattice vector (a row) r becomes r (1 + eps), eps symmetric with eps_yz = g_yz / 2
    eps = np.array([[0.01, 0.005, -0.01], [0.005, -0.02, 0.02], [-0.01, 0.02, 0.03]])
    np.testing.assert_allclose(s.lattice.matrix, TRI.lattice.matrix @ (np.eye(3) + eps), rtol=1e-14)


def test_positions_inputs_move_sites_and_keep_the_lattice():
    frac = TRI.frac_coords + 0.01
    s = applied("frac_positions", frac.reshape(-1))
    np.testing.assert_allclose(s.frac_coords, frac, atol=1e-15)
    cart = TRI.cart_coords + np.array([0.1, -0.05, 0.02])
    s = applied("positions", cart.reshape(-1))
    np.testing.assert_allclose(s.cart_coords, cart, atol=1e-12)
    np.testing.assert_array_equal(s.lattice.matrix, TRI.lattice.matrix)
    with pytest.raises(ValueError, match="6 positions for 3 sites"):
        applied("frac_positions", np.zeros(18))


def test_rows_fully_overwrite_the_scratch_copy():
    """One scratch copy serves every row of a call: a row must not inherit the last one's state."""
    work = TRI.copy()
    structures.apply(KINDS["lattice_abc"], TRI.lattice, work, np.array([5.0, 5.0, 5.0]), 4)
    structures.apply(KINDS["lattice_abc"], TRI.lattice, work, np.array([3.9, 4.4, 4.8]), 4)
    np.testing.assert_allclose(work.lattice.matrix, applied("lattice_abc", [3.9, 4.4, 4.8]).lattice.matrix)


def test_degenerate_lattices_are_refused():
    with pytest.raises(ValueError, match="close no cell"):
        applied("lattice_parameters", [4, 4, 4, 60, 60, 120])
    with pytest.raises(ValueError, match="close no cell"):
        applied("lattice_parameters", [0, 4, 4, 90, 90, 90])
    with pytest.raises(ValueError, match="degenerate"):
        checked_lattice([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    with pytest.raises(ValueError, match="non-finite"):
        checked_lattice([[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_inputs_are_one_structural_kind_of_the_vocabulary():
    assert structures.inputs("lattice_parameters", None, "t").spec().units == ("Å",) * 3 + ("deg",) * 3
    assert structures.inputs("positions", 2, "t").names == ("x0", "y0", "z0", "x1", "y1", "z1")
    spec = structures.inputs("scale", None, "t").spec(lower=0.9, upper=1.2)
    assert spec.lower.tolist() == [0.9] and spec.upper.tolist() == [1.2]
    with pytest.raises(zoo.ConfigError, match="n_atoms"):
        structures.inputs("positions", None, "t")
    with pytest.raises(zoo.ConfigError) as info:
        structures.inputs("charges", None, "t")
    for kind in structures.HONOURED:
        assert kind in str(info.value)
    with pytest.raises(zoo.ConfigError, match="^t cannot use inputs 'epsilon'"):
        structures.inputs("epsilon", None, "t")
    with pytest.warns(DeprecationWarning, match="lattice_lengths"):
        assert structures.inputs("lattice_ac", None, "t").names == ("a", "c")


def test_a_neutral_structure_is_a_context():
    neutral = NeutralStructure(TRI.lattice.matrix, TRI.cart_coords, ("Cs", "Cl", "Cl"))
    converted = as_structure(neutral, 0, "t")
    assert isinstance(converted, Structure)
    np.testing.assert_allclose(converted.frac_coords, TRI.frac_coords, atol=1e-12)
    assert [str(s.specie) for s in converted] == ["Cs", "Cl", "Cl"]
    assert structures.context_bytes(neutral) == neutral.key()
    slab = NeutralStructure(TRI.lattice.matrix, TRI.cart_coords, ("Cs", "Cl", "Cl"), pbc=(True, True, False))
    with pytest.raises(zoo.SKSError, match="not periodic"):
        as_structure(slab, 2, "t")


def test_contexts_structure_istructure_and_atoms():
    assert as_structure(TRI, 0, "t") is TRI
    frozen = IStructure.from_sites(list(TRI))
    converted = as_structure(frozen, 0, "t")
    assert isinstance(converted, Structure) and converted == TRI
    ase_build = pytest.importorskip("ase.build")
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = ase_build.bulk("NaCl", "rocksalt", a=5.64)
    assert as_structure(atoms, 0, "t") == AseAtomsAdaptor.get_structure(atoms)
    from ase import Atoms

    with pytest.raises(zoo.SKSError, match="context 3 \\(ase.Atoms\\)"):
        as_structure(Atoms("NaCl", positions=[[0, 0, 0], [2, 0, 0]]), 3, "t")  # no cell
    with pytest.raises(zoo.SKSError, match="context 1 is a str"):
        as_structure("NaCl.cif", 1, "t")


def test_mixed_contexts_are_independent_rows(nacl, rattled_nacl):
    """Rows of different contexts interleaved give what each gives alone (scratch per context)."""
    sks = zoo.knowledge_source("pymatgen-ewald", inputs="lattice_abc", oxidation_states={"Na": 1, "Cl": -1})
    rows = np.array([[5.6, 5.7, 5.8], [5.5, 5.5, 5.9], [5.64, 5.64, 5.64], [5.7, 5.6, 5.5]])
    ctx = [nacl, rattled_nacl, nacl, rattled_nacl]
    y = sks(rows, ctx)
    for i in range(4):
        np.testing.assert_array_equal(sks(rows[i:i + 1], [ctx[i]])[0], y[i])
    perm = [3, 1, 0, 2]
    np.testing.assert_array_equal(sks(rows[perm], [ctx[i] for i in perm]), y[perm])


def test_prepared_contexts_are_reused_only_while_unchanged(nacl):
    """Prepared copies are kept between calls, keyed by the context object, and dropped when
    that object's cell, coordinates or species change in place."""
    sks = zoo.knowledge_source("pymatgen-ewald", inputs="scale", outputs="energy")
    ctx = rocksalt_ions(5.64)
    e1 = sks([[1.0]], [ctx])[0, 0]
    first = sks._cache()[id(ctx)].work
    assert sks([[1.0]], [ctx])[0, 0] == e1 and sks._cache()[id(ctx)].work is first  # reused
    ctx.lattice = Lattice.cubic(6.0)  # changed in place: a new preparation
    assert sks([[1.0]], [ctx])[0, 0] == pytest.approx(e1 * 5.64 / 6.0, rel=1e-10)
    assert sks._cache()[id(ctx)].work is not first
    ctx.replace_species({"Na+": "K+"})
    assert sks._cache()[id(ctx)].fingerprint != structures.fingerprint(ctx)
    e_k = sks([[1.0]], [ctx])[0, 0]  # same charges, same lattice: same energy, but recomputed
    assert e_k == pytest.approx(e1 * 5.64 / 6.0, rel=1e-10)
    assert "K" in sks._cache()[id(ctx)].work.composition
    pickle_copy = __import__("pickle").loads(__import__("pickle").dumps(sks))
    assert "_local" not in pickle_copy.__dict__ and pickle_copy([[1.0]], [ctx])[0, 0] == e_k


def test_contexts_in_threads_get_their_own_scratch(nacl):
    from concurrent.futures import ThreadPoolExecutor

    sks = zoo.knowledge_source("pymatgen-xrd", inputs="scale", two_theta_min=20.0, two_theta_max=60.0)
    rows = np.linspace(0.97, 1.03, 8)[:, None]
    expect = sks(rows, [nacl] * 8)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: sks(rows[i : i + 1], [nacl])[0], range(8)))
    np.testing.assert_array_equal(np.array(got), expect)


def test_context_keys_for_the_evaluation_cache(nacl, nacl_ions):
    """Equal content, equal key; any change the analyzers see (lattice, a coordinate, an
    oxidation state, a site property), another key."""
    sks = zoo.knowledge_source("pymatgen-ewald")
    key = sks.context_key
    assert key(nacl) == key(nacl.copy()) == key(IStructure.from_sites(list(nacl)))
    assert key(nacl) != key(nacl_ions)
    moved = nacl.copy()
    moved.translate_sites([0], [1e-9, 0, 0])
    scaled = nacl.copy()
    scaled.scale_lattice(nacl.volume * 1.0001)
    tagged = nacl.copy()
    tagged.add_site_property("U11_cif", [0.01] * 8)
    assert len({key(s) for s in (nacl, moved, scaled, tagged)}) == 4
    ase_build = pytest.importorskip("ase.build")
    a = ase_build.bulk("NaCl", "rocksalt", a=5.64)
    b = a.copy()
    assert key(a) == key(b)
    b.positions[1, 0] += 1e-9
    assert key(a) != key(b)


def test_the_evaluation_cache_answers_repeated_queries(tmp_path, nacl_ions):
    from zoo.cache import Cache

    sks = zoo.knowledge_source("pymatgen-ewald", outputs="energy")
    cache = Cache(tmp_path / "cache.sqlite")
    x = np.array([[1.0], [1.02]])
    first = zoo.SKSLayer(sks, estimator="cge", cache=cache)
    y1 = first.evaluate(x, [nacl_ions, nacl_ions])
    second = zoo.SKSLayer(sks, estimator="cge", cache=cache)
    y2 = second.evaluate(x, [nacl_ions.copy(), nacl_ions.copy()])  # equal content, new objects
    np.testing.assert_array_equal(y1, y2)
    assert second.stats.cache_hits == 2 and second.queries == 0
