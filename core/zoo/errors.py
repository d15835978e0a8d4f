"""The one error tree a user meets.

Every error a user can cause (a bad config, an unknown plugin name, a missing binary, a
structure the simulator rejects) is a :class:`ZooError`. The CLI prints its message as one
line and exits 2, without a traceback; anything else is a bug in zoo or a plugin and keeps its
traceback. Like ASE's calculator errors, the subclasses say *what kind* of thing went wrong so
callers can catch narrowly.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """Base class of every error a user can cause and fix."""


class ConfigError(ZooError):
    """A configuration value, option or file is wrong."""


class UnknownNameError(ZooError, KeyError):
    """A plugin name (SKS, estimator, ...) that no installed plugin registers."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        close = difflib.get_close_matches(name, self.known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        names = ", ".join(self.known) if self.known else "(none installed)"
        super().__init__(f"unknown {kind} {name!r}.{hint} Known {kind} names: {names}.")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class PluginError(ZooError):
    """A plugin failed to load, broke the hook contract, or clashes with another plugin."""


class SKSError(ZooError):
    """A knowledge source failed as a whole (crashed, missing binary, bad structure).

    A single row that fails is not an error: it comes back as a NaN row.
    """


class Interrupted(ZooError):
    """Ctrl-C during training: the checkpoint is written and the run can be resumed.

    The CLI exits 130 for it (the shell's code for SIGINT), not 2.
    """

    def __init__(self, run_dir: object, variant: str, step: int):
        super().__init__(
            f"interrupted during {variant} at step {step}; checkpoint written. "
            f"Continue with: zoo run --resume {run_dir}"
        )
