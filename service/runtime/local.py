"""The local entry point (`make dev`): the same app under uvicorn, playing the gateway itself.

With `--reload` (what `make dev` passes unless `RELOAD=0`) uvicorn serves the app from a
child process and starts a fresh one whenever a file under `service/` changes, as
`fastapi dev` does; the settings are read again then, from the same environment.

uvicorn's access log writes each request line with its query string, and clients do send
credentials there (`?access_token=...`, `?password=...`, an API key), so the log is set up
through uvicorn's own `log_config` with `QueryStringRedactor` on the access handler: a
logged query string keeps its parameter names, never a value.

The docs pages load Swagger UI and ReDoc from the app itself, offline: `make dev` first puts
the pinned files into `.cache/docs-assets/` (`python -m infra.docs_assets`), and the server
serves that folder under `/_docs-assets`, pointing `DOCS_ASSETS_URL` and
`DOCS_ASSETS_INTEGRITY` there unless `DOCS_ASSETS_URL` names a mirror.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from service.core.settings import IdentityProviderName, Runtime, Settings, SettingsError, load_settings

# ASGI's types, spelled out: this module must not need the app's own imports to load.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The package's own directory: what `--reload` watches.
SERVICE_DIR = Path(__file__).resolve().parents[1]
# Where `make dev` puts the docs pages' pinned files (infra/docs_assets.py), and where it serves them.
DOCS_ASSETS_DIR = SERVICE_DIR.parent / ".cache" / "docs-assets"
DOCS_ASSETS_PATH = "/_docs-assets"
DOCS_ASSETS_INTEGRITY_FILE = DOCS_ASSETS_DIR / "integrity.json"


# What replaces each value of a logged query string.
REDACTED = "***"


def redact_query_string(query: str) -> str:
    """`query` with every value replaced, names kept: `a=1&b` becomes `a=***&***`."""
    parts = (part.partition("=") for part in query.split("&"))
    return "&".join(f"{name}={REDACTED}" if equals else REDACTED if name else "" for name, equals, _ in parts)


class QueryStringRedactor(logging.Filter):
    """Removes the values of the query string from uvicorn's access-log records.

    uvicorn logs a request as `'%s - "%s %s HTTP/%s" %d'` with the client, the method, the
    path with its query string, the HTTP version and the status as the record's arguments
    (the same five its `AccessFormatter` reads back).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            path, _, query = args[2].partition("?")
            record.args = (*args[:2], f"{path}?{redact_query_string(query)}", *args[3:])
        return True


# The top-level keys Lambda's JSON log format writes itself; anything else on a record is the
# caller's `extra` (awslambdaric's JsonFormatter, what the managed runtime installs).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class LambdaJsonFormatter(logging.Formatter):
    """The service's log records as Lambda's JSON log format writes them, for `make dev`.

    `timestamp`, `level`, `message`, `logger`, then the record's `extra` values at the top
    level, `None` left out: an unhandled error's line reads as it does in the sandbox. (The
    request's own line is written by `service/core/request_log.py`, in the same shape.)
    """

    def format(self, record: logging.LogRecord) -> str:
        extra = {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            **extra,
        }
        return json.dumps({key: value for key, value in line.items() if value is not None}, default=str)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, with the query-string redactor on its access log.

    The service's own loggers write Lambda's JSON log format (`LambdaJsonFormatter`), at
    INFO as the function's `ApplicationLogLevel` has it, which also turns on the line per
    request (`service/core/request_log.py`), as in Lambda.
    """
    import uvicorn.config

    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    # By its import path: under `python -m` this module is `__main__`, and with `--reload`
    # the configuration is applied again in the server's own process.
    config.setdefault("filters", {})["redact_query_string"] = {"()": "service.runtime.local.QueryStringRedactor"}
    config["handlers"]["access"].setdefault("filters", []).append("redact_query_string")
    config["formatters"]["lambda_json"] = {"()": "service.runtime.local.LambdaJsonFormatter"}
    config["handlers"]["service"] = {
        "formatter": "lambda_json",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["service"] = {"handlers": ["service"], "level": "INFO", "propagate": False}
    return config


def local_settings() -> Settings:
    settings = load_settings()
    if settings.runtime is not Runtime.LOCAL:
        raise SettingsError("RUNTIME: must be LOCAL to serve locally")
    return settings


# What every request gets while the app cannot be loaded: RFC 9457 problem details, as the
# app's own errors are, saying where the cause is. The traceback goes to the terminal only.
NOT_LOADED = {
    "type": "about:blank",
    "title": "Internal Server Error",
    "status": 500,
    "detail": "The app failed to load after the last change; the terminal running make dev shows why. "
    "Fix it and save: the server reloads.",
    "code": "app_not_loaded",
}


def not_loaded_app() -> ASGIApp:
    """An ASGI app answering every request with NOT_LOADED, so none hangs while the code is broken."""
    body = json.dumps(NOT_LOADED).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def with_docs_assets(app: ASGIApp, directory: Path) -> ASGIApp:
    """`app`, with the files under `directory` served at DOCS_ASSETS_PATH (LOCAL only, never in Lambda)."""
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    assets = Starlette(routes=[Mount(DOCS_ASSETS_PATH, StaticFiles(directory=directory))])

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        target = assets if scope["type"] == "http" and path.startswith(DOCS_ASSETS_PATH + "/") else app
        await target(scope, receive, send)

    return serve


def with_local_docs_assets(app: ASGIApp) -> ASGIApp:
    """`app`, serving the docs pages' files where `make dev` fetched them."""
    return with_docs_assets(app, DOCS_ASSETS_DIR) if DOCS_ASSETS_INTEGRITY_FILE.is_file() else app


