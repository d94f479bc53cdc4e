from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.gateway_message import GatewayMessage
from ...models.issue_token_token_request import IssueTokenTokenRequest
from ...models.o_auth_error_body import OAuthErrorBody
from ...models.problem import Problem
from ...models.token_grant import TokenGrant
from ...types import Response


def _get_kwargs(
    *,
    body: IssueTokenTokenRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/auth/token",
    }

    _kwargs["data"] = body.to_dict()
    headers["Content-Type"] = "application/x-www-form-urlencoded"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant | None:
    if response.status_code == 200:
        response_200 = TokenGrant.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = OAuthErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 429:

        def _parse_response_429(data: object) -> GatewayMessage | OAuthErrorBody:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_429_type_0 = OAuthErrorBody.from_dict(data)

                return response_429_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_429_type_1 = GatewayMessage.from_dict(data)

            return response_429_type_1

        response_429 = _parse_response_429(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = OAuthErrorBody.from_dict(response.json())

        return response_500

    if response.status_code == 502:
        response_502 = OAuthErrorBody.from_dict(response.json())

        return response_502

    if response.status_code == 503:
        response_503 = OAuthErrorBody.from_dict(response.json())

        return response_503

    if response.status_code == 504:
        response_504 = OAuthErrorBody.from_dict(response.json())

        return response_504

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: IssueTokenTokenRequest,
) -> Response[GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant]:
    """Issue Token

     Exchange a username and password, or a refresh token, for tokens. Public.

    Args:
        body (IssueTokenTokenRequest): RFC 6749 password (4.3) and refresh (6) grants, form-
            encoded as Swagger UI sends them.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: IssueTokenTokenRequest,
) -> GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant | None:
    """Issue Token

     Exchange a username and password, or a refresh token, for tokens. Public.

    Args:
        body (IssueTokenTokenRequest): RFC 6749 password (4.3) and refresh (6) grants, form-
            encoded as Swagger UI sends them.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: IssueTokenTokenRequest,
) -> Response[GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant]:
    """Issue Token

     Exchange a username and password, or a refresh token, for tokens. Public.

    Args:
        body (IssueTokenTokenRequest): RFC 6749 password (4.3) and refresh (6) grants, form-
            encoded as Swagger UI sends them.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: IssueTokenTokenRequest,
) -> GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant | None:
    """Issue Token

     Exchange a username and password, or a refresh token, for tokens. Public.

    Args:
        body (IssueTokenTokenRequest): RFC 6749 password (4.3) and refresh (6) grants, form-
            encoded as Swagger UI sends them.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        GatewayMessage | OAuthErrorBody | OAuthErrorBody | Problem | TokenGrant
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
