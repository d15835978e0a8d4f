"""Default tasks of ``ase-lj`` and ``ase-morse``: composition -> the parameters of an
effective pair potential that reproduces EMT's pressure-volume curve of random fcc alloys.

The problem: give a random fcc alloy of Cu, Ag, Au, Ni, Pd and Pt one species-blind pair
potential (Lennard-Jones: epsilon, sigma; Morse: epsilon, r0, rho0) such that the
potential gives the alloy's pressure at any lattice constant, learning the map from
composition to parameters from a handful of labelled alloys.

Labels come from a different model than the potential zoo trains through: ASE's EMT, the
pressure of the 32-atom random alloy (:func:`zoo_ase.alloys.random_fcc_alloy`, ideal
sites, the compositions and seeds of the shipped ``fcc_alloys_eam.csv``) at lattice
constants ``a = a_V (1 + s)``, with ``a_V`` Vegard's law on ASE's reference lattice
constants. They are computed at set-up, deterministically (about 0.2 s per 16 EMT calls):
``strains`` (default -3, 0, +3 %) for training and testing, ``extrapolation_strains``
(default +-6 %) for testing only.

The pair-potential code is ASE's (``ase-lj``, ``ase-morse``) or LAMMPS (``--sks lammps``
with zoo-plugin-lammps: ``lj/smooth/linear`` or ``morse/smooth/linear``, every batch of a
step in one ``lmp`` process); :meth:`sks_options` asks each for the same potential, and
Morse rows go to LAMMPS in its own parameters (D0, alpha = rho0 / r0, r0). The two codes
smooth the cutoff differently, so their fitted parameters differ a little.

* SKS-coupled model: an MLP maps the composition (6 fractions) to parameters
  ``p = p_ref * exp(scale * raw)``, where ``p_ref`` puts the potential's equilibrium
  lattice constant at ``a_V`` (length = a_V / (a0/length of the potential)) and the
  per-parameter ``scale`` evens out how stiffly the pressure responds to each; the
  pair potential (the SKS, on the alloy's 4-atom cubic cell
  at lattice constant a: the potential ignores species, so any cell of ideal fcc sites
  gives the same pressure) turns them into pressures. zoo estimates the gradient of the
  pressures with respect to the parameters by finite differences (CGE) through the SKS.
* data-only twin: the same MLP, its outputs read together with the strain by a second,
  small MLP that predicts the pressure directly (no potential).

Both train on the same labelled pressures; the loss is the mean squared pressure error in
units of ``pressure_scale`` (GPa). Test metrics are pressure errors (GPa) on unseen alloys:
``test_*`` at the training strains, ``extrap_*`` at the extrapolation strains, where a
physical functional form is expected to pay off.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

import zoo
from zoo import ConfigError

from .alloys import ELEMENTS, random_fcc_alloy


def vegard_lattice_constant(fractions: np.ndarray) -> float:
    """Fraction-weighted mean of ASE's reference fcc lattice constants (Å)."""
    from ase.data import atomic_numbers, reference_states

    ref = np.array([reference_states[atomic_numbers[e]]["a"] for e in ELEMENTS])
    return float(np.asarray(fractions, float) @ ref)


def emt_pressures(fractions: np.ndarray, seed: int, lattice_constants: np.ndarray) -> np.ndarray:
    """ASE EMT pressure (GPa) of the 32-atom random alloy at each lattice constant."""
    from ase.calculators.emt import EMT
    from ase.units import GPa

    template = random_fcc_alloy(fractions, seed, repeat=2, a=1.0)
    calc = EMT()
    out = []
    for a in lattice_constants:
        atoms = template.copy()
        atoms.set_cell(atoms.cell * a, scale_atoms=True)
        atoms.calc = calc
        out.append(-atoms.get_stress(voigt=True)[:3].mean() / GPa)
    return np.array(out)


