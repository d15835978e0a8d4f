"""ase-emt's values equal ASE's own, for every input mapping and every output.

Each reference structure is built here by hand from the mapping's documented meaning
(lattice constant, uniform scale, Voigt engineering strain, Cartesian positions), then
computed with a fresh ``EMT()``. Only floating-point rounding of the cell arithmetic
separates the two, hence the tight tolerances.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units

import zoo
from zoo_ase.alloys import ELEMENTS, random_fcc_alloy

from ase_testlib import ALLOY, emt_reference

ALL_OUTPUTS = ["energy", "energy_per_atom", "pressure", "stress", "volume", "volume_per_atom", "forces"]
RTOL, ATOL = 1e-9, 1e-9  # same EMT, same structure: agreement to rounding


def split(row: np.ndarray, n_atoms: int) -> dict[str, np.ndarray]:
    """Cut one output row of ALL_OUTPUTS into named pieces, by the documented widths."""
    widths = {"stress": 6, "forces": 3 * n_atoms}
    out, i = {}, 0
    for name in ALL_OUTPUTS:
        w = widths.get(name, 1)
        out[name] = row[i : i + w]
        i += w
    assert i == len(row)
    return out


def assert_matches(row: np.ndarray, ref_atoms: Atoms) -> None:
    ref = emt_reference(ref_atoms)
    got = split(row, len(ref_atoms))
    for name in ALL_OUTPUTS:
        np.testing.assert_allclose(got[name], ref[name], rtol=RTOL, atol=ATOL, err_msg=name)


def by_hand(template: Atoms, cell: np.ndarray) -> Atoms:
    """The template's atoms at the same fractional coordinates in ``cell``."""
    return Atoms(
        template.get_chemical_symbols(),
        scaled_positions=template.get_scaled_positions(wrap=False),
        cell=cell,
        pbc=True,
    )


def test_output_names_and_units():
    sks = zoo.knowledge_source("ase-emt", inputs="strain", outputs=ALL_OUTPUTS, n_atoms=2)
    names = sks.output_spec.names
    assert names[:3] == ("energy", "energy_per_atom", "pressure")
    assert names[3:9] == tuple(f"stress_{c}" for c in ("xx", "yy", "zz", "yz", "xz", "xy"))
    assert len(names) == 1 + 1 + 1 + 6 + 1 + 1 + 6
    units_of = dict(zip(names, sks.output_spec.units))
    assert units_of["energy"] == "eV" and units_of["pressure"] == "GPa"
    assert units_of["stress_xy"] == "GPa"
    assert sks.input_spec.names == ("e_xx", "e_yy", "e_zz", "g_yz", "g_xz", "g_xy")


@pytest.mark.parametrize(
    "fractions",
    [(1, 0, 0, 0, 0, 0), ALLOY, (0.1, 0.2, 0.15, 0.2, 0.15, 0.2)],
    ids=["Cu", "CuAgNiPd", "six-element"],
)
def test_lattice_constant(fractions):
    ctx = random_fcc_alloy(fractions, seed=5, a=3.9)  # context's own a is irrelevant
    a = np.array([[3.55], [3.7], [4.05]])
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs=ALL_OUTPUTS, n_atoms=32)
    y = sks(a, [ctx] * len(a))
    for row, ai in zip(y, a[:, 0]):
        # built independently: the same decoration on an fcc lattice of constant ai
        assert_matches(row, random_fcc_alloy(fractions, seed=5, a=ai))
    # the volume is exactly N a^3 / 4 for 4-atom conventional cells
    volumes = [split(row, 32)["volume"][0] for row in y]
    np.testing.assert_allclose(volumes, 32 * a[:, 0] ** 3 / 4, rtol=1e-12)


