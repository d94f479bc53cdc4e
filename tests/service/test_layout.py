"""The request path as a newcomer reads it: FastAPI's own mechanisms, and nothing local-only in Lambda.

Import cycles and layering are import-linter's to check (`make lint`, contracts in
pyproject.toml); these tests hold what it cannot see.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.support import ROOT, server_env

# Code that only RUNTIME=LOCAL runs: the stand-in for the authorizer, its key sets, the
# embedded issuer and its routes, the local server.
LOCAL_ONLY = (
    "service.core.access.local_authorizer",
    "service.core.access.jwks",
    "service.core.identity.local",
    "service.api.routes.local_idp",
    "service.runtime.local",
)

RUNNER = """
import json, sys
from service.runtime.aws_lambda import handler
for event in json.loads(sys.stdin.read()):
    handler(event, None)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("service", "jwt", "uvicorn"))))
"""


def test_the_lambda_handler_never_imports_local_only_code() -> None:
    events = [
        json.loads((ROOT / "tests" / "events" / f"{name}.json").read_text())
        for name in ("asset_health", "asset_whoami", "asset_admin", "asset_openapi", "asset_whoami_no_authorizer")
    ]
    env = server_env(
        RUNTIME="LAMBDA",
        IDENTITY_PROVIDER="firebase",
        FIREBASE_APP_API_KEY="test-api-key",
        JWT_ISSUER="https://securetoken.google.com/demo-project",
        JWT_AUDIENCE="demo-project",
        AWS_API_GW_STAGE_NAME="mvp",
    )
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert "service.core.access.caller" in loaded  # the protected routes ran
    assert [name for name in loaded if name in LOCAL_ONLY or not name.startswith("service")] == []


def test_routes_are_fastapis_own_no_rewritten_signatures_or_copied_routes() -> None:
    found = []
    for path in sorted((ROOT / "service").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"__signature__\s*=|\.add_api_route\(|route_class\s*=", line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
