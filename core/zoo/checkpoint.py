"""Checkpoints: written atomically, read with ``weights_only=True``.

Atomic (a temporary file in the same folder, then ``os.replace``) so a kill mid-write never
leaves a truncated checkpoint; ``weights_only=True`` so loading a checkpoint can never run
code from it. Only tensors, numbers, strings, lists and dicts go in.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import ZooError


def save(state: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ZooError(
            f"cannot write checkpoint {str(path)!r}: {exc.strerror or exc}; the previous "
            f"checkpoint is intact (resume once the folder is writable)"
        ) from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide checkpoints from a group
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ZooError(
            f"cannot write checkpoint {str(path)!r}: {exc.strerror or exc}; the previous "
            f"checkpoint is intact (resume once the folder is writable)"
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ZooError(f"checkpoint {str(path)!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file
        raise ZooError(f"cannot load checkpoint {str(path)!r}: {exc}") from None
