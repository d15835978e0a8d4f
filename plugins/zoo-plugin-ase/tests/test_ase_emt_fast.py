"""ase-emt on asap3's C++ EMT equals ase-emt on ASE's pure-Python EMT.

Both sides are real: asap3 (installed in CI; these tests skip, saying why, where it is not)
and ASE's ``EMT``. The reference is always ASE's own EMT, reached through the same SKS with
``emt="ase"`` or built by hand (``emt_reference``). The two implementations sum in different
orders, so they agree to rounding, not bitwise: measured worst cases over random 6-element
alloys, strained and rattled, are 2.5e-13 eV/atom, 7.7e-13 eV/Å and 1.5e-11 GPa. The
tolerances below (1e-9 eV/atom, 1e-8 eV/Å, 1e-7 GPa) leave a wide margin above that while
sitting four to five orders of magnitude below what a real mismatch gives: asap3's own
default parameters differ from ASE's by ~1e-4 eV/atom (checked below, so these tests can
tell the two apart), and a wrong neighbour-list cutoff by ~1e-3.
"""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
import torch
from ase.build import bulk, fcc111
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.emt import EMT
from ase.cluster import Octahedron

import zoo
import zoo_ase
from zoo.cache import Cache, query_keys, sks_fingerprint
from zoo.testing import check_knowledge_source
from zoo_ase import calculators
from zoo_ase.alloys import ELEMENTS, random_fcc_alloy
from zoo_ase.asap_emt import asap3_version

from ase_testlib import ALLOY, emt_reference, sheared

needs_asap3 = pytest.mark.skipif(
    asap3_version() is None, reason="asap3 is not installed here (pip install 'zoo-plugin-ase[fast]')"
)

OUTS = ["energy", "energy_per_atom", "pressure", "stress", "forces"]
TOL = {"energy": 32 * 1e-9, "energy_per_atom": 1e-9, "pressure": 1e-7, "stress": 1e-7, "forces": 1e-8}


def split(y: np.ndarray) -> dict[str, np.ndarray]:
    """Columns of OUTS (32-atom structures) by name."""
    widths = {"stress": 6, "forces": 96}
    out, i = {}, 0
    for name in OUTS:
        out[name] = y[:, i : i + widths.get(name, 1)]
        i += widths.get(name, 1)
    assert i == y.shape[1]
    return out


def assert_same_emt(fast: np.ndarray, slow: np.ndarray) -> None:
    a, b = split(fast), split(slow)
    for name in OUTS:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=TOL[name], err_msg=name)


def task_alloys(n: int, seed: int, a: float = 3.8) -> list:
    """Random fcc alloys as the default task builds them: 32 sites, 1 to 6 of its elements."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = 1 + i % len(ELEMENTS)
        f = np.zeros(len(ELEMENTS))
        f[rng.choice(len(ELEMENTS), size=k, replace=False)] = rng.dirichlet(np.ones(k))
        out.append(random_fcc_alloy(f / f.sum(), seed=int(rng.integers(1 << 30)), a=a))
    return out


def both(**options):
    return (
        zoo.knowledge_source("ase-emt", emt="asap3", **options),
        zoo.knowledge_source("ase-emt", emt="ase", **options),
    )


# ---------------------------------------------------------------- the same numbers

@needs_asap3
def test_alloys_over_the_task_lattice_range():
    """Every output, 12 alloys x lattice constants over the default task's bounds (3.0-4.6 Å),
    including 3.6-3.7 and 4.0-4.15 Å where the 5th/4th fcc shell lies between asap3's own list
    cutoff (1.045 rc) and ASE's (rc + 0.5 Å)."""
    fast, slow = both(inputs="lattice_constant", outputs=OUTS, n_atoms=32)
    ctx = task_alloys(12, seed=1)
    a = np.array([3.0, 3.4, 3.6, 3.65, 3.7, 3.85, 4.05, 4.1, 4.3, 4.6])
    rows = np.repeat(a, len(ctx))[:, None]
    contexts = ctx * len(a)
    y_fast, y_slow = fast(rows, contexts), slow(rows, contexts)
    assert np.all(np.isfinite(y_fast))
    assert_same_emt(y_fast, y_slow)
    # and the slow side is ASE's EMT: one row by hand (the contexts are built at a = 3.8 Å)
    i = 40
    by_hand = contexts[i].copy()
    by_hand.set_cell(by_hand.cell * (rows[i, 0] / 3.8), scale_atoms=True)
    np.testing.assert_allclose(split(y_slow)["energy"][i], emt_reference(by_hand)["energy"], rtol=1e-12)