class _AlloyPairPotentialEOS(zoo.Task):
    """Composition -> pair-potential parameters, fitted to EMT pressures of fcc alloys."""

    #: the calculator parameters the model predicts, and where its predictions start
    reference_parameters: ClassVar[dict[str, float]] = {}
    #: the parameter that sets the potential's length scale, and the fcc lattice constant
    #: in its units at the reference parameters: the length starts at a_V / this ratio,
    #: so every alloy starts near its own equilibrium volume
    length_parameter: ClassVar[str] = ""
    lattice_per_length: ClassVar[float] = 1.0
    #: log-range each parameter's raw network output spans: p = reference exp(scale raw).
    #: Pressure is far stiffer in the length (a 1 % change moves it by ~3B x 1 % ~ 5 GPa)
    #: than in the energy scale, so the length gets a small scale; otherwise one step
    #: that suits epsilon overshoots sigma
    raw_scales: ClassVar[dict[str, float]] = {}
    #: the SKS options besides inputs/outputs (cutoff choices, bounds)
    potential_options: ClassVar[dict[str, Any]] = {}
    #: the options that ask zoo-plugin-lammps's ``lammps`` for the same potential, or
    #: None where this task has no LAMMPS form; ``lammps_inputs`` are its input names
    #: (LAMMPS's own parametrisation), filled from ours by :meth:`to_lammps`
    lammps_options: ClassVar[dict[str, Any] | None] = None
    lammps_inputs: ClassVar[tuple[str, ...]] = ()
    #: where LAMMPS's form of the potential starts (its cutoff differs, so its fcc a0 per
    #: length and bulk modulus per energy do): overrides of ``lattice_per_length`` and of
    #: ``reference_parameters`` (in our parameters)
    lammps_lattice_per_length: ClassVar[float | None] = None
    lammps_reference_parameters: ClassVar[dict[str, float]] = {}

    @staticmethod
    def to_lammps(params):
        """Our parameters (n, d) as LAMMPS's (torch or numpy, differentiable)."""
        return params

    defaults = {
        "estimator": "cge",
        "estimator_options": {"mu": 1e-3, "difference": "forward"},
        "steps": 60,
        "lr": 1e-2,
        "eval_every": 20,
    }
    primary_metric = "test_mae"
    metric_units = {
        "test_mae": "GPa", "test_rmse": "GPa", "test_max": "GPa",
        "extrap_mae": "GPa", "extrap_max": "GPa",
    }

    def __init__(
        self,
        n_labelled: int = 8,
        n_test: int = 24,
        batch_alloys: int = 4,
        strains: list[float] | None = None,
        extrapolation_strains: list[float] | None = None,
        pressure_scale: float = 10.0,
        hidden: int = 32,
        split_seed: int = 0,
    ):
        self.strains = np.array([-0.03, 0.0, 0.03] if strains is None else strains, float)
        self.extra = np.array([-0.06, 0.06] if extrapolation_strains is None else extrapolation_strains, float)
        if n_labelled < 1 or n_test < 1 or batch_alloys < 1:
            raise ConfigError(f"{self.name}: n_labelled, n_test and batch_alloys must be >= 1")
        if self.strains.ndim != 1 or len(self.strains) == 0 or np.any(np.abs(self.strains) >= 0.2):
            raise ConfigError(f"{self.name}: strains must be a non-empty list of numbers in (-0.2, 0.2)")
        if self.extra.ndim != 1 or np.any(np.abs(self.extra) >= 0.2):
            raise ConfigError(f"{self.name}: extrapolation_strains must be numbers in (-0.2, 0.2)")
        if pressure_scale <= 0:
            raise ConfigError(f"{self.name}: pressure_scale must be > 0 (GPa)")
        self.n_labelled, self.n_test, self.batch_alloys = n_labelled, n_test, batch_alloys
        self.scale, self.hidden, self.split_seed = float(pressure_scale), hidden, split_seed
        self.names = tuple(self.reference_parameters)

    def sks_options(self, sks: str | None = None) -> dict[str, Any]:
        if sks == "lammps":
            if self.lammps_options is None:
                raise ConfigError(f"{self.name} has no LAMMPS form; use --sks {self.default_sks}")
            return {"inputs": list(self.lammps_inputs), "outputs": ["pressure"], **self.lammps_options}
        return {
            "inputs": "parameters",
            "parameters": list(self.names),
            "outputs": ["pressure"],
            **self.potential_options,
        }

    def setup(self, sks, seed: int) -> None:
        from .fcc_lattice import load_dataset

        reference, per_length = dict(self.reference_parameters), self.lattice_per_length
        if sks.input_spec.names == self.names:
            self.to_sks = lambda params: params
        elif self.lammps_inputs and sks.input_spec.names == self.lammps_inputs:
            self.to_sks = self.to_lammps
            reference.update(self.lammps_reference_parameters)
            per_length = self.lammps_lattice_per_length or per_length
        else:
            self.to_sks = None
        if self.to_sks is None or "pressure" not in sks.output_spec.names:
            raise ConfigError(
                f"{self.name} needs an SKS with inputs {list(self.names)} (inputs='parameters') "
                f"or, LAMMPS's, {list(self.lammps_inputs)}, and output 'pressure'; {sks.name} "
                f"has {list(sks.input_spec.names)} -> {list(sks.output_spec.names)}"
            )
        self.sks, self.p_col = sks, sks.output_spec.names.index("pressure")
        data = load_dataset()
        n = len(data["seeds"])
        order = np.random.default_rng(self.split_seed).permutation(n)
        if self.n_test + self.n_labelled > n:
            raise ConfigError(f"{self.name}: n_test + n_labelled > {n} alloys available")
        test, pool = order[: self.n_test], np.random.default_rng(seed).permutation(order[self.n_test :])
        lab = pool[: self.n_labelled]
        every = np.concatenate([self.strains, self.extra])

        def cells(i: int, strains: np.ndarray) -> tuple[list, np.ndarray]:
            f, s = data["fractions"][i], int(data["seeds"][i])
            a = vegard_lattice_constant(f) * (1 + strains)
            ctx = [random_fcc_alloy(f, s, repeat=1, a=float(ai)) for ai in a]
            return ctx, emt_pressures(f, s, a)

        lab_cells = [cells(i, self.strains) for i in lab]
        test_cells = [cells(i, every) for i in test]
        self.ctx_lab = [c for c, _ in lab_cells]
        self.p_lab = torch.tensor(np.array([p for _, p in lab_cells]), dtype=torch.float32)
        self.ctx_test = [c for c, _ in test_cells]
        self.p_test = np.array([p for _, p in test_cells])
        x = torch.tensor(data["fractions"], dtype=torch.float32)
        self.x_lab, self.x_test = x[lab], x[test]
        ref = np.array([[reference[n] for n in self.names]] * n)
        j = self.names.index(self.length_parameter)
        ref[:, j] = [vegard_lattice_constant(f) / per_length for f in data["fractions"]]
        ref = torch.tensor(ref, dtype=torch.float32)
        self.ref_lab, self.ref_test = ref[lab], ref[test]
        self.s_all = torch.tensor(every, dtype=torch.float32)
        self.seed = seed
        self._sizes = {
            "labelled": len(lab), "test": len(test),
            "strains": self.strains.tolist(), "extrapolation_strains": self.extra.tolist(),
            "labels": "ASE EMT pressure of 32-atom random fcc alloys at a = a_Vegard (1 + s)",
        }

    def make_model(self) -> torch.nn.Module:
        scales = [self.raw_scales.get(n, 1.0) for n in self.names]
        return _PairParameterNet(len(ELEMENTS), self.hidden, scales)

    def loss(self, model, layer, step):
        k = len(self.strains)
        b = min(self.batch_alloys, len(self.x_lab))
        # the minibatch depends only on (seed, step): the loss is a function of the model,
        # as full-ZO (several evaluations a step) and a resumed run need
        batches = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        idx = torch.randperm(len(self.x_lab), generator=batches)[:b]
        target = self.p_lab[idx]
        if layer is None:
            pressure = model.direct_pressure(self.x_lab[idx], self.s_all[:k]) * self.scale
            metrics = {}
        else:
            model.through_sks.fill_(True)
            params = model(self.x_lab[idx], self.ref_lab[idx])
            rows = self.to_sks(params).repeat_interleave(k, dim=0)
            ctx = [self.ctx_lab[i][j] for i in idx.tolist() for j in range(k)]
            pressure = layer(rows, ctx)[:, self.p_col].reshape(b, k)
            metrics = {f"{n}_mean": float(v) for n, v in zip(self.names, params.detach().mean(0))}
        # a query that failed for good (on_failure="skip") is a NaN row: drop it from the loss
        ok = torch.isfinite(pressure)
        err = (pressure - target) / self.scale
        loss = (err[ok] ** 2).mean() if ok.any() else pressure.new_zeros(())
        metrics["pressure_rmse"] = float(loss.detach().sqrt()) * self.scale
        return loss, metrics

    def sample_inputs(self, n: int, seed: int = 0) -> tuple[np.ndarray, list]:
        """``n`` starting-point parameter rows (in the SKS's parameters) of labelled alloys
        at the strain nearest zero, for ``zoo diagnose``."""
        idx = np.random.default_rng(seed).integers(0, len(self.x_lab), n)
        k = int(np.argmin(np.abs(self.strains)))
        rows = self.to_sks(self.ref_lab[idx].double().numpy())
        return self.sks.input_spec.clip(rows), [self.ctx_lab[i][k] for i in idx]

    def predict(self, model) -> np.ndarray:
        """Test pressures (n_test, strains + extrapolation strains), GPa."""
        with torch.no_grad():
            return self._predict(model)

    def _predict(self, model) -> np.ndarray:
        if bool(model.through_sks):
            params = self.to_sks(model(self.x_test, self.ref_test).double().numpy())
            params = self.sks.input_spec.clip(params)  # as the layer clamps in training
            m = len(self.s_all)
            rows = np.repeat(params, m, axis=0)
            ctx = [c for cells in self.ctx_test for c in cells]
            return self.sks(rows, ctx)[:, self.p_col].reshape(len(params), m)
        return (model.direct_pressure(self.x_test, self.s_all) * self.scale).double().numpy()

    def evaluate(self, model) -> dict[str, float]:
        # the last logged evaluation and the final one see the same weights: compute once
        key = b"".join(t.detach().numpy().tobytes() for t in model.state_dict().values())
        if getattr(self, "_last_eval", (None,))[0] != key:
            self._last_eval = (key, np.abs(self.predict(model) - self.p_test))
        err = self._last_eval[1]
        k = len(self.strains)
        inside, outside = err[:, :k], err[:, k:]
        out = {
            "test_mae": float(inside.mean()),
            "test_rmse": float(np.sqrt((inside**2).mean())),
            "test_max": float(inside.max()),
        }
        if outside.size:
            out.update(extrap_mae=float(outside.mean()), extrap_max=float(outside.max()))
        return out

    def describe_data(self) -> dict[str, Any]:
        return dict(self._sizes)


