"""Publishing metadata of zoo's four distributions, read from their pyproject.toml files.

Why: a wheel without its LICENSE, an index page whose links point nowhere, or a plugin that
accepts any future zoo-core only shows up after an upload; these checks cost milliseconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - zoo-core requires tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))
PROJECTS = [ROOT, *PLUGINS]
URL_KEYS = {"Homepage", "Documentation", "Issues", "Changelog"}
#: a Markdown link or image whose target is neither absolute nor an anchor
RELATIVE_LINK = re.compile(r"!?\[[^\]]*\]\((?!https?://|#|mailto:)([^)\s]+)")


def pyproject(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))


def ids(folder: Path) -> str:
    return folder.name if folder != ROOT else "zoo-core"


def test_every_plugin_is_found():
    assert {p.name for p in PLUGINS} >= {"zoo-plugin-ase", "zoo-plugin-lammps", "zoo-plugin-pymatgen"}


def test_root_license_is_mit_for_the_zoo_developers():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c)" in text and "the zoo developers" in text
    assert "WITHOUT WARRANTY OF ANY KIND" in text


@pytest.mark.parametrize("folder", PROJECTS, ids=ids)
def test_license_is_an_spdx_expression_with_its_file(folder):
    data = pyproject(folder)
    project = data["project"]
    assert project["license"] == "MIT", "an SPDX string, not the deprecated table"
    assert project["license-files"] == ["LICENSE"]
    # the copy a plugin ships in its wheel must be the repository's license, word for word
    assert (folder / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    assert not any(c.startswith("License ::") for c in project["classifiers"]), (
        "license classifiers may not be combined with a license expression"
    )
    backend = [Requirement(r) for r in data["build-system"]["requires"]]
    setuptools = next(r for r in backend if r.name == "setuptools")
    assert not setuptools.specifier.contains("76.9"), "license-files needs setuptools >= 77"


@pytest.mark.parametrize("folder", PROJECTS, ids=ids)
def test_long_description_is_markdown_with_absolute_links_only(folder):
    readme = folder / pyproject(folder)["project"]["readme"]
    assert readme.suffix == ".md" and readme.is_file()
    text = readme.read_text(encoding="utf-8")
    assert len(text) > 500
    assert RELATIVE_LINK.findall(text) == [], f"{readme}: links an index page cannot follow"


def test_relative_link_check_can_fail():
    assert RELATIVE_LINK.findall("see [docs](docs/cli.md) and ![plot](a.png)") == ["docs/cli.md", "a.png"]
    assert RELATIVE_LINK.findall("[docs](https://x.org/docs) [top](#top)") == []


def test_core_long_description_is_not_the_repository_readme():
    assert (ROOT / pyproject(ROOT)["project"]["readme"]).resolve() != (ROOT / "README.md").resolve()


@pytest.mark.parametrize("folder", PROJECTS, ids=ids)
def test_urls_classifiers_and_keywords(folder):
    project = pyproject(folder)["project"]
    urls = project["urls"]
    assert set(urls) >= URL_KEYS
    assert all(u.startswith("https://") for u in urls.values())
    assert "Programming Language :: Python :: 3" in project["classifiers"]
    assert any(c.startswith("Topic :: Scientific/Engineering") for c in project["classifiers"])
    assert project["keywords"]


@pytest.mark.parametrize("folder", PLUGINS, ids=ids)
def test_plugins_pin_the_core_minor_version(folder):
    """zoo-core is 0.x: a plugin must accept the core it is released with and refuse 0.2."""
    core = Version(pyproject(ROOT)["project"]["version"])
    reqs = [Requirement(r) for r in pyproject(folder)["project"]["dependencies"]]
    (zoo_core,) = [r for r in reqs if r.name == "zoo-core"]
    assert zoo_core.specifier.contains(core)
    assert not zoo_core.specifier.contains(Version(f"{core.major}.{core.minor + 1}.0"))


def test_core_keeps_dask_and_matplotlib_as_extras():
    project = pyproject(ROOT)["project"]
    hard = {Requirement(r).name for r in project["dependencies"]}
    assert not hard & {"dask", "distributed", "matplotlib"}
    extras = project["optional-dependencies"]
    assert {Requirement(r).name for r in extras["dask"]} == {"dask", "cryptography"}
    assert "distributed" in Requirement(extras["dask"][0]).extras
    assert {Requirement(r).name for r in extras["plot"]} == {"matplotlib"}
    assert Requirement(extras["all"][0]).extras == {"dask", "plot"}
    test = {Requirement(r).name: Requirement(r) for r in extras["test"]}
    assert {"pytest", "cryptography"} <= set(test)
    assert test["zoo-core"].extras >= {"dask", "plot"}


def test_core_is_typed():
    assert (ROOT / "core" / "zoo" / "py.typed").is_file()
    assert "py.typed" in pyproject(ROOT)["tool"]["setuptools"]["package-data"]["zoo"]
    assert "Typing :: Typed" in pyproject(ROOT)["project"]["classifiers"]


def test_ase_plugin_offers_asap3_as_the_fast_extra():
    fast = pyproject(ROOT / "plugins" / "zoo-plugin-ase")["project"]["optional-dependencies"]["fast"]
    assert [Requirement(r).name for r in fast] == ["asap3"]


def test_setup_script_parses():
    proc = subprocess.run(["bash", "-n", str(ROOT / "scripts" / "setup.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
