"""The ``zoo`` commands the docs show without running them name real commands and options.

tests/test_docs.py runs every command of a shell block. The others — inline ones in the
prose (`zoo run --sks NAME --task fit`), synopses in text blocks, commands marked as not
runnable here — are checked against the click commands themselves, the plugins' commands
included: the subcommand exists and every ``--option`` is one of its options. A renamed or
removed flag then fails here, not in a reader's shell.
"""

from __future__ import annotations

import re

import pytest

from test_docs import ROOT, SHELL, blocks, cli, pages

#: `... zoo SUBCOMMAND ...` in an inline code span (an environment prefix is allowed)
INLINE = re.compile(r"`(?:[A-Z_]+=\S*\s+)*(?:\.venv/bin/)?(zoo(?: [^`\n]+)?)`")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def shown() -> list[tuple[str, str]]:
    """``(where, command)`` for every zoo command a page shows."""
    found = []
    for page in pages():
        rel = page.relative_to(ROOT)
        text = page.read_text(encoding="utf-8")
        for m in INLINE.finditer(text):
            found.append((f"{rel}:{text.count(chr(10), 0, m.start()) + 1}", m.group(1)))
        for block in blocks(page):
            if block.lang not in SHELL | {"", "text", "console"}:
                continue
            current = None
            for n, line in enumerate(block.code.replace("\\\n", " ").splitlines()):
                stripped = re.sub(r"^\s*(\$\s+)?((?:[A-Z_]+=\S*\s+)*)(\.venv/bin/)?", "", line)
                if stripped.startswith("zoo ") or stripped == "zoo":
                    current = [f"{rel}:{block.line + n}", stripped]
                    found.append(current)
                elif current and line.startswith(" ") and line.strip().startswith("["):
                    current[1] += " " + line.strip()  # a synopsis continued on the next line
                else:
                    current = None
    return [tuple(c) for c in found]


def problems(command: str) -> list[str]:
    """What is wrong with one shown command (nothing: an empty list)."""
    group = cli()
    words = command.split()
    if len(words) == 1 or words[1].startswith("-"):
        allowed = {o for p in group.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
        return [f"zoo has no option {o}" for o in OPTION.findall(command) if o not in allowed]
    sub = group.commands.get(words[1])
    if sub is None:
        return [f"zoo has no command {words[1]!r} (it has {', '.join(sorted(group.commands))})"]
    allowed = {o for p in sub.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    # what follows a shell operator is another program's
    own = re.split(r"\s(?:&&|\|\||\||;)\s", command)[0]
    return [f"zoo {words[1]} has no option {o}" for o in OPTION.findall(own) if o not in allowed]


COMMANDS = shown()


def test_the_docs_show_commands_of_every_kind():
    subcommands = {c.split()[1] for _, c in COMMANDS if len(c.split()) > 1}
    assert {"run", "list", "plugins", "diagnose", "new-plugin"} <= subcommands


@pytest.mark.parametrize("where, command", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_shown_command_names_real_options(where, command):
    assert not problems(command), f"{where}: `{command}`: " + "; ".join(problems(command))


def test_the_check_can_fail():
    assert problems("zoo run --sks ase-emt --stepz 3") == ["zoo run has no option --stepz"]
    assert problems("zoo frobnicate")[0].startswith("zoo has no command 'frobnicate'")
    assert problems("zoo diagnose --sks lammps && pip install --user x") == []
    assert problems("zoo run [--baseline/--no-baseline] [--progress/--no-progress]") == []
