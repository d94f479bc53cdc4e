"""docs/recipes.md's first four recipes, applied as written, keep the suite green, with its teeth.

A copy of the repository (its tracked files, `git ls-files`, with the shared installs linked:
`.venv`, `node_modules`, `.cache`) gets the recipes' steps in the order the page gives them:
each block headed `file=<path>` is written, each `diff` block applied with `git apply`, each
`sh` block run. The snapshot refresh that each recipe ends with runs once, where it last
appears: every run rewrites the same file from the same template.

Which tests run on a copy is a rule, not a list: tests/content_modules.py finds every module
that depends on the app's routes (with scopes and groups), its settings or the stack's name, by
what it imports and the files it names; a module it finds runs, or is left out there with the
reason (`test_the_selection_is_the_rule_and_every_module_left_out_says_why` keeps it so).

- Each recipe alone, on a copy of its own: the modules whose outcome that recipe can change,
  found by what it touches (`touched_kinds`: a route, a setting, the stack's name). In process
  (seconds each); the template's modules too where the recipe takes a route or a scope away
  (`takes_content_away`), as the demo route's removal does. The modules that go through the
  sandbox (its CLI synth and servers: minutes) run once, on the combined copy; every copy's
  recipe refreshes the snapshot, which runs the snapshot test there.
- All four together (a route of a new group, `CLERKS`, the demo route gone, the stack renamed,
  a setting in the function's environment): every selected module, the sandbox's too, once.
On every copy no test may skip for content: a skip that remains names a missing tool.

On a repository that has adopted the recipes (a step is already there) the copies cannot
re-apply them: the test says so in one line and passes; docs/recipes.md, "After adopting the
recipes", says what to do with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.content_modules import (
    LEFT_OUT,
    ROUTES,
    SETTINGS,
    STACK,
    content_dependent,
    selected,
    synthesizes,
    through_the_sandbox,
)
from tests.support import ROOT

pytestmark = pytest.mark.e2e

RECIPES = ROOT / "docs" / "recipes.md"
TESTED = (
    "Add a route",
    "Remove a demo route",
    "Rename the stack, or deploy your own copy",
    "Add a setting the function reads",
)
LINKED = (".venv", ".venv-checkov", "node_modules", ".cache")
# The only reasons a test may still skip: a tool this machine lacks (tests/browser, another Python).
TOOL_SKIP = re.compile(r"playwright|chromium|curl|no Python \d|this machine has a Python")
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Step:
    kind: str  # "file", "diff" or "sh"
    body: str
    path: str = ""


class AlreadyApplied(Exception):
    """A step of the recipes is already in the repository: it has adopted them."""


def recipe_steps(markdown: str, title: str) -> list[Step]:
    """The steps of the recipe under `## {title}`, in order."""
    sections = re.split(r"^## ", markdown, flags=re.MULTILINE)
    (section,) = [s for s in sections if s.startswith(title + "\n")]
    steps = []
    for block in FENCE.finditer(section):
        words = block["info"].split()
        named = [w.removeprefix("file=") for w in words if w.startswith("file=")]
        if named:
            steps.append(Step("file", block["body"], named[0]))
        elif words[:1] == ["diff"]:
            steps.append(Step("diff", block["body"]))
        elif words[:1] == ["sh"]:
            steps.append(Step("sh", block["body"]))
    return steps


def all_steps(titles: tuple[str, ...] = TESTED) -> list[Step]:
    markdown = RECIPES.read_text()
    for title in titles:
        assert recipe_steps(markdown, title), f"{title}: no steps found in {RECIPES}"
    return [step for title in titles for step in recipe_steps(markdown, title)]


def touched_kinds(steps: list[Step]) -> frozenset[str]:
    """What the steps change: the app's routes (with scopes and groups), its settings, the stack's name."""
    kinds: set[str] = set()
    for step in steps:
        if step.kind == "file":
            paths = [step.path]
        else:
            paths = re.findall(r"(?:^\+\+\+ b/|\s)((?:service|smoke|contract)/\S+)", step.body, re.MULTILINE)
        for path in paths:
            if path.startswith(("service/api/", "service/core/access/", "smoke/product_checks/", "contract/")):
                kinds.add(ROUTES)
            elif path == "service/core/settings.py":
                kinds.add(SETTINGS)
        # cdk.json holds the stack's name and the function's settings (`function_environment`).
        if step.kind == "diff" and "+++ b/cdk.json" in step.body:
            cdk = step.body.split("+++ b/cdk.json", 1)[1].split("\n--- a/", 1)[0]
            kinds.add(STACK if "stack_name" in cdk else SETTINGS)
    return frozenset(kinds)


def takes_content_away(steps: list[Step]) -> bool:
    """Whether the steps remove a route or a scope: the app may be left without a kind the tests need.

    A diff to the app's routes or declarations takes something away where a word of a line it
    removes is on no line it adds (a router, a scope); a changed import line takes nothing away.
    """
    for step in steps:
        if step.kind == "sh" and re.search(r"git rm .*service/api/", step.body):
            return True
        if step.kind != "diff":
            continue
        for section in step.body.split("--- a/")[1:]:
            if not section.startswith(("service/api/", "service/core/access/")):
                continue
            lines = section.splitlines()[2:]
            removed = {w for line in lines if line.startswith("-") for w in re.findall(r"[\w:]+", line[1:])}
            added = {w for line in lines if line.startswith("+") for w in re.findall(r"[\w:]+", line[1:])}
            if removed - added:
                return True
    return False


def copy_repository(into: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in listed.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, into / name)
    for name in LINKED:
        if (ROOT / name).exists():
            (into / name).symlink_to((ROOT / name).resolve())
    # `git apply` and `git rm` work in a repository: the copy is one, at the copied state.
    for command in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"],
    ):
        subprocess.run(["git", *command], cwd=into, check=True, capture_output=True)
    return into


def _git_apply(checkout: Path, diff: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "apply", *options, "-"], check=False, cwd=checkout, input=diff, text=True, capture_output=True
    )


def apply(steps: list[Step], checkout: Path, *, run_shell: bool = True) -> None:
    """Apply `steps` to `checkout`; raises AlreadyApplied where the repository already holds one."""
    shell_env = {**os.environ, "PATH": os.pathsep.join([str(checkout / ".venv" / "bin"), os.environ["PATH"]])}
    for index, step in enumerate(steps):
        if step.kind == "file":
            if (checkout / step.path).exists():
                raise AlreadyApplied(f"{step.path} exists")
            (checkout / step.path).write_text(step.body)
        elif step.kind == "diff":
            result = _git_apply(checkout, step.body)
            if result.returncode != 0 and _git_apply(checkout, step.body, "--reverse", "--check").returncode == 0:
                raise AlreadyApplied(f"the diff to {step.body.splitlines()[0].removeprefix('--- a/')} is applied")
            assert result.returncode == 0, f"the diff does not apply:\n{step.body}\n{result.stderr}"
        elif run_shell and not any(later.kind == "sh" and later.body == step.body for later in steps[index + 1 :]):
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", step.body],
                check=False,
                cwd=checkout,
                env=shell_env,
                text=True,
                capture_output=True,
                timeout=900,
            )
            assert result.returncode == 0, f"{step.body}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def adopted(reason: AlreadyApplied) -> None:
    """One line for a repository that has adopted the recipes, then the test passes."""
    print(
        f"docs/recipes.md's recipes are already applied in this repository ({reason}): they describe the template, "
        'not this app; see docs/recipes.md, "After adopting the recipes"'
    )


def applied_copy(steps: list[Step], into: Path) -> Path | None:
    """A copy of the repository with `steps` applied; None, after `adopted`'s line, where it holds them already."""
    checkout = copy_repository(into)
    try:
        apply(steps, checkout)
    except AlreadyApplied as reason:
        adopted(reason)
        return None
    return checkout


