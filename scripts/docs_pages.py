"""Pages of the documentation site that are generated at build time, never typed by hand.

mkdocs-gen-files runs this file on every `mkdocs build` / `mkdocs serve` (see mkdocs.yml):

* ``reference/knowledge-sources.md``, ``reference/tasks.md``, ``reference/components.md``:
  every component the installed plugins register (``zoo.registered(kind)``), with its
  options read from the class's signature, its docstring, and for a knowledge source the
  inputs and outputs it has when built with no options. A new plugin, option or SKS appears
  here without anyone editing a page.
* ``benchmarks/<name>.md``: each ``benchmarks/results/<name>.md`` as a page (with its plot
  and JSON beside it), and a generated table of them appended to ``benchmarks.md``: every
  number on those pages comes from the result files.
* The CLI reference (``reference/cli.md``, mkdocs-click) documents ``zoo.cli.cli``; plugins
  add ``diagnose`` and ``new-plugin`` to it only when ``zoo.cli.main`` runs, so this script
  adds them first, as ``main`` does.

Without mkdocs, ``python scripts/docs_pages.py OUT_DIR`` writes the same pages into OUT_DIR
(the tests read them through :func:`pages`). The same file holds :class:`RstRoles`, the
griffe extension mkdocstrings loads (mkdocs.yml) to render the reST roles of zoo's
docstrings (``:class:`zoo.Spec```) as links.

``ZOO_DOCS_REQUIRE_PLUGINS=1`` (set in .ci/run) makes a first-party plugin under plugins/
that is not installed an error instead of a note on the page.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

try:  # present wherever mkdocstrings is; only RstRoles needs it
    import griffe
except ImportError:  # pragma: no cover - the page generator alone does not need it
    griffe = None

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REPO_BLOB = "https://github.com/zoo-sciml/zoo/blob/main/"

#: what a reST role in a docstring looks like: :class:`~zoo.errors.ConfigError`
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj|const):`(~?)([^`<>]+?)`")
#: numpy-style section titles griffe parses itself; other underlined titles become bold text
NUMPY_SECTIONS = {
    "parameters", "other parameters", "returns", "yields", "receives", "raises", "warns",
    "examples", "attributes", "functions", "methods", "classes", "modules", "deprecated",
    "warnings", "notes", "references", "see also",
}
UNDERLINE = re.compile(r"^\s*(-{3,}|={3,})\s*$")
#: "name: text" or "name, other: text" opening an item of an option list in a docstring
ITEM = re.compile(r"^([A-Za-z_][\w]*(?:,\s*[A-Za-z_][\w]*)*)\s*:\s*(.*)$")


# -- docstrings -> Markdown ------------------------------------------------------------------
def role_to_code(match: re.Match) -> str:
    short, target = match.group(1), match.group(2).strip()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def underlined_titles(text: str, keep: set[str] = frozenset()) -> str:
    """``Title`` over a line of dashes becomes a bold paragraph (unless its lower-cased
    title is in ``keep``), so it does not turn into a Markdown heading inside a page."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and UNDERLINE.match(nxt) and line.strip().lower() not in keep:
            out += ["", f"**{line.strip()}**", ""]
            i += 2
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def option_lists(text: str) -> str:
    """Docstring option lists (``name: text`` with indented continuation lines, right after
    a bold title) as Markdown lists; a line that is neither ends the list."""
    out: list[str] = []
    in_list = False
    for line in text.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"\*\*[^*]+\*\*", stripped):
            in_list = True
            out += [line, ""]
            continue
        if in_list:
            item = ITEM.match(line) if line[:1] not in (" ", "\t", "") else None
            if item:
                names = ", ".join(f"`{n.strip()}`" for n in item.group(1).split(","))
                out.append(f"- {names}: {item.group(2)}".rstrip())
                continue
            if line.startswith((" ", "\t")) and stripped and out and out[-1].startswith("- "):
                out[-1] += " " + stripped
                continue
            if not stripped and out and out[-1] == "":
                continue
            in_list = False
            out.append("")
        out.append(line)
    return "\n".join(out)


