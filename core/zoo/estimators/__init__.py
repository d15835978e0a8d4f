"""Zeroth-order gradient estimators: the base contract and zoo's built-in estimators."""

from .base import DirectionPlan, Estimator, Plan, spread_stats
from .cge import CoordinateEstimator
from .rge import RandomEstimator
from .sparse import SparseCoordinateEstimator

__all__ = [
    "DirectionPlan",
    "Estimator",
    "Plan",
    "CoordinateEstimator",
    "RandomEstimator",
    "SparseCoordinateEstimator",
    "spread_stats",
]
