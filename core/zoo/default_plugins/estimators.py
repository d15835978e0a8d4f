"""Built-in estimators: ``rge``, ``cge`` and ``sparse-cge``.

Each serves both modes: inside an SKS layer (hybrid) and on the model's parameters
(``mode = "full-zo"``, where ``optimizer`` picks ZO-SGD, ZO-Adam, ... - see :mod:`zoo.optim`).
"""

from zoo.hookspecs import hookimpl


@hookimpl
def register_estimators(register):
    from zoo.estimators import CoordinateEstimator, RandomEstimator, SparseCoordinateEstimator

    register(RandomEstimator)
    register(CoordinateEstimator)
    register(SparseCoordinateEstimator)
