"""docs/recipes.md's first four recipes, applied as written, keep the suite green, with its teeth.

A copy of the repository (its tracked files, `git ls-files`, with the shared installs linked:
`.venv`, `node_modules`, `.cache`) gets the recipes' steps in the order the page gives them:
each block headed `file=<path>` is written, each `diff` block applied with `git apply`, each
`sh` block run. The snapshot refresh that each recipe ends with runs once, where it last
appears: every run rewrites the same file from the same template.

- Each recipe alone applies to the template (cheap: `git apply --check` on a copy).
- All four together (a route of a new group, `CLERKS`, the demo route gone, the stack renamed,
  a setting in the function's environment): the tests that can break run on the copy, once,
  in a pytest of their own, with every test whose expectations come from the app's content
  (`tests/declared.py`) included, the sandbox's too, and none of them may skip for content:
  a skip that remains names a missing tool.
- The demo route removed alone leaves the app without a scoped route: the in-process tests of
  scoped routes run on that copy with the throwaway route they declare, none skipped.
Left out of the copies: the CLI's synth and the browser (minutes each, their expectations from
the same helpers), the identity providers' emulators but the OIDC one, and the lock and bundle
tests, which do not depend on routes or the stack's name.

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
# What the recipes together can break, run on their copy: the routes, scopes, OpenAPI document,
# token endpoint, admin listing and Lambda handler; what the template makes of the routes, the
# stack's name and the function's environment; the pipeline's stacks, named after it; and every
# module whose expectations come from the app's declarations, the sandbox's included.
SUITES = [
    "tests/service",
    "tests/infra/test_gateway_agreement.py",
    "tests/infra/test_routes.py",
    "tests/infra/test_api_stack.py",
    "tests/infra/test_nag.py",
    "tests/infra/test_snapshot.py",
    "tests/infra/test_config.py",
    "tests/infra/test_context_refusals.py",
    "tests/infra/test_service_settings.py",
    "tests/pipeline/test_pipeline.py",
    "tests/pipeline/test_checks.py",
    "tests/infra/test_route_scopes.py",
    "tests/infra/test_recipe_route_scopes.py",
    "tests/pipeline/test_route_scopes_per_environment.py",
    "tests/identity/test_oidc.py",
    "tests/sandbox/test_gateway.py",
    "tests/sandbox/test_template_drift.py",
    "tests/sandbox/test_runtime_client.py",
    "tests/smoke/test_product_checks.py",
]
# The e2e servers of tests/service (dev server reloads, hostile inputs) depend on no route: left out.
DESELECTED = ["tests/service/test_dev_reload.py", "tests/service/test_dev_server_hostile_inputs.py"]
# On the copy without any scoped route or scope: the in-process tests of scoped routes and declared scopes.
NO_SCOPED_ROUTE_SUITES = [
    "tests/service/test_local_routes.py",
    "tests/service/test_bad_tokens.py",
    "tests/service/test_lambda_handler.py",
    "tests/identity/test_oidc.py",
    "tests/service/test_token_endpoint.py",
    "tests/service/test_access_declaration.py",
    "tests/infra/test_routes.py",
]
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


def test_the_recipes_together_keep_the_suite_green_with_no_test_skipped_for_content(tmp_path: Path) -> None:
    steps = all_steps()
    checkout = copy_repository(tmp_path / "copy")

    started = time.monotonic()
    try:
        apply(steps, checkout)
    except AlreadyApplied as reason:
        adopted(reason)
        return
    applied = time.monotonic() - started

    # The changes the recipes promise, in the copy.
    assert not (checkout / "service" / "api" / "routes" / "items.py").exists()
    assert '"stack_name": "orders-api"' in (checkout / "cdk.json").read_text()
    snapshot = (checkout / "tests" / "infra" / "snapshots" / "api_stack.template.json").read_text()
    assert '"RouteKey": "GET /v1/orders"' in snapshot
    assert '"ORDERS_PAGE_SIZE": "100"' in snapshot
    assert "/v1/items" not in snapshot

    result = run_pytest(checkout, SUITES, *(f"--deselect={path}" for path in DESELECTED))
    ran = time.monotonic() - started - applied
    print(f"recipes applied in {applied:.0f} s, the suites ran in {ran:.0f} s: {summary_line(result.stdout)}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
    assert content_skips(result.stdout) == []

    # The copy has adopted the recipes: this very test passes there, saying so in one line.
    adopted_run = run_pytest(checkout, ["tests/test_recipes.py"], "-s", "-k", "alone or together")
    assert adopted_run.returncode == 0, adopted_run.stdout[-3000:]
    assert adopted_run.stdout.count("recipes are already applied in this repository") == 2
    assert "2 passed" in adopted_run.stdout


def test_without_any_scoped_route_the_tests_of_scoped_routes_declare_their_own(tmp_path: Path) -> None:
    checkout = copy_repository(tmp_path / "copy")
    try:
        # The demo route's removal alone: the snapshot refresh is not needed by these tests.
        apply(all_steps(("Remove a demo route",)), checkout, run_shell=False)
    except AlreadyApplied as reason:
        adopted(reason)
        return
    subprocess.run(["git", "rm", "-q", "service/api/routes/items.py"], cwd=checkout, check=False)

    result = run_pytest(checkout, NO_SCOPED_ROUTE_SUITES)
    print(summary_line(result.stdout))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert content_skips(result.stdout) == []