@needs_asap3
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_strained_and_rattled_cells(seed):
    """Triclinic, rattled alloys under random Voigt strains up to 4 %: all six stress
    components, forces, energy."""
    fast, slow = both(inputs="strain", outputs=OUTS, n_atoms=32)
    ctx = [sheared(c, seed=seed + i) for i, c in enumerate(task_alloys(6, seed))]
    strains = np.random.default_rng(seed).uniform(-0.04, 0.04, (len(ctx), 6))
    y_fast = fast(strains, ctx)
    assert np.abs(split(y_fast)["stress"][:, 3:]).min() > 1e-3  # shear stress is really there
    assert_same_emt(y_fast, slow(strains, ctx))


@needs_asap3
def test_positions_forces(rattled_alloy):
    fast, slow = both(inputs="positions", outputs=OUTS, n_atoms=32)
    rows = rattled_alloy.positions.reshape(1, -1) + np.random.default_rng(0).normal(0, 0.05, (4, 96))
    y_fast = fast(rows, [rattled_alloy] * 4)
    assert np.abs(split(y_fast)["forces"]).max() > 0.5
    assert_same_emt(y_fast, slow(rows, [rattled_alloy] * 4))


@needs_asap3
def test_asap_cutoff_option_follows_ase(alloy):
    """ASE's ``asap_cutoff=True`` (cutoff from the elements present, list at 1.045 rc) is a
    different function; asap3 must follow it too. A Cu-Ni alloy (no Ag, the largest atom of
    ASE's table) is where the two conventions differ."""
    cuni = random_fcc_alloy((0.5, 0, 0, 0.5, 0, 0), seed=3)
    ctx = [cuni, alloy]
    a = np.array([[3.55], [3.62]])
    fast, slow = both(inputs="lattice_constant", outputs=OUTS, n_atoms=32, asap_cutoff=True)
    y_fast = fast(a, ctx)
    assert_same_emt(y_fast, slow(a, ctx))
    plain = zoo.knowledge_source("ase-emt", emt="asap3", inputs="lattice_constant", outputs=OUTS, n_atoms=32)
    gap = np.abs(split(plain(a, ctx))["energy_per_atom"] - split(y_fast)["energy_per_atom"])
    assert gap[0] > 1e-5  # the option changes the numbers


@needs_asap3
def test_asap3_defaults_are_not_ases_emt():
    """Why zoo_ase.asap_emt passes ASE's parameters and cutoff: asap3's EMT() out of the box is
    a different function, by far more than the tolerances above."""
    import asap3

    worst = 0.0
    for atoms in task_alloys(6, seed=5, a=3.62):
        ours = atoms.copy()
        ours.calc = asap3.EMT()
        worst = max(worst, abs(ours.get_potential_energy() - emt_reference(atoms)["energy"][0]) / 32)
    assert worst > 1e-5


