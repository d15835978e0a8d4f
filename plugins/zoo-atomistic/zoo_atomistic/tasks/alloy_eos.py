"""Composition -> the parameters of an effective pair potential that reproduces EMT's
pressure-volume curve of random fcc alloys: ``lj-alloy-eos`` and ``morse-alloy-eos``.

The problem: give a random fcc alloy of Cu, Ag, Au, Ni, Pd and Pt one species-blind pair
potential (Lennard-Jones: epsilon, sigma; Morse: epsilon, r0, rho0, the vocabulary's
names) such that the potential gives the alloy's pressure at any lattice constant,
learning the map from composition to parameters from a handful of labelled alloys.

Labels come from a different model than the potential zoo trains through: ASE's EMT, the
pressure of the 32-atom random alloy (:func:`zoo_atomistic.alloys.random_fcc_alloy`, ideal
sites, the compositions and seeds of ``fcc_alloys_eam.csv``) at lattice constants
``a = a_V (1 + s)``, with ``a_V`` Vegard's law on ASE's reference lattice constants, for
strains s from -6 % to +6 % (``fcc_alloys_emt_pressures.csv``, made once by
``scripts/make_emt_pressures.py``, so no task needs ASE): ``strains`` (default -3, 0, +3 %)
for training and testing, ``extrapolation_strains`` (default +-6 %) for testing only.

The task asks its SKS in the shared vocabulary: the potential's parameters as inputs
(``inputs=["epsilon", "r0", "rho0"]``) and ``outputs="pressure"``. Any code that computes
that potential serves it — ASE's (``ase-lj``, ``ase-morse``) or LAMMPS (``lammps``, which
picks its force-shifted ``*/smooth/linear`` style from the inputs and converts Morse rows
to its own D0, alpha, r0). Codes cut the potential off differently, so where each alloy
starts (length at a_V / (a0/length), energy scale at a chosen bulk modulus) is measured
through the SKS at set-up (:mod:`zoo_atomistic.tasks.start`).

* SKS-coupled model: an MLP maps the composition (6 fractions) to parameters
  ``p = p_start * exp(scale * raw)``; the per-parameter ``scale`` evens out how stiffly the
  pressure responds to each; the potential (the SKS, on the alloy's 4-atom cubic cell at
  lattice constant a: the potential ignores species, so any cell of ideal fcc sites gives
  the same pressure) turns them into pressures. zoo estimates the gradient of the
  pressures with respect to the parameters by finite differences (CGE) through the SKS.
* data-only twin, ``twin="mlp"`` (default): the same MLP, its outputs read together with
  the strain by a second, small MLP that predicts the pressure directly (no potential).
* data-only twin, ``twin="birch-murnaghan"``: the same MLP gives each alloy a third-order
  Birch-Murnaghan equation of state (a0, B0, B0'), starting where the coupled model starts
  (a0 at Vegard's a_V, B0 at ``bulk_modulus``, B0' = 4.5): a physical functional form and
  the same initial guess, so the comparison isolates what the black box adds.

Both train on the same labelled pressures; the loss is the mean squared pressure error in
units of ``pressure_scale`` (GPa). Test metrics are pressure errors (GPa) on unseen alloys:
``test_*`` at the training strains, ``extrap_*`` at the extrapolation strains, where a
physical functional form is expected to pay off; ``val_*`` (:meth:`validate`) on the
``n_validation`` labelled alloys held out of training.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

import zoo
from zoo import ConfigError
from zoo.tasks import mean_over_finite, minibatch, regression_metrics, regression_units, split

from ..alloys import ELEMENTS
from ..kinds import PAIR_POTENTIALS
from .alloy_sets import AlloySet, alloy_set
from .labels import pressure_labels, vegard_lattice_constant
from .models import PairParameterNet
from .start import Equilibrium, fcc_equilibrium, pair_potential_pressure


#: the data-only twins: a free read-out MLP, or an equation of state
TWINS = ("mlp", "birch-murnaghan")
#: the Birch-Murnaghan twin's starting B0' (typical of fcc metals, 4-6)
BM_START_B1 = 4.5


def strain_list(values: list[float] | None, default: list[float], what: str, empty_ok: bool) -> np.ndarray:
    """A strain option as an array, checked: numbers in (-0.2, 0.2)."""
    out = np.array(default if values is None else values, float)
    if out.ndim != 1 or (not empty_ok and len(out) == 0) or np.any(np.abs(out) >= 0.2):
        raise ConfigError(f"{what} must be a {'' if empty_ok else 'non-empty '}list of numbers in (-0.2, 0.2)")
    return out


class AlloyPairPotentialEOS(zoo.Task):
    """Composition -> pair-potential parameters, fitted to EMT pressures of fcc alloys."""

    #: the pair potential (a key of zoo_atomistic.PAIR_POTENTIALS)
    potential: ClassVar[str] = ""
    #: where the starting point is measured: the potential's shape (and a length) whose fcc
    #: solid's a0/length sets every alloy's starting length; the energy scale then starts
    #: where that solid has ``bulk_modulus`` GPa
    reference_parameters: ClassVar[dict[str, float]] = {}
    bulk_modulus: ClassVar[float] = 0.0
    #: log-range each parameter's raw network output spans: p = start exp(scale raw).
    #: Pressure is far stiffer in the length (a 1 % change moves it by ~3B x 1 % ~ 5 GPa)
    #: than in the energy scale, so the length gets a small scale; otherwise one step
    #: that suits epsilon overshoots sigma
    raw_scales: ClassVar[dict[str, float]] = {}
    #: input bounds asked of the SKS, {name: bound}
    lower: ClassVar[dict[str, float]] = {}
    upper: ClassVar[dict[str, float]] = {}

    defaults = {
        "estimator": "cge",
        "estimator_options": {"mu": 1e-3, "difference": "forward"},
        "steps": 60,
        "lr": 1e-2,
        "eval_every": 20,
    }
    primary_metric = "test_mae"
    metric_units = {**regression_units("GPa"), **regression_units("GPa", "extrap"), **regression_units("GPa", "val")}

    def __init__(
        self,
        n_labelled: int = 8,
        n_test: int = 24,
        n_validation: int = 0,
        batch_alloys: int = 4,
        strains: list[float] | None = None,
        extrapolation_strains: list[float] | None = None,
        pressure_scale: float = 10.0,
        hidden: int = 32,
        split_seed: int = 0,
        data: str | None = None,
        twin: str = "mlp",
    ):
        if twin not in TWINS:
            raise ConfigError(f"{self.name}: twin must be one of {', '.join(TWINS)}, got {twin!r}")
        self.twin = twin
        self.strains = strain_list(strains, [-0.03, 0.0, 0.03], f"{self.name}: strains", empty_ok=False)
        self.extra = strain_list(extrapolation_strains, [-0.06, 0.06], f"{self.name}: extrapolation_strains", True)
        if n_labelled < 1 or n_test < 1 or batch_alloys < 1:
            raise ConfigError(f"{self.name}: n_labelled, n_test and batch_alloys must be >= 1")
        if pressure_scale <= 0:
            raise ConfigError(f"{self.name}: pressure_scale must be > 0 (GPa)")
        if not 0 <= n_validation < n_labelled:
            raise ConfigError(f"{self.name}: n_validation must be from 0 to n_labelled - 1, got {n_validation}")
        self.n_labelled, self.n_test, self.n_validation = n_labelled, n_test, n_validation
        self.batch_alloys, self.scale, self.hidden = batch_alloys, float(pressure_scale), hidden
        self.split_seed, self.data_path = split_seed, data
        self.names = PAIR_POTENTIALS[self.potential].parameters

    def sks_options(self) -> dict[str, Any]:
        return {"inputs": list(self.names), "outputs": ["pressure"], "lower": dict(self.lower),
                "upper": dict(self.upper)}

    # -- set-up ---------------------------------------------------------------------------
    def setup(self, sks, seed: int) -> None:
        if sks.input_spec.names != self.names or "pressure" not in sks.output_spec.names:
            raise ConfigError(
                f"{self.name} needs an SKS with inputs {list(self.names)} (the {self.potential} "
                f"potential's parameters) and output 'pressure'; {sks.name} has "
                f"{list(sks.input_spec.names)} -> {list(sks.output_spec.names)}"
            )
        self.sks, self.p_col, self.seed = sks, sks.output_spec.names.index("pressure"), seed
        data = pressure_labels(self.data_path)
        n = len(data.seeds)
        if self.n_test + self.n_labelled > n:
            raise ConfigError(f"{self.name}: n_test + n_labelled > {n} alloys available")
        # the test set depends only on split_seed: the first n_test of its permutation
        part = split(n, n_labelled=self.n_labelled, seed=seed, split_seed=self.split_seed,
                     test_fraction=self.n_test / n, n_validation=self.n_validation, what=self.name)
        every = np.concatenate([self.strains, self.extra])
        pressures = data.at(every, self.name)
        start = self.starting_parameters(data.fractions)
        k = len(self.strains)
        self.train = alloy_set(data, part.train, self.strains, pressures[:, :k], start)
        self.val = alloy_set(data, part.validation, self.strains, pressures[:, :k], start)
        self.test = alloy_set(data, part.test, every, pressures, start)
        self.p_train = torch.tensor(self.train.pressures, dtype=torch.float32)
        self.a_vegard = {id(s): torch.tensor([vegard_lattice_constant(f) for f in s.x.double().numpy()],
                                             dtype=torch.float32) for s in (self.train, self.val, self.test)}
        self.s_all = torch.tensor(every, dtype=torch.float32)
        self._sizes = {
            **part.sizes(), "strains": self.strains.tolist(), "extrapolation_strains": self.extra.tolist(),
            "labels": "ASE EMT pressure of 32-atom random fcc alloys at a = a_Vegard (1 + s)",
        }

    def starting_parameters(self, fractions: np.ndarray) -> torch.Tensor:
        """Each alloy's starting parameters (n, d): the length at a_V / (a0/length) and
        epsilon at ``bulk_modulus``, measured through the SKS; the rest as referenced."""
        length = PAIR_POTENTIALS[self.potential].length
        ref = self.reference_parameters
        row = np.array([ref[n] for n in self.names])
        solid = fcc_equilibrium(pair_potential_pressure(self.sks, self.p_col, row), ref[length], who=self.name)
        start = np.array([[ref[n] for n in self.names]] * len(fractions))
        start[:, self.names.index("epsilon")] = ref["epsilon"] * self.bulk_modulus / solid.bulk_modulus
        start[:, self.names.index(length)] = [vegard_lattice_constant(f) / solid.lattice_per_length for f in fractions]
        self.start_solid: Equilibrium = solid
        return torch.tensor(start, dtype=torch.float32)

    def make_model(self) -> torch.nn.Module:
        # the Birch-Murnaghan twin reads three numbers off the body (LJ's body grows to 3)
        return PairParameterNet(len(ELEMENTS), self.hidden, [self.raw_scales.get(n, 1.0) for n in self.names],
                                n_raw=3 if self.twin == "birch-murnaghan" else None)

    def twin_pressure(self, model, alloys: AlloySet, idx: torch.Tensor | None, strains: torch.Tensor) -> torch.Tensor:
        """The data-only twin's pressures (GPa) of ``alloys`` (rows ``idx``, or all)."""
        x = alloys.x if idx is None else alloys.x[idx]
        if self.twin == "birch-murnaghan":
            a_v = self.a_vegard[id(alloys)]
            a_v = a_v if idx is None else a_v[idx]
            return model.birch_murnaghan(x, a_v, strains, (self.bulk_modulus, BM_START_B1))
        return model.direct_pressure(x, strains) * self.scale

    # -- training ---------------------------------------------------------------------------
    def loss(self, model, layer, step):
        k, train = len(self.strains), self.train
        idx = minibatch(len(train), self.batch_alloys, self.seed, step)
        if layer is None:
            pressure = self.twin_pressure(model, train, idx, self.s_all[:k])
            metrics = {}
        else:
            model.through_sks.fill_(True)
            params = model(train.x[idx], train.start[idx])
            ctx = [train.contexts[i][j] for i in idx.tolist() for j in range(k)]
            pressure = layer(params.repeat_interleave(k, dim=0), ctx)[:, self.p_col].reshape(len(idx), k)
            metrics = {f"{n}_mean": float(v) for n, v in zip(self.names, params.detach().mean(0))}
        # a query that failed for good (on_failure="skip") is a NaN entry: out of the loss
        loss = mean_over_finite(((pressure - self.p_train[idx]) / self.scale).reshape(-1), torch.square)
        metrics["pressure_rmse"] = float(loss.detach().sqrt()) * self.scale
        return loss, metrics

    def sample_inputs(self, n: int, seed: int = 0) -> tuple[np.ndarray, list]:
        """``n`` starting-point parameter rows of training alloys at the strain nearest
        zero, for ``zoo diagnose``."""
        idx = np.random.default_rng(seed).integers(0, len(self.train), n)
        k = int(np.argmin(np.abs(self.strains)))
        rows = self.sks.input_spec.clip(self.train.start[idx].double().numpy())
        return rows, [self.train.contexts[i][k] for i in idx]

    # -- evaluation -------------------------------------------------------------------------
    def predict(self, model, alloys: AlloySet | None = None) -> np.ndarray:
        """Pressures (GPa) of ``alloys`` (default: the test alloys) at their strains, through
        the SKS for a coupled model."""
        alloys = self.test if alloys is None else alloys
        strains = self.s_all[: alloys.pressures.shape[1]]
        with torch.no_grad():
            if not bool(model.through_sks):
                return self.twin_pressure(model, alloys, None, strains).double().numpy()
            params = self.sks.input_spec.clip(model(alloys.x, alloys.start).double().numpy())  # as the layer clamps
            rows = np.repeat(params, len(strains), axis=0)
            flat = [c for cells in alloys.contexts for c in cells]
            return self.sks(rows, flat)[:, self.p_col].reshape(len(params), -1)

    def evaluate(self, model) -> dict[str, float]:
        # the last logged evaluation and the final one see the same weights: compute once
        key = b"".join(t.detach().numpy().tobytes() for t in model.state_dict().values())
        if getattr(self, "_last_eval", (None,))[0] != key:
            self._last_eval = (key, torch.from_numpy(self.predict(model)))
        pred, k = self._last_eval[1], len(self.strains)
        target = torch.from_numpy(self.test.pressures)
        out = regression_metrics(pred[:, :k], target[:, :k])
        if len(self.extra):
            out.update(regression_metrics(pred[:, k:], target[:, k:], "extrap"))
        return out

    def validate(self, model) -> dict[str, float]:
        """``val_mae``, ``val_rmse``, ``val_max`` (GPa) on the held-out labelled alloys at
        the training strains."""
        if not len(self.val):
            return {}
        return regression_metrics(torch.from_numpy(self.predict(model, self.val)),
                                  torch.from_numpy(self.val.pressures), "val")

    def describe_data(self) -> dict[str, Any]:
        return dict(self._sizes)


