"""pymatgen-xrd against pymatgen's XRDCalculator called directly, and its behaviour under
finite differences.

The reference pattern is recomputed here from a fresh calculator's raw peaks and a
Gaussian written out term by term (pmg_testlib.gaussian_sum), on a structure the test
builds by hand from the same lattice.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import zoo
from zoo.testing import check_knowledge_source

from pmg_testlib import cscl, gaussian_sum, with_matrix, xrd_reference

GRID = {"two_theta_min": 20.0, "two_theta_max": 60.0, "step": 0.1, "fwhm": 0.3}
GRID_X = np.linspace(20.0, 60.0, 401)


def xrd(**options) -> zoo.KnowledgeSource:
    return zoo.knowledge_source("pymatgen-xrd", **{**GRID, **options})


def test_registered_with_default_task_and_grid_spec():
    sks = zoo.knowledge_source("pymatgen-xrd")
    assert type(sks).default_task == "xrd-lattice"
    assert "xrd-lattice" in zoo.registered("tasks")
    assert sks.input_spec.names == ("a", "b", "c", "alpha", "beta", "gamma")
    assert sks.input_spec.units == ("Å",) * 3 + ("deg",) * 3
    # defaults: 10-90 degrees every 0.1 degree, area-normalised (1/deg)
    assert len(sks.output_spec) == 801
    assert sks.output_spec.names[0] == "I_10.00" and sks.output_spec.names[-1] == "I_90.00"
    assert set(sks.output_spec.units) == {"1/deg"}
    assert sks.wavelength == pytest.approx(1.54184)  # CuKa, pymatgen's table
    assert len(zoo.knowledge_source("pymatgen-xrd", n_points=5).output_spec) == 5


@pytest.mark.parametrize("normalization", ["area", "max", "none"])
def test_lattice_input_matches_pymatgen_directly(nacl, normalization):
    sks = xrd(normalization=normalization)
    rows = np.array([
        [5.64, 5.64, 5.64, 90, 90, 90],       # the context itself
        [5.60, 5.60, 5.72, 90, 90, 90],       # tetragonal: (200) splits from (002)
        [5.50, 5.62, 5.71, 88, 91.5, 93],     # triclinic
    ])
    y = sks(rows, [nacl] * 3)
    for row, got in zip(rows, y):
        ref_structure = with_matrix(nacl, Lattice.from_parameters(*row).matrix)
        ref = xrd_reference(ref_structure, GRID_X, 0.3, normalization=normalization)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


def test_abc_ac_and_strain_inputs_keep_what_they_promise():
    """lattice_abc and lattice_lengths keep the angles, strain is cell @ (1 + eps); the reference
    lattices are built from parameters (rotated differently: XRD does not care)."""
    tri = Structure(Lattice.from_parameters(4.1, 4.3, 4.6, 84, 95, 101), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.45, 0.55]])
    abc = xrd(inputs="lattice_abc")([[4.0, 4.4, 4.5]], [tri])[0]
    ref = xrd_reference(with_matrix(tri, Lattice.from_parameters(4.0, 4.4, 4.5, 84, 95, 101).matrix), GRID_X, 0.3)
    np.testing.assert_allclose(abc, ref, rtol=1e-8, atol=1e-12)
    # lattice_lengths: a and b scale together (b/a kept), c alone
    ac = xrd(inputs="lattice_lengths")([[4.0, 4.5]], [tri])[0]
    ref = xrd_reference(with_matrix(tri, Lattice.from_parameters(4.0, 4.0 * 4.3 / 4.1, 4.5, 84, 95, 101).matrix), GRID_X, 0.3)
    np.testing.assert_allclose(ac, ref, rtol=1e-8, atol=1e-12)
    strain = np.array([0.01, -0.02, 0.015, 0.01, -0.005, 0.02])
    exx, eyy, ezz, gyz, gxz, gxy = strain
    eps = np.array([[exx, gxy / 2, gxz / 2], [gxy / 2, eyy, gyz / 2], [gxz / 2, gyz / 2, ezz]])
    got = xrd(inputs="strain")([strain], [tri])[0]
    ref = xrd_reference(with_matrix(tri, tri.lattice.matrix @ (np.eye(3) + eps)), GRID_X, 0.3)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_normalizations_and_integrated_intensity():
    """area: sum * step = 1; max: the largest value is 1; none: each unit-area Gaussian
    integrates to its peak's intensity, so sum * step equals pymatgen's summed intensities
    (sampling a Gaussian 4 points per sigma integrates it to ~1e-14)."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    s = cscl()
    x = [[4.12] * 3 + [90] * 3]
    area, peak, raw = (xrd(normalization=n)(x, [s])[0] for n in ("area", "max", "none"))
    assert area.sum() * 0.1 == pytest.approx(1.0, rel=1e-12)
    assert peak.max() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(area / area.max(), peak, rtol=1e-12)
    p = XRDCalculator().get_pattern(s, scaled=False, two_theta_range=(20.0 - 1.5, 60.0 + 1.5))
    # precondition: every peak lies more than 5 fwhm inside the grid, so none is cut off
    assert len(p.x) >= 3 and all(21.5 < t < 58.5 for t in p.x)
    assert raw.sum() * 0.1 == pytest.approx(sum(p.y), rel=1e-9)


