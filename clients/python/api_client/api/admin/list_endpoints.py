from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.endpoint import Endpoint
from ...models.gateway_message import GatewayMessage
from ...models.problem import Problem
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/admin/endpoints",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint] | None:
    if response.status_code == 200:
        response_200 = []
        _response_200 = response.json()
        for response_200_item_data in _response_200:
            response_200_item = Endpoint.from_dict(response_200_item_data)

            response_200.append(response_200_item)

        return response_200

    if response.status_code == 401:
        response_401 = GatewayMessage.from_dict(response.json())

        return response_401

    if response.status_code == 403:

        def _parse_response_403(data: object) -> GatewayMessage | Problem:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_403_type_0 = GatewayMessage.from_dict(data)

                return response_403_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_403_type_1 = Problem.from_dict(data)

            return response_403_type_1

        response_403 = _parse_response_403(response.json())

        return response_403

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = GatewayMessage.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())

        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint]]:
    """List Endpoints

     Every route of the app with the scopes and groups it requires. Group ADMINS only.

    Requires membership in one of the groups `ADMINS` (checked by the service: 403 `missing_group`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint]]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
) -> GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint] | None:
    """List Endpoints

     Every route of the app with the scopes and groups it requires. Group ADMINS only.

    Requires membership in one of the groups `ADMINS` (checked by the service: 403 `missing_group`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint]
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint]]:
    """List Endpoints

     Every route of the app with the scopes and groups it requires. Group ADMINS only.

    Requires membership in one of the groups `ADMINS` (checked by the service: 403 `missing_group`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint]]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
) -> GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint] | None:
    """List Endpoints

     Every route of the app with the scopes and groups it requires. Group ADMINS only.

    Requires membership in one of the groups `ADMINS` (checked by the service: 403 `missing_group`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        GatewayMessage | GatewayMessage | Problem | Problem | list[Endpoint]
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
