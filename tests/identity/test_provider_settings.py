"""Each provider's settings are checked at start-up, and a provider's code loads only when chosen."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from service.core.settings import SettingsError, build_settings

REPO = Path(__file__).resolve().parents[2]
LOCAL_VERIFICATION = {"runtime": "LOCAL", "jwt_issuer": "https://issuer.example.test", "jwt_audience": "api"}


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"identity_provider": "firebase"}, "FIREBASE_APP_API_KEY"),
        ({"identity_provider": "cognito", "aws_region": "eu-west-1"}, "COGNITO_USER_POOL_CLIENT_ID"),
        ({"identity_provider": "cognito", "cognito_user_pool_client_id": "client"}, "AWS_REGION"),
        ({"identity_provider": "oidc", "oidc_token_url": "https://idp.example.test/token"}, "OIDC_CLIENT_ID"),
    ],
    ids=["firebase key", "cognito client", "cognito region", "oidc client"],
)
def test_a_providers_missing_setting_stops_start_up_naming_it(values: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        build_settings(**LOCAL_VERIFICATION, **values)


def test_oidc_needs_a_token_url_or_an_issuer_to_discover_it() -> None:
    with pytest.raises(SettingsError, match="OIDC_TOKEN_URL"):
        build_settings(runtime="LAMBDA", identity_provider="oidc", oidc_client_id="client")


def test_a_non_local_provider_in_local_runtime_needs_what_to_verify() -> None:
    with pytest.raises(SettingsError, match="JWT_ISSUER"):
        build_settings(runtime="LOCAL", identity_provider="firebase", firebase_app_api_key="key")


def test_the_firebase_emulator_is_refused_in_lambda() -> None:
    with pytest.raises(SettingsError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        build_settings(
            runtime="LAMBDA",
            identity_provider="firebase",
            firebase_app_api_key="key",
            firebase_auth_emulator_host="127.0.0.1:9099",
        )


def test_the_firebase_emulator_host_is_host_and_port_as_googles_sdks_read_it() -> None:
    with pytest.raises(SettingsError, match="FIREBASE_AUTH_EMULATOR_HOST") as error:
        build_settings(
            **LOCAL_VERIFICATION,
            identity_provider="firebase",
            firebase_app_api_key="key",
            firebase_auth_emulator_host="http://secret-host.example:9099",
        )
    assert "secret-host" not in str(error.value)


def test_an_unknown_oidc_client_authentication_method_is_refused() -> None:
    with pytest.raises(SettingsError, match="OIDC_TOKEN_AUTH_METHOD"):
        build_settings(
            **LOCAL_VERIFICATION, identity_provider="oidc", oidc_client_id="client", oidc_token_auth_method="jwt"
        )


def test_complete_settings_pass_for_every_provider() -> None:
    build_settings(**LOCAL_VERIFICATION, identity_provider="firebase", firebase_app_api_key="key")
    build_settings(
        **LOCAL_VERIFICATION, identity_provider="cognito", cognito_user_pool_client_id="c", aws_region="eu-west-1"
    )
    build_settings(**LOCAL_VERIFICATION, identity_provider="oidc", oidc_client_id="client")


def test_only_the_chosen_provider_loads_and_only_on_first_use() -> None:
    # A fresh interpreter: what a Lambda cold start imports.
    script = textwrap.dedent(
        """
        import sys
        from service.app import create_app
        from service.core.identity import identity_provider
        from service.core.settings import build_settings

        settings = build_settings(
            runtime="LAMBDA", identity_provider="cognito", cognito_user_pool_client_id="c", aws_region="eu-west-1"
        )
        app = create_app(settings)
        providers = {"firebase", "cognito", "oidc", "provider_http"}
        loaded = lambda: sorted(m for m in sys.modules if m.split(".")[-1] in providers or m in ("httpx", "jwt"))
        print(loaded())
        identity_provider(app)
        print(loaded())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60, cwd=REPO
    )

    at_start, after_first_use = result.stdout.splitlines()
    assert at_start == "[]"
    assert "service.core.identity.cognito" in after_first_use
    assert "firebase" not in after_first_use
    assert "oidc" not in after_first_use
    assert "'jwt'" not in after_first_use