def docstring_markdown(doc: str | None) -> str:
    """A plugin's reST-flavoured docstring as Markdown for a generated page."""
    if not doc:
        return ""
    text = ROLE.sub(role_to_code, inspect.cleandoc(doc))
    text = re.sub(r"::\n", ":\n", text)  # a reST literal block is an indented block
    return re.sub(r"\n{3,}", "\n\n", option_lists(underlined_titles(text))).strip()


class _RstRolesBase:
    """Turns reST roles into cross-references and non-numpy titles into bold text."""

    def _fix(self, obj: Any) -> None:
        if obj.docstring is None:
            return
        text = ROLE.sub(self._link, obj.docstring.value)
        obj.docstring.value = underlined_titles(text, keep=NUMPY_SECTIONS)

    @staticmethod
    def _link(match: re.Match) -> str:
        short, target = match.group(1), match.group(2).strip()
        shown = target.rsplit(".", 1)[-1] if short else target
        # `optional`: a target that is not on the site renders as plain code, no warning
        return f'<autoref identifier="{canonical(target)}" optional><code>{shown}</code></autoref>'


if griffe is not None:

    class RstRoles(_RstRolesBase, griffe.Extension):
        """The griffe extension mkdocs.yml loads for zoo's docstrings."""

        def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
            self._fix(obj)


def canonical(target: str) -> str:
    """``zoo.SKSLayer`` -> ``zoo.layer.SKSLayer``: public names are documented where they
    are defined (the lazy ones cannot be seen by static analysis at their public path)."""
    parts = target.split(".")
    if len(parts) == 2 and parts[0] == "zoo":
        try:
            import zoo

            obj = getattr(zoo, parts[1])
            module = getattr(obj, "__module__", None)
            name = getattr(obj, "__qualname__", None)
            if module and name and module.startswith("zoo"):
                return f"{module}.{name}"
        except Exception:  # noqa: BLE001 - a link target is a nicety, never a failure
            pass
    return target


# -- the component reference -----------------------------------------------------------------
def value_text(value: Any) -> str:
    """An option's default as a user types it in TOML or ``--sks-option K=V``."""
    if value is inspect.Parameter.empty:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (str, int, float)):
        return f"`{json.dumps(value, ensure_ascii=False)}`"
    if isinstance(value, (list, tuple)):
        return f"`{json.dumps(list(value), ensure_ascii=False, default=str)}`"
    if isinstance(value, dict):
        return f"`{json.dumps(value, ensure_ascii=False, default=str)}`"
    return f"`{value!r}`"


#: the contracts components implement; their own options and docs are not a component's
BASES = {("zoo.sks", "KnowledgeSource"), ("zoo.tasks.base", "Task"), ("zoo.estimators.base", "Estimator"),
         ("zoo.schedulers", "Schedule"), ("zoo.executors.base", "Executor"), ("abc", "ABC")}


def option_classes(cls: type) -> list[type]:
    """``cls`` and the bases its options reach: a class whose ``__init__`` takes
    ``**options`` hands them on to the next base with an ``__init__`` (as ``ase-emt``'s go to
    the ASE base); zoo's contract classes and ``object`` end the chain."""
    chain = []
    for klass in cls.__mro__:
        if klass is object or (klass.__module__, klass.__qualname__) in BASES:
            break
        if klass is not cls and "__init__" not in klass.__dict__:
            continue
        chain.append(klass)
        init = klass.__dict__.get("__init__")
        if init is not None and not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(init).parameters.values()):
            break
    return chain


def options_of(cls: type) -> list[inspect.Parameter]:
    """The keyword options of ``cls``, from the ``__init__`` of each of :func:`option_classes`."""
    found: dict[str, inspect.Parameter] = {}
    for klass in option_classes(cls):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                found.setdefault(p.name, p)
    return list(found.values())


def options_table(cls: type, how: str) -> str:
    params = options_of(cls)
    if not params:
        return "No options.\n"
    rows = ["| option | default | type |", "| --- | --- | --- |"]
    for p in params:
        ann = p.annotation if p.annotation is not inspect.Parameter.empty else ""
        ann = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
        ann = ann.replace(" | ", " or ")  # a pipe would end the table cell
        rows.append(f"| `{p.name}` | {value_text(p.default)} | {f'`{ann}`' if ann else ''} |")
    return f"Options ({how}):\n\n" + "\n".join(rows) + "\n"


