"""The docs page as a person uses it: Swagger UI in a real browser, locally and behind API Gateway.

The ways the same docs are published, each driven the same way:
- `local`: the server `make dev` runs (RUNTIME=LOCAL, embedded issuer);
- `stage`: the sandbox (`make sandbox`): the synthesized template's HTTP API on the
  execute-api domain, stage `/mvp` in front of every path, and the bundled asset under
  Lambda's runtime client behind it;
- `custom-domain`, `custom-domain-key-not-in-raw-path`: the same behind the template's custom
  domain `api.example.com` with its API mapping key `/shop`, which reaches `rawPath` or not.
Behind the gateway the function runs with `IDENTITY_PROVIDER=oidc`, whose token endpoint is
the sandbox's offline issuer, and the template's JWT authorizer trusts that issuer: sign-in,
authorizer and function work as they would in AWS. Swagger UI loads offline, with the
integrity the page names, which the browser checks: locally from the files `make dev` fetched
and serves itself (`/_docs-assets`), behind the gateway from the offline mirror the template
names (`DOCS_ASSETS_URL`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra import docs_assets
from sandbox.gateway import DEFAULT_RAW_PATH_SHAPE
from service.runtime.local import DOCS_ASSETS_DIR
from tests.browser.conftest import ARTIFACTS_DIR, PageLog
from tests.support import running_dev_server
from tests.support_sandbox import CUSTOM_DOMAIN, CUSTOM_DOMAIN_RAW_PATHS, running_sandbox

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright: pip install -r requirements-dev.txt")
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.e2e

ADMIN = ("admin@example.com", "admin-password")
USER = ("user@example.com", "user-password")


@dataclass(frozen=True)
class DocsSite:
    """Where a person finds the API: the public base URL, prefix included."""

    name: str
    origin: str
    prefix: str

    def url(self, path: str) -> str:
        return self.origin + self.prefix + path


@dataclass(frozen=True)
class TriedOperation:
    """What Swagger UI shows after "Try it out" and "Execute"."""

    request_url: str
    status: int
    body: Any


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs-servers")


@pytest.fixture(scope="module")
def dev_server(workdir: Path) -> Iterator[str]:
    docs_assets.fetch(DOCS_ASSETS_DIR)  # what `make dev` does before it serves
    with running_dev_server(workdir) as base_url:
        yield base_url


# The custom domain once per shape of its rawPath (`custom-domain-<shape>`).
SITES = ["local", "stage", *(f"custom-domain-{shape}" for shape in CUSTOM_DOMAIN_RAW_PATHS)]


@pytest.fixture(scope="module", params=SITES)
def site(
    request: pytest.FixtureRequest, dev_server: str, workdir: Path, sandbox_assembly: Path, offline_services: str
) -> Iterator[DocsSite]:
    name: str = request.param
    if name == "local":
        yield DocsSite(name=name, origin=dev_server, prefix="")
        return
    domain = None if name == "stage" else CUSTOM_DOMAIN
    with running_sandbox(
        sandbox_assembly,
        workdir,
        offline_url=offline_services,
        domain=domain,
        raw_path=name.removeprefix("custom-domain-") if domain else DEFAULT_RAW_PATH_SHAPE,
        name=f"sandbox-{name}",
    ) as sandbox:
        yield DocsSite(name=name, origin=sandbox.origin, prefix=sandbox.prefix)


def open_swagger_ui(page: Page, site: DocsSite) -> None:
    page.goto(site.url("/v1/docs"))
    expect(page.get_by_role("heading", name="FastAPI on AWS Lambda")).to_be_visible()
    expect(page.locator("#operations-users-whoami")).to_be_visible()


def open_authorize_dialog(page: Page, site: DocsSite) -> Locator:
    page.locator(".auth-wrapper").get_by_role("button", name="Authorize").click()
    dialog = page.locator(".modal-ux")
    # The dialog posts to the token URL the document names: it must carry the public prefix.
    expect(dialog.get_by_text("Token URL:")).to_contain_text(f"{site.prefix}/v1/auth/token")
    return dialog


def sign_in_with(dialog: Locator, username: str, password: str) -> None:
    """The OAuth2 password flow in Swagger UI's dialog, as a person fills it in."""
    dialog.get_by_label("username:").fill(username)
    dialog.get_by_label("password:").fill(password)
    dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()


