"""`python -m sandbox`: run (synthesize, then serve; what `make sandbox` does), serve a cloud assembly, or offline.

python -m sandbox run [--host H] [--port P] [--domain api.example.com [--mapping-key K] [--raw-path none|stage|key]]
                      [--users-file F] [-c key=value ...]
python -m sandbox serve ASSEMBLY_DIR [--port P] [--domain NAME] [--jwks ISSUER=URL ...] [--invoke-port P]
python -m sandbox offline [--port P] [--users-file F]   the offline identity provider and docs assets alone
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from infra import docs_assets
from sandbox import offline
from sandbox.assembly import AssemblyError, HttpApi, load_http_api
from sandbox.gateway import DEFAULT_RAW_PATH_SHAPE, EXECUTE_API_DOMAIN, RAW_PATH_SHAPES, PublicAddress
from sandbox.runtime_client import RuntimeClientError
from sandbox.server import PreparedFunction, bind, emit, fail, port_of, prepare_functions, serve
from sandbox.synth import ROOT, SynthError, sandbox_context, synthesize
from service.core.identity.local import LocalIssuer, load_users

CACHE_DIR = ROOT / ".cache" / "sandbox"
OFFLINE_KEY_FILE = ROOT / ".local" / "sandbox-idp-key.pem"


def _docs_assets() -> Path:
    """The docs pages' pinned files (infra/docs_assets.py; the synth has fetched them already)."""
    try:
        docs_assets.fetch()
    except docs_assets.DocsAssetsError as error:
        emit(f"warning: the docs pages will not load offline: {error}")
    return docs_assets.CACHE


@dataclass(frozen=True)
class OfflineServices:
    """What `run` serves beside the stack: the docs' assets always, the issuer where the template trusts it."""

    sock: socket.socket
    issuer: LocalIssuer
    trusted: bool  # the template's authorizer and function use the offline issuer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{port_of(self.sock)}"


def _key_value(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected key=value")
    return key, value


def _address(api: HttpApi, *, domain: str | None, raw_path: str) -> PublicAddress:
    if domain is None and api.execute_api_endpoint_disabled and len(api.custom_domains) == 1:
        # The template leaves the custom domain as the only way in: serve that.
        domain = api.custom_domains[0].domain_name
    if domain is None:
        return PublicAddress.execute_api(api)
    return PublicAddress.custom_domain(api, api.custom_domain(domain), raw_path=raw_path)


def _bind_or_fail(host: str, port: int) -> socket.socket:
    try:
        return bind(host, port)
    except OSError as error:
        fail(f"cannot listen on {host}:{port} ({error.strerror}); choose another with PORT=... (make) or --port")
        raise


def _banner(
    *,
    api: HttpApi,
    address: PublicAddress,
    origin: str,
    prepared: Mapping[str, PreparedFunction],
    offline_services: OfflineServices | None,
) -> None:
    base = origin + address.prefix
    played = (
        "its execute-api domain"
        if address.domain_name == EXECUTE_API_DOMAIN
        else f"its custom domain, rawPath {address.raw_prefix or 'without a prefix'} before the route"
    )
    emit(f"Sandbox: stack {api.stack_name} from {api.template_path.parent}, as API Gateway and Lambda would serve it")
    emit(f"  API:        {base}  (as https://{address.domain_name}{address.prefix}, {played}; stage {api.stage_name})")
    docs = [route.path for route in api.routes if route.path and route.path.endswith("/docs")]
    if docs:
        emit(f"  Docs:       {base}{docs[0]}  (Authorize with a user below)")
    for entry in prepared.values():
        function = entry.function
        emit(
            f"  Function:   {function.handler} on {function.runtime} ({function.architecture}, "
            f"{function.memory_mb} MB, timeout {function.timeout_seconds:g} s) under awslambdaric, {entry.interpreter}"
        )
        if function.layers:
            emit(f"  Layers:     not run here (the sandbox has no /opt): {', '.join(function.layers)}")
    if offline_services is not None and offline_services.trusted:
        emit(
            f"  Identity:   the offline issuer {offline.ISSUER} at {offline_services.url}, the function's oidc provider"
        )
        users = [
            f"{name} / {offline.DEMO_PASSWORDS.get(name, '(from the users file)')} ({', '.join(user.groups)})"
            for name, user in offline_services.issuer.users.items()
        ]
        emit(f"  Demo users: {users[0]}")
        for line in users[1:]:
            emit(f"              {line}")
    emit("Ctrl-C stops it.")


def _serve_assembly(
    assembly_dir: Path,
    *,
    gateway_socket: socket.socket,
    origin: str,
    domain: str | None,
    raw_path: str,
    jwks_uris: Mapping[str, str],
    python: Path | None,
    offline_services: OfflineServices | None = None,
    invoke_socket: socket.socket | None = None,
) -> None:
    try:
        api = load_http_api(assembly_dir)
        address = _address(api, domain=domain, raw_path=raw_path)
        prepared = prepare_functions(api, cache_dir=CACHE_DIR, interpreter=python)
    except (AssemblyError, RuntimeClientError) as error:
        fail(str(error))
        return
    extra: dict[socket.socket, ASGIApp] = {}
    if offline_services is not None:
        extra[offline_services.sock] = offline.offline_app(offline_services.issuer, docs_assets=_docs_assets())
    _banner(api=api, address=address, origin=origin, prepared=prepared, offline_services=offline_services)
    # On Ctrl-C uvicorn stops cleanly, then hands the signal on.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                api=api,
                address=address,
                gateway_socket=gateway_socket,
                prepared=prepared,
                jwks_uris=jwks_uris,
                extra_apps=extra,
                invoke_socket=invoke_socket,
            )
        )


