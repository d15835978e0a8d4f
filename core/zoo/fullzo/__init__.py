"""Full-ZO mode: the gradient of the whole loss with respect to the model's parameters,
from loss evaluations only - no backprop anywhere (DeepZero; MeZO).

The same estimators as in an SKS layer, applied to L(theta) with theta = every trainable
parameter (d = P of them). Three things keep it practical:

* **Memory ~1x the model.** No (q, P) direction matrix exists: an estimator's
  :meth:`~zoo.Estimator.parameter_plan` names random directions by *seeds*, and each
  direction is regenerated, one parameter tensor at a time, wherever it is needed - to
  perturb theta and to add its share to the gradient (the MeZO trick, Malladi et al. 2023).
  Parameters are perturbed in place and restored exactly from one saved copy
  (``restore="copy"``, +P floats) or by subtracting the perturbation again
  (``restore="subtract"``, no copy, restores to within rounding). Coordinate directions
  perturb and restore one scalar each.
* **One batched SKS call per step.** Pass 1 evaluates the loss at theta and at every
  perturbation with a *capturing* layer that records the SKS inputs and contexts and returns
  placeholders; every recorded row goes to the executor in ONE call; pass 2 re-evaluates
  each perturbation with a *replaying* layer that returns the precomputed outputs. The model
  is cheap beside the SKS, so evaluating it twice costs little, and the executor can spread
  all (n + 1) x B rows. If a loss's SKS inputs depend on SKS outputs (a row seen in pass 2
  differs from pass 1), that call is evaluated on its own (sequentially) and later steps
  skip the batching.
* **The gradient lands in ``p.grad``**, so any torch optimizer takes the step: a run's
  ``optimizer`` (:mod:`zoo.optim`) makes it ZO-SGD, ZO-SGD-MMT, ZO-SignSGD or ZO-Adam.

Estimate, for a plan with directions u_j, steps h_jk and weights w_jk:

    g = sum_j ( sum_k w_jk (L(theta + h_jk u_j) - L(theta)) ) u_j

which is RGE / CGE / sparse CGE exactly as in :mod:`zoo.estimators` (same scalings, so the
same unbiasedness statements hold with f = L and d = P).

The package, by seam:

* :mod:`.stand_ins` - the layers a task's loss sees during the passes (capturing,
  replaying, counting);
* :mod:`.directions` - the parameters as one flat vector, directions regenerated from
  seeds, and the in-place perturbation that is always undone;
* :mod:`.passes` - every loss evaluation of one step (plain, sequential or batched);
* :mod:`.estimate` - the estimate itself, its prior direction, its self-measured
  spread, and ZO-GraSP's scores for a sparse mask.
"""

from .directions import RESTORES, Directions, ParameterSpace
from .estimate import STATE_KEY, LossFn, estimate_parameter_gradients, zo_grasp_scores
from .passes import evaluate_losses
from .stand_ins import CapturingLayer, CountingLayer, ReplayingLayer

__all__ = [
    "RESTORES",
    "STATE_KEY",
    "CapturingLayer",
    "CountingLayer",
    "Directions",
    "LossFn",
    "ParameterSpace",
    "ReplayingLayer",
    "estimate_parameter_gradients",
    "evaluate_losses",
    "zo_grasp_scores",
]