def close_authorized(dialog: Locator) -> None:
    expect(dialog.get_by_role("heading", name="Authorized")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def authorize(page: Page, site: DocsSite, username: str, password: str) -> None:
    """Authorize with the right password."""
    dialog = open_authorize_dialog(page, site)
    sign_in_with(dialog, username, password)
    close_authorized(dialog)


def try_it_out(page: Page, *, tag: str, operation_id: str) -> tuple[TriedOperation, Locator]:
    """Expand the operation, "Try it out", "Execute", and read what the page shows."""
    operation = page.locator(f"#operations-{tag}-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    response = operation.locator(".live-responses-table tr.response").first
    expect(response.locator(".response-col_status")).to_have_text(re.compile(r"^\d{3}$"))
    tried = TriedOperation(
        request_url=operation.locator(".request-url pre").inner_text().strip(),
        status=int(response.locator(".response-col_status").inner_text()),
        body=json.loads(response.locator(".highlight-code pre").first.inner_text()),
    )
    return tried, operation


def test_admin_authorizes_and_tries_whoami_and_the_admin_route(site: DocsSite, page: Page, page_log: PageLog) -> None:
    open_swagger_ui(page, site)
    authorize(page, site, *ADMIN)

    whoami, whoami_operation = try_it_out(page, tag="users", operation_id="whoami")
    assert whoami.request_url == site.url("/v1/users/whoami")
    assert whoami.status == 200, whoami.body
    assert whoami.body["email"] == ADMIN[0]
    # Behind the gateway the groups arrived flattened ("[ADMINS USERS]") and were restored.
    assert whoami.body["groups"] == ["ADMINS", "USERS"]
    # Evidence for a person: the operation, its request URL and the claims, in one picture.
    whoami_operation.evaluate("element => element.scrollIntoView({block: 'start'})")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / f"swagger-ui-{site.name}-whoami-admin.png")

    endpoints, _ = try_it_out(page, tag="admin", operation_id="list_endpoints")
    assert endpoints.request_url == site.url("/v1/admin/endpoints")
    assert endpoints.status == 200, endpoints.body
    listed = {(endpoint["method"], endpoint["path"]): endpoint for endpoint in endpoints.body}
    assert listed["GET", "/v1/admin/endpoints"]["groups"] == ["ADMINS"]
    assert listed["GET", "/v1/users/whoami"]["public"] is False

    # Every call the page made went to the public prefix: the spec, the sign-in, the routes.
    called = set(page_log.requests)
    assert ("GET", site.url("/v1/openapi.json")) in called
    assert ("POST", site.url("/v1/auth/token")) in called
    assert ("GET", site.url("/v1/users/whoami")) in called


def test_a_user_outside_admins_gets_403_from_the_admin_route(site: DocsSite, page: Page) -> None:
    open_swagger_ui(page, site)
    authorize(page, site, *USER)

    whoami, _ = try_it_out(page, tag="users", operation_id="whoami")
    assert whoami.status == 200, whoami.body
    assert whoami.body["email"] == USER[0]

    endpoints, _ = try_it_out(page, tag="admin", operation_id="list_endpoints")
    assert endpoints.request_url == site.url("/v1/admin/endpoints")
    assert endpoints.status == 403
    assert endpoints.body["code"] == "missing_group"


def test_a_wrong_password_shows_the_oauth_error_then_the_right_one_authorizes(site: DocsSite, page: Page) -> None:
    open_swagger_ui(page, site)
    dialog = open_authorize_dialog(page, site)

    sign_in_with(dialog, ADMIN[0], "not-the-password")

    # Swagger UI shows a token endpoint's `error` and `error_description` (RFC 6749 section 5.2).
    error = dialog.locator(".errors")
    expect(error).to_contain_text("error: invalid_grant")
    expect(error).to_contain_text("description: The username or password is incorrect.")
    expect(dialog.get_by_role("heading", name="Authorized")).to_be_hidden()
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    dialog.screenshot(path=ARTIFACTS_DIR / f"swagger-ui-{site.name}-wrong-password.png")

    sign_in_with(dialog, *ADMIN)
    close_authorized(dialog)
    whoami, _ = try_it_out(page, tag="users", operation_id="whoami")
    assert whoami.status == 200, whoami.body
    assert whoami.body["email"] == ADMIN[0]


def test_redoc_renders_the_document(site: DocsSite, page: Page, page_log: PageLog) -> None:
    page.goto(site.url("/v1/redoc"))

    expect(page.get_by_role("heading", name="FastAPI on AWS Lambda", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Whoami")).to_be_visible()
    assert ("GET", site.url("/v1/openapi.json")) in page_log.requests
