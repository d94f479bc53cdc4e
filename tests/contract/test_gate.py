"""`make api-diff`: each breaking change fails on a copy of the repository, named on its own line.

The copy is a git repository whose base commit holds the committed document; each test writes
the document `make openapi` would write after one change (derived from the committed one, so
no test names the demo's routes) and runs the gate against the base, as a pull request does.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contract.access import GROUPS_EXTENSION, operations
from contract.gate import DECLARED, DOCUMENT
from tests.support import ROOT

pytestmark = pytest.mark.e2e

COMMITTED: dict[str, Any] = json.loads((ROOT / DOCUMENT).read_text())
BASE = "base"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


@dataclass(frozen=True)
class Gate:
    returncode: int
    out: list[str]
    err: str


@dataclass(frozen=True)
class Copy:
    path: Path

    def run_gate(
        self, document: dict[str, Any], declared: Sequence[str] = (), base: dict[str, Any] | None = None
    ) -> Gate:
        """The gate against the base commit, or against `base` committed on it for this run."""
        revision = BASE
        if base is not None:
            (self.path / DOCUMENT).write_text(json.dumps(base, indent=2) + "\n")
            subprocess.run(
                [*GIT, "commit", "-qam", "base for one test"], cwd=self.path, check=True, capture_output=True
            )
            revision = "HEAD"
        (self.path / DOCUMENT).write_text(json.dumps(document, indent=2) + "\n")
        (self.path / DECLARED).write_text("".join(f"{line}\n" for line in ["# declared", *declared]))
        env = {**os.environ, "PATH": os.pathsep.join([str(ROOT / ".venv" / "bin"), os.environ["PATH"]])}
        done = subprocess.run(
            [sys.executable, "-m", "contract.gate", "--base", revision],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if base is not None:
            subprocess.run([*GIT, "reset", "-q", "--hard", BASE], cwd=self.path, check=True, capture_output=True)
        return Gate(done.returncode, done.stdout.splitlines(), done.stderr)


@pytest.fixture(scope="module")
def repository_copy(tmp_path_factory: pytest.TempPathFactory) -> Copy:
    """The repository's tracked files and its node_modules, at a base commit tagged `base`."""
    into = tmp_path_factory.mktemp("copy")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in listed.decode().split("\0"):
        if name and (ROOT / name).is_file() and not name.startswith(("tests/", "docs/")):
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, into / name)
    (into / "node_modules").symlink_to(ROOT / "node_modules")
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"], ["tag", BASE]):
        subprocess.run([*GIT, *command], cwd=into, check=True, capture_output=True)
    return Copy(into)


def _first(predicate: Callable[[str, str, dict[str, Any]], bool], why: str) -> tuple[str, str]:
    for method, path, operation in operations(COMMITTED):
        if predicate(method, path, operation):
            return method, path
    pytest.skip(f"the document has no {why}")