def local_app() -> ASGIApp:
    """The app factory uvicorn calls in each (re)started server process.

    A change that breaks the app (an import error, an undeclared scope, a bad setting) would
    leave the reloaded process without an app: uvicorn's child exits while the parent keeps
    the socket, so requests would hang. The error is printed and every request answered 500
    instead, until the next save reloads.
    """
    try:
        # Imported here, not at the top: this module must load even when the app cannot.
        from service.app import create_app

        app = create_app(local_settings())
    except SettingsError as error:  # ROUTE_SCOPES naming a route the changed app no longer serves, say
        print(f"error: {error}; serving 500s until the next change", file=sys.stderr)
        sys.stderr.flush()
        return not_loaded_app()
    except Exception:  # noqa: BLE001 - whatever a change broke, the server must still answer
        print("error: the app failed to load; serving 500s until the next change", file=sys.stderr)
        traceback.print_exc()
        sys.stderr.flush()
        return not_loaded_app()
    return with_local_docs_assets(app)


def use_local_docs_assets(host: str, port: int) -> bool:
    """Point the docs pages at the files this server serves, where `make dev` fetched them."""
    # A mirror named by DOCS_ASSETS_URL is the user's choice, and the integrity goes with it.
    if "DOCS_ASSETS_URL" in os.environ or not DOCS_ASSETS_INTEGRITY_FILE.is_file():
        return False
    # A browser on this machine reaches a server listening on every address through loopback.
    browser_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared, not bound
    if ":" in browser_host:
        browser_host = f"[{browser_host}]"
    os.environ["DOCS_ASSETS_URL"] = f"http://{browser_host}:{port}{DOCS_ASSETS_PATH}"
    os.environ["DOCS_ASSETS_INTEGRITY"] = DOCS_ASSETS_INTEGRITY_FILE.read_text()
    return True


def _checked_app(settings: Settings, *, reload: bool) -> ASGIApp | None:
    """The app, or SettingsError (ROUTE_SCOPES naming no route it serves); reloading, other failures wait for a fix."""
    try:
        from service.app import create_app

        return create_app(settings)
    except SettingsError:
        raise
    except Exception:
        if not reload:
            raise
        return None  # local_app reports it, serving 500s until the next change


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the API locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--reload", action=argparse.BooleanOptionalAction, default=False, help="restart on changes under service/"
    )
    args = parser.parse_args(argv)
    offline_docs = use_local_docs_assets(args.host, args.port)

    try:
        # Checked here first, so a bad setting stops start-up with its message, reload or not;
        # ROUTE_SCOPES is checked against the routes the app serves, so the app is built too.
        settings = local_settings()
        app = _checked_app(settings, reload=args.reload)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None

    base = f"http://{args.host}:{args.port}"
    print(f"API:   {base}/v1/manage/hc")
    if settings.docs_enabled:
        print(f"Docs:  {base}/v1/docs  (Authorize with a user below)")
        if not offline_docs:
            print(f"       Swagger UI from {settings.docs_assets_url} (make dev serves it offline)")
    print(f"Identity provider: {settings.provider.value}")
    if settings.provider is IdentityProviderName.LOCAL and settings.local_users_file is None:
        print("Demo users: admin@example.com / admin-password (ADMINS, USERS)")
        print("            user@example.com / user-password (USERS)")
    if args.reload:
        print(f"Reload: on, restarting when a file under {SERVICE_DIR} changes (RELOAD=0 turns it off)")
    else:
        print("Reload: off")
    sys.stdout.flush()

    import uvicorn

    common = {
        "host": args.host,
        "port": args.port,
        "log_level": "info",
        "log_config": uvicorn_log_config(),
        "server_header": False,
    }
    if args.reload:
        # Reloading needs the app as an import string: each restart imports it afresh.
        uvicorn.run(
            "service.runtime.local:local_app", factory=True, reload=True, reload_dirs=[str(SERVICE_DIR)], **common
        )
    else:
        assert app is not None
        uvicorn.run(with_local_docs_assets(app), **common)


if __name__ == "__main__":
    main()
