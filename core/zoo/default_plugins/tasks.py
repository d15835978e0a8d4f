"""Built-in task ``fit``: any knowledge source trained from a CSV table (see
:mod:`zoo.tasks.fit`)."""

from zoo.hookspecs import hookimpl


@hookimpl
def register_tasks(register):
    from zoo.tasks.fit import FitTask

    register(FitTask)
