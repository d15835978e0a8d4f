"""The documentation cannot rot: its examples run, and everything zoo has is documented.

* Every ```python block of README.md and of each page under docs/ runs, a page's blocks in
  order in one namespace (a page is a script), and every ``zoo ...`` command in the page's
  shell blocks runs between them, made small (``--steps 2``; :func:`smoke_args`), in the same
  scratch folder, so a block can write the CSV file the next command reads. Both run in this
  process: the CLI through click's runner, as ``zoo`` itself would with its plugin commands.
* A block that cannot run here is marked, with the reason: an HTML comment on the line
  before its fence, ``<!-- docs-test: skip (needs a Dask cluster of your own) -->``, or an
  info string ```` ```python skip="needs a GPU" ````. TOML blocks that are zoo configs are
  read as zoo reads a config file.
* Meta-tests, in the spirit of datasette's: every hook with its exact signature, every
  registered component of every kind, every setting of ``zoo run`` and every public name
  is documented; the README's and the pages' relative links resolve.

The site itself (``mkdocs build --strict``) is built by .ci/run.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import shlex
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import zoo
import zoo.hookspecs
import zoo.plugins

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SHELL = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)(?P<info>[^`]*)$")
SKIP_COMMENT = re.compile(r"^\s*<!--\s*docs-test:\s*skip\b\s*(?P<why>.*?)\s*-->\s*$")
SKIP_INFO = re.compile(r"""\bskip\s*=\s*(?:"([^"]*)"|'([^']*)')""")
ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=")
#: a Markdown link or image whose target is neither absolute nor an anchor
RELATIVE_LINK = re.compile(r"!?\[[^\]]*\]\((?!https?://|#|mailto:)([^)\s]+)")
#: folders of the repository a documented command may name (examples/.../config.toml)
REPO_FOLDERS = ("examples", "benchmarks", "plugins")


# -- reading the pages ------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # the code's first line in the page (1-based)
    lang: str
    code: str
    skip: str | None

    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"


