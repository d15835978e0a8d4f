"""The high-d estimator benchmark's task: a learned relaxer for 32-atom fcc alloys (d = 96).

Why a task of its own: every zoo task so far feeds the SKS <= 3 inputs, where forward CGE
is cheap and exact, so no other estimator can win. Here each SKS row is the 96 Cartesian
coordinates of a 32-atom cell, and EMT's forces are the exact gradient of its energy: the
same knowledge source (``ase-emt``, ``inputs="positions"``) with ``outputs=["energy",
"forces"]`` is an exact-gradient oracle to measure every estimator against.

Data. Random Cu/Ag/Au/Ni/Pd/Pt fcc alloys (2x2x2 cubic supercells, compositions from a
Dirichlet(0.5) draw, so most have 2-4 major species), each cell at Vegard's lattice
constant from EMT's own elemental ones (:data:`EMT_A`), every atom then displaced by
Gaussian noise of ``rattle`` Å per coordinate. Each structure's reference minimum comes from
L-BFGS (fixed cell) on the oracle's energies and forces, started at its rattled positions.

Model. :class:`PairDisplacementModel`, a per-atom equivariant pair model: atom i moves by

    delta_i = sum_j phi(Z_i, Z_j, r_ij) fc(r_ij) (r_j - r_i) / r_ij        (j within 4.2 Å)

with phi a small MLP of both species (one-hot) and radial basis functions of r_ij. The
neighbour geometry is that of the *input* structure, so it is precomputed once. The model's
output z = x + delta (96 numbers per structure) is the SKS input; the loss is the EMT energy
of z, i.e. the model learns to move atoms downhill, and it has to generalise to held-out
structures. Only the energy's gradient with respect to z (96-d per row) tells it how.

Control variate. :class:`MorseSurrogate`, a Morse pair potential with one (D, alpha, r0) per
element and Lorentz-Berthelot-style mixing, fitted once to EMT energy differences between
rattled copies of the training structures (:func:`fit_morse`; those EMT calls are SKS
queries, and the benchmark charges them to the control-variate runs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms

#: EMT's equilibrium fcc lattice constants (Å), from ASE's EMT (energy minimised over a,
#: bulk(el, "fcc"), scipy bounded minimize_scalar, xatol 1e-5); used for Vegard's law
EMT_A = {"Cu": 3.5898, "Ag": 4.0636, "Au": 4.0562, "Ni": 3.4871, "Pd": 3.8787, "Pt": 3.9218}
#: the elements EMT parameterises among the fcc metals
ELEMENTS = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt")
N_ATOMS = 32
D_IN = 3 * N_ATOMS
#: neighbour cutoff of the model (Å): the first shell and part of the second
MODEL_CUTOFF = 4.2
#: radial basis of the model
RBF_CENTRES = np.linspace(2.2, 4.2, 8)
RBF_WIDTH = 0.25


def emt_sks(outputs: str | Sequence[str] = "energy"):
    """The knowledge source every variant uses: ase-emt on 32 atoms' positions."""
    import zoo

    return zoo.knowledge_source("ase-emt", inputs="positions", outputs=outputs, n_atoms=N_ATOMS)


# -- data -----------------------------------------------------------------------------------


def make_structures(n: int, seed: int, rattle: float = 0.1) -> list[Atoms]:
    """``n`` rattled random alloys, reproducible from ``seed``; ``info["sid"]`` numbers them.

    Built here from ``ase.build.bulk`` (not the plugin's alloy module, which is being
    reorganised): each of the 32 sites draws its species from the structure's composition.
    """
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        f = rng.dirichlet(np.full(len(ELEMENTS), 0.5))
        a = float(f @ [EMT_A[el] for el in ELEMENTS])
        atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(2)
        atoms.set_chemical_symbols(list(rng.choice(ELEMENTS, size=len(atoms), p=f)))
        atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
        atoms.info["sid"] = f"{seed}-{k}"
        out.append(atoms)
    return out


