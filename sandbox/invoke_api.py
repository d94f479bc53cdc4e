"""Lambda's Invoke API in front of the sandbox's functions: what an AWS SDK's `invoke` talks to.

`POST /2015-03-31/functions/{FunctionName}/invocations` (AWS Lambda API reference, "Invoke"),
synchronous (`X-Amz-Invocation-Type: RequestResponse`, the default) only. The function is named
as the API allows: its name, or its ARN with or without a qualifier (a version or an alias);
the sandbox runs one version of each function, so any qualifier reaches it. The answer is the
reference's: 200 with the function's response as the body and `X-Amz-Executed-Version`; a
function error (an exception, a failed init, a crash, a timeout) is 200 too, with
`X-Amz-Function-Error: Unhandled` and the error's JSON (`errorType`, `errorMessage`) as the
body; a function that does not exist is 404 `ResourceNotFoundException`. So a client such as
boto3's, pointed here with `endpoint_url`, sees what Lambda would answer it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.runtime_api import LambdaFunction

API_VERSION = "2015-03-31"


def _function_name(named: str) -> str:
    """The function's name from any form the API accepts, without its qualifier.

    `name`, `name:qualifier`, `account:function:name[:qualifier]` or
    `arn:aws:lambda:region:account:function:name[:qualifier]`.
    """
    _, marker, rest = named.rpartition("function:")
    return (rest if marker else named).split(":")[0]


def _error(status: int, error_type: str, message: str) -> JSONResponse:
    # Lambda's errors: the type in `x-amzn-ErrorType`, which botocore reads as the error code.
    return JSONResponse(
        {"Type": "User", "message": message}, status_code=status, headers={"x-amzn-ErrorType": error_type}
    )


def invoke_api_app(functions: Mapping[str, LambdaFunction]) -> Starlette:
    """The Invoke API for `functions` (by logical id), each reachable by its name."""
    by_name = {function.function.name: function for function in functions.values()}

    async def invoke(request: Request) -> Response:
        named = unquote(request.path_params["function"])
        function = by_name.get(_function_name(named))
        if function is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {named}")
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type != "RequestResponse":
            return _error(400, "InvalidParameterValueException", "The sandbox invokes synchronously only.")
        outcome = await function.invoke(await request.body())
        headers = {"X-Amz-Executed-Version": function.function.version}
        if outcome.payload is not None:
            return Response(outcome.payload, media_type="application/json", headers=headers)
        error = {"errorType": outcome.error_type or "Unknown", "errorMessage": outcome.error_message or ""}
        headers["X-Amz-Function-Error"] = "Unhandled"
        return Response(json.dumps(error), media_type="application/json", headers=headers)

    path = f"/{API_VERSION}/functions/{{function:path}}/invocations"
    return Starlette(routes=[Route(path, invoke, methods=["POST"])])
