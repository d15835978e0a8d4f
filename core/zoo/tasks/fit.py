"""``fit``: train any knowledge source from a table, without writing a task.

``zoo run --sks NAME --task fit --task-option data=FILE.csv`` reads a CSV file whose header
names the columns:

* a column named like an **SKS output** holds labels *through* the SKS: the model predicts
  the SKS's inputs, the SKS turns them into outputs, and those are compared with the column;
* a column named like an **SKS input** labels the model's output directly;
* ``targets=[...]`` names the columns to predict (default: every label column); the other
  label columns are *side labels*, known on every row that has them — a composition, a
  known parameter — and used on every training and unlabelled row, while the targets decide
  which rows are labelled, held out for testing and counted by ``n_labelled``;
* the **features** are the model's inputs: ``features=[...]`` names them, or every other
  numeric column is one;
* an **empty cell** is a missing label (that row still counts for the other columns, and a
  row with no label at all is unlabelled: physics only);
* ``zero=NAME`` (or a list) asks the SKS output NAME to vanish on every row — equilibrium
  conditions such as zero pressure or zero force — which is how unlabelled rows teach. The
  condition is measured in units of the output's typical size (its median size over 16
  points of the inputs' box, computed at set-up), so it weighs like the labels, whose errors are
  measured in their standard deviations.

The model is an MLP from the features to the SKS inputs, kept inside the inputs' bounds
(a sigmoid onto [lower, upper] where both are finite). The data-only twin is the same MLP
with a second head that predicts the label columns directly from the features. Test rows
are drawn from the labelled rows by ``split_seed``; ``n_validation`` of the training labels
are held out for validation; metrics are reported per labelled column, in its units.

Contexts are not read from the table: the SKS is called with ``contexts=None``, so it must
know what to compute without them (e.g. an ASE source given ``structure=FILE``), and what
tells one row from another must reach the SKS through its inputs — an input column labelled
in the table (a composition, a temperature) that the model learns to pass on. A zero
condition on an SKS that sees nothing row-specific pins every row to the same answer.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..sks import KnowledgeSource
from .base import Task
from .data import minibatch
from .metrics import finite_rows


def read_table(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Header and float matrix of a CSV file (empty cells are NaN; ``#`` lines skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"fit: cannot read data file {str(path)!r}: {exc}") from None
    rows = list(csv.reader(line for line in text.splitlines() if line.strip() and not line.startswith("#")))
    if len(rows) < 2:
        raise ConfigError(f"fit: {str(path)!r} needs a header line and at least one row")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or not all(header):
        raise ConfigError(f"fit: {str(path)!r} has empty or repeated column names: {header}")
    values = np.full((len(rows) - 1, len(header)), np.nan)
    numeric = np.ones(len(header), dtype=bool)
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ConfigError(f"fit: {str(path)!r} line {i} has {len(row)} cells, the header {len(header)}")
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell == "":
                continue
            try:
                values[i - 2, j] = float(cell)
            except ValueError:
                numeric[j] = False
    return [h for h, ok in zip(header, numeric)], values[:, numeric]


class _FitModel(torch.nn.Module):
    """features -> SKS inputs (inside their bounds), and a twin head -> label columns."""

    def __init__(self, n_features: int, lower: np.ndarray, upper: np.ndarray, center: np.ndarray,
                 scale: np.ndarray, n_labels: int, hidden: int):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
        )
        self.to_inputs = torch.nn.Linear(hidden, len(lower))
        self.to_labels = torch.nn.Linear(hidden, n_labels)
        for layer in (self.to_inputs, self.to_labels):  # start at the centre of the box
            torch.nn.init.zeros_(layer.bias)
            layer.weight.data.mul_(0.1)
        self.register_buffer("lower", torch.tensor(lower, dtype=torch.float32))
        self.register_buffer("upper", torch.tensor(upper, dtype=torch.float32))
        self.register_buffer("center", torch.tensor(center, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        #: 1 once trained through the SKS (the coupled variant), 0 for the data-only twin
        self.register_buffer("coupled", torch.zeros(()))

    def sks_inputs(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.to_inputs(self.body(x))
        bounded = torch.isfinite(self.lower) & torch.isfinite(self.upper)
        box = self.lower.nan_to_num(0.0) + (self.upper - self.lower).nan_to_num(0.0) * torch.sigmoid(raw)
        free = self.center + self.scale * raw
        return torch.where(bounded, box, free)

    def direct(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_labels(self.body(x))


class FitTask(Task):
    """Train an SKS from a CSV table: labels through it, labels of its inputs, zero conditions."""

    name = "fit"
    description = "Any SKS from a CSV table: output columns are labels through it, input columns label the model"
    defaults = {"estimator": "cge", "estimator_options": {"difference": "forward"}, "steps": 300, "lr": 1e-2}

    def __init__(
        self,
        data: str | None = None,
        features: list[str] | str | None = None,
        zero: list[str] | str | None = None,
        targets: list[str] | str | None = None,
        n_labelled: int | None = None,
        n_validation: int = 0,
        test_fraction: float = 0.25,
        split_seed: int = 0,
        batch: int = 32,
        zero_weight: float = 1.0,
        hidden: int = 32,
    ):
        if not data:
            raise ConfigError("fit: give the table: --task-option data=FILE.csv (see docs: the fit task)")
        if not 0 < test_fraction < 1:
            raise ConfigError(f"fit: test_fraction must be in (0, 1), got {test_fraction}")
        for key, value in (("n_validation", n_validation), ("batch", batch), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "n_validation" else 1):
                raise ConfigError(f"fit: {key} must be a whole number, got {value!r}")
        if not (isinstance(zero_weight, (int, float)) and math.isfinite(zero_weight) and zero_weight >= 0):
            raise ConfigError(f"fit: zero_weight must be a finite number >= 0, got {zero_weight!r}")
        self.data = str(data)
        self.features = [features] if isinstance(features, str) else features
        self.zero = [zero] if isinstance(zero, str) else list(zero or [])
        self.targets = [targets] if isinstance(targets, str) else (list(targets) if targets is not None else None)
        self.n_labelled, self.n_validation = n_labelled, n_validation
        self.test_fraction, self.split_seed = test_fraction, split_seed
        self.batch, self.zero_weight, self.hidden = batch, float(zero_weight), hidden

    # -- set-up ----------------------------------------------------------------------------
    def setup(self, sks: KnowledgeSource, seed: int) -> None:
        header, table = read_table(self.data)
        ins, outs = list(sks.input_spec.names), list(sks.output_spec.names)
        in_cols = [c for c in header if c in ins]
        out_cols = [c for c in header if c in outs]
        unknown_zero = [z for z in self.zero if z not in outs]
        if unknown_zero:
            raise ConfigError(f"fit: zero={unknown_zero} are not outputs of {sks.name} ({', '.join(outs)})")
        features = self.features or [c for c in header if c not in ins and c not in outs]
        missing = [f for f in features if f not in header]
        if missing:
            raise ConfigError(f"fit: feature columns {missing} are not numeric columns of {self.data} ({header})")
        if not features:
            raise ConfigError(f"fit: {self.data} has no feature columns besides {in_cols + out_cols}")
        if not in_cols and not out_cols:
            raise ConfigError(
                f"fit: no column of {self.data} is named like an input ({', '.join(ins)}) or an output "
                f"({', '.join(outs)}) of {sks.name}: nothing to learn from"
            )
        x = table[:, [header.index(f) for f in features]]
        if not np.isfinite(x).all():
            raise ConfigError(f"fit: every feature cell must hold a number (features: {features})")
        self.label_cols = in_cols + out_cols
        self.n_in_labels = len(in_cols)
        targets = self.targets or self.label_cols
        wrong = [t for t in targets if t not in self.label_cols]
        if wrong:
            raise ConfigError(f"fit: targets {wrong} are not label columns of {self.data} ({self.label_cols})")
        self.target_cols = [c for c in self.label_cols if c in targets]
        labels = table[:, [header.index(c) for c in self.label_cols]]
        is_target = np.array([c in self.target_cols for c in self.label_cols])
        self._split(labels[:, is_target], seed)
        # what training may see: every label of the training rows, the side labels of the
        # validation and unlabelled rows, nothing of the test rows
        visible = np.full_like(labels, np.nan)
        visible[self.train] = labels[self.train]
        side = np.concatenate([self.validation, self.unlabelled])
        visible[np.ix_(side, ~is_target)] = labels[np.ix_(side, ~is_target)]
        self.data_rows = np.flatnonzero(np.isfinite(visible).any(axis=1))
        self.y_visible = torch.tensor(visible, dtype=torch.float32)
        mean, std = x[self.train].mean(0), x[self.train].std(0)
        std[std == 0] = 1.0
        self.x = torch.tensor((x - mean) / std, dtype=torch.float32)
        self.y = torch.tensor(labels, dtype=torch.float32)
        spread = np.nanstd(labels[self.train], axis=0)
        self.label_scale = torch.tensor(np.where(np.isfinite(spread) & (spread > 0), spread, 1.0), dtype=torch.float32)
        self.in_index = [ins.index(c) for c in in_cols]
        self.out_index = [outs.index(c) for c in out_cols]
        self.zero_index = [outs.index(z) for z in self.zero]
        self.sks, self.seed, self.features_used = sks, seed, features
        spec = sks.input_spec
        center = np.zeros(len(ins))
        scale = np.ones(len(ins))
        for j, c in zip(self.in_index, in_cols):  # free inputs start at their labels' mean
            col = labels[self.train, in_cols.index(c)]
            if np.isfinite(col).any():
                center[j], scale[j] = np.nanmean(col), max(np.nanstd(col), 1e-3)
        self._box = (spec.lower.copy(), spec.upper.copy(), center, scale)
        self.zero_scale = self._zero_scale(sks)
        units = dict(zip(ins, spec.units)) | dict(zip(outs, sks.output_spec.units))
        self.metric_units = {f"{p}_mae_{c}": units.get(c, "") for c in self.label_cols for p in ("test", "val")}
        self.primary_metric = f"test_mae_{self.target_cols[0]}" if len(self.target_cols) == 1 else "test_nmae"
        if len(self.target_cols) > 1:
            self.metric_units["test_nmae"] = "in label standard deviations"

    def _zero_scale(self, sks: KnowledgeSource) -> torch.Tensor:
        """Typical size of each zero-condition output (RMS over 16 points spread over the
        inputs' box; 16 SKS calls at set-up), so the condition weighs like the labels do."""
        if not self.zero_index:
            return torch.ones(0)
        x, _ = self.sample_inputs(16, seed=self.split_seed)
        y = np.asarray(sks(x), dtype=np.float64)[:, self.zero_index]
        # the median size, not the RMS: a corner of a wide box (a crystal squeezed to half its
        # volume) can be 100x the rest and would make the condition weightless
        size = np.nanmedian(np.abs(y), axis=0)
        return torch.tensor(np.where(np.isfinite(size) & (size > 0), size, 1.0), dtype=torch.float32)

    def _split(self, labels: np.ndarray, seed: int) -> None:
        labelled = np.flatnonzero(np.isfinite(labels).any(axis=1))
        if len(labelled) < 2:
            raise ConfigError(f"fit: {self.data} needs at least 2 labelled rows, has {len(labelled)}")
        order = labelled[np.random.default_rng(self.split_seed).permutation(len(labelled))]
        n_test = max(1, int(round(self.test_fraction * len(labelled))))
        self.test, pool = order[:n_test], np.random.default_rng(seed).permutation(order[n_test:])
        unused = pool[:0]
        if self.n_labelled is not None:
            if not 1 <= self.n_labelled <= len(pool):
                raise ConfigError(f"fit: n_labelled must be from 1 to {len(pool)}, got {self.n_labelled}")
            pool, unused = pool[: self.n_labelled], pool[self.n_labelled :]
        if self.n_validation >= len(pool):
            raise ConfigError(f"fit: n_validation={self.n_validation} leaves no training labels ({len(pool)} in all)")
        cut = len(pool) - self.n_validation
        self.train, self.validation = pool[:cut], pool[cut:]
        # rows without labels, and labelled rows beyond n_labelled with their labels hidden
        self.unlabelled = np.concatenate([np.flatnonzero(~np.isfinite(labels).any(axis=1)), unused])

    # -- model and loss --------------------------------------------------------------------
    def make_model(self) -> torch.nn.Module:
        lower, upper, center, scale = self._box
        return _FitModel(self.x.shape[1], lower, upper, center, scale, len(self.label_cols), self.hidden)

    def loss(self, model, layer, step):
        rows = torch.as_tensor(self.data_rows)
        target = self.y_visible[rows]
        if layer is None:
            pred = model.direct(self.x[rows])
            data = self._mse(pred, target)
            return data, {"data_mse": float(data.detach())}
        model.coupled.fill_(1.0)
        pred = self._through(model, layer, rows, target)
        data = self._mse(pred, target)
        metrics = {"data_mse": float(data.detach())}
        total = data
        if self.zero_index:
            pool = torch.as_tensor(np.concatenate([self.train, self.unlabelled]))
            pick = pool[minibatch(len(pool), self.batch, self.seed, step)]
            y = layer(model.sks_inputs(self.x[pick]))[:, self.zero_index] / self.zero_scale
            ok = finite_rows(y)
            zero = (y[ok] ** 2).mean() if bool(ok.any()) else y.new_zeros(())
            metrics["zero_mse"] = float(zero.detach())
            total = total + self.zero_weight * zero
        return total, metrics

    def _through(self, model, layer, rows, target: torch.Tensor) -> torch.Tensor:
        """Predictions of every label column for ``rows`` via the SKS (NaN where it failed);
        the SKS is asked only for rows with an output label to compare with."""
        z = model.sks_inputs(self.x[rows])
        parts = [z[:, self.in_index]]
        if self.out_index:
            asked = torch.isfinite(target[:, self.n_in_labels:]).any(dim=1)
            out = z.new_full((len(z), len(self.out_index)), float("nan"))
            if bool(asked.any()):
                out = out.index_put((asked.nonzero().squeeze(1),), layer(z[asked])[:, self.out_index])
            parts.append(out)
        return torch.cat(parts, dim=1)

    def _mse(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        err = (pred - target) / self.label_scale
        ok = torch.isfinite(err)
        return (err[ok] ** 2).mean() if bool(ok.any()) else err.new_zeros(())

    # -- evaluation ------------------------------------------------------------------------
    def _predict(self, model, rows: np.ndarray) -> torch.Tensor:
        idx = torch.as_tensor(rows)
        if float(model.coupled) == 0.0:
            return model.direct(self.x[idx])
        z = model.sks_inputs(self.x[idx])
        parts = [z[:, self.in_index]]
        if self.out_index:
            y = self.sks(z.detach().double().numpy())
            parts.append(torch.tensor(y[:, self.out_index], dtype=z.dtype))
        return torch.cat(parts, dim=1)

    def _metrics(self, model, rows: np.ndarray, prefix: str) -> dict[str, float]:
        if len(rows) == 0:
            return {}
        pred, target = self._predict(model, rows), self.y[torch.as_tensor(rows)]
        err = (pred - target).abs()
        out: dict[str, float] = {}
        normalized = []
        for j, col in enumerate(self.label_cols):
            if col not in self.target_cols:
                continue
            ok = torch.isfinite(err[:, j])
            if bool(ok.any()):
                out[f"{prefix}_mae_{col}"] = float(err[ok, j].mean())
                normalized.append(out[f"{prefix}_mae_{col}"] / float(self.label_scale[j]))
        if len(self.target_cols) > 1 and normalized:
            out[f"{prefix}_nmae"] = float(np.mean(normalized))
        return out

    def evaluate(self, model) -> dict[str, float]:
        """Per-column test MAE; the coupled model's output columns come from the SKS at its
        predicted inputs (one SKS call per test row: its inference cost)."""
        return self._metrics(model, self.test, "test")

    def validate(self, model) -> dict[str, float]:
        return self._metrics(model, self.validation, "val")

    def sample_inputs(self, n: int, seed: int = 0):
        lower, upper, center, scale = self._box
        rng = np.random.default_rng(seed)
        lo = np.where(np.isfinite(lower), lower, center - scale)
        hi = np.where(np.isfinite(upper), upper, center + scale)
        return rng.uniform(lo, hi, size=(n, len(lo))), None

    def describe_data(self) -> dict[str, Any]:
        return {"file": self.data, "features": self.features_used, "labels": self.label_cols,
                "targets": self.target_cols,
                "zero": self.zero, "train": len(self.train), "validation": len(self.validation),
                "unlabelled": len(self.unlabelled), "test": len(self.test)}
