"""Built-in schedules: ``constant`` and ``cosine``."""

from zoo.hookspecs import hookimpl


@hookimpl
def register_schedulers(register):
    from zoo.schedulers import Constant, Cosine

    register(Constant)
    register(Cosine)
