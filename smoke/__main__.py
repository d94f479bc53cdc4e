"""python -m smoke --base-url URL [--groups-claim NAME] [--no-docs] [--product-checks FILE] [...]

The test user comes from the environment variable SMOKE_USER, the JSON the pipeline keeps in
Secrets Manager: {"username": ..., "password": ..., "groups": [...]} (groups optional; none
means the user is in no group). Never from the command line, where process lists and build
logs would show it. Without SMOKE_USER only the unauthenticated checks run, and the output
says so. Exit status: 0 when every check passed, 1 at the first failure, 2 for bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from smoke.checks import Options, run
from smoke.product import DEFAULT_FILE, ProductChecksError, load_product_checks
from smoke.user import TestUser

USER_VARIABLE = "SMOKE_USER"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smoke", description="Smoke-test a deployed API.")
    parser.add_argument("--base-url", required=True, help="the API's base URL, stage or mapping key included")
    parser.add_argument(
        "--groups-claim", default="groups", help="the claim holding the groups (Cognito: cognito:groups)"
    )
    parser.add_argument("--admin-group", default="ADMINS", help="the group the admin route requires")
    parser.add_argument(
        "--docs", action=argparse.BooleanOptionalAction, default=True, help="whether this environment serves the docs"
    )
    parser.add_argument(
        "--product-checks",
        type=Path,
        default=DEFAULT_FILE,
        help="the product's own checks, a TOML file or a directory of them (default: smoke/product_checks/)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds for the whole run")
    args = parser.parse_args(argv)

    user = None
    if raw := os.environ.get(USER_VARIABLE):
        try:
            user = TestUser.from_json(raw)
        except ValueError as error:
            # The reason only: the value is a secret.
            parser.error(f"{USER_VARIABLE} {error}")
    try:
        product_checks = load_product_checks(args.product_checks)
    except ProductChecksError as error:
        parser.error(str(error))
    options = Options(
        base_url=args.base_url,
        user=user,
        groups_claim=args.groups_claim,
        admin_group=args.admin_group,
        docs=args.docs,
        request_timeout=args.timeout,
        deadline=args.deadline,
        product_checks=tuple(product_checks),
        product_checks_file=str(args.product_checks),
    )
    return 0 if run(options, sys.stdout) else 1


if __name__ == "__main__":
    sys.exit(main())