class LJAlloyEOS(AlloyPairPotentialEOS):
    """Composition -> Lennard-Jones (epsilon, sigma) reproducing EMT pressures of alloys."""

    name = "lj-alloy-eos"
    description = "Lennard-Jones parameters of fcc Cu/Ag/Au/Ni/Pd/Pt alloys fitted to EMT pressures"
    default_sks = "ase-lj"
    potential = "lennard-jones"
    # the LJ fcc solid has B = 70.5 epsilon/sigma^3 with ASE's smooth cutoff at 3 sigma: 0.2 eV
    # at 2.45 Å, B ~ 154 GPa (120-180 GPa for these alloys)
    reference_parameters, bulk_modulus = {"epsilon": 0.2, "sigma": 2.45}, 154.0
    raw_scales = {"epsilon": 0.5, "sigma": 0.05}
    lower, upper = {"epsilon": 0.01, "sigma": 1.5}, {"epsilon": 2.0, "sigma": 4.0}


class MorseAlloyEOS(AlloyPairPotentialEOS):
    """Composition -> Morse (epsilon, r0, rho0) reproducing EMT pressures of alloys."""

    name = "morse-alloy-eos"
    description = "Morse parameters of fcc Cu/Ag/Au/Ni/Pd/Pt alloys fitted to EMT pressures"
    default_sks = "ase-morse"
    potential = "morse"
    # rho0 = 3.9 as Girifalco & Weizer's Cu (alpha r0 = 1.3588/Å x 2.866 Å); B ~ 163 GPa at
    # r0 = 3.1 Å: epsilon = 0.42 eV with a smooth cutoff between 1.5 and 2 r0, 0.52 eV with
    # ASE's default 1.9-2.7 r0, 0.55 eV force-shifted at 2.7 r0 (LAMMPS)
    reference_parameters, bulk_modulus = {"epsilon": 0.42, "r0": 3.1, "rho0": 3.9}, 163.0
    raw_scales = {"epsilon": 0.5, "r0": 0.05, "rho0": 0.3}
    lower = {"epsilon": 0.01, "r0": 1.5, "rho0": 1.5}
    upper = {"epsilon": 3.0, "r0": 4.5, "rho0": 10.0}


__all__ = ["AlloyPairPotentialEOS", "LJAlloyEOS", "MorseAlloyEOS"]
