"""Context a user can trust: a misspelled key, a bad value, each refused in one line that says how to fix it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import CONTEXT_KEYS
from infra.config import ApiConfig, ConfigError, check_context_keys
from tests.declared import declared_routes
from tests.support import ROOT, committed_context


def run_app(outdir: Path, **overrides: Any) -> subprocess.CompletedProcess[str]:
    """`python app.py` as the CDK CLI runs it: the context in CDK_CONTEXT_JSON, cdk.json's with `-c`'s on top."""
    context = {**committed_context(), **overrides}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir)}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300
    )


def test_a_misspelled_key_is_refused_with_the_closest_known_key() -> None:
    with pytest.raises(ConfigError, match=r"memroy_mb: not a context key of this app; did you mean memory_mb\?"):
        check_context_keys({**committed_context(), "memroy_mb": "1024"}, CONTEXT_KEYS)


def test_every_key_in_cdk_json_is_known_and_the_cdks_own_are_left_alone() -> None:
    check_context_keys(
        {**committed_context(), "@aws-cdk/core:newFlag": True, "aws:cdk:enable-path-metadata": True}, CONTEXT_KEYS
    )


@pytest.mark.parametrize(
    ("key", "value", "problem", "accepted"),
    [
        ("memory_mb", "lots", "'lots' is not a whole number", "from 128 to 10240"),
        ("memory_mb", "64", "'64' is less than 128", "from 128 to 10240"),
        ("runtime", "py3.12", "'py3.12' is not in the accepted form", "a Lambda Python runtime such as python3.13"),
        ("architecture", "riscv", "'riscv' is not one of the accepted values", "'arm64' or 'x86_64'"),
        ("docs_enabled", "maybe", "'maybe' is not true or false", "true or false"),
        ("reserved_concurrency", "0", "'0' is less than 1", "a whole number of at least 1, or off for none"),
    ],
)
def test_a_bad_value_names_the_key_the_problem_and_the_accepted_values(
    key: str, value: str, problem: str, accepted: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        ApiConfig.from_context({**committed_context(), key: value})

    message = str(raised.value)
    assert f"{key}: {problem} (accepted: {accepted}" in message
    # Not in the validation library's words ("Input should be", "String should match pattern").
    assert "should" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"memroy_mb": "1024"},
            "error: invalid CDK context: memroy_mb: not a context key of this app; did you mean memory_mb?",
        ),
        ({"reserved_concurrency": "0"}, "error: invalid CDK context: reserved_concurrency: '0' is less than 1"),
        (
            {"stack_name": "alice_api"},
            "error: invalid CDK context: stack_name: 'alice_api' is not in the accepted form",
        ),
    ],
)
def test_synth_stops_with_one_line_on_stderr_and_no_traceback(
    overrides: dict[str, str], expected: str, tmp_path: Path
) -> None:
    result = run_app(tmp_path, **overrides)

    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(expected)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("target", ["synth", "sandbox"])
def test_every_synth_entry_point_takes_context(target: str) -> None:
    result = subprocess.run(
        ["make", "-n", "-s", target, "CONTEXT=stack_name=alice-api memory_mb=1024"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )

    command = result.stdout.strip().splitlines()[-1]
    assert "-c stack_name=alice-api -c memory_mb=1024" in command


@pytest.mark.parametrize("key", ["mapping_key", "stage_name"])
def test_a_custom_domain_prefix_a_route_begins_with_is_refused_in_one_line(key: str, tmp_path: Path) -> None:
    # Behind the custom domain rawPath may hold nothing, the key or the stage before the route
    # (service/runtime/gateway_paths.py): a prefix that is also a route's first segment reads two ways.
    first_segment = declared_routes()[0].path.strip("/").split("/")[0]
    certificate = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    domain = {"domain_name": "api.example.com", "certificate_arn": certificate}
    # The host's Python: the bundle before the check needs no other interpreter installed.
    host_runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    prefixes = {"mapping_key": "shop", "stage_name": "mvp", key: first_segment}
    result = run_app(tmp_path, runtime=host_runtime, **domain, **prefixes)

    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: invalid CDK context: {key}: '{first_segment}' may begin the route path /")
    assert f"choose a {key} no route path begins with" in result.stderr
    assert "Traceback" not in result.stderr
