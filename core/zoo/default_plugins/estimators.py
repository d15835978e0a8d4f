"""Built-in estimators: ``rge``, ``cge``, ``sparse-cge`` and the full-ZO optimisers
``zo-sgd``, ``zo-sgd-mmt``, ``zo-signsgd``, ``zo-adam``."""

from zoo.hookspecs import hookimpl


@hookimpl
def register_estimators(register):
    from zoo.estimators import CoordinateEstimator, RandomEstimator, SparseCoordinateEstimator
    from zoo.estimators.zo_optimizers import ZO_OPTIMIZERS

    register(RandomEstimator)
    register(CoordinateEstimator)
    register(SparseCoordinateEstimator)
    for cls in ZO_OPTIMIZERS:
        register(cls)
