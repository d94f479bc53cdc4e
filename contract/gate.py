"""`make api-diff BASE=origin/main`: the committed OpenAPI document against the base branch's.

Every change that breaks a consumer fails the gate, one line each, `METHOD path: what changed`:
- api-smart-diff (npm, pinned in package.json) compares the documents and classifies each change;
  its breaking ones under `paths` are kept (a removed operation, a removed response field, a new
  required parameter or body field, a narrowed enum...), and a changed `type` that narrows what a
  request may carry or widens what a response may, which it calls non-breaking. Its findings on
  `security` are left to
- the project's own rule for access (`contract/access.py`): a new security requirement, scope
  or group, which a generic differ does not read as the gateway and the service enforce them.
A break made on purpose is declared in `contract/declared-breaks.txt`, its line exactly as
printed here; declared breaks pass, and so does every addition. docs/api-contract.md says how.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contract.access import HTTP_METHODS, access_breaks

DOCUMENT = "contract/openapi.json"
DECLARED = "contract/declared-breaks.txt"
COMPARE = Path(__file__).with_name("compare.mjs")


class GateError(Exception):
    """The gate cannot compare: no base document, no node, a differ that failed."""


def base_document(base: str, repository: Path) -> dict[str, Any] | None:
    """The document as the base revision has it; None where the base has none yet."""
    shown = subprocess.run(
        ["git", "show", f"{base}:{DOCUMENT}"], cwd=repository, capture_output=True, text=True, check=False
    )
    if shown.returncode == 0:
        document: dict[str, Any] = json.loads(shown.stdout)
        return document
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"],
        cwd=repository,
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:
        raise GateError(f"{base} is not a revision here (fetch it first: git fetch origin main)")
    return None


def differ_breaks(base: dict[str, Any], head: dict[str, Any]) -> list[str]:
    """api-smart-diff's breaking changes to operations, as `METHOD path: description` lines."""
    node = shutil.which("node")
    if node is None:
        raise GateError("node is not on PATH (make install puts the venv's on it)")
    with tempfile.TemporaryDirectory() as scratch:
        files = [Path(scratch) / "base.json", Path(scratch) / "head.json"]
        for file, document in zip(files, (base, head), strict=True):
            file.write_text(json.dumps(document))
        compared = subprocess.run([node, str(COMPARE), *map(str, files)], capture_output=True, text=True, check=False)
    if compared.returncode != 0:
        raise GateError(f"api-smart-diff failed: {compared.stderr.strip()[-2000:]}")
    lines = []
    for change in json.loads(compared.stdout):
        path = [str(part) for part in change["path"]]
        # Components are compared where operations refer to them; access is the project's rule.
        if path[:1] != ["paths"] or "security" in path[3:4]:
            continue
        if change["type"] != "breaking" and not narrowed_type(path, change.get("before"), change.get("after")):
            continue
        where = f"{path[2].upper()} {path[1]}" if len(path) > 2 and path[2] in HTTP_METHODS else path[1]
        lines.append(f"{where}: {change.get('description') or change['action'] + ' ' + '/'.join(path[2:])}")
    return lines


def _types(value: object) -> set[str]:
    return {str(v) for v in value} if isinstance(value, list) else {str(value)}


def narrowed_type(path: list[str], before: object, after: object) -> bool:
    """A changed `type` that a consumer notices, which api-smart-diff classifies as non-breaking.

    What a request may carry (a parameter, a body field) must keep every type it accepted; what
    a response carries must stay within the types it had.
    """
    if path[-1:] != ["type"] or before is None or after is None:
        return False
    if "responses" in path:
        return not _types(after) <= _types(before)
    return not _types(before) <= _types(after)


def breaking_changes(base: dict[str, Any], head: dict[str, Any]) -> list[str]:
    """Every break, once each (both checks word a new required parameter alike), in order."""
    return sorted(set(differ_breaks(base, head)) | set(access_breaks(base, head)))


def declared_breaks(repository: Path) -> set[str]:
    file = repository / DECLARED
    if not file.exists():
        return set()
    lines = (line.strip() for line in file.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contract.gate", description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare with, e.g. origin/main")
    args = parser.parse_args(argv)
    repository = Path.cwd()
    try:
        base = base_document(args.base, repository)
        if base is None:
            print(f"{args.base} has no {DOCUMENT}: nothing to compare with")
            return 0
        breaks = breaking_changes(base, json.loads((repository / DOCUMENT).read_text()))
    except GateError as error:
        print(f"api-diff: {error}", file=sys.stderr)
        return 2
    declared = declared_breaks(repository)
    undeclared = [line for line in breaks if line not in declared]
    for line in breaks:
        print(f"{'declared' if line in declared else 'BREAKING'}  {line}")
    if undeclared:
        print(
            f"{len(undeclared)} breaking change(s) against {args.base}. Keep the old behaviour beside the new "
            f'(docs/recipes.md, "Evolve a route without breaking its consumers"), or declare each line in {DECLARED}.',
            file=sys.stderr,
        )
        return 1
    print(f"no undeclared breaking change against {args.base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
