"""Benchmark (a): cosine to the true gradient versus SKS queries, every estimator, on EMT.

SKS: ``ase-emt`` with inputs = positions, output = energy, a rattled 32-atom Cu cell
(d = 96). True gradient: -forces from ASE's EMT (analytic, not counted as queries).

Part 1, at one point: each estimator at a few query budgets, R repeats; mean and spread
of the cosine, relative error of the norm, queries per estimate (f(z) not counted: the
forward pass has it).
Part 2, along a trajectory (gradient reuse needs a past): 20 steps of gradient descent on
the positions with RGE (q = 16), with and without ``prior="previous"``, and RGE with the
Morse control variate; cosine of each step's estimate to that step's true gradient.

Writes results/estimators_cosine.{md,json,png}. About 2 minutes on 2 shared cores.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimators_common import (  # noqa: E402
    RESULTS, MorseSurrogate, exact_energy_gradient, markdown_table, rattled_cu, write_json,
)

import zoo  # noqa: E402
from zoo.estimators.control_variate import ControlVariateLayer  # noqa: E402

R = 3
MU = 1e-3


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def layer_estimate(layer, x, atoms):
    z = torch.tensor(x[None, :], dtype=torch.float64, requires_grad=True)
    before = layer.queries
    layer(z, [atoms]).sum().backward()
    return z.grad[0].numpy(), layer.queries - before - 1  # f(z) is the forward pass


def calibrated_morse(sks, atoms, x, morse):
    """Scale the surrogate so its derivative along its own gradient matches EMT's:
    beta = D_f / D_s along u = grad s / |grad s| (2 central queries, counted)."""
    z = torch.tensor(x[None, :], dtype=torch.float64, requires_grad=True)
    morse(z, [atoms]).sum().backward()
    gs = z.grad[0].numpy()
    u = gs / np.linalg.norm(gs)
    h = 1e-3
    e = sks(np.stack([x + h * u, x - h * u]), [atoms, atoms])[:, 0]
    beta = (e[0] - e[1]) / (2 * h) / np.linalg.norm(gs)

    class Scaled(MorseSurrogate):
        def __call__(self, z, contexts):
            return beta * super().__call__(z, contexts)

    return Scaled(), float(beta), 2


def main() -> dict:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    atoms = rattled_cu()
    x0 = atoms.get_positions().reshape(-1)
    _, g = exact_energy_gradient(atoms)
    sks = zoo.knowledge_source("ase-emt", inputs="positions", outputs="energy", n_atoms=32)
    d = x0.size
    morse = MorseSurrogate()
    morse_cal, beta, cal_queries = calibrated_morse(sks, atoms, x0, morse)

    configs: list[tuple[str, str, dict, list]] = []
    for q in (8, 32, 96):
        configs += [
            ("rge gaussian fwd", "rge", dict(q=q), [q]),
            ("rge sphere fwd", "rge", dict(q=q, directions="sphere"), [q]),
            ("rge rademacher fwd", "rge", dict(q=q, directions="rademacher"), [q]),
            ("rge sphere orthogonal fwd", "rge", dict(q=q, directions="sphere", orthogonal=True), [q]),
            ("rge gaussian + Morse CV", "rge", dict(q=q), [q, "cv"]),
            ("rge gaussian + calibrated Morse CV", "rge", dict(q=q), [q, "cv-cal"]),
        ]
    for q in (4, 16, 48):
        configs.append(("rge gaussian central", "rge", dict(q=q, difference="central"), [q]))
    for k in (8, 32):
        configs.append(("cge random k coords fwd", "cge", dict(coordinates=k, difference="forward"), [k]))
        configs.append(("sparse-cge zo-grasp fwd", "sparse-cge", dict(sparsity=1 - k / d, probe_q=16), [k]))
    configs += [("cge fwd", "cge", dict(difference="forward"), [d]), ("cge central", "cge", dict(difference="central"), [d])]

    rows = []
    for label, name, options, (size, *extra) in configs:
        est = zoo.estimator(name, mu=MU, **options)
        deterministic = name == "cge" and "coordinates" not in options
        cos, rel, queries, probe = [], [], [], 0
        for rep in range(1 if deterministic else R):
            if extra == ["cv"]:
                layer = ControlVariateLayer(sks, morse, estimator=est, seed=rep)
            elif extra == ["cv-cal"]:
                layer = ControlVariateLayer(sks, morse_cal, estimator=est, seed=rep)
            else:
                layer = zoo.SKSLayer(sks, estimator=est, seed=rep)
            if name == "sparse-cge" and rep == 0:  # the ZO-GraSP probe, once
                _, probe = layer_estimate(layer, x0, atoms)
            est_g, n = layer_estimate(layer, x0, atoms)
            cos.append(cosine(est_g, g))
            rel.append(float(np.linalg.norm(est_g - g) / np.linalg.norm(g)))
            queries.append(n)
        extra_q = cal_queries if extra == ["cv-cal"] else 0
        rows.append(dict(estimator=label, name=name, options=options, queries=int(np.mean(queries)),
                         one_time_queries=int(probe + extra_q), cosine_mean=float(np.mean(cos)),
                         cosine_std=float(np.std(cos)), relative_error=float(np.mean(rel)),
                         theory=float(np.sqrt(size / (size + d))) if name == "rge" else None))
        print(f"{label:38s} q={rows[-1]['queries']:4d} cos={rows[-1]['cosine_mean']:.3f}", flush=True)

    # -- part 2: a trajectory (gradient descent on the positions, true gradients from ASE)
    traj = {}
    steps, lr, q = 20, 0.01, 16
    for label, kind in (("rge q=16", "plain"), ("rge q=16 + prior (gradient reuse)", "prior"),
                        ("rge q=16 + calibrated Morse CV", "cv")):
        est = zoo.estimator("rge", q=q, mu=MU, prior="previous" if kind == "prior" else "none")
        layer = (ControlVariateLayer(sks, morse_cal, estimator=est, seed=0) if kind == "cv"
                 else zoo.SKSLayer(sks, estimator=est, seed=0))
        a = atoms.copy()
        x = x0.copy()
        cs = []
        for _ in range(steps):
            a.set_positions(x.reshape(-1, 3))
            _, g_t = exact_energy_gradient(a)
            est_g, _ = layer_estimate(layer, x, a)
            cs.append(cosine(est_g, g_t))
            x = x - lr * g_t  # follow the TRUE gradient, so every variant sees the same points
        traj[label] = cs
        print(f"{label:38s} trajectory mean cos {np.mean(cs):.3f}", flush=True)

    wall = time.perf_counter() - t0
    data = dict(d=d, mu=MU, repeats=R, morse_beta=beta, rows=rows, trajectory=traj, wall_s=wall)
    write_json("estimators_cosine", data)
    md = [
        "# Cosine to the true gradient vs SKS queries (EMT, 32-atom rattled Cu, d = 96)",
        "",
        f"mu = {MU} Å, {R} repeats (deterministic CGE: 1). Queries per estimate, f(z) not counted. "
        f"Theory for RGE: sqrt(q/(q+d)). Wall time {wall:.0f} s.",
        "",
        markdown_table(
            ["estimator", "queries", "one-time", "cosine", "+/-", "rel. error", "sqrt(q/(q+d))"],
            [[r["estimator"], r["queries"], r["one_time_queries"], r["cosine_mean"], r["cosine_std"],
              r["relative_error"], "" if r["theory"] is None else r["theory"]] for r in rows],
        ),
        "",
        f"Morse control variate: raw Girifalco-Weizer Cu Morse; calibrated: scaled by beta = {beta:.3f} "
        f"from one central difference along the surrogate's gradient (2 queries, 'one-time').",
        "",
        "## Along a trajectory (20 gradient-descent steps, lr 0.01 Å²/eV)",
        "",
        markdown_table(["estimator (q = 16)", "mean cosine", "first 5", "last 5"],
                       [[k, float(np.mean(v)), float(np.mean(v[:5])), float(np.mean(v[-5:]))] for k, v in traj.items()]),
        "",
    ]
    (RESULTS / "estimators_cosine.md").write_text("\n".join(md))
    plot(rows, traj)
    return data


def plot(rows, traj):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    labels = []
    for r in rows:
        if r["estimator"] not in labels:
            labels.append(r["estimator"])
    for label in labels:
        pts = sorted((r["queries"], r["cosine_mean"]) for r in rows if r["estimator"] == label)
        ax.plot(*zip(*pts), marker="o", label=label)
    qq = np.arange(1, 200)
    ax.plot(qq, np.sqrt(qq / (qq + 96)), "k--", lw=1, label="sqrt(q/(q+d))")
    ax.set(xscale="log", xlabel="SKS queries per estimate", ylabel="cosine to -forces",
           title="EMT positions, d = 96")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    for k, v in traj.items():
        bx.plot(np.arange(1, len(v) + 1), v, marker=".", label=k)
    bx.set(xlabel="step", ylabel="cosine", title="along a descent trajectory (q = 16)")
    bx.legend(fontsize=8)
    bx.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / "estimators_cosine.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
