"""`make lock` resolves service/requirements.in into the bundle's pins: the committed pins are what it gives."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from tests.support import ROOT, make_lock_service

pytestmark = pytest.mark.e2e

SERVICE = ROOT / "service"


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            found[re.sub(r"[-_.]+", "-", name.split(";")[0].strip().lower())] = version.split(";")[0].strip()
    return found


def lock(workdir: Path) -> str:
    """What `make lock-service` writes from a copy of the committed pair (its output read back as preferences)."""
    for suffix in (".in", ".txt"):
        shutil.copy(SERVICE / f"requirements{suffix}", workdir / f"requirements{suffix}")
    make_lock_service(workdir / "requirements")
    return (workdir / "requirements.txt").read_text()


def test_the_committed_pins_are_what_make_lock_resolves(tmp_path: Path) -> None:
    assert lock(tmp_path) == (SERVICE / "requirements.txt").read_text()


def unpinned(requirements_in: str, requirements_txt: str) -> list[str]:
    """What keeps service/requirements.in from the bundle's pins, each with the line and command that fix it."""
    locked = pins(requirements_txt)
    problems = []
    for line in requirements_in.splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            problems.append(
                f"service/requirements.in: {text!r} is not a requirement; write it as `name==version` "
                "(or `name>=version`), then run `make lock`"
            )
            continue
        version = locked.get(canonicalize_name(requirement.name))
        if not version:
            problems.append(
                f"{requirement}: service/requirements.txt has no `{requirement.name}==<version>` line; run `make lock` "
                "(it resolves service/requirements.in and writes that line), then commit both files"
            )
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(
                f"{requirement}: service/requirements.txt pins `{requirement.name}=={version}`, which it excludes; "
                "run `make lock` to resolve again, then commit both files"
            )
    return problems


def test_every_requirement_is_pinned_with_what_it_depends_on() -> None:
    locked = pins((SERVICE / "requirements.txt").read_text())

    problems = unpinned((SERVICE / "requirements.in").read_text(), (SERVICE / "requirements.txt").read_text())
    assert not problems, "\n".join(problems)
    assert all(locked.values())  # every package, sub-dependencies too, has its exact version
    assert "pydantic-core" in locked  # fastapi's, through pydantic: resolved, never written by hand


def test_a_pin_failure_names_the_line_to_write_and_the_command() -> None:
    # The dependency recipe's own example, before `make lock` ran, and a pin the range excludes.
    problems = unpinned("fastapi==0.165.0\norjson>=3.10\nhttpx>=1\n", "fastapi==0.165.0\nhttpx==0.28.1\n")

    assert problems == [
        "orjson>=3.10: service/requirements.txt has no `orjson==<version>` line; run `make lock` "
        "(it resolves service/requirements.in and writes that line), then commit both files",
        "httpx>=1: service/requirements.txt pins `httpx==0.28.1`, which it excludes; "
        "run `make lock` to resolve again, then commit both files",
    ]


def test_the_dependency_recipes_line_resolves_and_satisfies_the_pin_check(tmp_path: Path) -> None:
    # docs/recipes.md, "Add a runtime dependency": its `echo "..." >> service/requirements.in`, as written.
    recipes = (ROOT / "docs" / "recipes.md").read_text()
    section = recipes.split("## Add a runtime dependency\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r'^\$ echo "(?P<line>[^"]+)" >> service/requirements\.in$', section, re.MULTILINE)
    assert match, "docs/recipes.md's dependency recipe no longer shows its echo line"
    for suffix in (".in", ".txt"):
        shutil.copy(SERVICE / f"requirements{suffix}", tmp_path / f"requirements{suffix}")
    with (tmp_path / "requirements.in").open("a") as requirements_in:
        requirements_in.write(match["line"] + "\n")

    make_lock_service(tmp_path / "requirements")

    assert unpinned((tmp_path / "requirements.in").read_text(), (tmp_path / "requirements.txt").read_text()) == []
