"""`RUNTIME=LOCAL` in process: what playing the gateway (verifying the bearer token) costs a request.

The LOCAL app (embedded issuer, its RS256 key loaded once: a cached key set) is called as an
ASGI app, directly, with no server or HTTP client in between:
- health: no token;
- whoami: the same token on every request, as a client sends it (verified once, then
  remembered: the local authorizer only re-checks `exp`);
- whoami, new token: a token never seen before on every request, so each is verified in
  full (RS256 signature, claims) against the cached key set; another app instance, so that
  these tokens do not push the other one out of the gateway's memory.
Calls are interleaved in batches; the report is the median µs of one call.

The floor's app (`bench/cases/floor_handler.py`, its directory given) is called the same
way, as the reference.

    python -m bench.local_asgi KEY_FILE CASES_DIR SPEC_JSON     (SPEC: warmup, batches, batch_size)
"""

from __future__ import annotations

import asyncio
import importlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message

from service.app import create_app
from service.core.identity import identity_provider
from service.core.identity.local import DEMO_USERS, LocalIssuer
from service.core.settings import IdentityProviderName, Runtime, Settings


def http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def asgi_call(app: ASGIApp, template: dict[str, Any]) -> Callable[[], Awaitable[int]]:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def call() -> int:
        status = 0

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        # The app may write into its scope (state, route, root_path): a fresh one per request.
        await app({**template, "state": {}}, receive, send)
        return status

    return call


def local_app(key_file: Path) -> tuple[FastAPI, LocalIssuer]:
    settings = Settings(
        runtime=Runtime.LOCAL, identity_provider=IdentityProviderName.LOCAL, local_idp_key_file=key_file
    )
    app = create_app(settings)
    issuer = identity_provider(app)
    assert isinstance(issuer, LocalIssuer)
    return app, issuer


async def measure(key_file: Path, cases_dir: Path, *, warmup: int, batches: int, batch_size: int) -> dict[str, float]:
    sys.path.insert(0, str(cases_dir))
    floor: ASGIApp = importlib.import_module("floor_handler").app
    app, issuer = local_app(key_file)
    fresh_app, _ = local_app(key_file)
    admin = next(user for user in DEMO_USERS if "ADMINS" in user.groups)
    bearer = f"Bearer {issuer.issue_tokens(admin).access_token}".encode()
    # Signing costs ~1 ms a token: all of them before the clock runs.
    fresh_tokens = iter(
        [f"Bearer {issuer.issue_tokens(admin).access_token}".encode() for _ in range(warmup + batches * batch_size + 1)]
    )
    fresh_template = http_scope("/v1/users/whoami", [])

    async def whoami_new_token() -> int:
        template = {**fresh_template, "headers": [*fresh_template["headers"], (b"authorization", next(fresh_tokens))]}
        return await asgi_call(fresh_app, template)()

    targets: dict[str, Callable[[], Awaitable[int]]] = {
        "floor_health": asgi_call(floor, http_scope("/v1/manage/hc", [])),
        "health": asgi_call(app, http_scope("/v1/manage/hc", [])),
        "whoami": asgi_call(app, http_scope("/v1/users/whoami", [(b"authorization", bearer)])),
        "whoami_new_token": whoami_new_token,
    }
    for key, call in targets.items():
        status = await call()
        if status != 200:
            raise SystemExit(f"the LOCAL app answered {status} to {key}")
        for _ in range(warmup):
            await call()
    times: dict[str, list[int]] = {key: [] for key in targets}
    clock = time.perf_counter_ns
    for _ in range(batches):
        for key, call in targets.items():
            batch = times[key]
            for _ in range(batch_size):
                begun = clock()
                await call()
                batch.append(clock() - begun)
    return {key: statistics.median(values) / 1000 for key, values in times.items()}


def main() -> None:
    key_file, cases_dir = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(sys.argv[3])
    result = asyncio.run(
        measure(key_file, cases_dir, warmup=spec["warmup"], batches=spec["batches"], batch_size=spec["batch_size"])
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