class LJAlloyEOS(_AlloyPairPotentialEOS):
    """Composition -> Lennard-Jones (epsilon, sigma) reproducing EMT pressures of alloys."""

    name = "lj-alloy-eos"
    description = "Lennard-Jones parameters of fcc Cu/Ag/Au/Ni/Pd/Pt alloys fitted to EMT pressures"
    default_sks = "ase-lj"
    # start: the LJ fcc solid has a0 = 1.547 sigma and B = 70.5 epsilon/sigma^3 (ASE's
    # smooth cutoff at the default rc = 3 sigma), so B ~ 120-180 GPa for these alloys
    reference_parameters = {"epsilon": 0.2, "sigma": 2.45}
    length_parameter, lattice_per_length = "sigma", 1.547
    raw_scales = {"epsilon": 0.5, "sigma": 0.05}
    # smooth: the pressure stays continuous as neighbour shells cross rc = 3 sigma (the
    # shifted-energy cutoff makes it jump, and finite differences across a jump are noise)
    potential_options = {
        "smooth": True,
        "lower": {"epsilon": 0.01, "sigma": 1.5},
        "upper": {"epsilon": 2.0, "sigma": 4.0},
    }
    # LAMMPS: the force-shifted lj/smooth/linear at rc = 3 sigma (continuous pressure for
    # the same reason; a different smoothing than ASE's, so the fitted parameters differ a
    # little: its fcc a0 is 1.551 sigma, B = 67.3 epsilon/sigma^3). The potential is
    # species-blind, so one atom-type list for every alloy keeps a batch to one set-up
    lammps_lattice_per_length = 1.551
    lammps_options = {
        "pair_style": "lj/smooth/linear",
        "elements": list(ELEMENTS),
        "lower": [0.01, 1.5],
        "upper": [2.0, 4.0],
    }
    lammps_inputs = ("epsilon", "sigma")