def test_wavelength_by_name_or_length():
    s = cscl()
    x = [[4.12] * 3 + [90] * 3]
    by_name = xrd(wavelength="MoKa")(x, [s])[0]
    by_length = xrd(wavelength=0.71073)(x, [s])[0]
    np.testing.assert_allclose(by_name, by_length, rtol=1e-12)
    np.testing.assert_allclose(by_name, xrd_reference(s, GRID_X, 0.3, wavelength="MoKa"), rtol=1e-9, atol=1e-14)
    # and a different line really gives a different pattern
    assert np.abs(by_name - xrd()(x, [s])[0]).max() > 0.1 * by_name.max()


def test_contract(nacl):
    sks = xrd(two_theta_min=20.0, two_theta_max=40.0)
    rows = np.array([[5.64, 5.64, 5.64, 90, 90, 90], [5.5, 5.7, 5.8, 85, 95, 100], [5.2, 5.3, 5.9, 90, 90, 90]])
    impossible = [5.6, 5.6, 5.6, 60, 60, 121]  # gamma > alpha + beta: the three vectors close no cell
    check_knowledge_source(sks, rows, [nacl, cscl(), nacl], failing_row=(impossible, nacl))


def test_failing_rows_are_nan_and_all_failing_raises(nacl):
    sks = xrd()
    good = [5.64, 5.64, 5.64, 90, 90, 90]
    flat = [5.64, 5.64, 5.64, 60, 60, 120]  # alpha + beta = gamma: the cell is flat
    y = sks([good, flat, good], [nacl] * 3)
    assert np.all(np.isnan(y[1])) and np.all(np.isfinite(y[[0, 2]]))
    np.testing.assert_array_equal(y[0], y[2])
    with pytest.raises(zoo.SKSError, match="close no cell"):
        sks([flat, flat], [nacl, nacl])



def test_no_reflection_on_the_grid_gives_zeros(nacl):
    """NaCl's largest d-spacing is a/sqrt(3) = 3.26 Å: with CuKa nothing diffracts below
    2-theta = 27.4 degrees, so a 5-8 degree grid (+/- 5 fwhm) sees no reflection at all
    (pymatgen itself raises there); the pattern is zeros, not an error, at any normalization."""
    assert 2 * np.degrees(np.arcsin(1.54184 / (2 * 5.64 / np.sqrt(3)))) > 27
    good = [5.64, 5.64, 5.64, 90, 90, 90]
    for normalization in ("area", "max", "none"):
        tiny = zoo.knowledge_source("pymatgen-xrd", two_theta_min=5.0, two_theta_max=8.0, step=0.1,
                                    normalization=normalization)
        np.testing.assert_array_equal(tiny([good], [nacl]), np.zeros((1, 31)))


def test_central_differences_converge_at_second_order(nacl):
    """Along c from the exact cubic point (where (h00) reflections split) and from a
    tetragonal one, central differences D(mu) = (f(x + mu) - f(x - mu)) / 2mu converge with
    error ~ mu^2: halving mu quarters the change between successive estimates, and
    Richardson's estimate of the remaining error, (D(2mu) - D(mu)) / 3, is small.

    (Below ~1e-5 Å at the cubic point the split peaks lie within 1e-5 degrees, which
    pymatgen merges into one at the first peak's angle, and the difference goes wrong.)"""
    sks = xrd(inputs="lattice_abc")
    for x0 in ([5.64, 5.64, 5.64], [5.60, 5.60, 5.70]):
        mus = [8e-3, 4e-3, 2e-3, 1e-3, 5e-4]
        rows = [np.array(x0) + s * mu * np.array([0, 0, 1.0]) for mu in mus for s in (1, -1)]
        y = sks(np.array(rows), [nacl] * len(rows))
        d = [(y[2 * i] - y[2 * i + 1]) / (2 * mu) for i, mu in enumerate(mus)]
        steps = [np.linalg.norm(d[i] - d[i + 1]) for i in range(len(mus) - 1)]
        assert np.linalg.norm(d[-1]) > 1.0  # a derivative worth checking (1/deg per Å)
        for big, small in zip(steps, steps[1:]):
            assert 3.0 < big / small < 5.0, steps
        assert steps[-1] / 3 < 2e-4 * np.linalg.norm(d[-1])