def relax(atoms: Atoms, oracle, gtol: float = 1e-4) -> tuple[float, np.ndarray]:
    """Energy (eV) and positions (96,) of the local minimum that L-BFGS reaches from ``atoms``
    (fixed cell), with energies and forces from ``oracle`` (the ase-emt SKS with outputs energy
    and forces). Stops when no force component exceeds ``gtol`` eV/Å."""
    from scipy.optimize import minimize

    def energy_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        y = oracle(x[None, :], [atoms])[0]
        return float(y[0]), -y[1:]

    x0 = atoms.get_positions().reshape(-1)
    res = minimize(energy_and_gradient, x0, jac=True, method="L-BFGS-B",
                   options=dict(gtol=gtol, ftol=1e-15, maxiter=5000))
    e, g = energy_and_gradient(res.x)
    if np.abs(g).max() > gtol:
        raise RuntimeError(f"relaxation stopped at max force {np.abs(g).max():.2g} eV/Å: {res.message}")
    return e, res.x


class Dataset:
    """Structures with their inputs x (n, 96), contexts and reference minima (per atom)."""

    def __init__(self, structures: list[Atoms]):
        self.contexts = structures
        self.x = np.stack([a.get_positions().reshape(-1) for a in structures])
        oracle = emt_sks(["energy", "forces"])
        mins = [relax(a, oracle) for a in structures]
        self.e_min = np.array([e for e, _ in mins])
        self.relaxed = np.stack([p for _, p in mins])
        self.pairs = PairGeometry(structures)

    def __len__(self) -> int:
        return len(self.contexts)

    def excess_per_atom(self, energies: np.ndarray) -> np.ndarray:
        """Energy above each structure's reference minimum, eV/atom."""
        return (np.asarray(energies).reshape(-1) - self.e_min) / N_ATOMS


# -- model ----------------------------------------------------------------------------------


def _onehot(symbols: Sequence[str]) -> np.ndarray:
    idx = [ELEMENTS.index(s) for s in symbols]
    return np.eye(len(ELEMENTS))[idx]


class PairGeometry:
    """Every (i, j, image) pair within :data:`MODEL_CUTOFF` of the input structures, as flat
    tensors over all structures: which row/atom it moves, its features, its unit vector."""

    def __init__(self, structures: list[Atoms]):
        from ase.neighborlist import neighbor_list

        rows, atoms_i, feats, units, cut = [], [], [], [], []
        for s, a in enumerate(structures):
            i, j, d, vec = neighbor_list("ijdD", a, MODEL_CUTOFF)
            oh = _onehot(a.get_chemical_symbols())
            rbf = np.exp(-(((d[:, None] - RBF_CENTRES[None, :]) / RBF_WIDTH) ** 2))
            feats.append(np.concatenate([oh[i], oh[j], rbf], axis=1))
            units.append(vec / d[:, None])
            cut.append(0.5 * (1.0 + np.cos(np.pi * d / MODEL_CUTOFF)))
            rows.append(np.full(len(i), s))
            atoms_i.append(i)
        self.n = len(structures)
        self.row = torch.as_tensor(np.concatenate(rows))
        self.atom = torch.as_tensor(np.concatenate(atoms_i))
        self.features = torch.as_tensor(np.concatenate(feats), dtype=torch.float64)
        self.unit = torch.as_tensor(np.concatenate(units), dtype=torch.float64)
        self.cutoff = torch.as_tensor(np.concatenate(cut), dtype=torch.float64)


