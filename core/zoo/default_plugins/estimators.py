"""Built-in estimators: ``rge`` and ``cge``."""

from zoo.hookspecs import hookimpl


@hookimpl
def register_estimators(register):
    from zoo.estimators import CoordinateEstimator, RandomEstimator

    register(RandomEstimator)
    register(CoordinateEstimator)
