"""A reference: AWS Lambda Powertools' `APIGatewayHttpResolver` hello world (payload 2.0)."""

import os
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

stage = os.environ.get("AWS_API_GW_STAGE_NAME", "$default")
app = APIGatewayHttpResolver(strip_prefixes=[] if stage == "$default" else [f"/{stage}"])


@app.get("/v1/manage/hc")  # type: ignore[untyped-decorator]
def health() -> dict[str, str]:
    return {"status": "ok"}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = app.resolve(event, context)
    return response
