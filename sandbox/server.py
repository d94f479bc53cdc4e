"""The sandbox's servers: the gateway on its port, a Runtime API per function, the offline services.

One uvicorn server listens on every port, and each request goes to the app of the port it
arrived on (`scope["server"]`): the gateway, each function's Runtime API and the offline
services share one event loop and nothing else. Stopping the server stops the functions'
processes.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.assembly import Function, HttpApi, JwtAuthorizer
from sandbox.gateway import HttpApiGateway, PublicAddress, build_authorizers
from sandbox.invoke_api import invoke_api_app
from sandbox.runtime_api import LambdaFunction, launch, runtime_api_app
from sandbox.runtime_client import check_architecture, find_interpreter, install_runtime_client
from service.core.access.jwks import RemoteKeySet
from service.core.access.local_authorizer import KeySource
from service.core.http import SharedHttpClient

JWKS_REFRESH_INTERVAL_SECONDS = 300.0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0: a free port), or OSError saying it is taken.

    Created as an explicit TCP socket: asyncio disables Nagle's algorithm only on sockets whose
    protocol says TCP, and without that each small answer waits ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


def port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


def emit(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class PreparedFunction:
    function: Function
    interpreter: Path
    runtime_dir: Path


def prepare_functions(api: HttpApi, *, cache_dir: Path, interpreter: Path | None = None) -> dict[str, PreparedFunction]:
    """Each function's interpreter and runtime client, or RuntimeClientError saying what is missing."""
    prepared = {}
    for function in api.functions:
        check_architecture(function.architecture)
        found = find_interpreter(function.python_version, explicit=interpreter)
        runtime_dir = install_runtime_client(
            interpreter=found,
            python_version=function.python_version,
            architecture=function.architecture,
            cache_dir=cache_dir,
        )
        prepared[function.logical_id] = PreparedFunction(function=function, interpreter=found, runtime_dir=runtime_dir)
    return prepared


class _ByPort:
    """ASGI: the app of the port a request arrived on."""

    def __init__(self, apps: Mapping[int, ASGIApp]) -> None:
        self.apps = dict(apps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _, port = scope["server"]
        await self.apps[port](scope, receive, send)


def key_sources(jwks_uris: Mapping[str, str]) -> Callable[[JwtAuthorizer], KeySource]:
    """The authorizer's keys: from the issuer's discovery document, or from `jwks_uris[issuer]` where given."""
    http = SharedHttpClient(timeout_seconds=5.0)

    def keys(authorizer: JwtAuthorizer) -> KeySource:
        return RemoteKeySet(
            issuer=authorizer.issuer,
            jwks_uri=jwks_uris.get(authorizer.issuer),
            http=http,
            refresh_interval_seconds=JWKS_REFRESH_INTERVAL_SECONDS,
        )

    return keys


async def serve(
    *,
    api: HttpApi,
    address: PublicAddress,
    gateway_socket: socket.socket,
    prepared: Mapping[str, PreparedFunction],
    jwks_uris: Mapping[str, str],
    extra_apps: Mapping[socket.socket, ASGIApp] | None = None,
    invoke_socket: socket.socket | None = None,
    log: Callable[[str], None] = emit,
) -> None:
    """Serve until stopped (SIGINT, SIGTERM); with `invoke_socket`, Lambda's Invoke API for the functions there too."""
    import uvicorn

    runtime_sockets = {logical_id: bind("127.0.0.1", 0) for logical_id in prepared}
    functions = {
        logical_id: LambdaFunction(
            entry.function,
            launch=launch(
                entry.function,
                runtime_api=f"127.0.0.1:{port_of(runtime_sockets[logical_id])}",
                runtime_dir=entry.runtime_dir,
                interpreter=entry.interpreter,
            ),
            log=lambda line: log(f"[function] {line}"),
        )
        for logical_id, entry in prepared.items()
    }
    gateway = HttpApiGateway(
        api=api,
        address=address,
        functions=functions,
        authorizers=build_authorizers(api, key_sources(jwks_uris)),
        access_log=lambda line: log(f"[gateway] {line}"),
    )
    apps: dict[int, ASGIApp] = {port_of(gateway_socket): gateway}
    apps.update({port_of(runtime_sockets[key]): runtime_api_app(function) for key, function in functions.items()})
    apps.update({port_of(sock): app for sock, app in (extra_apps or {}).items()})
    sockets = [gateway_socket, *runtime_sockets.values(), *(extra_apps or {})]
    if invoke_socket is not None:
        apps[port_of(invoke_socket)] = invoke_api_app(functions)
        sockets.append(invoke_socket)
    config = uvicorn.Config(_ByPort(apps), lifespan="off", log_level="warning", access_log=False, server_header=False)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # First the functions' processes: a runtime's request for its next invocation would
            # otherwise keep the server waiting for an invocation that never comes.
            for function in functions.values():
                await function.close()
            await super().shutdown(sockets)

    await Server(config).serve(sockets=sockets)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
