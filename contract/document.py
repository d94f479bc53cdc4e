"""`make openapi`: the OpenAPI document as Lambda serves it with cdk.json's defaults, committed.

The app is built as the function builds it at cold start: from the environment the construct
gives the function (`infra.constructs.lambda_api.function_environment`), configured by cdk.json's
context. What the deployed document adds per request (its `servers` entry and the token URL's
stage or mapping-key prefix, `service/api/routes/docs.py`) is left out: it depends on where the
API is reached, not on what it is.

    python -m contract.document          # write contract/openapi.json
    python -m contract.document --check  # exit 1, naming the command, when it differs from the app's
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "contract" / "openapi.json"
REGENERATE = "make openapi"


def deployed_app(root: Path = ROOT) -> FastAPI:
    """The app as the function builds it at cold start with cdk.json's context."""
    from infra.config import ApiConfig
    from infra.constructs.lambda_api import function_environment
    from infra.service_settings import settings_from_environment
    from service.app import create_app

    context = json.loads((root / "cdk.json").read_text())["context"]
    # The docs pages' integrity hashes change the function's environment, never its document.
    environment = function_environment(ApiConfig.from_context(context), docs_assets_integrity=None)
    return create_app(settings_from_environment(environment))


def app_document(root: Path = ROOT) -> dict[str, Any]:
    """The document the function serves, from cdk.json's context, before any per-request prefix."""
    return deployed_app(root).openapi()


def render(document: dict[str, Any]) -> str:
    """Stable text for review: two-space indents, keys in the app's order, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contract.document", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed document instead of writing")
    args = parser.parse_args(argv)
    text = render(app_document())
    if not args.check:
        DOCUMENT.write_text(text)
        return 0
    if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
        print(
            f"{DOCUMENT.relative_to(ROOT)} differs from the app's OpenAPI document: run `{REGENERATE}` and commit it",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