def run(args: argparse.Namespace) -> None:
    # The gateway's port first: a port in use stops here, not after a synth.
    gateway_socket = _bind_or_fail(args.host, args.port)
    if args.users_file is not None:
        # A wrong users file stops here, saying why, rather than after a synth with a traceback.
        try:
            load_users(args.users_file)
        except (OSError, ValueError) as error:
            fail(f"the users file {args.users_file}: {error}")
    offline_socket = bind("127.0.0.1", 0)
    offline_url = f"http://127.0.0.1:{port_of(offline_socket)}"
    context = sandbox_context(
        offline_url=offline_url, given=dict(args.context), domain_name=args.domain, mapping_key=args.mapping_key
    )
    outdir = CACHE_DIR / "cdk.out"
    emit("Synthesizing: cdk synth " + " ".join(f"-c {key}={value}" for key, value in context.items()))
    started = time.monotonic()
    try:
        synthesize(context, outdir=outdir)
    except SynthError as error:
        fail(str(error))
    emit(f"Synthesized in {time.monotonic() - started:.1f} s into {outdir}")
    services = OfflineServices(
        sock=offline_socket,
        issuer=offline.offline_issuer(
            key_file=OFFLINE_KEY_FILE,
            groups_claim=context.get("jwt_groups_claim", "groups"),
            users_file=args.users_file,
        ),
        trusted=context.get("jwt_issuer") == offline.ISSUER,
    )
    _serve_assembly(
        outdir,
        gateway_socket=gateway_socket,
        origin=f"http://{args.host}:{args.port}",
        domain=args.domain,
        raw_path=args.raw_path,
        jwks_uris={offline.ISSUER: f"{offline_url}{offline.JWKS_PATH}"} if services.trusted else {},
        python=args.python,
        offline_services=services,
    )


def serve_command(args: argparse.Namespace) -> None:
    gateway_socket = _bind_or_fail(args.host, args.port)
    # Lambda's Invoke API, for what invokes a function directly (the pre-traffic hook, hooks/).
    invoke_socket = _bind_or_fail("127.0.0.1", args.invoke_port) if args.invoke_port is not None else None
    if invoke_socket is not None:
        emit(f"  Invoke API: http://127.0.0.1:{port_of(invoke_socket)} (AWS_ENDPOINT_URL_LAMBDA for an SDK)")
    _serve_assembly(
        args.assembly,
        gateway_socket=gateway_socket,
        origin=f"http://{args.host}:{port_of(gateway_socket)}",
        domain=args.domain,
        raw_path=args.raw_path,
        jwks_uris=dict(args.jwks),
        python=args.python,
        invoke_socket=invoke_socket,
    )


def offline_command(args: argparse.Namespace) -> None:
    import uvicorn

    issuer = offline.offline_issuer(key_file=args.key_file, groups_claim=args.groups_claim, users_file=args.users_file)
    sock = _bind_or_fail("127.0.0.1", args.port)
    emit(f"Offline services on http://127.0.0.1:{port_of(sock)}: token {offline.TOKEN_PATH}, keys {offline.JWKS_PATH}")
    config = uvicorn.Config(
        offline.offline_app(issuer, docs_assets=_docs_assets()), log_level="warning", server_header=False
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


def _add_serving_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--domain", help="play this custom domain of the template instead of the execute-api domain")
    parser.add_argument(
        "--raw-path",
        choices=RAW_PATH_SHAPES,
        default=DEFAULT_RAW_PATH_SHAPE,
        help="on a custom domain, what rawPath holds before the route: nothing (AWS's documentation), "
        "the stage (a captured report) or the mapping key",
    )
    parser.add_argument("--python", type=Path, help="the interpreter of the function's Python version to run it with")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="The synthesized stack on loopback.")
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="synthesize the app, then serve the result (make sandbox)")
    _add_serving_options(run_parser)
    run_parser.add_argument("--mapping-key", help="with --domain: the custom domain's API mapping key")
    run_parser.add_argument(
        "--users-file",
        type=Path,
        help="the offline issuer's users instead of the demo ones, as make dev's USERS_FILE (docs/recipes.md)",
    )
    run_parser.add_argument(
        "-c", "--context", type=_key_value, action="append", default=[], help="CDK context for the synth: key=value"
    )
    run_parser.set_defaults(handler=run)

    serve_parser = commands.add_parser("serve", help="serve a synthesized cloud assembly")
    serve_parser.add_argument("assembly", type=Path, help="the cloud assembly directory (cdk.out)")
    _add_serving_options(serve_parser)
    serve_parser.add_argument(
        "--jwks",
        type=_key_value,
        action="append",
        default=[],
        help="ISSUER=URL: fetch this issuer's keys here instead of through its discovery document",
    )
    serve_parser.add_argument(
        "--invoke-port", type=int, help="also serve Lambda's Invoke API for the functions on this loopback port"
    )
    serve_parser.set_defaults(handler=serve_command)

    offline_parser = commands.add_parser("offline", help="the offline identity provider and docs assets alone")
    offline_parser.add_argument("--port", type=int, default=0)
    offline_parser.add_argument("--key-file", type=Path, default=OFFLINE_KEY_FILE)
    offline_parser.add_argument("--groups-claim", default="groups")
    offline_parser.add_argument(
        "--users-file", type=Path, help="the issuer's users instead of the demo ones (service/core/identity/local.py)"
    )
    offline_parser.set_defaults(handler=offline_command)

    args = parser.parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