def test_layer_gradient_matches_independent_finite_differences():
    """v^T J through SKSLayer (central CGE, mu = 1e-4 Å) against the same central
    difference computed from pymatgen directly, and against a 5x finer one. With peaks
    0.3 degrees wide the O(mu^2) error is ~1% at mu = 1e-3 Å (see the convergence test
    above), so ~1e-4 at mu = 1e-4 Å."""
    cuau = Structure(Lattice.tetragonal(2.80, 3.67), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    sks = xrd(inputs="lattice_lengths")
    z0 = np.array([2.83, 3.62])
    v = np.random.default_rng(0).standard_normal(len(GRID_X))
    layer = zoo.SKSLayer(sks, estimator=zoo.estimator("cge", mu=1e-4, difference="central"), seed=0)
    z = torch.tensor(z0[None, :], dtype=torch.float64, requires_grad=True)
    y = layer(z, [cuau])
    (y[0] @ torch.tensor(v)).backward()
    assert layer.gradient_queries == 4

    def ref(a, c):
        return xrd_reference(with_matrix(cuau, np.diag([a, a, c])), GRID_X, 0.3)

    np.testing.assert_allclose(y.detach().numpy()[0], ref(*z0), rtol=1e-9, atol=1e-14)
    for h, rtol in ((1e-4, 1e-6), (2e-5, 1e-3)):
        fd = np.array([
            v @ (ref(*(z0 + h * e)) - ref(*(z0 - h * e))) / (2 * h) for e in np.eye(2)
        ])
        np.testing.assert_allclose(z.grad.numpy()[0], fd, rtol=rtol)


@pytest.mark.parametrize("options,fragment", [
    ({"normalization": "sum"}, "normalization must be one of area, max, none"),
    ({"wavelength": "CuKalpha"}, "unknown wavelength 'CuKalpha'"),
    ({"wavelength": -1.0}, "wavelength must be a positive length"),
    ({"fwhm": 0.0}, "fwhm must be > 0"),
    ({"two_theta_min": 60.0, "two_theta_max": 20.0}, "0 < two_theta_min < two_theta_max < 180"),
    ({"two_theta_max": 185.0}, "< 180"),
    ({"step": 0.3}, "not a whole number of steps"),
    ({"step": 0.1, "n_points": 100}, "n_points or step, not both"),
    ({"n_points": 1}, "n_points must be an integer >= 2"),
    ({"inputs": "volume"}, "unknown inputs 'volume'; choose from lattice_constant, lattice_lengths, lattice_abc"),
    ({"inputs": "sigma"}, "pymatgen-xrd cannot use inputs 'sigma'"),
    ({"inputs": "positions"}, "needs the option n_atoms"),
    ({"symprec": -0.1}, "symprec must be >= 0"),
    ({"debye_waller_factors": {"Na": -1}}, "debye_waller_factors"),
    ({"lower": 5.0, "upper": 4.0, "inputs": "scale"}, "lower bound must be below"),
])
def test_bad_options_are_config_errors(options, fragment):
    with pytest.raises(zoo.ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        zoo.knowledge_source("pymatgen-xrd", **options)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(zoo.ConfigError) as info:
        zoo.knowledge_source("pymatgen-xrd", fwmh=0.2)
    msg = str(info.value)
    assert "fwmh" in msg
    for name in ("fwhm", "two_theta_min", "normalization", "wavelength", "inputs", "step"):
        assert name in msg


def test_pickled_copy_and_contexts_give_identical_patterns(nacl):
    sks = xrd(inputs="scale")
    x = [[1.0], [1.03]]
    before = sks(x, [nacl, nacl])
    clone = pickle.loads(pickle.dumps(sks))
    assert clone.options == sks.options and clone.output_spec == sks.output_spec
    np.testing.assert_array_equal(clone(x, pickle.loads(pickle.dumps([nacl, nacl]))), before)


def test_contexts_are_not_modified(nacl):
    ctx = nacl.copy()
    matrix, frac = ctx.lattice.matrix.copy(), ctx.frac_coords.copy()
    xrd(inputs="lattice_abc")([[5.0, 5.5, 6.0], [5.2, 5.2, 5.2]], [ctx, ctx])
    np.testing.assert_array_equal(ctx.lattice.matrix, matrix)
    np.testing.assert_array_equal(ctx.frac_coords, frac)


def test_structure_file_and_ase_atoms_contexts(tmp_path):
    ase_build = pytest.importorskip("ase.build")
    s = cscl()
    x = [[4.0, 4.1, 4.2, 90, 90, 90]]
    ref = xrd()(x, [s])
    path = tmp_path / "CsCl.cif"
    s.to(filename=str(path))
    from_file = xrd(structure=str(path))
    np.testing.assert_allclose(from_file(x), ref, rtol=1e-9, atol=1e-14)
    atoms = ase_build.bulk("CsCl", "cesiumchloride", a=4.12)
    np.testing.assert_allclose(xrd()(x, [atoms]), ref, rtol=1e-9, atol=1e-14)
    with pytest.raises(zoo.ConfigError, match="nothere.cif"):
        xrd(structure=str(tmp_path / "nothere.cif"))
    with pytest.raises(zoo.SKSError, match="structure=PATH"):
        xrd()(x)
    with pytest.raises(zoo.SKSError, match="context 0 is a dict"):
        xrd()(x, [{"lattice": 4.0}])


def test_gaussian_helper_is_a_unit_area_gaussian():
    """The test's own reference broadening: FWHM and area, checked against their definitions."""
    grid = np.linspace(30, 50, 20001)
    y = gaussian_sum([40.0], [2.0], grid, 0.5)
    assert y.sum() * (grid[1] - grid[0]) == pytest.approx(2.0, rel=1e-9)
    above = grid[y >= y.max() / 2]
    assert above[-1] - above[0] == pytest.approx(0.5, abs=2e-3)
