"""The README documents every extension-point kind and every `watch` command.

Each registry has a table under "## Extension points", in a "### ..." section whose heading
names it (`watcher.fetch.FETCHERS`); the first column is the kind, and the row holds the
first line of the kind's docstring. A new registry is one more line in REGISTRIES.
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from watcher.cli import build_parser
from watcher.report import RENDERERS

README = Path(__file__).resolve().parents[1] / "README.md"

# (module, registry name): a dict of kind -> class (or function) with a docstring
REGISTRIES = [
    ("watcher.fetch", "FETCHERS"),
    ("watcher.extract", "EXTRACTORS"),
    ("watcher.report", "RENDERERS"),
    ("watcher.notify", "CHANNELS"),
    ("watcher.judge.builtins", "BUILTINS"),
]


def section(text: str, heading: str, level: int = 2) -> str:
    """The body of the first `## heading...` section (up to the next heading of that level or above)."""
    marks = "#" * level
    match = re.search(rf"^{marks} {re.escape(heading)}.*?$(.*?)(?=^#{{1,{level}}} |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '{marks} {heading}' section"
    return match.group(1)


def table_rows(text: str) -> dict[str, str]:
    """First cell (backticks stripped) -> the whole row, for every body row of the tables in `text`."""
    rows = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or re.fullmatch(r"\|[\s|:-]+\|", line):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells and cells[0] not in ("kind", "command"):
            rows[cells[0].strip("`")] = " | ".join(cells)
    return rows


def registry_table(readme: str, qualname: str) -> dict[str, str]:
    """The rows of the table in the "### ..." section of Extension points that names `qualname`."""
    points = section(readme, "Extension points")
    for part in re.split(r"^### ", points, flags=re.M)[1:]:
        heading = part.split("\n", 1)[0]
        if f"`{qualname}`" in heading:
            return table_rows(part)
    raise AssertionError(f"README.md, Extension points: no '### ...' section naming `{qualname}`")


def first_doc_line(obj) -> str:
    """The first line of obj's own docstring ("" when it has none; a base class's does not count)."""
    doc = vars(obj).get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    doc = (doc or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def undocumented(registry: dict, rows: dict[str, str]) -> list[str]:
    """What is wrong between a registry and its README table; [] when every kind is documented."""
    problems = []
    for kind, obj in registry.items():
        line = first_doc_line(obj)
        if not line:
            problems.append(f"{kind}: {getattr(obj, '__qualname__', obj)!r} has no docstring")
        elif kind not in rows:
            problems.append(f"{kind}: no row in the README table; add `| `{kind}` | ... | {line} |`")
        elif line not in rows[kind]:
            problems.append(f"{kind}: the README row does not say the docstring's first line {line!r}")
    problems += [f"{kind}: in the README table but not registered" for kind in rows if kind not in registry]
    return problems


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


@pytest.mark.parametrize(("module", "name"), REGISTRIES, ids=[name for _, name in REGISTRIES])
def test_every_kind_has_a_docstring_and_a_readme_row(readme, module, name):
    registry = getattr(importlib.import_module(module), name)
    assert registry, f"{module}.{name} is empty"
    assert undocumented(registry, registry_table(readme, f"{module}.{name}")) == []


def subcommands() -> set[str]:
    parser = build_parser()
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subparsers) == 1
    return set(subparsers[0].choices)


def test_every_command_is_in_the_commands_table(readme):
    rows = table_rows(section(readme, "Commands"))
    listed = {cell.split()[1] for cell in rows if cell.startswith("watch ")}
    commands = subcommands()
    assert commands, "build_parser() has no subcommands"
    assert sorted(commands - listed) == [], "commands missing from the README's Commands table"
    assert sorted(listed - commands) == [], "README Commands rows for commands that do not exist"


def test_the_check_catches_an_undocumented_kind(readme):
    """A kind added without a docstring, or without a README row, fails the test above."""
    class NoDocs:
        kind = "nodocs"

    class Docs:
        """Documented, but not in the README."""

        kind = "docs"

    rows = registry_table(readme, "watcher.report.RENDERERS")
    assert undocumented(RENDERERS, rows) == []
    assert undocumented({**RENDERERS, "nodocs": NoDocs}, rows) == [
        f"nodocs: {NoDocs.__qualname__!r} has no docstring"]
    problems = undocumented({**RENDERERS, "docs": Docs}, rows)
    assert len(problems) == 1 and problems[0].startswith("docs: no row in the README table")
    assert undocumented({k: v for k, v in RENDERERS.items() if k != "md"}, rows) == [
        "md: in the README table but not registered"]
