"""The temporary folder of one ``lmp`` process, and when it goes away.

A run's folder holds its input, data, dump and output files. It is removed when the run
is done, and also when it fails (an ERROR, a crash, a timeout, an exception, Ctrl-C), so a
long training run does not fill the temporary folder with dead runs. With the option
``keep_workdir=True`` a failed run's folder stays for inspection and the error message
says where.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import ConfigError

from . import safety

PREFIX = "zoo_lammps_"


@dataclass
class Folder:
    path: Path
    keep_if_failed: bool
    #: set by the caller when the run failed without an exception (a row's ERROR)
    failed: bool = False

    @property
    def where(self) -> str:
        """For an error message: where the folder is, or how to keep it."""
        if self.keep_if_failed:
            return f"working folder {self.path} kept"
        return "working folder removed; set keep_workdir=True to keep it"


def parent(value: Any) -> str | None:
    """The ``workdir`` option checked: None (the system's temporary folder) or a folder."""
    if value is None:
        return None
    try:
        text = safety.plain(os.fspath(value), "workdir")
    except TypeError:
        raise ConfigError(f"workdir must be a folder path, got {safety.show(value)}") from None
    try:
        ok = len(text) <= safety.MAX_PATH and Path(text).is_dir()
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"workdir {safety.show(text)} is not a folder")
    return text


@contextmanager
def folder(parent_dir: str | None, keep_if_failed: bool) -> Iterator[Folder]:
    """A fresh ``zoo_lammps_*`` folder, removed on leaving unless the run failed (an
    exception, or ``failed`` set) and ``keep_if_failed``."""
    try:
        path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent_dir))
    except OSError as exc:
        where = parent_dir or tempfile.gettempdir()
        raise ConfigError(f"cannot make a working folder in {where}: {exc.strerror or exc}") from None
    current = Folder(path, keep_if_failed)
    try:
        yield current
    except BaseException:
        current.failed = True
        raise
    finally:
        if not (current.failed and current.keep_if_failed):
            shutil.rmtree(path, ignore_errors=True)
