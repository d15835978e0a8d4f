"""Deprecated home of :mod:`zoo.control_variate` (a layer, not an estimator).

``from zoo.estimators.control_variate import ControlVariateLayer`` keeps working, with a
:class:`~zoo.deprecation.ZooDeprecationWarning`; import from ``zoo.control_variate``.
"""

from ..control_variate import ControlVariateLayer, ResidualSource, Surrogate  # noqa: F401
from ..deprecation import deprecated

deprecated(
    "zoo.estimators.control_variate moved to zoo.control_variate (it is a layer beside "
    "zoo.layer, not an estimator); import ControlVariateLayer from there",
    stacklevel=2,
)
