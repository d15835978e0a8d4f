"""Built-in executor: ``serial``."""

from zoo.hookspecs import hookimpl


@hookimpl
def register_executors(register):
    from zoo.executors import Serial

    register(Serial)