def pages() -> list[Path]:
    """README.md and every page under docs/ (the sources, not the generated pages)."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` (indented ones too, as in an admonition)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        closing = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body, j = [], i + 1
        while j < len(lines) and not closing.match(lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        previous = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        comment, info = SKIP_COMMENT.match(previous), SKIP_INFO.search(m.group("info"))
        skip = comment.group("why").strip(" ()") if comment else (info and (info.group(1) or info.group(2)))
        found.append(Block(page, i + 2, m.group("lang").lower(), "\n".join(body) + "\n", skip or None))
        i = j + 1
    return found


def commands(code: str) -> list[tuple[dict[str, str], list[str]]]:
    """The ``zoo`` commands of a shell block as ``(environment, arguments after zoo)``.

    Backslash continuations are joined, comments and ``$`` prompts dropped, and ``&&``,
    ``||``, ``;`` and ``|`` end a command; ``.venv/bin/zoo`` is ``zoo``.
    """
    found = []
    for line in re.sub(r"\\\n", " ", code).splitlines():
        lexer = shlex.shlex(re.sub(r"^\s*\$\s+", "", line), posix=True, punctuation_chars=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        segment: list[str] = []
        for token in [*lexer, ";"]:
            if token not in ("&&", "||", ";", "|", "&"):
                segment.append(token)
                continue
            env = {}
            while segment and ENV.match(segment[0]):
                key, _, value = segment.pop(0).partition("=")
                env[key] = value
            if segment and (segment[0] == "zoo" or segment[0].endswith("/zoo")):
                found.append((env, segment[1:]))
            segment = []
    return found


def set_option(args: list[str], name: str, value: str) -> list[str]:
    """``args`` with ``name value`` in place of any value given for ``name``."""
    out, i = [], 0
    while i < len(args):
        if args[i] == name:
            i += 2
        elif args[i].startswith(name + "="):
            i += 1
        else:
            out.append(args[i])
            i += 1
    return [*out, name, value]


def smoke_args(args: list[str], out: str) -> list[str]:
    """A documented command made small: ``zoo run`` gets ``--steps 2``, an ``--out`` of its
    own (unless it names one) and no progress bar; ``zoo diagnose`` checks one point."""
    if args[:1] == ["run"] and "--resume" not in args:
        if "--dry-run" not in args:
            args = set_option(args, "--steps", "2")
        if not any(a == "--out" or a.startswith("--out=") for a in args):
            args = [*args, "--out", out]
        return [*args, "--no-progress"]
    if args[:1] == ["diagnose"] and not any(a.startswith("--points") for a in args):
        return [*args, "--points", "1"]
    return args


def is_zoo_config(block: Block) -> bool:
    """A TOML block that is a ``zoo run`` config (not a pyproject.toml)."""
    return block.lang == "toml" and not re.search(r"^\[(project|build-system|tool)\b", block.code, re.M)


# -- running a page ---------------------------------------------------------------------------
#: commands already run by an earlier page: the same command is not run twice
_RAN: set[tuple[str, ...]] = set()


def cli():
    """``zoo``'s click group with the plugins' commands, as ``zoo.cli.main`` makes it."""
    import zoo.cli

    zoo.cli._add_plugin_commands()
    return zoo.cli.cli


def run_command(env: dict[str, str], args: list[str], block: Block, n: int, monkeypatch) -> None:
    from click.testing import CliRunner

    args = smoke_args(args, f"run-{block.line}-{n}")
    key = (*sorted(env.items()), *args) if "--out" not in args else None
    if key and key in _RAN:
        return
    with monkeypatch.context() as m:
        for name, value in env.items():
            m.setenv(name, value)
        if env:
            zoo.plugins.reset()
        start = time.perf_counter()
        result = CliRunner().invoke(cli(), args)
    print(f"{block.where()}: zoo {shlex.join(args)}  ({time.perf_counter() - start:.1f} s)")
    if env:
        zoo.plugins.reset()
    shown = "zoo " + shlex.join(args)
    assert result.exit_code == 0, f"{block.where()}: `{shown}` exited {result.exit_code}:\n{result.output}" + (
        f"\n{result.exception!r}" if result.exception and not isinstance(result.exception, SystemExit) else "")
    if key:
        _RAN.add(key)


def run_python(block: Block, module: types.ModuleType) -> None:
    # padded so that a traceback names the line of the page
    code = compile("\n" * (block.line - 1) + block.code, str(block.page), "exec")
    exec(code, module.__dict__)


def check_config(block: Block, tmp_path: Path) -> None:
    """Read a config block as ``zoo run --config`` would; one whose first line names a file
    (``# run.toml``) is written there, for the commands after it."""
    from zoo.config import read_toml, resolve

    named = re.match(r"#\s*([\w.-]+\.toml)\s*\n", block.code)
    path = tmp_path / (named.group(1) if named else f"config-{block.line}.toml")
    path.write_text(block.code, encoding="utf-8")
    resolve(read_toml(path))


def runnable(page: Path) -> bool:
    return any(not b.skip and (b.lang == "python" or (b.lang in SHELL and commands(b.code)) or is_zoo_config(b))
               for b in blocks(page))


@pytest.mark.parametrize("page", [p for p in pages() if runnable(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("HOME", str(tmp_path))  # what a page writes under ~ stays here
    for folder in REPO_FOLDERS:  # what a command names by its path in the repository
        (tmp_path / folder).symlink_to(ROOT / folder)
    name = "docs_page_" + re.sub(r"\W", "_", str(page.relative_to(ROOT)))
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    ran, start = 0, time.perf_counter()
    for block in blocks(page):
        if block.skip:
            continue
        if block.lang == "python":
            run_python(block, module)
            ran += 1
        elif block.lang in SHELL:
            for n, (env, args) in enumerate(commands(block.code)):
                run_command(env, args, block, n, monkeypatch)
                ran += 1
        elif is_zoo_config(block):
            check_config(block, tmp_path)
            ran += 1
    assert ran, f"{page}: nothing ran"
    print(f"{page.relative_to(ROOT)}: {ran} blocks and commands in {time.perf_counter() - start:.1f} s")


def test_every_skipped_block_says_why():
    unexplained = [b.where() for p in pages() for b in blocks(p) if b.skip is not None and len(b.skip) < 8]
    assert not unexplained, f"a skipped block must say why it cannot run here: {unexplained}"


# -- the runner's own rules (each able to fail) ------------------------------------------------
def test_blocks_are_read_with_their_skip_reasons(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "text\n\n```python\nx = 1\n```\n\n<!-- docs-test: skip (needs a GPU) -->\n```python\ny\n```\n"
        '\n!!! note\n    ```python skip="no network here"\n    z = 3\n    ```\n', encoding="utf-8")
    found = blocks(page)
    assert [(b.line, b.lang, b.code, b.skip) for b in found] == [
        (4, "python", "x = 1\n", None), (9, "python", "y\n", "needs a GPU"), (14, "python", "z = 3\n", "no network here")]


def test_commands_are_split_and_made_small():
    code = ("./scripts/setup.sh && .venv/bin/zoo run --sks ase-emt   # run it\n"
            "ZOO_TRACE_PLUGINS=1 zoo list sks\nzoo run --config x.toml \\\n    --steps 300 --out=r\n"
            "pip install x | zoo plugins\n")
    assert commands(code) == [({}, ["run", "--sks", "ase-emt"]), ({"ZOO_TRACE_PLUGINS": "1"}, ["list", "sks"]),
                              ({}, ["run", "--config", "x.toml", "--steps", "300", "--out=r"]), ({}, ["plugins"])]
    assert smoke_args(["run", "--config", "x.toml", "--steps", "300", "--out=r"], "o") == [
        "run", "--config", "x.toml", "--out=r", "--steps", "2", "--no-progress"]
    assert smoke_args(["run", "--sks", "a"], "o") == ["run", "--sks", "a", "--steps", "2", "--out", "o", "--no-progress"]
    assert smoke_args(["diagnose", "--sks", "a"], "o") == ["diagnose", "--sks", "a", "--points", "1"]
    assert smoke_args(["list", "sks"], "o") == ["list", "sks"]


def test_a_failing_command_fails_the_page(tmp_path, monkeypatch):
    block = Block(tmp_path / "p.md", 1, "bash", "zoo run --sks no-such-sks\n", None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssertionError, match="no-such-sks"):
        run_command({}, commands(block.code)[0][1], block, 0, monkeypatch)


# -- everything is documented -----------------------------------------------------------------
def written() -> str:
    """The text of every page people write (README.md and docs/)."""
    return "\n".join(p.read_text(encoding="utf-8") for p in pages())


def hookspecs() -> dict[str, inspect.Signature]:
    return {n: inspect.signature(f) for n, f in vars(zoo.hookspecs).items() if hasattr(f, "zoo_spec")}


def test_every_hook_is_documented_with_its_signature():
    specs = hookspecs()
    assert {"register_knowledge_sources", "register_tasks", "register_commands"} <= set(specs)
    guide = (DOCS / "writing-a-plugin.md").read_text(encoding="utf-8")
    reference = (DOCS / "reference" / "hooks.md").read_text(encoding="utf-8")
    for name, sig in specs.items():
        call = f"{name}({', '.join(sig.parameters)})"
        assert call in guide, f"docs/writing-a-plugin.md does not show the hook {call}"
        assert name in reference, f"docs/reference/hooks.md does not document {name}"


@pytest.mark.parametrize("kind", sorted(zoo.hookspecs.KINDS))
def test_every_registered_component_is_documented(kind):
    text = written()
    names = zoo.registered(kind)
    assert names, f"nothing registered of kind {kind}"
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing, f"registered {kind} that no page written by hand mentions: {missing}"


def api_targets() -> set[str]:
    """Every ``::: path`` of the API reference pages."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "reference").rglob("*.md"))
    return set(re.findall(r"^:::\s+([\w.]+)\s*$", text, re.M))


def test_every_public_name_has_an_api_entry():
    targets = api_targets()
    for name in zoo.__all__:
        obj = getattr(zoo, name)
        path = "zoo.hookspecs.hookimpl" if name == "hookimpl" else f"{obj.__module__}.{obj.__qualname__}"
        assert path in targets, f"zoo.{name} ({path}) has no ::: entry under docs/reference/"
    assert {"zoo.testing", "zoo.hookspecs"} <= targets


def test_every_contract_check_of_zoo_testing_is_in_its_reference():
    import zoo.testing

    public = [n for n, f in vars(zoo.testing).items()
              if not n.startswith("_") and inspect.isfunction(f) and f.__module__ == "zoo.testing"]
    assert "check_knowledge_source" in public and "check_task" in public
    page = (DOCS / "reference" / "testing.md").read_text(encoding="utf-8")
    assert not [n for n in public if n not in page]


def test_every_setting_of_zoo_run_is_in_configuration_md():
    from zoo.config import FIELDS

    table = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [k for k in FIELDS if f"`{k}`" not in table and f"[{k}]" not in table and f"[{k}." not in table]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


# -- links ------------------------------------------------------------------------------------
def docs_pages_module():
    spec = importlib.util.spec_from_file_location("docs_pages", ROOT / "scripts" / "docs_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def link_targets(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # not in code
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t.split("#")[0] for t in RELATIVE_LINK.findall(text) if t.split("#")[0]]


def test_readme_relative_links_resolve():
    targets = link_targets(ROOT / "README.md")
    assert "docs/concepts.md" in targets
    broken = [t for t in targets if not (ROOT / t).exists()]
    assert not broken, f"README.md links to missing files: {broken}"


def test_docs_relative_links_resolve():
    generated = set(docs_pages_module().generated_paths())
    broken = []
    for page in sorted(DOCS.rglob("*.md")):
        for target in link_targets(page):
            path = (page.parent / target).resolve()
            rel = path.relative_to(DOCS.resolve()).as_posix() if path.is_relative_to(DOCS.resolve()) else None
            if rel is None or not (path.exists() or rel in generated):
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "links that leave docs/ or point nowhere (the site would not build): " + ", ".join(broken)


def test_the_nav_names_every_page_and_only_pages_that_exist():
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def entries(nav):
        for item in nav:
            for value in (item.values() if isinstance(item, dict) else [item]):
                yield from (entries(value) if isinstance(value, list) else [value])

    listed = set(entries(config["nav"]))
    generated = set(docs_pages_module().generated_paths())
    for path in listed:
        assert path.endswith("/") or (DOCS / path).is_file() or path in generated, f"nav names no page: {path}"
    written_pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert written_pages <= listed, f"pages missing from the nav: {written_pages - listed}"


# -- the generated reference ------------------------------------------------------------------
def test_generated_reference_shows_every_option_input_and_output_of_each_sks():
    gen = docs_pages_module()
    page = gen.knowledge_sources_page()
    sections = dict(re.findall(r"^## `([^`]+)` \{#[^}]+\}\n(.*?)(?=^## `|\Z)", page, re.M | re.S))
    assert set(sections) == set(zoo.registered("sks"))
    for name, reg in zoo.registered("sks").items():
        for param in gen.options_of(reg.cls):
            assert f"| `{param.name}` |" in sections[name], f"{name}: option {param.name} not on its page"
        sks = reg.cls()
        for col in (*sks.input_spec.names, *sks.output_spec.names):
            assert f"| `{col}` |" in sections[name], f"{name}: {col} not in its inputs/outputs"


# -- the examples in the API reference's docstrings -------------------------------------------
@pytest.mark.parametrize("module", ["zoo.sks", "zoo.layer", "zoo.registry"])
def test_docstring_examples_run(module):
    """The ``>>>`` examples the API reference shows are doctests, and pass."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted, f"{module} has no examples"
    assert not result.failed, f"{module}: {result.failed} docstring examples failed (run it with -s)"


def test_generated_reference_has_a_section_for_every_task_estimator_schedule_and_executor():
    gen = docs_pages_module()
    tasks, components = gen.tasks_page(), gen.components_page()
    for name in zoo.registered("tasks"):
        assert f"## `{name}` {{#{name}}}" in tasks, f"task {name} has no section"
    for kind in ("estimators", "schedulers", "executors"):
        for name, reg in zoo.registered(kind).items():
            assert f"### `{name}` {{#{kind}-{name}}}" in components, f"{kind} {name} has no section"
            for param in gen.options_of(reg.cls):
                assert f"| `{param.name}` |" in components


def test_the_cli_reference_gets_the_plugin_commands(monkeypatch):
    """mkdocs-click documents ``zoo.cli.cli``; plugins add ``diagnose`` and ``new-plugin`` to
    it only when ``zoo.cli.main`` runs, so the page generator must add them first."""
    import zoo.cli

    monkeypatch.setattr(zoo.cli.cli, "commands", {k: v for k, v in zoo.cli.cli.commands.items()
                                                 if k not in ("diagnose", "new-plugin")})
    docs_pages_module().add_plugin_commands()
    assert {"run", "list", "plugins", "diagnose", "new-plugin"} <= set(zoo.cli.cli.commands)
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    assert ":module: zoo.cli" in page and ":command: cli" in page
