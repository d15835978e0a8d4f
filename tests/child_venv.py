"""A fresh virtual environment layered over the one running the tests, for pip installs.

Used by the tests that install a plugin package for real, the way a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


def make_child_venv(root: Path, plugins: str):
    """Create ``root`` and return ``run(*args) -> stdout`` running its python.

    ``plugins`` is the ZOO_PLUGINS selection for the child (listing imports every SKS
    plugin's classes, and some import heavy libraries).
    """
    # --without-pip: a venv's own ensurepip installs setuptools 65.5, which cannot build a
    # wheel without the `wheel` package ("invalid command 'bdist_wheel'"); the parent's pip
    # and setuptools are used instead (below).
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)],
                   check=True, timeout=120)
    python = root / "bin" / "python"
    # --system-site-packages gives the *base* interpreter's site-packages, not those of the
    # virtual environment running the tests (which has torch and zoo-core): a .pth file
    # makes that environment's packages (and its editable installs) visible in the new one.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    here = sysconfig.get_paths()["purelib"]
    Path(purelib, "zoo_test_parent_env.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZOO_PLUGINS")}
    env["ZOO_PLUGINS"] = plugins

    def run(*args: str, cwd: str | None = None) -> str:
        proc = subprocess.run([str(python), *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)
        assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    return run


def pip_install(run, path: Path) -> None:
    run("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
        "--disable-pip-version-check", "--quiet", str(path))


#: `zoo` is installed in the parent environment, so its console script is not in the child's
#: bin/; this runs the same entry point with the child's interpreter
ZOO_CLI = ("-c", "import sys; from zoo.cli import main; sys.argv[0] = 'zoo'; main()")
