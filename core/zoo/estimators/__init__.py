"""Zeroth-order gradient estimators: the base contract and zoo's built-in estimators."""

from .base import Estimator, Plan
from .cge import CoordinateEstimator
from .rge import RandomEstimator

__all__ = ["Estimator", "Plan", "CoordinateEstimator", "RandomEstimator"]
