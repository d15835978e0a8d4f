"""Splitting a dataset and drawing minibatches the way every zoo task must.

Two rules make comparisons and resumed runs honest, and each is easy to get subtly wrong
by hand, so tasks use these helpers instead:

* The **test set depends only on** ``split_seed``: runs with different ``--seed`` (label
  draws, initial weights) are scored on the same held-out rows.
* A **minibatch depends only on** (``seed``, ``step``): the loss is then a function of the
  model and the step, as full-ZO training (several evaluations a step) and resume need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError


@dataclass(frozen=True)
class Split:
    """Row indices of one run's data: labelled for training, validation (labelled, held out
    for early stopping), unlabelled (inputs only: where the physics term applies), test."""

    train: np.ndarray
    validation: np.ndarray
    unlabelled: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"labelled": len(self.train) + len(self.validation), "train": len(self.train),
                "validation": len(self.validation), "unlabelled": len(self.unlabelled),
                "test": len(self.test)}


def split(
    n: int,
    *,
    n_labelled: int,
    seed: int,
    split_seed: int = 0,
    test_fraction: float = 0.25,
    n_validation: int = 0,
    n_unlabelled: int | None = None,
    what: str = "task",
) -> Split:
    """Split ``n`` rows: a test set fixed by ``split_seed``, then from the rest (shuffled by
    ``seed``) ``n_labelled`` labelled rows — of which the last ``n_validation`` are held out
    for validation — and the remaining rows (at most ``n_unlabelled``) unlabelled.

    ``what`` names the task in the errors (a wrong option is a :class:`zoo.ConfigError`).
    """
    if not 0 < test_fraction < 1:
        raise ConfigError(f"{what}: test_fraction must be in (0, 1), got {test_fraction}")
    if isinstance(n_labelled, bool) or not isinstance(n_labelled, (int, np.integer)) or n_labelled < 1:
        raise ConfigError(f"{what}: n_labelled must be a whole number >= 1, got {n_labelled!r}")
    if not 0 <= n_validation < n_labelled:
        raise ConfigError(
            f"{what}: n_validation must be from 0 to n_labelled - 1 = {n_labelled - 1}, got {n_validation}"
        )
    order = np.random.default_rng(split_seed).permutation(n)
    n_test = int(round(test_fraction * n))
    test, pool = order[:n_test], order[n_test:]
    pool = np.random.default_rng(seed).permutation(pool)
    if n_labelled > len(pool):
        raise ConfigError(f"{what}: n_labelled={n_labelled} > {len(pool)} rows available outside the test set")
    labelled, rest = pool[:n_labelled], pool[n_labelled:]
    if n_unlabelled is not None:
        rest = rest[:n_unlabelled]
    cut = n_labelled - n_validation
    return Split(train=labelled[:cut], validation=labelled[cut:], unlabelled=rest, test=test)


def minibatch(n: int, size: int, seed: int, step: int) -> torch.Tensor:
    """Indices of the minibatch of ``size`` rows (of ``n``) at ``step``: a function of
    (``seed``, ``step``) only. All rows, shuffled, when ``size >= n``."""
    gen = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) % (2**63))
    return torch.randperm(n, generator=gen)[: min(int(size), n)]
