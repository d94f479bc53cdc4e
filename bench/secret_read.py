"""What reading the client secret at run time adds to the first token request, and to later ones.

`python -m bench.secret_read [--rounds N]` (not part of `make test` or `make bench`; a minute).
Each round builds two fresh apps against the same Cognito (moto's server, which checks
SECRET_HASH): one given the secret in `COGNITO_USER_POOL_CLIENT_SECRET` (the plain variable),
one given `COGNITO_USER_POOL_CLIENT_SECRET_ARN`, read through the Parameters and Secrets
extension's localhost API, played by the tests' stand-in with moto's Secrets Manager behind it.
For each it times the first token request (provider built, HTTP client opened, secret read)
and the second (secret cached). The two apps run in alternating order, and the figures are
medians of the per-round differences, so both sides of a difference met the same machine.

In Lambda the first read is the extension's GetSecretValue call to Secrets Manager; here it is
the stand-in's call to moto, printed on its own as the "read alone" row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from service.core.http import SharedHttpClient
from service.core.identity.client_secret import SecretsManagerClientSecret
from service.core.settings import Settings
from tests.identity.secrets_extension import SecretsExtensionStandIn, secrets_extension
from tests.identity.standins import CognitoUserPool, MotoCognito, moto_server

USERNAME, PASSWORD = "bench@example.com", "Bench-password1"
SESSION_TOKEN = "bench-session-token"  # noqa: S105 - the stand-in's, not a credential


def _app(pool: CognitoUserPool, **secret: Any) -> TestClient:
    settings = Settings(
        runtime="LOCAL",  # type: ignore[arg-type]
        docs_enabled=False,
        identity_provider="cognito",  # type: ignore[arg-type]
        cognito_user_pool_client_id=pool.secret_client_id,
        aws_region=pool.region,
        aws_endpoint_url_cognito_idp=pool.endpoint,
        jwt_issuer=pool.issuer,
        jwt_audience=[pool.secret_client_id],
        **secret,
    )
    return TestClient(create_app(settings))


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


def _first_and_second(client: TestClient) -> tuple[float, float]:
    form = {"username": USERNAME, "password": PASSWORD}
    with client:
        first = _timed(lambda: client.post("/v1/auth/token", data=form))
        second = _timed(lambda: client.post("/v1/auth/token", data=form))
    return first, second


def _read_alone(extension: SecretsExtensionStandIn, arn: str) -> float:
    secret = SecretsManagerClientSecret(
        arn=arn, http=SharedHttpClient(timeout_seconds=5), port=extension.port, cache_seconds=0, provider="bench"
    )

    async def read() -> float:
        await secret.reread()  # the client's connection is opened here, as on a first request
        started = time.perf_counter()
        await secret.reread()
        return (time.perf_counter() - started) * 1000

    return asyncio.run(read())


def measure(rounds: int) -> dict[str, list[float]]:
    previous = os.environ.get("AWS_SESSION_TOKEN")
    os.environ["AWS_SESSION_TOKEN"] = SESSION_TOKEN  # as Lambda sets it; the extension checks it
    try:
        return _measure(rounds)
    finally:
        if previous is None:
            del os.environ["AWS_SESSION_TOKEN"]
        else:
            os.environ["AWS_SESSION_TOKEN"] = previous


def _measure(rounds: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {
        "first: plain": [],
        "first: by ARN": [],
        "second: plain": [],
        "second: by ARN": [],
        "added to the first": [],
        "added to a later one": [],
        "read alone (warm connection)": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-secret-") as tmp, moto_server(Path(tmp)) as endpoint:
        moto = MotoCognito(endpoint)
        pool = moto.create_pool(f"bench-{uuid.uuid4().hex[:8]}")
        moto.create_user(pool, USERNAME, PASSWORD, groups=["USERS"])
        with secrets_extension(endpoint, session_token=SESSION_TOKEN) as extension:
            arn = extension.create_secret(f"bench-client-{uuid.uuid4().hex[:8]}", pool.secret_client_secret)
            plain: dict[str, Any] = {"cognito_user_pool_client_secret": pool.secret_client_secret}
            by_arn: dict[str, Any] = {
                "cognito_user_pool_client_secret_arn": arn,
                "parameters_secrets_extension_http_port": extension.port,
            }
            _first_and_second(_app(pool, **plain))  # warm-up: moto's first sign-in, imports
            for round_number in range(rounds):
                order = [("plain", plain), ("by ARN", by_arn)]
                if round_number % 2:
                    order.reverse()
                timings = {name: _first_and_second(_app(pool, **secret)) for name, secret in order}
                for name, (first, second) in timings.items():
                    samples[f"first: {name}"].append(first)
                    samples[f"second: {name}"].append(second)
                samples["added to the first"].append(timings["by ARN"][0] - timings["plain"][0])
                samples["added to a later one"].append(timings["by ARN"][1] - timings["plain"][1])
                samples["read alone (warm connection)"].append(_read_alone(extension, arn))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    samples = measure(args.rounds)
    print(f"Token requests, Cognito (moto) with an app client secret, {args.rounds} rounds (ms)")
    print(f"  {'':<34}{'median':>9}{'min':>9}{'max':>9}")
    for label, values in samples.items():
        print(f"  {label:<34}{statistics.median(values):>9.2f}{min(values):>9.2f}{max(values):>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
