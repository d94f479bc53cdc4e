"""The typed clients: generated from the committed document, and type-checked.

Drift is checked by generating them afresh; the TypeScript client by `tsc`, which must also
refuse a consumer's wrong field name.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from contract import clients
from contract.clients import REGENERATE
from contract.document import DOCUMENT
from tests.support import ROOT

pytestmark = pytest.mark.e2e

TYPESCRIPT = ROOT / "clients" / "typescript"
TSC = ROOT / "node_modules" / ".bin" / "tsc"


def test_the_committed_clients_are_the_documents(capsys: pytest.CaptureFixture[str]) -> None:
    assert clients.main(["--check"]) == 0, capsys.readouterr().err


def test_a_document_changed_without_regenerating_the_clients_fails_naming_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(DOCUMENT.read_text())
    (path, item), *_ = document["paths"].items()
    document["paths"][path + "/again"] = {
        method: {**operation, "operationId": f"{operation['operationId']}_again"} for method, operation in item.items()
    }
    changed = tmp_path / "openapi.json"
    changed.write_text(json.dumps(document))
    monkeypatch.setattr(clients, "DOCUMENT", changed)

    assert clients.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert f"run `{REGENERATE}`" in err
    assert "clients/typescript/src/schema.d.ts" in err


def _tsc(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TSC), "-p", str(project)], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )


def test_the_typescript_client_and_its_example_compile() -> None:
    checked = _tsc(TYPESCRIPT)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_wrong_field_name_fails_tsc(tmp_path: Path) -> None:
    # A consumer reading a success's first field under a misspelt name.
    document = json.loads(DOCUMENT.read_text())
    path, operation = next(
        (path, item["get"])
        for path, item in document["paths"].items()
        if "get" in item and "$ref" in json.dumps(item["get"]["responses"]["200"])
    )
    ref = json.dumps(operation["responses"]["200"]).split('"$ref": "')[1].split('"')[0]
    schema = document["components"]["schemas"][ref.rpartition("/")[2]]
    field = next(iter(schema["properties"]))
    wrong = f"{field}_misspelt"
    read = (
        "data?.[0]" if operation["responses"]["200"]["content"]["application/json"]["schema"].get("items") else "data"
    )
    (tmp_path / "consumer.ts").write_text(
        f'import {{ createApiClient }} from "{TYPESCRIPT / "src" / "client"}";\n'
        f"export async function read(): Promise<unknown> {{\n"
        f'  const {{ data }} = await createApiClient("https://api.example.com").GET("{path}");\n'
        f"  return {read}?.{{field}};\n"
        f"}}\n"
    )
    config = {"extends": str(TYPESCRIPT / "tsconfig.json"), "include": [str(tmp_path / "consumer.ts")]}
    consumer = (tmp_path / "consumer.ts").read_text()
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))

    (tmp_path / "consumer.ts").write_text(consumer.replace("{field}", field))
    right = _tsc(tmp_path)
    assert right.returncode == 0, right.stdout + right.stderr

    (tmp_path / "consumer.ts").write_text(consumer.replace("{field}", wrong))
    misspelt = _tsc(tmp_path)
    assert misspelt.returncode != 0
    assert f"Property '{wrong}' does not exist" in misspelt.stdout
