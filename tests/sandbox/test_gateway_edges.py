"""The sandbox's gateway at its edges: a custom domain as the only way in, and a body past Lambda's 6 MB.

The first plays the template the stack synthesizes with a custom domain (the execute-api
endpoint disabled); the second streams 50 MB at a running sandbox and watches its memory.
"""

from __future__ import annotations

import json
import os
import select
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sandbox.__main__ import _address
from sandbox.assembly import HttpApi, load_http_api
from sandbox.gateway import DEFAULT_RAW_PATH_SHAPE, EXECUTE_API_DOMAIN, HttpApiGateway, PublicAddress
from sandbox.runtime_api import Outcome
from tests.infra.conftest import CUSTOM_CONTEXT, synthesize
from tests.support_sandbox import STAGE, running_sandbox

ANSWER = {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}
MiB = 1024 * 1024


class Recording:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def invoke(self, event: bytes) -> Outcome:
        self.events.append(json.loads(event))
        return Outcome(request_id="r", payload=json.dumps(ANSWER).encode())


@pytest.fixture(scope="module")
def domain_only_api(tmp_path_factory: pytest.TempPathFactory) -> HttpApi:
    """The API as the stack synthesizes it behind a custom domain (and nothing keeping the endpoint)."""
    # As the CLI synthesizes: resources name their assets, which the sandbox runs.
    context = {**CUSTOM_CONTEXT, "aws:cdk:enable-asset-metadata": "true"}
    return load_http_api(synthesize(tmp_path_factory.mktemp("domain-only"), **context).assembly_dir)


def gateway(api: HttpApi, address: PublicAddress, function: Recording) -> HttpApiGateway:
    return HttpApiGateway(
        api=api, address=address, functions={f.logical_id: function for f in api.functions}, authorizers={}
    )


def test_with_the_endpoint_disabled_only_the_custom_domains_path_is_served(domain_only_api: HttpApi) -> None:
    assert domain_only_api.execute_api_endpoint_disabled
    (domain,) = domain_only_api.custom_domains
    stage = domain_only_api.stage_name
    function = Recording()

    with TestClient(gateway(domain_only_api, PublicAddress.execute_api(domain_only_api), function)) as client:
        refused = client.get(f"/{stage}/v1/manage/hc")
    assert refused.status_code == 403
    assert refused.json() == {"message": "Forbidden"}
    assert function.events == []

    on_domain = PublicAddress.custom_domain(domain_only_api, domain)
    with TestClient(gateway(domain_only_api, on_domain, function)) as client:
        assert client.get(f"/{domain.mapping_key}/v1/manage/hc").status_code == 200
    assert [event["requestContext"]["domainName"] for event in function.events] == [domain.domain_name]

    # `python -m sandbox serve` without --domain plays the domain, the only way in.
    served = _address(domain_only_api, domain=None, raw_path=DEFAULT_RAW_PATH_SHAPE)
    assert served.domain_name == domain.domain_name != EXECUTE_API_DOMAIN


def _peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _pid_listening_on(port: int) -> int:
    """The sandbox this test started: its command line names the port."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"sandbox" in arguments and b"serve" in arguments and str(port).encode() in arguments:
            return int(entry.name)
    raise AssertionError(f"no sandbox process on port {port}")


def _stream_chunked(port: int, path: str, total: int, chunk: int = 256 * 1024) -> bytes:
    """POST `total` bytes with chunked transfer encoding (no length known up front); the response's first bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/octet-stream\r\n"
            "transfer-encoding: chunked\r\n\r\n".encode()
        )
        piece = f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n"
        sent = 0
        try:
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered before the end: stop sending
                sock.sendall(piece)
                sent += chunk
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            received = sock.recv(4096)
            if not received:
                break
            answer += received
        return answer


def test_a_streamed_body_over_6_mb_is_refused_while_read_without_holding_it(
    sandbox_assembly: Path, offline_services: str, tmp_path: Path
) -> None:
    with running_sandbox(sandbox_assembly, tmp_path, offline_url=offline_services) as sandbox:
        port = int(sandbox.origin.rsplit(":", 1)[1])
        pid = _pid_listening_on(port)
        before = _peak_rss_bytes(pid)

        answer = _stream_chunked(port, f"/{STAGE}/v1/auth/token", 50 * MiB)

        grown = _peak_rss_bytes(pid) - before
        assert os.path.exists(f"/proc/{pid}")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'{"message":"Request Entity Too Large"}' in answer
    print(f"peak memory grew by {grown / MiB:.1f} MiB")
    assert grown < 100 * MiB


def test_a_client_that_hangs_up_mid_body_gets_an_access_log_line_and_no_traceback(
    sandbox_assembly: Path, offline_services: str, tmp_path: Path
) -> None:
    with running_sandbox(sandbox_assembly, tmp_path, offline_url=offline_services) as sandbox:
        port = int(sandbox.origin.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                f"POST /{STAGE}/v1/auth/token HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                "content-type: application/x-www-form-urlencoded\r\ncontent-length: 1000\r\n\r\nusername=a".encode()
            )
        # The gateway notices the hang-up, then logs; a request after it is logged after it.
        after = httpx.get(f"{sandbox.base_url}/v1/manage/hc", timeout=30)
        time.sleep(0.5)
        log = sandbox.log()

    assert after.status_code == 200
    assert not [line for line in log if "Traceback" in line or "ClientDisconnect" in line]
    access = [json.loads(line.removeprefix("[gateway] ")) for line in log if line.startswith("[gateway] ")]
    # No answer was sent: the line says so ("-"), as it says "-" for every field without a value.
    assert [(entry["httpMethod"], entry["status"]) for entry in access[-2:]] == [("POST", "-"), ("GET", "200")]
