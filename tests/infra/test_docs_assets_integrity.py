"""In Lambda the docs pages name the pinned versions on the CDN, each with the pinned file's integrity.

The digests are computed here from node_modules, which `npm ci` installed from
package-lock.json on its own path, not from the files the synth fetched: the template must
name what the lock pins, and the pages must carry exactly those hashes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from infra.docs_assets import FILES
from infra.service_settings import settings_from_environment
from service.app import create_app
from tests.infra.conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"


def _sha384(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def _installed_version(package: str) -> str:
    version: str = json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
    return version


def _integrity(synth: Synthesized) -> dict[str, str]:
    integrity: dict[str, str] = json.loads(synth.function_environment["DOCS_ASSETS_INTEGRITY"])
    return integrity


def test_the_function_names_every_docs_asset_at_its_pinned_version_with_its_digest(
    default_synth: Synthesized,
) -> None:
    integrity = _integrity(default_synth)

    expected = {f"{package}@{_installed_version(package)}/{file}" for package, files in FILES.items() for file in files}
    assert set(integrity) == expected
    for path, value in integrity.items():
        served_as, _, file = path.partition("/")
        assert value == _sha384(NODE_MODULES / served_as.rpartition("@")[0] / file), path


def test_the_pages_the_function_serves_load_only_those_files_with_those_hashes(default_synth: Synthesized) -> None:
    environment = default_synth.function_environment
    integrity = _integrity(default_synth)
    settings = settings_from_environment(environment)
    with TestClient(create_app(settings)) as client:
        pages = client.get("/v1/docs").text + client.get("/v1/redoc").text

    loaded = re.findall(r'\b(?:src|href)="([^"]+)"', pages)
    assert loaded
    base = settings.docs_assets_url
    assert {url.removeprefix(base + "/") for url in loaded} <= set(integrity)
    for url, value in re.findall(r'\b(?:src|href)="([^"]+)" integrity="([^"]+)" crossorigin="anonymous"', pages):
        assert value == integrity[url.removeprefix(base + "/")]
    script_or_style = r'<(?:script src|link type="text/css" rel="stylesheet" href)="([^"]+)"([^>]*)>'
    scripts_and_styles = re.findall(script_or_style, pages)
    assert len(scripts_and_styles) == 3  # Swagger UI's script and style sheet, ReDoc's script
    assert all("integrity=" in attributes for _, attributes in scripts_and_styles)


def test_without_docs_the_function_gets_no_asset_list(custom_synth: Synthesized) -> None:
    environment = custom_synth.function_environment
    assert (environment["DOCS_ENABLED"] == "true") is ("DOCS_ASSETS_INTEGRITY" in environment)
