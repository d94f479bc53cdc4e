"""Contract fuzzing: schemathesis generates requests from the app's own OpenAPI document.

Every operation, with a valid token from the embedded issuer on the protected ones: no 5xx,
every response matching its documented status, content type and schema, and the
`ignored_auth` check sending each protected operation without and with bad credentials.
`make fuzz` runs the same with many more examples (FUZZ_EXAMPLES).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case

from service.app import create_app
from service.core.settings import IdentityProviderName, Runtime, Settings
from tests.service.conftest import ADMIN, password_grant

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))
CASES: Counter[str] = Counter()

# schemathesis reads the schema when the module is collected, so the app is built here.
_KEY_DIR = tempfile.TemporaryDirectory(prefix="fuzz-idp-")
APP = create_app(
    Settings(
        runtime=Runtime.LOCAL,
        identity_provider=IdentityProviderName.LOCAL,
        local_idp_key_file=Path(_KEY_DIR.name) / "key.pem",
    )
)
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", APP)


@pytest.fixture(scope="module")
def admin_token() -> Iterator[str]:
    with TestClient(APP) as client:
        yield password_grant(client, *ADMIN)["access_token"]
    print(f"\ncontract fuzzing: {sum(CASES.values())} generated cases: {dict(CASES)}")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_keeps_its_contract(case: Case[Any], admin_token: str) -> None:
    CASES[case.operation.label] += 1
    headers = {"Authorization": f"Bearer {admin_token}"} if case.operation.definition.raw.get("security") else None
    case.call_and_validate(headers=headers)
