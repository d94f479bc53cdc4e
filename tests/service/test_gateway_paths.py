"""Stage and mapping-key prefixes are matched by whole path segments."""

from __future__ import annotations

import pytest

from service.runtime.gateway_paths import public_prefix, strip_segment_prefix


@pytest.mark.parametrize(
    ("path", "prefix", "expected"),
    [
        ("/mvp/v1/x", "/mvp", "/v1/x"),
        ("/mvp", "/mvp", "/"),
        ("/mvp/", "/mvp", "/"),
        ("/mvpx/v1/x", "/mvp", None),
        ("/v1/x", "/mvp", None),
        ("/api/v1/v1/x", "/api/v1", "/v1/x"),
    ],
)
def test_strip_whole_segments_only(path: str, prefix: str, expected: str | None) -> None:
    assert strip_segment_prefix(path, prefix) == expected


def test_prefix_depends_on_the_domain_the_request_came_through() -> None:
    execute_api = {"requestContext": {"domainName": "abc123.execute-api.eu-west-1.amazonaws.com"}}
    custom = {"requestContext": {"domainName": "api.example.com"}}
    assert public_prefix(execute_api, stage_name="mvp", mapping_key="shop") == ("/mvp", True)
    assert public_prefix(execute_api, stage_name="$default", mapping_key="shop") == ("", True)
    assert public_prefix(custom, stage_name="mvp", mapping_key="shop") == ("/shop", False)
    assert public_prefix(custom, stage_name="mvp", mapping_key="") == ("", False)
