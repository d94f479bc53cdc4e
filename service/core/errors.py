"""How the service says no.

Three shapes, each matching who asks or who decides:
- The gateway's own refusals (no or bad token: 401; token without the route's scope: 403)
  keep API Gateway's body, ``{"message": "Unauthorized"}`` / ``{"message": "Forbidden"}``,
  so a client sees the same answer whether the gateway or the app (playing the gateway
  locally, or re-checking in Lambda) refused it.
- The token endpoint answers as an OAuth 2.0 server (RFC 6749 section 5.2), because its
  clients are OAuth client libraries and Swagger UI: ``application/json`` with ``error``
  (one of the RFC's codes), ``error_description`` and the service's finer ``code``, never
  cached (`OAuthError`).
- Every other error the app raises is RFC 9457 problem details
  (``application/problem+json``): ``type``, ``title``, ``status``, ``detail``, ``code`` and,
  for validation errors, ``errors``.
Nothing else reaches a client: unhandled exceptions become a bare 500 problem, and
tracebacks are not logged (they can carry request data).
"""

# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


# The JWT authorizer's refusals: `{"message": ...}` by status, with a `www-authenticate` header.
# docs/aws-facts.md, row "Authorizer refusals"
GATEWAY_REFUSALS = {401: "Unauthorized", 403: "Forbidden"}


class GatewayMessage(BaseModel):
    """API Gateway's own refusal body."""

    message: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every app error is reported."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    errors: list[ValidationIssue] | None = None


# The RFC 6749 codes the token endpoint answers with: section 5.2's, less the two about client
# authentication (the service has no registered clients to authenticate), and the two its
# authorization endpoint defines (section 4.1.2.1), which OAuth clients also know, for a
# provider that fails or is down.
OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_grant",
    "unsupported_grant_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
]


class OAuthErrorBody(BaseModel):
    """An OAuth 2.0 token endpoint's error (RFC 6749 section 5.2), as the token route reports it."""

    error: OAuthErrorCode
    error_description: str
    code: str


# Documented on every operation: the app's edge may answer any request with these.
EDGE_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "The request body is too large"},
    500: {"model": Problem, "description": "An unexpected error"},
}
# ...and on every operation whose input FastAPI validates: all but the token endpoint.
COMMON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **EDGE_ERROR_RESPONSES,
    422: {"model": Problem, "description": "The request does not match the operation's schema"},
}


class GatewayRejection(Exception):
    """A refusal the HTTP API JWT authorizer would give, in its exact shape."""

    def __init__(self, status_code: int, *, error: str, description: str, scopes: Sequence[str] = ()) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.error = error
        self.description = description
        self.scopes = tuple(scopes)

    @classmethod
    def unauthorized(cls, description: str) -> "GatewayRejection":
        return cls(401, error="invalid_token", description=description)

    @classmethod
    def forbidden(cls, scopes: Sequence[str]) -> "GatewayRejection":
        return cls(
            403, error="insufficient_scope", description="token does not have the required scopes", scopes=scopes
        )

    def to_response(self) -> JSONResponse:
        message = GATEWAY_REFUSALS[self.status_code]
        challenge = (
            f'Bearer scope="{" ".join(self.scopes)}" error="{self.error}" error_description="{self.description}"'
        )
        return JSONResponse({"message": message}, status_code=self.status_code, headers={"www-authenticate": challenge})


class AppError(Exception):
    """An error the app reports as problem details. `code` is stable for clients to match on."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})


class OAuthError(Exception):
    """An error of the token endpoint, reported as RFC 6749 section 5.2 says.

    `error` is the RFC's code, which OAuth clients turn into their typed errors; `code` is the
    service's own, finer one (`invalid_grant` says no, `code` says whether the password or the
    refresh token was wrong). The description is ours, never a provider's text, and keeps to
    the characters the RFC allows in `error_description`.
    """

    status_code: int = 400
    error: OAuthErrorCode = "invalid_request"
    code: str = "invalid_request"
    description: str = "The token request is malformed."

    def __init__(self, description: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        if description is not None:
            self.description = description
        super().__init__(self.description)
        self.headers = dict(headers or {})


def oauth_error_response(error: OAuthError) -> JSONResponse:
    """The one rendering of a token endpoint error: never cached (RFC 6749 section 5.1 and 5.2)."""
    body = OAuthErrorBody(error=error.error, error_description=error.description, code=error.code)
    headers = {**error.headers, "cache-control": "no-store", "pragma": "no-cache"}
    return JSONResponse(body.model_dump(), status_code=error.status_code, headers=headers)


def problem_response(
    status_code: int,
    *,
    code: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "code": code,
        **(extra or {}),
    }
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}), media_type=PROBLEM_JSON)


async def _app_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return problem_response(exc.status_code, code=exc.code, detail=exc.detail, headers=exc.headers)


async def _oauth_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return oauth_error_response(exc)


async def _gateway_rejection(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayRejection)
    return exc.to_response()


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Only where and what: the rejected input itself may be a password or a token.
    errors = [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}
        for error in exc.errors()
    ]
    return problem_response(422, code="validation_error", detail="The request is not valid.", extra={"errors": errors})


# Stable codes: HTTPStatus phrases change between Python versions (413, 422 did in 3.13).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "content_too_large",
    415: "unsupported_media_type",
}


async def _http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = HTTPStatus(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != status.phrase else status.description
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return problem_response(exc.status_code, code=code, detail=detail or status.phrase, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(GatewayRejection, _gateway_rejection)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
