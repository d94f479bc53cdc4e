"""`make dev`'s server serves the docs pages' assets itself: offline, the pinned files, intact.

The server is the one `make dev` runs, after `make dev` fetched the pinned files
(`python -m infra.docs_assets`, cached under `.cache/docs-assets/`): every script, style
sheet and icon the pages load is a URL of that same server, answers 200, and is the file
whose digest the page names.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra import docs_assets
from service.runtime.local import DOCS_ASSETS_DIR, DOCS_ASSETS_PATH
from tests.support import running_dev_server

ASSET = re.compile(r'\b(?:src|href)="([^"]+)"')
WITH_INTEGRITY = re.compile(r'\b(?:src|href)="([^"]+)" integrity="([^"]+)"')


@pytest.fixture(scope="module")
def fetched() -> None:
    """What `make dev` does before it serves (from the npm registry the first time, then cached)."""
    docs_assets.fetch(DOCS_ASSETS_DIR)


@pytest.mark.parametrize("page", ["/v1/docs", "/v1/redoc"])
def test_every_asset_of_the_docs_page_comes_from_make_devs_own_server(fetched: None, tmp_path: Path, page: str) -> None:
    with running_dev_server(tmp_path) as base_url, httpx.Client(timeout=30) as client:
        html = client.get(base_url + page).text
        urls = ASSET.findall(html)
        assert urls
        assert all(url.startswith(f"{base_url}{DOCS_ASSETS_PATH}/") for url in urls), urls
        answers = {url: client.get(url) for url in urls}
        assert {url: answer.status_code for url, answer in answers.items()} == dict.fromkeys(urls, 200)
        checked = WITH_INTEGRITY.findall(html)
        assert checked
        for url, integrity in checked:
            digest = base64.b64encode(hashlib.sha384(answers[url].content).digest()).decode()
            assert integrity == f"sha384-{digest}", url


def test_a_mirror_named_by_docs_assets_url_is_used_as_it_is(fetched: None, tmp_path: Path) -> None:
    mirror = "http://127.0.0.1:9/npm-mirror"
    with running_dev_server(tmp_path, DOCS_ASSETS_URL=mirror) as base_url:
        html = httpx.get(base_url + "/v1/docs", timeout=30).text
    assert f'src="{mirror}/swagger-ui-dist@5/swagger-ui-bundle.js"' in html


@dataclass
class Mirror:
    """An npm mirror on loopback that passes each tarball on from npm's registry and records who asked for what."""

    url: str
    requests: list[tuple[str, str | None]]


@pytest.fixture
def npm_mirror() -> Iterator[Mirror]:
    requests: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append((self.path, self.headers.get("authorization")))
            upstream = docs_assets.REGISTRY + self.path.removeprefix("/npm-mirror")
            with urllib.request.urlopen(upstream, timeout=60) as answer:
                body = answer.read()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Mirror(url=f"http://127.0.0.1:{server.server_address[1]}/npm-mirror/", requests=requests)
    finally:
        server.shutdown()
        server.server_close()


def test_the_assets_come_from_the_registry_npmrc_names_with_its_token(
    npm_mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A project as `npm ci` sees it: its lock, and an .npmrc naming a mirror and a token from the environment.
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(docs_assets.LOCK, project / "package-lock.json")
    nerf_dart = npm_mirror.url.removeprefix("http:")
    (project / ".npmrc").write_text(f"registry={npm_mirror.url}\n{nerf_dart}:_authToken=${{MIRROR_TOKEN}}\n")
    monkeypatch.setenv("MIRROR_TOKEN", "mirror-token")
    monkeypatch.setenv("HOME", str(tmp_path))  # no user config
    for name in ("npm_config_registry", "NPM_CONFIG_REGISTRY", "npm_config_userconfig", "NPM_CONFIG_USERCONFIG"):
        monkeypatch.delenv(name, raising=False)

    integrity = docs_assets.fetch(tmp_path / "assets", project / "package-lock.json")

    pins = docs_assets.pins(project / "package-lock.json")
    assert sorted(npm_mirror.requests) == sorted(
        (f"/npm-mirror/{pin.name}/-/{pin.name}-{pin.version}.tgz", "Bearer mirror-token") for pin in pins
    )
    # Checked against the lock's integrity as it arrived: the pinned files, each of them.
    assert set(integrity) == {f"{pin.served_as}/{name}" for pin in pins for name in docs_assets.FILES[pin.name]}
