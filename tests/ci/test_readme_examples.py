"""The README's curl lines work against `make dev`'s server on whatever PORT it was given."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, running_dev_server, server_env

pytestmark = pytest.mark.e2e


def readme_curl_block() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"Or with curl:\n\n```bash\n(?P<body>.*?)^```$", readme, re.MULTILINE | re.DOTALL)
    assert match, "README.md: no ```bash block after 'Or with curl:'"
    return match["body"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples need curl: apt-get install curl")
def test_the_curl_lines_follow_port(tmp_path: Path) -> None:
    with running_dev_server(tmp_path) as base_url:
        port = base_url.rsplit(":", 1)[1]
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", readme_curl_block()],
            env={**server_env(), "PORT": port},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 0, result.stderr
    # whoami's claims, then the admin listing: both answered, on that port.
    decoder = json.JSONDecoder()
    whoami, end = decoder.raw_decode(result.stdout)
    endpoints, _ = decoder.raw_decode(result.stdout[end:].lstrip())
    assert whoami["sub"] == "admin@example.com"
    assert any(entry["path"] == "/v1/admin/endpoints" for entry in endpoints)
