"""docs/aws-facts.md holds every AWS fact the code declares: each named row exists, each constant's value is in its row.

A fact constant is a module-level constant whose comment block, right above it, names its row
(`# docs/aws-facts.md, row "Payload limit"`): a limit, a status body, a name AWS gives. The
test reads the constants from the modules themselves, so a constant whose value changes
without its row, or a row renamed under a comment, fails here.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT

FACTS = ROOT / "docs" / "aws-facts.md"
CODE_DIRS = ("service", "infra", "sandbox", "smoke", "hooks", "tests")
REFERENCE = re.compile(r'aws-facts\.md, rows? ("[^"]+"(?:(?:,| and) "[^"]+")*)')
CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")
SOURCE_KINDS = ("aws documentation", "captured event", "captured report", "emulator's measurement", "none")


def table_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in FACTS.read_text().splitlines():
        if not line.startswith("| ") or line.startswith(("| Row |", "|---")):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert cells[0] not in rows, f"row {cells[0]!r} twice"
        rows[cells[0]] = cells
    return rows


ROWS = table_rows()


def code_files() -> Iterator[Path]:
    for directory in CODE_DIRS:
        yield from (path for path in (ROOT / directory).rglob("*.py") if ".venv" not in path.parts)


def referenced_rows(text: str) -> list[str]:
    return [name for match in REFERENCE.finditer(text) for name in re.findall(r'"([^"]+)"', match.group(1))]


def fact_constants() -> Iterator[tuple[str, str, list[str]]]:
    """(module, constant, rows) for every module-level constant whose comment block names rows."""
    for path in code_files():
        if path.parts[len(ROOT.parts)] == "tests":
            continue
        lines = path.read_text().splitlines()
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for statement in ast.parse("\n".join(lines)).body:
            targets = statement.targets if isinstance(statement, ast.Assign) else []
            if isinstance(statement, ast.AnnAssign):
                targets = [statement.target]
            if len(targets) != 1 or not isinstance(targets[0], ast.Name) or not CONSTANT.fullmatch(targets[0].id):
                continue
            comments = []
            above = statement.lineno - 2
            while above >= 0 and lines[above].lstrip().startswith("#"):
                comments.append(lines[above])
                above -= 1
            rows = referenced_rows("\n".join(comments))
            if rows:
                yield module, targets[0].id, rows


def renderings(value: Any) -> list[list[str]]:
    """What must be in the row for `value`: for each part of it, the spellings any one of which will do."""
    value = getattr(value, "maximum", value)  # infra/limits.py's Limit: its figure
    if isinstance(value, bool | re.Pattern):
        return []  # a switch or a pattern: the row is checked to exist, its text to say it in words
    if isinstance(value, int):
        return [[str(value), f"{value:,}"]]
    if isinstance(value, float):
        return [[f"{value:g}"]]
    if isinstance(value, str):
        return [[value]]
    if isinstance(value, tuple) and value and all(type(part) is int for part in value):
        return [[".".join(map(str, value))]]  # a version, e.g. glibc (2, 34)
    if isinstance(value, dict):
        return [spellings for key, item in value.items() for spellings in renderings(key) + renderings(item)]
    if isinstance(value, tuple | list | set | frozenset):
        return [spellings for item in value for spellings in renderings(item)]
    raise AssertionError(f"a fact constant of type {type(value).__name__} cannot be checked against the table")


def test_every_row_gives_its_source_and_tolerance() -> None:
    assert len(ROWS) >= 30
    for name, cells in ROWS.items():
        assert len(cells) == 5, name
        assert any(kind in cells[3].lower() for kind in SOURCE_KINDS), f"{name}: the source does not say what it is"
        assert cells[4], f"{name}: no tolerance given"


@pytest.mark.parametrize("path", sorted(code_files()), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_row_the_code_names_is_in_the_table(path: Path) -> None:
    missing = [name for name in referenced_rows(path.read_text()) if name not in ROWS]
    assert not missing, f"{path.relative_to(ROOT)} names rows that docs/aws-facts.md lacks: {missing}"


FACT_CONSTANTS = sorted(fact_constants())


def test_the_code_declares_fact_constants() -> None:
    # The limits, the status bodies, the names: at least those this test was written against.
    assert len(FACT_CONSTANTS) >= 25


@pytest.mark.parametrize(("module", "name", "rows"), FACT_CONSTANTS, ids=[f"{m}.{n}" for m, n, _ in FACT_CONSTANTS])
def test_every_fact_constant_is_in_its_row(module: str, name: str, rows: list[str]) -> None:
    value = getattr(importlib.import_module(module), name)
    text = " ".join(" | ".join(ROWS[row]) for row in rows if row in ROWS)
    assert text, f"{module}.{name} names no row of docs/aws-facts.md: {rows}"
    missing = [spellings[0] for spellings in renderings(value) if not any(s in text for s in spellings)]
    assert not missing, f"{module}.{name}: {missing} not in docs/aws-facts.md, rows {rows}"
