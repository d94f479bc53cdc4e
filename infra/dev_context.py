"""`make dev`'s share of the CDK context: the `ROUTE_SCOPES` a deployment's function would get.

    python -m infra.dev_context [--environment production] [-c route_scopes='{"GET /v1/items":["items:write"]}']

prints the variable's value (empty for none), read from cdk.json's context as `app.py` reads
it: `-c` values over cdk.json's, then the named pipeline environment's entry over both. So the
laptop enforces the scopes that deployment's gateway will. The same checks as synth's refuse a
bad value, in one line naming the context key; the server then checks, at start, that each
override names a protected route it serves.

Runs with `make dev`'s packages only (no CDK).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.route_scopes import read_known_scopes, read_route_scopes, route_scopes_problems, route_scopes_variable

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("route_scopes", "known_scopes")


class DevContextError(Exception):
    """The context holds a value synth would refuse too; the message names the key."""


def route_scopes_for(context: Mapping[str, Any], *, environment: str | None = None) -> str:
    """`ROUTE_SCOPES` for the top-level context or, with `environment`, for that pipeline environment."""
    values = {key: context.get(key) or {} for key in KEYS}
    where = ""
    if environment is not None:
        entries = context.get("environments")
        if not isinstance(entries, Mapping) or not isinstance(entries.get(environment), Mapping):
            names = ", ".join(entries) if isinstance(entries, Mapping) else "none"
            raise DevContextError(f"environments.{environment}: no such environment in the context ({names})")
        values.update({key: entries[environment][key] for key in KEYS if key in entries[environment]})
        where = f"environments.{environment}."
    try:
        route_scopes = read_route_scopes(values["route_scopes"])
    except ValueError as error:
        raise DevContextError(f"invalid CDK context: {where}route_scopes: {error}") from None
    try:
        known_scopes = read_known_scopes(values["known_scopes"])
    except ValueError as error:
        raise DevContextError(f"invalid CDK context: {where}known_scopes: {error}") from None
    problems = route_scopes_problems(route_scopes, known_scopes)
    if problems:
        raise DevContextError(f"invalid CDK context: {where}route_scopes: {'; '.join(problems)}")
    return route_scopes_variable(route_scopes)


def committed_context(cdk_json: Path = ROOT / "cdk.json") -> dict[str, Any]:
    context: dict[str, Any] = json.loads(cdk_json.read_text())["context"]
    return context


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the ROUTE_SCOPES a deployment's function gets.")
    parser.add_argument("--environment", help="a pipeline environment of cdk.json (staging, production...)")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="as cdk synth -c")
    args = parser.parse_args(argv)
    context = committed_context()
    for entry in args.context:
        key, separator, value = entry.partition("=")
        if not separator:
            parser.error(f"-c {entry}: must be KEY=VALUE")
        context[key] = value
    try:
        print(route_scopes_for(context, environment=args.environment or None))
    except DevContextError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