def test_lattice_constant_bcc_atoms_per_cell():
    from ase.build import bulk

    ctx = bulk("Cu", "bcc", a=2.9, cubic=True).repeat(2)  # 16 atoms, 2 per cubic cell
    sks = zoo.knowledge_source("ase-emt", inputs="lattice_constant", outputs="energy", atoms_per_cell=2)
    y = sks([[2.85]], [ctx])
    ref = emt_reference(bulk("Cu", "bcc", a=2.85, cubic=True).repeat(2))
    np.testing.assert_allclose(y[0], ref["energy"], rtol=RTOL, atol=ATOL)


def test_scale(triclinic_alloy):
    s = np.array([[0.97], [1.0], [1.04]])
    sks = zoo.knowledge_source("ase-emt", inputs="scale", outputs=ALL_OUTPUTS, n_atoms=32)
    y = sks(s, [triclinic_alloy] * 3)
    for row, si in zip(y, s[:, 0]):
        assert_matches(row, by_hand(triclinic_alloy, np.array(triclinic_alloy.cell) * si))


@pytest.mark.parametrize(
    "voigt",
    [
        [0, 0, 0, 0, 0, 0],
        [0.01, -0.02, 0.015, 0, 0, 0],
        [0, 0, 0, 0.03, 0, 0],
        [0, 0, 0, 0, -0.02, 0],
        [0, 0, 0, 0, 0, 0.025],
        [0.01, 0.005, -0.01, 0.02, -0.015, 0.01],
    ],
    ids=["zero", "normal", "g_yz", "g_xz", "g_xy", "mixed"],
)
def test_strain(triclinic_alloy, voigt):
    exx, eyy, ezz, gyz, gxz, gxy = voigt
    # engineering shear: the symmetric strain tensor holds half of each gamma
    eps = np.array(
        [[exx, gxy / 2, gxz / 2], [gxy / 2, eyy, gyz / 2], [gxz / 2, gyz / 2, ezz]]
    )
    cell = np.array(triclinic_alloy.cell) @ (np.eye(3) + eps)
    sks = zoo.knowledge_source("ase-emt", inputs="strain", outputs=ALL_OUTPUTS, n_atoms=32)
    y = sks([voigt], [triclinic_alloy])
    assert_matches(y[0], by_hand(triclinic_alloy, cell))


def test_positions(rattled_alloy):
    rng = np.random.default_rng(0)
    rows = rattled_alloy.get_positions().reshape(1, -1) + rng.normal(0, 0.03, (3, 96))
    sks = zoo.knowledge_source("ase-emt", inputs="positions", outputs=ALL_OUTPUTS, n_atoms=32)
    y = sks(rows, [rattled_alloy] * 3)
    for row, x in zip(y, rows):
        ref = rattled_alloy.copy()
        ref.positions = x.reshape(32, 3)
        assert_matches(row, ref)
    assert sks.input_spec.names[:4] == ("x0", "y0", "z0", "x1")


def test_pressure_is_minus_mean_normal_stress_in_gpa(triclinic_alloy):
    """Units check with a number written out: 1 GPa = 1/160.21766 eV/Å^3."""
    sks = zoo.knowledge_source("ase-emt", inputs="scale", outputs=["pressure", "stress"])
    y = sks([[0.98]], [triclinic_alloy])[0]
    ref = emt_reference(by_hand(triclinic_alloy, np.array(triclinic_alloy.cell) * 0.98))
    stress_ev = ref["stress_ev"]
    np.testing.assert_allclose(y[1:], stress_ev * 160.21766208, rtol=1e-8)
    np.testing.assert_allclose(y[0], -stress_ev[:3].mean() * 160.21766208, rtol=1e-8)
    assert y[0] > 1.0  # 2 % compression of a near-equilibrium alloy: several GPa
    assert abs(units.GPa * 160.21766208 - 1) < 1e-8


def test_elements_are_emt_elements():
    """The alloy elements are exactly ASE EMT's fcc transition metals."""
    from ase.calculators.emt import parameters

    assert set(ELEMENTS) <= set(parameters)
