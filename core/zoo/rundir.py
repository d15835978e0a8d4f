"""A run folder is data, never a set of pointers: every file zoo touches stays inside it.

``zoo run --resume DIR`` opens a folder that may have come from someone else (a colleague's
results, an archive, a shared scratch space). If ``metrics.jsonl`` or ``checkpoints`` there
were symbolic links, writing the run's files would truncate or overwrite whatever they point
at. So every path zoo writes or reads in a run folder goes through :class:`RunFolder`, which

* refuses a name that is, or passes through, a symbolic link inside the folder (the folder
  itself may be a link: the user named it);
* opens files for writing with ``O_NOFOLLOW``, so a link planted between the check and the
  write is refused by the kernel rather than followed;
* turns the operating system's refusals (a read-only folder, a full disk, ``--out
  /dev/null``) into one :class:`zoo.ConfigError` that says which file and what to do.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import ConfigError

#: what a run folder holds, by name (checked on resume before anything is written)
KNOWN = ("config.toml", "metrics.jsonl", "summary.json", "loss.png", "cache.sqlite",
         "cache.sqlite-wal", "cache.sqlite-shm", "cache.sqlite-journal", "checkpoints")


class RunFolder:
    """The files of one run, each reached without following a symbolic link."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    # -- creation and checks ---------------------------------------------------------
    def create(self) -> bool:
        """Make the folder (and its parents); return whether it is new.

        An existing non-empty folder is the caller's business (``run`` refuses it, ``resume``
        wants it); an existing file, ``/dev/null`` or a read-only parent is a ConfigError.
        """
        existed = self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the run folder {str(self.path)!r}: {exc.strerror or exc}; choose "
                f"another --out"
            ) from None
        if not self.path.is_dir():
            raise ConfigError(f"run folder {str(self.path)!r} is not a folder; choose another --out")
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise ConfigError(f"run folder {str(self.path)!r} is not writable; choose another --out")
        return not existed

    def check_links(self) -> None:
        """Refuse a folder where any entry zoo uses is a symbolic link (resume's first step)."""
        for name in KNOWN:
            self._no_link(self.path / name)
        ckpt = self.path / "checkpoints"
        if ckpt.is_dir():
            for entry in ckpt.iterdir():
                self._no_link(entry)

    def _no_link(self, path: Path) -> None:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(mode):
            target = os.readlink(path)
            raise ConfigError(
                f"{str(path)!r} is a symbolic link (to {target!r}); a run folder is data and zoo "
                f"never follows links out of it. Replace the link with the file itself"
            )

    def file(self, *parts: str) -> Path:
        """The path of a file in the folder, after checking no part of it is a link."""
        path = self.path
        for part in parts:
            if part in ("", ".", "..") or "/" in part or os.sep in part:
                raise ConfigError(f"not a plain file name inside the run folder: {part!r}")
            path = path / part
            self._no_link(path)
        return path

    def subfolder(self, name: str) -> Path:
        path = self.file(name)
        try:
            path.mkdir(exist_ok=True)
        except OSError as exc:
            raise self._write_error(path, exc) from None
        return path

    # -- writing -------------------------------------------------------------------------
    @contextmanager
    def open(self, *parts: str, mode: str = "w") -> Iterator[IO]:
        """Open a file of the folder for writing (``w``, ``a``, ``wb``) without following links."""
        path = self.file(*parts)
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
        try:
            fd = os.open(path, flags, 0o666)
        except OSError as exc:
            raise self._write_error(path, exc) from None
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh

    def write_text(self, name: str, text: str) -> None:
        """Replace a text file atomically (see :meth:`write_bytes`)."""
        self.write_bytes(name, text.encode("utf-8"))

    def write_bytes(self, name: str, data: bytes) -> None:
        """Replace a file atomically: a temporary file beside it, then ``os.replace``.

        ``os.replace`` swaps the directory entry, so a link at ``name`` is replaced, never
        written through; ``mkstemp`` creates its file exclusively (``O_EXCL``).
        """
        path = self.file(name)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.path)
        except OSError as exc:
            raise self._write_error(path, exc) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise self._write_error(path, exc) from None

    def read_text(self, *parts: str) -> str:
        path = self.file(*parts)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            return fh.read().decode("utf-8", errors="replace")

    def remove(self) -> None:
        """Delete the folder (a refused start leaves nothing behind); never follows links."""
        shutil.rmtree(self.path, ignore_errors=True)

    def _write_error(self, path: Path, exc: OSError) -> ConfigError:
        return ConfigError(
            f"cannot write {str(path)!r}: {exc.strerror or exc}; the run folder must be writable "
            f"(the last checkpoint is kept; resume once it is)"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