class PairDisplacementModel(torch.nn.Module):
    """delta_i = sum_j phi(Z_i, Z_j, r_ij) fc(r_ij) r_hat_ij: rotation- and permutation-equivariant,
    and it transfers to any structure of these elements. ``init_scale`` shrinks the output layer,
    so every run starts next to delta = 0 (the rattled input)."""

    def __init__(self, hidden: int = 16, init_scale: float = 0.01):
        super().__init__()
        n_features = 2 * 6 + len(RBF_CENTRES)
        self.phi = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
        ).double()
        with torch.no_grad():
            self.phi[2].weight.mul_(init_scale)
            self.phi[2].bias.mul_(init_scale)

    def displacements(self, geo: PairGeometry) -> torch.Tensor:
        w = self.phi(geo.features)[:, 0] * geo.cutoff
        flat = (geo.row * N_ATOMS + geo.atom)[:, None] * 3 + torch.arange(3)[None, :]
        out = torch.zeros(geo.n * D_IN, dtype=torch.float64)
        out = out.index_add(0, flat.reshape(-1), (w[:, None] * geo.unit).reshape(-1))
        return out.reshape(geo.n, D_IN)

    def forward(self, x: torch.Tensor, geo: PairGeometry) -> torch.Tensor:
        """The SKS inputs z = x + delta for the structures whose geometry is ``geo``."""
        return x + self.displacements(geo)


# -- exact gradient -------------------------------------------------------------------------


class ExactEnergy:
    """Energy with its exact gradient: one forward call of ``ase-emt`` with outputs energy and
    forces through a :class:`zoo.SKSLayer` (so zoo counts it: 1 query per row, the forward
    pass, like every estimator's forward), and dE/dz = -forces handed to autograd."""

    def __init__(self):
        import zoo

        self.layer = zoo.SKSLayer(emt_sks(["energy", "forces"]), estimator="cge")

    @property
    def queries(self) -> int:
        return self.layer.queries

    def __call__(self, z: torch.Tensor, contexts: Sequence[Atoms]) -> torch.Tensor:
        y = self.layer(z.detach(), contexts)  # no graph: the layer's estimator never runs
        energy, forces = y[:, :1], y[:, 1:]
        # value E(z), gradient -F: E + (z - stop_grad(z)) . (-F)
        return energy + ((z - z.detach()) * -forces).sum(dim=1, keepdim=True)


# -- control variate ------------------------------------------------------------------------

#: the Morse surrogate's smooth cutoff (Å)
MORSE_CUTOFF = (5.0, 6.0)


