"""Docs that run: every code block of README.md and docs/*.md is executed (Python, in
order, one namespace per page, in a fresh lockgate home), parsed (YAML), or checked
against the real command tree (``lockgate ...`` lines); a block that cannot run here is
marked ``<!-- not-runnable: why -->`` and is still compiled. Hints printed by the CLI and
the dashboard (```lockgate X Y``` in the source) name commands that exist."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import click
import pytest
import yaml

from lockgate.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(?P<mark><!-- not-runnable: (?P<why>[^>]*?) -->\s*\n)?"
                   r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.S | re.M)
SETUP = re.compile(r"<!-- docs-setup\n(?P<body>.*?)-->", re.S)
HINT = re.compile(r"(?:`|<code>)lockgate ([a-z][\w-]*(?: [\w@.-]+){0,2})")


def blocks(page: Path) -> list[dict[str, str]]:
    """The fenced blocks of a page with their language and not-runnable reason."""
    return [m.groupdict() for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's runnable blocks, in order, as one module file (steps need their source)."""
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / ".lockgate"))
    text = page.read_text(encoding="utf-8")
    parts = [m["body"] for m in SETUP.finditer(text)]
    for i, block in enumerate(b for b in blocks(page) if b["lang"] == "python"):
        compile(block["body"], f"{page.name}:block{i}", "exec")  # at least valid Python
        if block["mark"]:
            assert block["why"].strip(), f"{page.name} block {i}: say why it cannot run"
        else:
            parts.append(block["body"])
    if not parts:
        return
    script = tmp_path / f"docs_{page.stem}.py"
    script.write_text("\n".join(parts), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    runpy.run_path(str(script), run_name="__main__")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_yaml_blocks_parse_and_commands_exist(page: Path) -> None:
    for block in blocks(page):
        if block["lang"] == "yaml":
            assert isinstance(yaml.safe_load(block["body"]), dict)
        elif block["lang"] in ("", "bash", "sh", "console"):
            for line in block["body"].splitlines():
                words = line.strip().split("#")[0].strip()
                if words.startswith("lockgate "):
                    check_command(words.split()[1:], f"{page.name}: {line}")


def test_hints_in_the_source_name_real_commands() -> None:
    seen, wrong = 0, []
    for path in (ROOT / "src" / "lockgate").rglob("*.py"):
        for match in HINT.finditer(path.read_text(encoding="utf-8")):
            seen += 1
            try:
                check_command(match.group(1).split(),
                              f"{path.relative_to(ROOT)}: {match.group(0)}")
            except AssertionError as exc:
                wrong.append(str(exc).splitlines()[0])
    assert seen > 20
    assert wrong == []


def check_command(words: list[str], where: str) -> None:
    """``words`` start with an existing command, and a group's next word is one of its
    sub-commands (placeholders in capitals, paths and options are arguments)."""
    ctx = click.Context(app)
    command = app.get_command(ctx, words[0]) if words else None
    assert command is not None, f"{where}: no command `lockgate {words[0]}`"
    # Typer vendors its own click: groups and arguments are recognised by shape, not class.
    if not hasattr(command, "commands"):
        check_literal(command, words[1:], where)
    elif len(words) > 1:
        word = words[1]
        if word.startswith("-") or not word.islower() or "." in word or "/" in word:
            return
        if words[0] == "ingest" and word not in command.commands:
            return  # `lockgate ingest PATH` means `ingest file PATH`
        assert word in command.commands, (
            f"{where}: `lockgate {words[0]}` has no sub-command `{word}` "
            f"(it has {', '.join(command.commands)})")


def check_literal(command: object, words: list[str], where: str) -> None:
    """A command without sub-commands: a lowercase word before a placeholder
    (``monitor report NAME``) must be one its arguments' usage names."""
    if len(words) < 2 or not words[0].isalpha() or not words[0].islower():
        return
    if not words[1].isupper():
        return
    usage = " ".join(str(p.metavar or p.name) for p in command.params
                     if type(p).__name__.endswith("Argument"))
    assert words[0] in usage.split(), (
        f"{where}: `lockgate {command.name}` takes {usage or 'no such word'}, "
        f"not `{words[0]}`")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_commands_named_in_the_prose_exist(page: Path) -> None:
    """`lockgate X Y` written inline in a page's text (not only in its code blocks)
    names a real command: README and every docs page."""
    text = page.read_text(encoding="utf-8")
    wrong = []
    for match in HINT.finditer(text):
        try:
            check_command(match.group(1).split(), f"{page.name}: {match.group(0)}")
        except AssertionError as exc:
            wrong.append(str(exc).splitlines()[0])
    assert wrong == []