class MorseAlloyEOS(_AlloyPairPotentialEOS):
    """Composition -> Morse (epsilon, r0, rho0) reproducing EMT pressures of alloys."""

    name = "morse-alloy-eos"
    description = "Morse parameters of fcc Cu/Ag/Au/Ni/Pd/Pt alloys fitted to EMT pressures"
    default_sks = "ase-morse"
    # start: rho0 = 3.9 as Girifalco & Weizer's Cu (alpha r0 = 1.3588/Å x 2.866 Å); with
    # the cutoff below the fcc solid then has a0 = 1.279 r0 and B = 72.2 epsilon/r0^3,
    # so epsilon = 0.42 eV gives B ~ 180 GPa at r0 ~ 3 Å
    reference_parameters = {"epsilon": 0.42, "r0": 3.1, "rho0": 3.9}
    length_parameter, lattice_per_length = "r0", 1.279
    raw_scales = {"epsilon": 0.5, "r0": 0.05, "rho0": 0.3}
    # cut off between 1.5 and 2 r0 (ASE's default is 1.9-2.7): at rho0 ~ 4 the pair
    # energy is -0.26 epsilon at 1.5 r0 and -0.04 epsilon at 2 r0, so the cut reshapes
    # the tail (fine for an effective potential fitted as a whole), and each call costs
    # 2.5x less (ASE's neighbour list on a small cell grows steeply with the cutoff)
    potential_options = {
        "rcut1": 1.5,
        "rcut2": 2.0,
        "lower": {"epsilon": 0.01, "r0": 1.5, "rho0": 1.5},
        "upper": {"epsilon": 3.0, "r0": 4.5, "rho0": 10.0},
    }
    # LAMMPS: morse/smooth/linear (force-shifted) cut at 2.7 r0 (force-shifting at 2 r0
    # would tilt the whole well: a0 1.329 r0, B 38.5 epsilon/r0^3), in its own parameters
    # D0 = epsilon, alpha = rho0 / r0, r0; bounds as above (alpha's from rho0's and r0's).
    # At rho0 = 3.9 its fcc solid has a0 = 1.272 r0 and B = 54.5 epsilon/r0^3, so it starts
    # from epsilon = 0.55 eV for the same B ~ 180 GPa
    lammps_lattice_per_length = 1.272
    lammps_reference_parameters = {"epsilon": 0.55}
    lammps_options = {
        "pair_style": "morse/smooth/linear",
        "cutoff_scale": 2.7,
        "elements": list(ELEMENTS),
        "lower": [0.01, 1.5 / 4.5, 1.5],
        "upper": [3.0, 10.0 / 1.5, 4.5],
    }
    lammps_inputs = ("D0", "alpha", "r0")

    @staticmethod
    def to_lammps(params):
        """(epsilon, r0, rho0) -> (D0, alpha, r0)."""
        eps, r0, rho0 = params[:, 0], params[:, 1], params[:, 2]
        stack = torch.stack if isinstance(params, torch.Tensor) else np.stack
        return stack([eps, rho0 / r0, r0], 1)