def run_pytest(checkout: Path, paths: list[str], *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-rs", "-p", "no:cacheprovider", *options, *paths],
        check=False,
        cwd=checkout,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        text=True,
        capture_output=True,
        timeout=1800,
    )


def content_skips(output: str) -> list[str]:
    """The `-rs` summary's skips whose reason is not a missing tool."""
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED ")]
    return [line for line in skipped if not TOOL_SKIP.search(line)]


def summary_line(output: str) -> str:
    return next(line for line in reversed(output.splitlines()) if re.search(r"\d+ (passed|failed)", line))


def test_content_skips_are_told_from_missing_tools() -> None:
    # The assertion below must notice a content skip, and let a missing tool's through.
    output = "\n".join(
        [
            "SKIPPED [1] tests/browser/conftest.py:61: browser tests need Debian's chromium at /usr/bin/chromium",
            "SKIPPED [2] tests/x.py:3: the app declares no GET route, without path parameters, that asks for a scope",
            "1 passed, 3 skipped in 1.0s",
        ]
    )
    assert content_skips(output) == [output.splitlines()[1]]
    assert summary_line(output) == "1 passed, 3 skipped in 1.0s"


def test_each_recipe_applies_alone_to_the_template(tmp_path: Path) -> None:
    checkout = copy_repository(tmp_path / "copy")
    for title in TESTED:
        steps = all_steps((title,))
        try:
            apply(steps, checkout, run_shell=False)
        except AlreadyApplied as reason:
            adopted(reason)
            return
        # Back to the template for the next recipe.
        subprocess.run(["git", "reset", "-q", "--hard"], cwd=checkout, check=True)
        subprocess.run(["git", "clean", "-qfd"], cwd=checkout, check=True)


