"""Built-in schedules: ``constant``, ``step``, ``exponential``, ``cosine``, ``warmup`` and
``adaptive`` (q from the measured spread of the estimate)."""

from zoo.hookspecs import hookimpl


@hookimpl
def register_schedulers(register):
    from zoo.schedulers import Adaptive, Constant, Cosine, Exponential, LinearWarmup, StepDecay

    for cls in (Constant, StepDecay, Exponential, Cosine, LinearWarmup, Adaptive):
        register(cls)
