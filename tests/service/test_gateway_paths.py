"""Stage and mapping-key prefixes are matched by whole path segments."""

from __future__ import annotations

import pytest

from service.runtime.gateway_paths import (
    PathPrefixes,
    ambiguous_custom_domain_paths,
    public_prefix,
    strip_segment_prefix,
)


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
    assert public_prefix(execute_api, stage_name="mvp", mapping_key="shop") == PathPrefixes("/mvp", ("/mvp",), False)
    assert public_prefix(execute_api, stage_name="$default", mapping_key="shop") == PathPrefixes("", (), False)
    assert public_prefix(custom, stage_name="mvp", mapping_key="shop") == PathPrefixes("/shop", ("/shop", "/mvp"), True)
    assert public_prefix(custom, stage_name="mvp", mapping_key="") == PathPrefixes("", ("/mvp",), True)
    assert public_prefix(custom, stage_name="$default", mapping_key="") == PathPrefixes("", (), True)


@pytest.mark.parametrize(
    ("stage_name", "mapping_key", "route", "culprit"),
    [
        ("v1", "shop", "/v1/manage/hc", "stage_name: 'v1'"),
        ("mvp", "v1", "/v1/manage/hc", "mapping_key: 'v1'"),
        ("mvp", "v1/items", "/v1/items/{item_id}", "mapping_key: 'v1/items'"),
        ("mvp", "shop", "/{proxy+}", "mapping_key: 'shop'"),
        ("mvp", "shop", "/{tenant}/v1/x", "mapping_key: 'shop'"),
        # A key that starts with the stage: with the stage in rawPath, the key must not read there.
        ("mvp", "mvp/v1", "/v1/manage/hc", "mapping_key: 'mvp/v1'"),
    ],
)
def test_a_prefix_a_route_may_begin_with_is_ambiguous(
    stage_name: str, mapping_key: str, route: str, culprit: str
) -> None:
    reason = ambiguous_custom_domain_paths(stage_name=stage_name, mapping_key=mapping_key, route_paths=[route])
    assert reason is not None
    assert reason.startswith(culprit)
    assert route in reason


@pytest.mark.parametrize(
    ("stage_name", "mapping_key", "route"),
    [
        ("mvp", "shop", "/v1/manage/hc"),
        ("mvp", "v1/api", "/v1/manage/hc"),  # whole segments: /v1/api is not /v1/manage
        ("mvp", "mvpx", "/v1/manage/hc"),
        ("shop", "shop", "/v1/manage/hc"),
        ("$default", "", "/{proxy+}"),  # nothing to remove, nothing to confuse
    ],
)
def test_distinct_prefixes_are_not_ambiguous(stage_name: str, mapping_key: str, route: str) -> None:
    assert ambiguous_custom_domain_paths(stage_name=stage_name, mapping_key=mapping_key, route_paths=[route]) is None
