"""Built-in executors: ``serial``, ``processes`` and ``dask``."""

from zoo.hookspecs import hookimpl


@hookimpl
def register_executors(register):
    from zoo.executors.dask import DaskExecutor
    from zoo.executors.processes import Processes
    from zoo.executors.serial import Serial

    register(Serial)
    register(Processes)
    register(DaskExecutor)
