"""docs/recipes.md's first three recipes, applied together as written, keep the suite green.

A copy of the repository (its tracked files, `git ls-files`, with the shared installs linked:
`.venv`, `node_modules`, `.cache`) gets the recipes' steps in the order the page gives them:
each block headed `file=<path>` is written, each `diff` block applied with `git apply`, each
`sh` block run. The snapshot refresh that each recipe ends with runs once, where it last
appears: every run rewrites the same file from the same template.

Then the tests that can break run on the copy, in a pytest of their own:
- tests/service (but the e2e servers): the routes, scopes, OpenAPI document, token endpoint,
  admin listing and Lambda handler: what adding a route and deleting the demo's change;
- tests/infra's route and stack tests (gateway agreement, routes, the stack's resources and
  outputs, nag, snapshot, config, context refusals, service settings): what the template makes
  of the routes and of the stack's name;
- tests/pipeline/test_pipeline.py and test_checks.py: the pipeline's stacks, named after it.
Left out: the sandbox's e2e tests and the CLI's synth (minutes each), whose expectations come
from the same helpers (`tests/declared.py`, `tests/support.STACK_NAME`) these runs exercise,
and the identity providers' stand-ins, which do not depend on routes or the stack's name.
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
TESTED = ("Add a route", "Remove a demo route", "Rename the stack, or deploy your own copy")
LINKED = (".venv", ".venv-checkov", "node_modules", ".cache")
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
]
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Step:
    kind: str  # "file", "diff" or "sh"
    body: str
    path: str = ""


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


def apply(steps: list[Step], checkout: Path) -> None:
    shell_env = {**os.environ, "PATH": os.pathsep.join([str(checkout / ".venv" / "bin"), os.environ["PATH"]])}
    for index, step in enumerate(steps):
        if step.kind == "file":
            (checkout / step.path).write_text(step.body)
        elif step.kind == "diff":
            result = subprocess.run(
                ["git", "apply", "-"], check=False, cwd=checkout, input=step.body, text=True, capture_output=True
            )
            assert result.returncode == 0, f"the diff does not apply:\n{step.body}\n{result.stderr}"
        elif not any(later.kind == "sh" and later.body == step.body for later in steps[index + 1 :]):
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


def test_the_first_three_recipes_together_keep_the_suite_green(tmp_path: Path) -> None:
    markdown = RECIPES.read_text()
    steps = [step for title in TESTED for step in recipe_steps(markdown, title)]
    for title in TESTED:
        assert recipe_steps(markdown, title), f"{title}: no steps found in {RECIPES}"
    checkout = copy_repository(tmp_path / "copy")

    started = time.monotonic()
    apply(steps, checkout)
    applied = time.monotonic() - started

    # The changes the recipes promise, in the copy.
    assert not (checkout / "service" / "api" / "routes" / "items.py").exists()
    assert '"stack_name": "orders-api"' in (checkout / "cdk.json").read_text()
    snapshot = (checkout / "tests" / "infra" / "snapshots" / "api_stack.template.json").read_text()
    assert '"RouteKey": "GET /v1/orders"' in snapshot
    assert "/v1/items" not in snapshot

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not e2e", *SUITES],
        check=False,
        cwd=checkout,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        text=True,
        capture_output=True,
        timeout=1800,
    )
    ran = time.monotonic() - started - applied
    print(f"recipes applied in {applied:.0f} s, the suites ran in {ran:.0f} s")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