def test_each_recipe_touches_what_its_title_says() -> None:
    # The selection of each recipe's copy follows what it touches: the rule must read it right.
    assert touched_kinds(all_steps(("Add a route",))) == {ROUTES}
    assert touched_kinds(all_steps(("Remove a demo route",))) == {ROUTES}
    assert touched_kinds(all_steps(("Rename the stack, or deploy your own copy",))) == {STACK}
    assert touched_kinds(all_steps(("Add a setting the function reads",))) == {SETTINGS}
    assert [title for title in TESTED if takes_content_away(all_steps((title,)))] == ["Remove a demo route"]


def test_the_selection_is_the_rule_and_every_module_left_out_says_why() -> None:
    found = content_dependent()
    # A module left out is one the rule finds (no stale entry), with a reason.
    assert sorted(set(LEFT_OUT) - set(found)) == []
    assert all(reason.strip() for reason in LEFT_OUT.values())
    # Everything else the rule finds runs on the combined copy: a new module importing the app's
    # declarations (tests/declared.py, service.api, the settings, a synth fixture...) is selected
    # by itself; to leave one out, name it in LEFT_OUT with the reason.
    assert set(selected()) == set(found) - set(LEFT_OUT)
    # The rule finds what it must: modules that take the app's routes, settings and stack name.
    for module in (
        "tests/service/test_route_scopes.py",
        "tests/contract/test_document.py",
        "tests/infra/test_limits.py",
    ):
        assert ROUTES in found[module], module
    assert SETTINGS in found["tests/service/test_settings.py"]
    assert STACK in found["tests/pipeline/test_pipeline.py"]
    # And not what it must not: modules of mechanisms that no recipe changes.
    for module in ("tests/service/test_claims.py", "tests/infra/test_lock.py", "tests/ci/test_workflow.py"):
        assert module not in found, module


@pytest.mark.parametrize("title", TESTED)
def test_each_recipe_alone_keeps_the_tests_it_can_change_green_with_none_skipped_for_content(
    tmp_path: Path, title: str
) -> None:
    steps = all_steps((title,))
    started = time.monotonic()
    checkout = applied_copy(steps, tmp_path / "copy")
    if checkout is None:
        return
    kinds = touched_kinds(steps)
    # The sandbox's modules (its CLI synth and servers: minutes) run on the combined copy only.
    # So do the template's modules, where the recipe only adds or renames: the combined copy's
    # template holds its change, with every kind of route and scope still there; a recipe that
    # takes a route or a scope away (the app may lose its only scoped route) runs them too.
    modules = [module for module in selected(kinds) if not through_the_sandbox(module)]
    if not takes_content_away(steps):
        modules = [module for module in modules if not synthesizes(module)]

    result = run_pytest(checkout, modules)
    print(
        f"{title}: {len(modules)} modules ({', '.join(sorted(kinds))}) in {time.monotonic() - started:.0f} s: "
        f"{summary_line(result.stdout)}"
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert content_skips(result.stdout) == []


def test_the_recipes_together_keep_the_suite_green_with_no_test_skipped_for_content(tmp_path: Path) -> None:
    steps = all_steps()
    started = time.monotonic()
    checkout = applied_copy(steps, tmp_path / "copy")
    if checkout is None:
        return
    applied = time.monotonic() - started

    # The changes the recipes promise, in the copy.
    assert not (checkout / "service" / "api" / "routes" / "items.py").exists()
    assert '"stack_name": "orders-api"' in (checkout / "cdk.json").read_text()
    snapshot = (checkout / "tests" / "infra" / "snapshots" / "api_stack.template.json").read_text()
    assert '"RouteKey": "GET /v1/orders"' in snapshot
    assert '"ORDERS_PAGE_SIZE": "100"' in snapshot
    assert "/v1/items" not in snapshot

    modules = selected()
    result = run_pytest(checkout, modules)
    ran = time.monotonic() - started - applied
    print(
        f"copied and recipes applied in {applied:.0f} s, {len(modules)} modules ran in {ran:.0f} s: "
        f"{summary_line(result.stdout)}"
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
    assert content_skips(result.stdout) == []

    # The copy has adopted the recipes: this very test passes there, saying so in one line.
    adopted_run = run_pytest(checkout, ["tests/test_recipes.py"], "-s", "-k", "applies_alone or together")
    assert adopted_run.returncode == 0, adopted_run.stdout[-3000:]
    assert adopted_run.stdout.count("recipes are already applied in this repository") == 2
    assert "2 passed" in adopted_run.stdout