def _changed(method: str, path: str, change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    document = copy.deepcopy(COMMITTED)
    change(document["paths"][path][method.lower()])
    return document


def _breaks(gate: Gate) -> list[str]:
    return [line.removeprefix("BREAKING  ") for line in gate.out if line.startswith("BREAKING  ")]


def _properties(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema a response carries (in an array or not), as the document's component."""
    schema = schema.get("items", schema)
    ref = schema.get("$ref", "")
    component = document["components"]["schemas"].get(ref.rpartition("/")[2]) if ref else None
    return component if component is not None and component.get("properties") else None


def test_an_unchanged_document_passes(repository_copy: Copy) -> None:
    gate = repository_copy.run_gate(COMMITTED)
    assert gate.returncode == 0, gate
    assert gate.out == [f"no undeclared breaking change against {BASE}"]


def test_removing_a_route_fails_naming_it(repository_copy: Copy) -> None:
    # A route that asks for a scope where the app has one (the demo's, as "Remove a demo route" removes it).
    scoped = [(m, p) for m, p, o in operations(COMMITTED) if any(s for r in o.get("security", []) for s in r.values())]
    method, path = scoped[0] if scoped else next((m, p) for m, p, _ in operations(COMMITTED))
    document = copy.deepcopy(COMMITTED)
    del document["paths"][path][method.lower()]

    gate = repository_copy.run_gate(document)

    assert gate.returncode == 1
    assert _breaks(gate) == [f"{method} {path}: [Removed] operation {method} {path}"]
    assert DECLARED in gate.err


def test_renaming_a_response_field_fails_naming_it(repository_copy: Copy) -> None:
    def has_fields(_: str, __: str, operation: dict[str, Any]) -> bool:
        content = operation["responses"].get("200", {}).get("content", {}).get("application/json", {})
        return "schema" in content and _properties(COMMITTED, content["schema"]) is not None

    method, path = _first(has_fields, "success response with named fields")
    document = copy.deepcopy(COMMITTED)
    schema = document["paths"][path][method.lower()]["responses"]["200"]["content"]["application/json"]["schema"]
    component = _properties(document, schema)
    assert component is not None
    field = next(iter(component["properties"]))
    component["properties"][f"{field}_renamed"] = component["properties"].pop(field)
    component["required"] = [f"{field}_renamed" if name == field else name for name in component.get("required", [])]

    gate = repository_copy.run_gate(document)

    assert gate.returncode == 1
    assert any(line.startswith(f"{method} {path}: [Removed] property `{field}`") for line in _breaks(gate)), gate


def test_changing_a_query_parameters_type_fails_naming_it(repository_copy: Copy) -> None:
    method, path = _first(lambda m, p, o: m == "GET", "GET operation")
    parameter = {"name": "q", "in": "query", "required": False, "schema": {"type": "string"}}
    base = _changed(method, path, lambda o: o.setdefault("parameters", []).append(parameter))
    narrowed = copy.deepcopy(base)
    narrowed["paths"][path][method.lower()]["parameters"][-1]["schema"] = {"type": "integer"}

    gate = repository_copy.run_gate(narrowed, base=base)

    assert gate.returncode == 1
    assert _breaks(gate) == [f"{method} {path}: [Replaced] type definition in query parameter `q`"]


def test_adding_a_required_query_parameter_fails_naming_it(repository_copy: Copy) -> None:
    method, path = _first(lambda m, p, o: m == "GET", "GET operation")
    parameter = {"name": "page", "in": "query", "required": True, "schema": {"type": "integer"}}
    document = _changed(method, path, lambda o: o.setdefault("parameters", []).append(parameter))

    gate = repository_copy.run_gate(document)

    assert gate.returncode == 1
    assert _breaks(gate) == [f"{method} {path}: [Added] required query parameter `page`"]


def test_adding_a_scope_to_a_route_fails_naming_it(repository_copy: Copy) -> None:
    def without_scopes(_: str, __: str, operation: dict[str, Any]) -> bool:
        security = operation.get("security") or []
        return bool(security) and not any(scopes for requirement in security for scopes in requirement.values())

    method, path = _first(without_scopes, "protected operation without scopes")
    document = _changed(method, path, lambda o: o.update({"security": [{"OAuth2PasswordBearer": ["orders:read"]}]}))

    gate = repository_copy.run_gate(document)

    assert gate.returncode == 1
    assert _breaks(gate) == [f"{method} {path}: [Added] scope requirement: a token now needs one of `orders:read`"]


def test_adding_a_group_to_a_route_fails_naming_it(repository_copy: Copy) -> None:
    method, path = _first(
        lambda m, p, o: bool(o.get("security")) and GROUPS_EXTENSION not in o, "protected operation without groups"
    )
    document = _changed(method, path, lambda o: o.update({GROUPS_EXTENSION: ["AUDITORS"]}))

    gate = repository_copy.run_gate(document)

    assert gate.returncode == 1
    assert _breaks(gate) == [f"{method} {path}: [Added] group requirement: the caller must now be in one of `AUDITORS`"]


def test_protecting_a_public_route_fails_naming_it(repository_copy: Copy) -> None:
    method, path = _first(lambda m, p, o: not o.get("security"), "public operation")
    document = _changed(method, path, lambda o: o.update({"security": [{"OAuth2PasswordBearer": []}]}))

    gate = repository_copy.run_gate(document)

    assert gate.returncode == 1
    assert _breaks(gate) == [f"{method} {path}: [Added] security requirement: a bearer token is now needed"]


def test_a_new_route_and_a_new_optional_field_pass(repository_copy: Copy) -> None:
    _, _, operation = next(operations(COMMITTED))
    document = copy.deepcopy(COMMITTED)
    document["paths"]["/v1/orders"] = {"get": {**copy.deepcopy(operation), "operationId": "list_orders"}}
    # An optional field more in every response object.
    for schema in document["components"]["schemas"].values():
        schema.get("properties", {})["added_later"] = {"type": "string"}

    gate = repository_copy.run_gate(document)

    assert gate.returncode == 0, gate
    assert gate.out == [f"no undeclared breaking change against {BASE}"]


def test_a_declared_break_passes(repository_copy: Copy) -> None:
    method, path, _ = next(operations(COMMITTED))
    document = copy.deepcopy(COMMITTED)
    del document["paths"][path][method.lower()]
    line = f"{method} {path}: [Removed] operation {method} {path}"

    gate = repository_copy.run_gate(document, declared=[line])

    assert gate.returncode == 0, gate
    assert gate.out == [f"declared  {line}", f"no undeclared breaking change against {BASE}"]