def class_docs(cls: type) -> str:
    """The docstrings of ``cls`` and of the bases its options reach, as Markdown."""
    docs = []
    for klass in option_classes(cls):
        doc = klass.__dict__.get("__doc__")
        if doc and doc not in docs:
            docs.append(doc)
    return "\n\n".join(docstring_markdown(d) for d in docs)


def plugin_line(reg: Any) -> str:
    from zoo import plugins

    info = {i.name: i for i in plugins.plugin_infos()}.get(reg.plugin)
    dist = f" ({info.distribution} {info.version})" if info and info.distribution else ""
    return f"`{reg.plugin}`{dist}"


def spec_table(spec: Any, bounds: bool) -> str:
    head = "| name | lower | upper | unit |" if bounds else "| name | unit |"
    rows = [head, "| --- | --- | --- | --- |" if bounds else "| --- | --- |"]
    for i, name in enumerate(spec.names):
        unit = spec.units[i] or "—"
        if bounds:
            rows.append(f"| `{name}` | {spec.lower[i]:g} | {spec.upper[i]:g} | {unit} |")
        else:
            rows.append(f"| `{name}` | {unit} |")
    return "\n".join(rows)


def sks_section(name: str, reg: Any) -> str:
    cls = reg.cls
    lines = [f"## `{name}` {{#{name}}}", "", f"*{reg.description}*", ""]
    facts = [("plugin", plugin_line(reg)), ("class", f"`{cls.__module__}.{cls.__qualname__}`"),
             ("version (cache key)", f"`{getattr(cls, 'version', '0')}`")]
    task = getattr(cls, "default_task", None)
    facts.append(("default task", f"[`{task}`](tasks.md#{task})" if task else
                  "none: train it with `--task fit --task-option data=FILE.csv` or another task"))
    runtime = getattr(cls, "runtime_options", ())
    if runtime:
        facts.append(("runtime options (not in the cache key)", ", ".join(f"`{o}`" for o in runtime)))
    lines += ["| | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in facts], ""]
    lines += [options_table(cls, f"`--sks-option K=V`, `[sks_options]`, or `zoo.knowledge_source(\"{name}\", K=V)`"), ""]
    doc = class_docs(cls)
    if doc:
        lines += [doc, ""]
    try:
        sks = cls()
    except Exception as exc:  # noqa: BLE001 - the page says why, the build goes on
        lines += [f"Built with no options it raises `{type(exc).__name__}`: {exc}", ""]
    else:
        lines += ["Inputs with the default options:", "", spec_table(sks.input_spec, True), "",
                  "Outputs with the default options:", "", spec_table(sks.output_spec, False), ""]
    return "\n".join(lines)


def task_section(name: str, reg: Any) -> str:
    cls = reg.cls
    lines = [f"## `{name}` {{#{name}}}", "", f"*{reg.description}*", ""]
    sks = getattr(cls, "default_sks", None)
    facts = [("plugin", plugin_line(reg)), ("class", f"`{cls.__module__}.{cls.__qualname__}`"),
             ("default SKS", f"[`{sks}`](knowledge-sources.md#{sks})" if sks else "none: give `--sks NAME`"),
             ("primary metric", f"`{getattr(cls, 'primary_metric', 'test_mae')}`")]
    lines += ["| | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in facts], ""]
    defaults = getattr(cls, "defaults", {}) or {}
    if defaults:
        import tomli_w

        lines += ["Run settings it is tuned for (its `defaults`; a config file and flags override them):",
                  "", "```toml", tomli_w.dumps(defaults).strip(), "```", ""]
    lines += [options_table(cls, "`--task-option K=V` or `[task_options]`"), ""]
    doc = class_docs(cls)
    if doc:
        lines += [doc, ""]
    return "\n".join(lines)


def component_section(kind: str, name: str, reg: Any) -> str:
    cls = reg.cls
    how = {"estimators": "`--estimator-option K=V` or `[estimator_options]`",
           "schedulers": "`[schedule_options.KNOB]`",
           "executors": "`--executor-option K=V` or `[executor_options]`"}[kind]
    lines = [f"### `{name}` {{#{kind}-{name}}}", "", f"*{reg.description}*", "",
             f"Registered by plugin {plugin_line(reg)}; class `{cls.__module__}.{cls.__qualname__}`.", ""]
    knobs = getattr(cls, "knobs", None)
    if kind == "estimators" and knobs:
        lines += ["Knobs a schedule may change between steps: " + ", ".join(f"`{k}`" for k in knobs) + ".", ""]
    lines += [options_table(cls, how), ""]
    doc = class_docs(cls)
    if doc:
        lines += [doc, ""]
    return "\n".join(lines)


def generated_note(*kinds: str) -> str:
    source = ", ".join(f'`zoo.registered("{k}")`' for k in kinds)
    return ("!!! note \"Generated\"\n    This page is generated when the site is built, from what the installed "
            f"plugins register ({source}), by `scripts/docs_pages.py`.\n")


def missing_plugins() -> list[str]:
    """First-party plugin distributions under plugins/ that are not installed here."""
    from importlib import metadata

    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    missing = []
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        dist = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
        try:
            metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            missing.append(dist)
    return missing


def missing_note() -> str:
    missing = missing_plugins()
    if not missing:
        return ""
    if os.environ.get("ZOO_DOCS_REQUIRE_PLUGINS") == "1":
        raise SystemExit(f"docs: first-party plugins not installed: {', '.join(missing)} (run ./scripts/setup.sh)")
    return ("!!! warning \"Plugins missing from this build\"\n    Not installed when this site was built, so "
            f"not listed: {', '.join(missing)}. `./scripts/setup.sh` installs every plugin.\n")


def knowledge_sources_page() -> str:
    import zoo

    regs = zoo.registered("sks")
    head = ["# Built-in knowledge sources", "", generated_note("sks"), missing_note(),
            "Every knowledge source below is a plugin's, registered through the `zoo` entry points "
            "exactly as a third party's would be. Options are typed as TOML values on the command "
            "line (`--sks-option outputs='[\"pressure\"]'`). How to read an SKS's contract: "
            "[concepts](../concepts.md#knowledge-source-sks).", "",
            "| name | description |", "| --- | --- |",
            *[f"| [`{n}`](#{n}) | {r.description} |" for n, r in regs.items()], ""]
    return "\n".join(head) + "\n" + "\n".join(sks_section(n, r) for n, r in regs.items())


def tasks_page() -> str:
    import zoo

    regs = zoo.registered("tasks")
    head = ["# Built-in tasks", "", generated_note("tasks"), missing_note(),
            "A task is data, a model, a loss and test metrics ([concepts](../concepts.md#tasks)); "
            "`zoo run --task NAME` trains it.", "",
            "| name | description |", "| --- | --- |",
            *[f"| [`{n}`](#{n}) | {r.description} |" for n, r in regs.items()], ""]
    return "\n".join(head) + "\n" + "\n".join(task_section(n, r) for n, r in regs.items())


def components_page() -> str:
    import zoo

    out = ["# Estimators, schedules and executors", "",
           generated_note("estimators", "schedulers", "executors"),
           "The maths of the estimators: [estimator maths](../estimators.md); schedules: "
           "[configuration](../configuration.md); executors: [scaling out](../scaling.md).", ""]
    for kind, title in (("estimators", "Estimators"), ("schedulers", "Schedules"), ("executors", "Executors")):
        out += [f"## {title}", ""]
        out += [component_section(kind, n, r) for n, r in zoo.registered(kind).items()]
    return "\n".join(out)


# -- benchmarks ------------------------------------------------------------------------------
COMMAND = re.compile(r"`((?:\.venv/bin/)?python (benchmarks/[\w./-]+\.py)[^`]*)`")


def benchmark_results() -> list[Path]:
    return sorted(RESULTS.glob("*.md"))


def benchmark_title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("_", " ")


def benchmark_command(path: Path) -> str | None:
    match = COMMAND.search(path.read_text(encoding="utf-8"))
    if match:
        return match.group(1)
    script = ROOT / "benchmarks" / f"{path.stem}.py"
    return f"python benchmarks/{script.name}" if script.is_file() else None


def benchmark_page(path: Path) -> str:
    """The result file as a page: its plot under the title, its data files at the end."""
    text = path.read_text(encoding="utf-8").rstrip() + "\n"
    title = benchmark_title(path)
    if not text.startswith("# "):
        text = f"# {title}\n\n{text}"
    first, _, rest = text.partition("\n")
    plot = path.with_suffix(".png")
    figure = f"\n![{title}]({plot.name})\n" if plot.is_file() else ""
    rel = path.relative_to(ROOT).as_posix()
    data = [f"[{p.name}]({p.name})" for p in (path.with_suffix(".json"), plot) if p.is_file()]
    footer = (f"\n---\n\nThis page is [`{rel}`]({REPO_BLOB}{rel}) as the benchmark wrote it"
              + (f", rendered when the site was built; data: {', '.join(data)}." if data else ".") + "\n")
    return f"{first}\n{figure}{rest}{footer}"


def benchmarks_index() -> str:
    """The table appended to docs/benchmarks.md: one row per result file."""
    rows = ["", "## The result files", "",
            "Generated from `benchmarks/results/` when the site is built: one page per result file.", "",
            "| result | command |", "| --- | --- |"]
    for path in benchmark_results():
        cmd = benchmark_command(path)
        rows.append(f"| [{benchmark_title(path)}](benchmarks/{path.stem}.md) | {f'`{cmd}`' if cmd else ''} |")
    return "\n".join(rows) + "\n"


def benchmarks_summary() -> str:
    return "".join(f"* [{benchmark_title(p)}]({p.stem}.md)\n" for p in benchmark_results())


# -- putting it together ---------------------------------------------------------------------
def pages() -> dict[str, str]:
    """Every generated text page by its path under docs/ (benchmarks.md: what is appended)."""
    out = {
        REFERENCE_PAGES[0]: knowledge_sources_page(),
        REFERENCE_PAGES[1]: tasks_page(),
        REFERENCE_PAGES[2]: components_page(),
        "benchmarks/SUMMARY.md": benchmarks_summary(),
    }
    for path in benchmark_results():
        out[f"benchmarks/{path.stem}.md"] = benchmark_page(path)
    return out


#: the reference pages this script writes (their nav entries are in mkdocs.yml)
REFERENCE_PAGES = ("reference/knowledge-sources.md", "reference/tasks.md", "reference/components.md")


def generated_paths() -> list[str]:
    """The paths under docs/ of every generated file, cheaply (nothing is rendered)."""
    return [*REFERENCE_PAGES, "benchmarks/SUMMARY.md", *(f"benchmarks/{p.stem}.md" for p in benchmark_results()),
            *data_files()]


def data_files() -> dict[str, Path]:
    """Binary files copied into the site beside the benchmark pages."""
    return {f"benchmarks/{p.name}": p for ext in ("png", "json") for p in sorted(RESULTS.glob(f"*.{ext}"))
            if p.with_suffix(".md").is_file()}


def add_plugin_commands() -> None:
    """Let plugins add their commands to ``zoo.cli.cli``, as ``zoo.cli.main`` does."""
    import zoo.cli

    zoo.cli._add_plugin_commands()


def build_with_mkdocs() -> None:
    import mkdocs_gen_files

    add_plugin_commands()
    for name, text in pages().items():
        with mkdocs_gen_files.open(name, "w", encoding="utf-8") as fh:
            fh.write(text)
        source = RESULTS / Path(name).name
        if name.startswith("benchmarks/") and source.is_file():
            mkdocs_gen_files.set_edit_path(name, f"../../benchmarks/results/{source.name}")
    for name, source in data_files().items():
        with mkdocs_gen_files.open(name, "wb") as fh:
            fh.write(source.read_bytes())
    with mkdocs_gen_files.open("benchmarks.md", "a", encoding="utf-8") as fh:
        fh.write(benchmarks_index())


def write_to(folder: Path) -> None:
    for name, text in {**pages(), "benchmarks-index.md": benchmarks_index()}.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


if __name__ == "<run_path>":  # mkdocs-gen-files
    build_with_mkdocs()
elif __name__ == "__main__":
    write_to(Path(sys.argv[1] if len(sys.argv) > 1 else "docs-generated"))
