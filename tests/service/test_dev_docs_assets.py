"""`make dev`'s server serves the docs pages' assets itself: offline, the pinned files, intact.

The server is the one `make dev` runs, after `make dev` fetched the pinned files
(`python -m infra.docs_assets`, cached under `.cache/docs-assets/`): every script, style
sheet and icon the pages load is a URL of that same server, answers 200, and is the file
whose digest the page names.
"""

from __future__ import annotations

import base64
import hashlib
import re
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
