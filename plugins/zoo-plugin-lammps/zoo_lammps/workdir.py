"""The temporary folders ``lmp`` runs in, and when they go away.

A one-process run's folder holds its input, data, dump and output files; a persistent
session's folder (:mod:`zoo_lammps.session`) serves all its batches and lives as long as
the session. Either is removed when its run or session is done, and also when it fails (an
ERROR, a crash, a timeout, an exception, Ctrl-C), so a long training run does not fill the
temporary folder with dead runs. With the option ``keep_workdir=True`` a failed run's
folder stays for inspection and the error message says where (:mod:`zoo_lammps.batch`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from zoo import ConfigError

from . import safety

PREFIX = "zoo_lammps_"


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


def make(parent_dir: str | None) -> Path:
    """A fresh ``zoo_lammps_*`` folder in ``parent_dir`` (default: the system's temporary
    folder), private to this user (``mkdtemp``: mode 0700)."""
    try:
        return Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent_dir))
    except OSError as exc:
        where = parent_dir or tempfile.gettempdir()
        raise ConfigError(f"cannot make a working folder in {where}: {exc.strerror or exc}") from None


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = ["PREFIX", "make", "parent", "remove"]