class _PairParameterNet(torch.nn.Module):
    """composition -> parameters ``reference * exp(raw)``; ``direct_pressure`` is the twin's
    read-out of the same ``raw`` (with the strain) in place of the potential."""

    def __init__(self, n_in: int, hidden: int, scales: list[float]):
        super().__init__()
        d = len(scales)
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, d),
        )
        with torch.no_grad():  # start near the reference parameters
            self.body[-1].weight.mul_(0.1)
            self.body[-1].bias.mul_(0.1)
        self.readout = torch.nn.Sequential(
            torch.nn.Linear(d + 1, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, 1)
        )
        self.register_buffer("scales", torch.tensor(scales, dtype=torch.float32))
        #: which variant trained this model (a buffer, so checkpoints remember it)
        self.register_buffer("through_sks", torch.tensor(False))

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return reference * torch.exp(self.scales * self.body(x))

    def direct_pressure(self, x: torch.Tensor, strains: torch.Tensor) -> torch.Tensor:
        """(n, k) pressures in units of the task's pressure_scale, without a potential."""
        raw = self.body(x)
        n, k = len(raw), len(strains)
        feats = torch.cat([raw[:, None, :].expand(n, k, -1), (strains / 0.03)[None, :, None].expand(n, k, 1)], -1)
        return self.readout(feats).squeeze(-1)
