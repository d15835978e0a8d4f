"""Smoke test of benchmarks/estimators_highd.py: its task, its exact-gradient oracle and its
query accounting, on real EMT (asap3's when installed, else ASE's), in a few seconds.

The oracle is what every estimator is measured against, so it is checked against something
it does not use: central differences of the plain energy SKS.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ase")
torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import estimators_highd as bench  # noqa: E402
import highd_task as T  # noqa: E402

import zoo  # noqa: E402


@pytest.fixture(scope="module")
def sks():
    return T.emt_sks()


@pytest.fixture(scope="module")
def data(sks):
    return T.Dataset(T.make_structures(2, seed=7))


def test_structures_are_rattled_alloys_with_d_96(data):
    assert data.x.shape == (2, 96)
    for atoms in data.contexts:
        assert len(atoms) == 32 and atoms.pbc.all()
        assert len(set(atoms.get_chemical_symbols())) >= 2
    # two seeds give different structures, the same seed the same ones
    again = T.make_structures(2, seed=7)
    assert np.array_equal(again[0].get_positions(), data.contexts[0].get_positions())
    assert not np.allclose(T.make_structures(1, seed=8)[0].get_positions(), data.x[0].reshape(-1, 3))


def test_oracle_value_and_gradient_match_finite_differences_of_the_energy_sks(sks, data):
    exact = T.ExactEnergy()
    z = torch.tensor(data.x, requires_grad=True)
    energy = exact(z, data.contexts)
    energy.sum().backward()
    plain = sks(data.x, data.contexts)[:, 0]
    assert np.allclose(energy.detach().numpy()[:, 0], plain, rtol=0, atol=1e-10)
    assert exact.queries == 2  # one EMT call per row gives energy and forces
    rng = np.random.default_rng(0)
    h = 1e-4
    for row in range(2):
        for _ in range(3):
            u = rng.normal(size=96)
            u /= np.linalg.norm(u)
            e = sks(np.stack([data.x[row] + h * u, data.x[row] - h * u]), [data.contexts[row]] * 2)[:, 0]
            fd = (e[0] - e[1]) / (2 * h)
            assert z.grad[row].numpy() @ u == pytest.approx(fd, rel=1e-5, abs=1e-7)


def test_reference_minimum_is_a_minimum(sks, data):
    forces = T.emt_sks(["energy", "forces"])(data.relaxed, data.contexts)
    assert np.abs(forces[:, 1:]).max() <= 1e-4
    assert np.allclose(forces[:, 0], data.e_min, atol=1e-9)
    assert np.all(data.excess_per_atom(sks(data.x, data.contexts)[:, 0]) > 1e-3)  # rattled: above it


def test_orthogonal_rge_with_q_equal_d_recovers_the_oracle_gradient(sks, data):
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("rge", q=96, mu=1e-4, directions="sphere",
                                                         orthogonal=True), seed=0)
    z = torch.tensor(data.x[:1], requires_grad=True)
    layer(z, data.contexts[:1]).sum().backward()
    forces = T.emt_sks(["energy", "forces"])(data.x[:1], data.contexts[:1])[0, 1:]
    g = z.grad[0].numpy()
    assert g @ -forces / (np.linalg.norm(g) * np.linalg.norm(forces)) > 0.9999
    assert layer.queries == 1 + 96


def test_pair_model_is_rotation_equivariant(data):
    torch.manual_seed(0)
    model = T.PairDisplacementModel(init_scale=1.0)
    atoms = data.contexts[0]
    turned = atoms.copy()
    turned.rotate(37, (1, 2, 3), rotate_cell=True)
    d0 = model.displacements(T.PairGeometry([atoms])).detach().numpy().reshape(-1, 3)
    d1 = model.displacements(T.PairGeometry([turned])).detach().numpy().reshape(-1, 3)
    rot = np.linalg.solve(atoms.cell.array, turned.cell.array)  # row-vector rotation
    assert np.abs(d0).max() > 1e-3
    assert np.allclose(d0 @ rot, d1, atol=1e-10)


def test_morse_surrogate_matches_a_direct_pair_sum_and_vanishes_on_a_perfect_lattice(data):
    from ase.build import bulk

    m = T.MorseSurrogate()
    atoms = data.contexts[0]
    z = torch.tensor(data.x[:1], requires_grad=True)
    e = float(m(z, [atoms]).detach()[0, 0])
    # independent: every atom i in the cell with every j in the 5x5x5 block of images
    logd, loga, r0 = m.params.numpy()
    sp = [T.ELEMENTS.index(s) for s in atoms.get_chemical_symbols()]
    pos, cell = atoms.get_positions(), atoms.cell.array
    total = 0.0
    for a in range(-2, 3):
        for b in range(-2, 3):
            for c in range(-2, 3):
                shifted = pos + np.array([a, b, c]) @ cell
                r = np.linalg.norm(shifted[None, :, :] - pos[:, None, :], axis=-1)
                for i in range(32):
                    for j in range(32):
                        if (a, b, c) == (0, 0, 0) and i == j or r[i, j] >= 6.0:
                            continue
                        d = np.sqrt(np.exp(logd[sp[i]] + logd[sp[j]]))
                        al = 0.5 * (np.exp(loga[sp[i]]) + np.exp(loga[sp[j]]))
                        rm = 0.5 * (r0[sp[i]] + r0[sp[j]])
                        fc = 0.5 * (1 + np.cos(np.pi * np.clip(r[i, j] - 5.0, 0, 1)))
                        total += 0.5 * d * ((1 - np.exp(-al * (r[i, j] - rm))) ** 2 - 1) * fc
    assert e == pytest.approx(total, rel=1e-10)
    perfect = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    zp = torch.tensor(perfect.get_positions().reshape(1, -1), requires_grad=True)
    m(zp, [perfect]).sum().backward()
    assert float(zp.grad.abs().max()) < 1e-10


def _setup(sks, data):
    test = T.Dataset(T.make_structures(1, seed=9))
    return bench.Setup(sks, data, test, T.MorseSurrogate(), morse_queries=64, morse_fit_error=0.0)


def test_benchmark_charges_queries_honestly_and_the_oracle_learns(sks, data):
    s = _setup(sks, data)
    variants = {v.key: v for v in bench.VARIANTS}
    exact = bench.run(variants["exact"], 0, s, budget=10**6, max_steps=10, lr=bench.LR)
    assert [q for q, _, _ in exact["curve"]] == [2 * k for k in range(11)]  # 1 query per row per step
    assert exact["train_energy_per_atom"][-1] < exact["train_energy_per_atom"][0] - 0.01
    assert exact["curve"][-1][1] < exact["curve"][0][1]  # the held-out structure relaxes too
    # per step and row: forward 1 + q (RGE), 1 + 96 (forward CGE); CV adds its fit at query 0;
    # full-ZO: (1 + q) loss evaluations of both rows
    for key, first, per_step in (("rge4", 0, 2 * 5), ("cge", 0, 2 * 97), ("cv4", 64, 2 * 5), ("fullzo16", 0, 2 * 17)):
        r = bench.run(variants[key], 0, s, budget=10**6, max_steps=2, lr=bench.LR)
        assert [q for q, _, _ in r["curve"]] == [first, first + per_step, first + 2 * per_step], key
