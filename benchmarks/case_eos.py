"""Potential parameters (the Morse case study) under the benchmark protocol, beside twins
with the same functional form and the starting point with no training at all.

Task ``morse-alloy-eos`` through LAMMPS: composition -> Morse (epsilon, r0, rho0) of a
random fcc alloy, trained so that the potential's pressures match ASE EMT pressures at
strains -3, 0, +3 % (labels), scored on unseen alloys at those strains (``test``) and at
+-6 % (``extrapolation``: never trained on).

* **starting point, no training**: every alloy's Morse potential at its start (equilibrium
  at Vegard's lattice constant, bulk modulus 163 GPa), through LAMMPS — what the coupled
  model begins from;
* **Birch-Murnaghan, no training**: the same start as an equation of state (a0 = Vegard,
  B0 = 163 GPa, B0' = 4.5): the textbook rule;
* **data-only twin (MLP read-out)**: the same network reading the pressure off its features;
* **data-only twin (Birch-Murnaghan)**: the same network giving each alloy (a0, B0, B0') of
  a Birch-Murnaghan EOS from the same starting point — what a physical functional form
  alone gives, so the coupled model's edge over it is what the black box adds;
* **zoo, SKS-coupled**: the Morse potential through LAMMPS, gradients by CGE.

    python benchmarks/case_eos.py [--seeds 0 1 2 3 4] [--labels 4 8 16 32 64]

writes ``benchmarks/results/case_eos.{md,json}``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import protocol  # noqa: E402

import zoo  # noqa: E402
from zoo.tasks import sks_options_for  # noqa: E402

TASK, SKS = "morse-alloy-eos", "lammps"
METRICS = {"test_mae": "at the training strains (-3, 0, +3 %)", "extrap_mae": "extrapolated to +-6 %"}


def untrained(cells: dict, n_labelled: int, seed: int) -> None:
    """The two starting points, scored like the models (they need no labels)."""
    task = zoo.task(TASK, n_labelled=n_labelled)
    sks = zoo.knowledge_source(SKS, **sks_options_for(task, SKS))
    task.setup(sks, seed)
    torch.manual_seed(0)
    for twin, name in (("mlp", "starting point, no training (Morse via LAMMPS)"),
                       ("birch-murnaghan", "Birch-Murnaghan from the same start, no training")):
        task.twin = twin
        model = task.make_model()
        with torch.no_grad():  # raw = 0: every parameter at its start
            model.body[-1].weight.zero_()
            model.body[-1].bias.zero_()
            model.through_sks.fill_(twin == "mlp")
        metrics = task.evaluate(model)
        task._last_eval = (None,)
        for key in METRICS:
            protocol.add_value(cells[key], name, n_labelled, metrics[key],
                               inference_queries=1.0 if twin == "mlp" else 0.0)


def main() -> None:
    proto, label_counts = protocol.command_line(__doc__, [4, 8, 16, 32, 64])
    started = time.perf_counter()
    cells: dict[str, dict] = {key: {} for key in METRICS}
    names_mlp = {"sks-coupled": "zoo, SKS-coupled (Morse via LAMMPS)", "data-only": "data-only twin (MLP read-out)"}
    names_bm = {"data-only": "data-only twin (Birch-Murnaghan)"}
    for n in label_counts:
        for seed in proto.seeds:
            protocol.progress(f"eos: {n} labels, seed {seed}")
            untrained(cells, n, seed)
            settings = {"sks": SKS, "task": TASK, **proto.settings(n)}
            pair = protocol.run_pair(settings, seed)
            bm_settings = {**settings, "coupled": False,
                           "task_options": {**settings["task_options"], "twin": "birch-murnaghan"}}
            bm = protocol.run_pair(bm_settings, seed)
            for key in METRICS:
                protocol.collect(cells[key], pair, n, key, names_mlp, inference={"sks-coupled": 1.0})
                protocol.collect(cells[key], bm, n, key, names_bm)
    sections = []
    for key, what in METRICS.items():
        sections += [f"## Pressure MAE {what}", "",
                     protocol.markdown_table(cells[key].values(), label_counts, "GPa"), ""]
    intro = (
        "Morse parameters of random fcc alloys from their composition (`morse-alloy-eos` through "
        "LAMMPS), fitted to ASE EMT pressures; every model is scored on the same 24 unseen alloys. "
        f"Protocol: {proto.describe()}. 'SKS queries / prediction' counts one pressure of one "
        "alloy at one strain: a Morse potential (the coupled model's, or the untrained start) "
        "needs LAMMPS for it; an equation of state or the MLP read-out does not."
    )
    data = {key: [c.summary() for c in cells[key].values()] for key in METRICS}
    protocol.write_results("case_eos", "Potential parameters: zoo against twins of the same functional form",
                           intro, sections, {"protocol": vars(proto) | {"seeds": list(proto.seeds)}, **data},
                           started)


if __name__ == "__main__":
    main()