@needs_asap3
def test_structures_outside_the_task():
    """The calculator itself on what ASE's EMT also takes: other lattices, Al, a cell of one
    atom (far smaller than the cutoff), a slab with vacuum, a cluster without a cell (no
    stress there, as in ASE), and an element EMT lacks (an error, as in ASE)."""
    from zoo_ase.asap_emt import AsapEMT

    calc = AsapEMT()
    cases = [bulk("Cu", "fcc", a=3.6), bulk("Al", "fcc", a=4.05).repeat((2, 1, 3)),
             bulk("Pt", "bcc", a=3.1, cubic=True).repeat(2), fcc111("Au", (2, 2, 4), vacuum=6.0)]
    for atoms in cases:
        atoms.rattle(0.02, seed=1)
        ref = emt_reference(atoms)
        mine = atoms.copy()
        mine.calc = calc  # one calculator object for all of them
        np.testing.assert_allclose(mine.get_potential_energy(), ref["energy"][0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(mine.get_forces().ravel(), ref["forces"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(mine.get_stress(), ref["stress_ev"], rtol=0, atol=1e-9)
    for atoms in (Octahedron("Ni", 4), fcc111("Cu", (2, 2, 3), vacuum=None, periodic=False)):
        ase_side, mine = atoms.copy(), atoms.copy()
        ase_side.calc, mine.calc = EMT(), AsapEMT()
        assert atoms.cell.rank < 3
        np.testing.assert_allclose(mine.get_potential_energy(), ase_side.get_potential_energy(), atol=1e-9)
        np.testing.assert_allclose(mine.get_forces(), ase_side.get_forces(), atol=1e-8)
        for side in (ase_side, mine):
            with pytest.raises(PropertyNotImplementedError):
                side.get_stress()
    # squeezed to a cell of 2 Å: asap3 refuses ("Neighborlist overrun"), ASE computes; so
    # does this calculator, through ASE
    squeezed = random_fcc_alloy(ALLOY, seed=7, a=1.0)
    mine = squeezed.copy()
    mine.calc = calc
    np.testing.assert_allclose(mine.get_stress(), emt_reference(squeezed)["stress_ev"], rtol=1e-12)
    assert calc.ase_fallbacks == 1
    iron = bulk("Fe")
    iron.calc = AsapEMT()
    with pytest.raises(NotImplementedError, match="No EMT-potential for Fe"):
        iron.get_potential_energy()


# ---------------------------------------------------------------- determinism and pickling

@needs_asap3
def test_bitwise_independent_of_what_ran_before(alloy, triclinic_alloy):
    """Rows of the same alloy at nearby strains: a reused asap3 calculator keeps its Verlet
    neighbour list and its last bits then depend on the previous row (2.6e-14 relative,
    measured); each row evaluated alone must give exactly the batch's numbers."""
    sks = zoo.knowledge_source("ase-emt", emt="asap3", inputs="strain", outputs=OUTS, n_atoms=32)
    x = np.random.default_rng(1).uniform(-0.02, 0.02, (6, 6))
    ctx = [triclinic_alloy, alloy, alloy, triclinic_alloy, alloy, alloy]
    batch = sks(x, ctx)
    for i in range(len(x)):
        alone = zoo.knowledge_source("ase-emt", emt="asap3", inputs="strain", outputs=OUTS, n_atoms=32)
        np.testing.assert_array_equal(alone(x[i : i + 1], [ctx[i]])[0], batch[i])
    perm = [5, 2, 0, 4, 1, 3]
    np.testing.assert_array_equal(sks(x[perm], [ctx[i] for i in perm]), batch[perm])


@needs_asap3
def test_keeps_the_knowledge_source_contract(alloy, triclinic_alloy):
    sks = zoo.knowledge_source("ase-emt", emt="asap3", inputs="strain", outputs=OUTS, n_atoms=32)
    check_knowledge_source(
        sks, np.random.default_rng(2).uniform(-0.02, 0.02, (3, 6)), [alloy, triclinic_alloy, alloy],
        rtol=0, atol=0,
    )


@needs_asap3
def test_pickle_round_trip(alloy, triclinic_alloy):
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs=OUTS, n_atoms=32)
    assert sks.implementation == "asap3"
    x = np.array([[3.6], [3.9], [4.2]])
    ctx = [alloy, triclinic_alloy, alloy]
    before = sks(x, ctx)  # the live calculator has run: nothing of it may travel
    clone = pickle.loads(pickle.dumps(sks))
    assert clone.implementation == "asap3" and clone.version == sks.version
    assert clone.about() == sks.about()
    np.testing.assert_array_equal(clone(x, ctx), before)
    np.testing.assert_array_equal(sks(x, ctx), before)
    # the calculator alone pickles too (as its settings)
    calc = pickle.loads(pickle.dumps(sks.calculator))
    assert calc.parameters == {"asap_cutoff": False}
    atoms = triclinic_alloy.copy()
    atoms.calc = calc
    np.testing.assert_allclose(atoms.get_potential_energy(), emt_reference(triclinic_alloy)["energy"][0], atol=1e-9)


@needs_asap3
def test_unpickled_where_asap3_is_missing(alloy, monkeypatch):
    """A copy shipped to a worker that lacks asap3 fails its rows with the fix in the message,
    instead of computing with something the cache key does not name."""
    blob = pickle.dumps(zoo.knowledge_source("ase-emt", emt="auto", outputs="pressure"))
    monkeypatch.setitem(sys.modules, "asap3", None)  # `import asap3` now raises ImportError
    clone = pickle.loads(blob)
    with pytest.raises(zoo.SKSError, match=r"pip install 'zoo-plugin-ase\[fast\]'"):
        clone([[3.7]], [alloy])


@needs_asap3
@pytest.mark.slow
def test_in_worker_processes(alloy, triclinic_alloy):
    """The processes executor rebuilds the asap3 calculator in spawned workers."""
    sks = zoo.knowledge_source("ase-emt", outputs=["energy", "pressure"])
    x = np.array([[3.6], [3.7], [3.8], [3.9]])
    ctx = [alloy, triclinic_alloy] * 2
    with zoo.executor("processes", workers=2) as ex:
        y = ex.evaluate(sks, x, ctx)
    np.testing.assert_array_equal(y, sks(x, ctx))


# ---------------------------------------------------------------- choosing, and saying which

@needs_asap3
def test_auto_picks_asap3_and_about_says_so():
    import asap3
    from zoo_ase.asap_emt import AsapEMT

    for emt in ("auto", "asap3"):
        sks = zoo.knowledge_source("ase-emt", emt=emt)
        assert sks.implementation == "asap3"
        assert isinstance(sks.calculator, AsapEMT)
        assert sks.about() == {"emt": f"asap3 {asap3.__version__}"}


def test_emt_ase_forces_ase():
    import ase

    sks = zoo.knowledge_source("ase-emt", emt="ase")
    assert sks.implementation == "ase"
    assert type(sks.calculator) is EMT
    assert sks.about() == {"emt": f"ase {ase.__version__} (pure Python)"}


def test_without_asap3(monkeypatch, alloy):
    """auto falls back to ASE; asking for asap3 is a ConfigError that says how to get it."""
    monkeypatch.setattr(calculators, "asap3_version", lambda: None)
    sks = zoo.knowledge_source("ase-emt", outputs="energy")
    assert sks.implementation == "ase" and type(sks.calculator) is EMT
    assert sks.about()["emt"].startswith("ase ")
    np.testing.assert_allclose(sks([[3.75]], [alloy])[0, 0], emt_reference(alloy)["energy"][0], rtol=1e-12)
    with pytest.raises(zoo.ConfigError, match=r"pip install 'zoo-plugin-ase\[fast\]'"):
        zoo.knowledge_source("ase-emt", emt="asap3")


def test_bad_emt_value_is_a_config_error():
    with pytest.raises(zoo.ConfigError, match="emt must be one of auto, asap3, ase"):
        zoo.knowledge_source("ase-emt", emt="fast")


def test_unknown_option_error_names_emt():
    with pytest.raises(zoo.ConfigError, match=r"unknown option\(s\) \['emtt'\]; options are .*\bemt\b.*asap_cutoff"):
        zoo.knowledge_source("ase-emt", emtt="ase")


def test_cli_reports_a_bad_emt_value_in_one_line(tmp_path):
    from click.testing import CliRunner

    from zoo.cli import cli

    result = CliRunner().invoke(
        cli, ["run", "--sks", "ase-emt", "--sks-option", "emt=turbo", "--steps", "1",
               "--out", str(tmp_path / "run"), "--no-progress"],
    )
    assert result.exit_code == 2, result.output
    assert "Error: ase-emt: emt must be one of auto, asap3, ase, got 'turbo'" in result.output


# ---------------------------------------------------------------- the evaluation cache

@needs_asap3
def test_cache_keys_name_the_implementation(alloy):
    """asap3 and ASE agree to rounding, not bitwise, and forcing emt='ase' must really run
    ASE: the two never share cache entries. auto and the name it resolves to do; the ASE
    side keeps the keys of caches written before asap3 support (version = plugin version,
    and ``emt`` is a runtime option, out of the key)."""
    auto = zoo.knowledge_source("ase-emt", outputs="pressure")
    forced = zoo.knowledge_source("ase-emt", emt="asap3", outputs="pressure")
    pure = zoo.knowledge_source("ase-emt", emt="ase", outputs="pressure")
    assert sks_fingerprint(auto) == sks_fingerprint(forced) != sks_fingerprint(pure)
    assert pure.version == zoo_ase.__version__
    # the option is recorded as given, and kept out of the key (the version says what ran)
    assert (auto.options["emt"], forced.options["emt"], pure.options["emt"]) == ("auto", "asap3", "ase")
    assert "emt" not in auto.cache_options()
    x = np.array([[3.7]])
    assert query_keys(auto, x, [alloy]) != query_keys(pure, x, [alloy])


@needs_asap3
def test_cache_does_not_serve_asap3_values_to_ase(tmp_path, alloy):
    x = np.array([[3.61], [3.93]])
    ctx = [alloy, alloy]
    cache = Cache(tmp_path / "evals.sqlite")
    fast = zoo.knowledge_source("ase-emt", outputs=["energy", "pressure"])
    pure = zoo.knowledge_source("ase-emt", emt="ase", outputs=["energy", "pressure"])
    cache.put(query_keys(fast, x, ctx), fast(x, ctx))
    assert cache.get(query_keys(pure, x, ctx)) == {}
    assert len(cache.get(query_keys(fast, x, ctx))) == 2
    cache.close()


# ---------------------------------------------------------------- gradients through the layer

@needs_asap3
def test_layer_gradients_are_ase_forces_and_pressure(rattled_alloy, alloy):
    """ZO gradients through an SKSLayer on asap3 against ASE's analytic derivatives:
    positions -> energy gives -forces; lattice constant -> energy gives -P 3V/a."""
    sks = zoo.knowledge_source("ase-emt", inputs="positions", outputs="energy", n_atoms=32)
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-4, difference="central"), seed=0)
    x = torch.tensor(rattled_alloy.positions.reshape(1, -1), dtype=torch.float64, requires_grad=True)
    layer(x, [rattled_alloy]).sum().backward()
    g = -emt_reference(rattled_alloy)["forces"]
    # central differences: truncation ~mu^2/6 |E'''| ~ 1e-7 eV/Å (see test_ase_gradients)
    assert np.linalg.norm(x.grad.numpy()[0] - g) / np.linalg.norm(g) < 1e-4

    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs="energy")
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-4, difference="central"), seed=0)
    a = torch.tensor([[3.9]], dtype=torch.float64, requires_grad=True)
    layer(a, [alloy]).sum().backward()
    ref = emt_reference(random_fcc_alloy(ALLOY, seed=7, a=3.9))
    expect = 3 * ref["volume"][0] / 3.9 * ref["stress_ev"][:3].mean()  # -P 3V/a
    assert abs(expect) > 1.0
    assert abs(a.grad.item() - expect) < 1e-5 * abs(expect)
