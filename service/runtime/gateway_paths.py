"""Where the app sits in the public URL behind API Gateway.

On the execute-api domain a named stage puts `/{stage}` in front of every path, and in
`rawPath`. Behind a custom domain the public URL starts with `/{mapping key}`, and what
`rawPath` holds before the route is reported three ways, each accepted
(docs/aws-facts.md, row "rawPath behind a custom domain"):
- nothing: AWS's payload 2.0 documentation ("Create AWS Lambda proxy integrations for HTTP
  APIs": with an API mapping, `rawPath` won't provide the API mapping value);
- the stage: a captured report (CodeGenieApp/serverless-express issue 465, `/{stageName}/foo`
  behind a mapping key), and Powertools, which cuts the stage from `rawPath` on every named
  stage whatever the domain (`APIGatewayProxyEventV2.path`);
- the mapping key: what this starter assumed before, kept since nothing rules it out.
A prefix is matched by whole segments (`/mvp` never eats `/mvpx`), removed for routing, and
the public prefix is given to the app as its root path, so that the docs load their spec and
token URL from the public address. Synth refuses a stage or key that a route path could begin
with (`ambiguous_custom_domain_paths`), so the three never read alike. Mangum's own
`api_gateway_base_path` is a plain string-prefix test and sets no root path, so it is not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from functools import lru_cache
from typing import Any, NamedTuple

# docs/aws-facts.md, row "Default stage"
DEFAULT_STAGE = "$default"
# docs/aws-facts.md, row "execute-api domain"
_EXECUTE_API_DOMAIN = re.compile(r"\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def strip_segment_prefix(path: str, prefix: str) -> str | None:
    """`path` without `prefix` when it begins with it as whole segments, else None."""
    if path == prefix:
        return "/"
    if path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return None


# How many domains' prefixes are remembered (beyond them, each request works its own out).
_DOMAINS_KEPT = 64


@lru_cache(maxsize=_DOMAINS_KEPT)
def _is_execute_api_domain(domain: str) -> bool:
    # A function sees the API's execute-api domain and its custom domains: a handful of
    # names, each tested once rather than on every request.
    return bool(_EXECUTE_API_DOMAIN.search(domain))


class PathPrefixes(NamedTuple):
    """The public prefix (the app's root path), and what `rawPath` may hold before the route."""

    public: str
    # Tried in order; the first whole-segment match is removed.
    in_raw_path: tuple[str, ...]
    # Whether `rawPath` may also hold nothing before the route (a custom domain).
    may_hold_nothing: bool


def _segment_prefix(value: str) -> str:
    return f"/{value}" if value else ""


def _stage_prefix(stage_name: str) -> str:
    return "" if stage_name == DEFAULT_STAGE else f"/{stage_name}"


def custom_domain_raw_prefixes(*, stage_name: str, mapping_key: str) -> tuple[str, ...]:
    """What `rawPath` may hold before the route behind a custom domain, besides nothing, in the order tried."""
    candidates = (_segment_prefix(mapping_key.strip("/")), _stage_prefix(stage_name))
    return tuple(dict.fromkeys(prefix for prefix in candidates if prefix))


def public_prefix(event: Any, *, stage_name: str, mapping_key: str) -> PathPrefixes:
    """Where the request entered: its public prefix and what its `rawPath` may carry."""
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    domain = request_context.get("domainName") if isinstance(request_context, dict) else None
    if not isinstance(domain, str) or _is_execute_api_domain(domain):
        stage = _stage_prefix(stage_name)
        return PathPrefixes(stage, (stage,) if stage else (), may_hold_nothing=False)
    return PathPrefixes(
        _segment_prefix(mapping_key),
        custom_domain_raw_prefixes(stage_name=stage_name, mapping_key=mapping_key),
        may_hold_nothing=True,
    )


def _could_begin_with(template: str, prefix: str) -> bool:
    """Whether a path of route `template` (HTTP API syntax) can begin with `prefix` as whole segments."""
    segments = template.strip("/").split("/")
    for index, wanted in enumerate(prefix.strip("/").split("/")):
        if index >= len(segments):
            return False
        segment = segments[index]
        if segment.startswith("{") and segment.endswith("+}"):
            return True
        if segment != wanted and not (segment.startswith("{") and segment.endswith("}")):
            return False
    return True


def ambiguous_custom_domain_paths(*, stage_name: str, mapping_key: str, route_paths: Iterable[str]) -> str | None:
    """Why a request's `rawPath` behind the custom domain could be read two ways, or None.

    For every reported shape of `rawPath` (nothing, the key or the stage before the route),
    the prefix the function removes first must be the one the gateway put there: no route
    may begin with a prefix tried before the true one.
    """
    names = {_segment_prefix(mapping_key.strip("/")): "mapping_key", _stage_prefix(stage_name): "stage_name"}
    tried = custom_domain_raw_prefixes(stage_name=stage_name, mapping_key=mapping_key)
    for route_path in route_paths:
        for present in ("", *tried):
            earlier = tried if not present else tried[: tried.index(present)]
            for prefix in earlier:
                if _could_begin_with(present + route_path, prefix):
                    name = names[prefix]
                    before = f" after {present!r}" if present else ""
                    return (
                        f"{name}: {prefix.strip('/')!r} may begin the route path {route_path}{before}, so behind the "
                        f"custom domain a request's path reads two ways; choose a {name} no route path begins with"
                    )
    return None


class GatewayPaths:
    """Routes a request on the app's own path, with the public prefix as root path."""

    def __init__(self, *, stage_name: str, mapping_key: str) -> None:
        self.stage_name = stage_name
        self.mapping_key = mapping_key.strip("/")
        # The prefixes depend on the domain alone: a function sees its execute-api domain and its
        # custom domains, a handful of names, each worked out once rather than on every request.
        self._by_domain: dict[object, PathPrefixes] = {}

    def _prefixes(self, event: Any) -> PathPrefixes:
        request_context = event.get("requestContext") if isinstance(event, dict) else None
        domain = request_context.get("domainName") if isinstance(request_context, dict) else None
        key = domain if isinstance(domain, str) else None
        prefixes = self._by_domain.get(key)
        if prefixes is None:
            prefixes = public_prefix(event, stage_name=self.stage_name, mapping_key=self.mapping_key)
            if len(self._by_domain) < _DOMAINS_KEPT:
                self._by_domain[key] = prefixes
        return prefixes

    def route_on_app_path(self, scope: MutableMapping[str, Any]) -> None:
        """Change the request's own `scope` (its `aws.event`'s): the prefix out of the routed path, into `root_path`."""
        prefixes = self._prefixes(scope.get("aws.event"))
        path: str = scope["path"]
        app_path = path if prefixes.may_hold_nothing else None
        for prefix in prefixes.in_raw_path:
            stripped = strip_segment_prefix(path, prefix)
            if stripped is not None:
                app_path = stripped
                break
        if prefixes.public and app_path is not None:
            # Starlette routes on `path` minus `root_path`, so `path` keeps the prefix.
            scope["root_path"] = prefixes.public
            scope["path"] = prefixes.public + app_path
        elif app_path is not None and app_path != path:
            scope["path"] = app_path