class MorseSurrogate:
    """A Morse pair energy of rows of positions, differentiable in torch, with per-element
    (D, alpha, r0) mixed as D_ij = sqrt(D_i D_j), alpha_ij = (alpha_i + alpha_j)/2,
    r0_ij = (r0_i + r0_j)/2, smoothly cut off between 5 and 6 Å.

    Pairs (with their periodic images) are listed once per structure, from its context,
    within 6.5 Å (the model moves atoms by ~0.1-0.2 Å). A pair that came inside 6 Å unlisted
    would only be missing from the surrogate: any fixed surrogate leaves the control-variate
    estimate's mean unchanged (zoo.control_variate), a worse one only adds variance.

    Unfitted (``params=None``): D = 0.3 eV, alpha = 1.4 1/Å, r0 = the element's nearest-neighbour
    distance in EMT's lattice.
    """

    def __init__(self, params: torch.Tensor | None = None):
        if params is None:
            d0 = torch.full((len(ELEMENTS),), 0.3)
            a0 = torch.full((len(ELEMENTS),), 1.4)
            r0 = torch.tensor([EMT_A[e] / np.sqrt(2.0) for e in ELEMENTS])
            params = torch.stack([d0.log(), a0.log(), r0]).double()
        self.params = params  # (3, n_elements): log D, log alpha, r0
        self._pairs: dict[str, tuple[torch.Tensor, ...]] = {}

    def __repr__(self) -> str:
        return "MorseSurrogate(" + np.array2string(self.params.detach().numpy(), precision=4) + ")"

    def __getstate__(self):
        return {"params": self.params.detach()}

    def __setstate__(self, state):
        self.params, self._pairs = state["params"], {}

    def _pair_list(self, atoms: Atoms) -> tuple[torch.Tensor, ...]:
        key = atoms.info.get("sid")
        if key is None or key not in self._pairs:
            from ase.neighborlist import neighbor_list

            # every pair in both directions (i, j, S) and (j, i, -S): the energy halves the sum
            i, j, shift = neighbor_list("ijS", atoms, MORSE_CUTOFF[1] + 0.5)
            species = np.array([ELEMENTS.index(s) for s in atoms.get_chemical_symbols()])
            entry = (
                torch.as_tensor(i), torch.as_tensor(j),
                torch.as_tensor(shift @ np.array(atoms.cell), dtype=torch.float64),
                torch.as_tensor(species[i]), torch.as_tensor(species[j]),
            )
            if key is None:
                return entry
            self._pairs[key] = entry
        return self._pairs[key]

    def energy(self, z: torch.Tensor, atoms: Atoms) -> torch.Tensor:
        """(n,) Morse energies of rows z (n, 96), all in the structure ``atoms``."""
        i, j, offset, si, sj = self._pair_list(atoms)
        logd, loga, r0 = self.params
        x = z.reshape(z.shape[0], -1, 3)
        r = torch.linalg.norm(x[:, j] + offset - x[:, i], dim=-1)
        d = torch.exp(0.5 * (logd[si] + logd[sj]))
        alpha = 0.5 * (torch.exp(loga[si]) + torch.exp(loga[sj]))
        rm = 0.5 * (r0[si] + r0[sj])
        e = d * ((1.0 - torch.exp(-alpha * (r - rm))) ** 2 - 1.0)
        lo, hi = MORSE_CUTOFF
        t = ((r - lo) / (hi - lo)).clamp(0.0, 1.0)
        return 0.5 * (e * 0.5 * (1.0 + torch.cos(torch.pi * t))).sum(dim=1)

    def __call__(self, z: torch.Tensor, contexts: Sequence[Atoms]) -> torch.Tensor:
        """The control-variate signature: (n, 96) rows and their contexts -> (n, 1) energies."""
        z = z.to(torch.float64)
        groups: dict[int, list[int]] = {}
        for k, ctx in enumerate(contexts):
            groups.setdefault(id(ctx), []).append(k)
        out = torch.zeros(z.shape[0], dtype=torch.float64)
        for rows in groups.values():
            idx = torch.as_tensor(rows)
            out = out.index_add(0, idx, self.energy(z[idx], contexts[rows[0]]))
        return out[:, None]


def fit_morse(data: Dataset, sks, rattles: int = 4, amplitude: float = 0.1, seed: int = 0,
              iterations: int = 200) -> tuple[MorseSurrogate, int, float]:
    """Fit :class:`MorseSurrogate` to EMT energy differences between ``rattles`` rattled copies
    of each training structure (per-structure means removed, so only what moves atoms counts).

    Returns the surrogate, the SKS queries it took (rattles x structures) and the relative RMS
    error of the fitted energy differences.
    """
    rng = np.random.default_rng(seed)
    n = len(data)
    z = np.repeat(data.x, rattles, axis=0) + rng.normal(0.0, amplitude, (n * rattles, D_IN))
    ctx = [c for c in data.contexts for _ in range(rattles)]
    e = np.asarray(sks(z, ctx), dtype=np.float64).reshape(n, rattles)
    target = torch.as_tensor(e - e.mean(axis=1, keepdims=True))
    zt = torch.as_tensor(z)
    model = MorseSurrogate()
    params = model.params.clone().requires_grad_(True)
    model.params = params
    opt = torch.optim.LBFGS([params], lr=0.5, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        s = model(zt, ctx).reshape(n, rattles)
        loss = ((s - s.mean(dim=1, keepdim=True) - target) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    model.params = params.detach()
    with torch.no_grad():
        s = model(zt, ctx).reshape(n, rattles)
        resid = (s - s.mean(dim=1, keepdim=True) - target).numpy()
    rel = float(np.sqrt((resid**2).mean() / (target.numpy() ** 2).mean()))
    return model, n * rattles, rel
