"""The Lambda handler answers whatever the process did to its event loop, and never raises into the runtime.

Mangum runs every invocation on `asyncio.get_event_loop()`. Code that shares the process
(user code at init, a library, the runtime itself) decides what that returns; each test here
sets one such state explicitly, then invokes the handler as Lambda's runtime client would.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.responses import PlainTextResponse

from service.app import create_app
from service.runtime.lambda_adapter import LambdaHandler, build_handler
from tests.service.test_lambda_handler import FakeContext, lambda_settings
from tests.support import load_event

HEALTH = load_event("health_named_stage.json")


@pytest.fixture(autouse=True)
def fresh_loop_afterwards() -> Iterator[None]:
    """Whatever state a test leaves, the next one finds an open loop of its own (and depends on none)."""
    yield
    asyncio.set_event_loop(asyncio.new_event_loop())


def health(handler: LambdaHandler) -> int:
    status: int = handler(HEALTH, FakeContext())["statusCode"]
    return status


def no_loop_set() -> None:
    asyncio.set_event_loop(None)


def after_asyncio_run() -> None:
    # asyncio.run leaves the thread with no current loop: get_event_loop() then raises.
    asyncio.run(asyncio.sleep(0))


def a_closed_loop() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.close()


LOOP_STATES: dict[str, Callable[[], None]] = {
    "no loop set": no_loop_set,
    "after asyncio.run": after_asyncio_run,
    "a closed loop": a_closed_loop,
}


@pytest.mark.parametrize("before_build", LOOP_STATES.values(), ids=[f"built {name}" for name in LOOP_STATES])
@pytest.mark.parametrize("before_call", LOOP_STATES.values(), ids=[f"called {name}" for name in LOOP_STATES])
def test_the_handler_answers_whatever_loop_state_it_was_built_and_called_in(
    before_build: Callable[[], None], before_call: Callable[[], None]
) -> None:
    before_build()
    handler = build_handler(lambda_settings())
    before_call()

    assert health(handler) == 200


def test_every_invocation_answers_when_asyncio_run_happens_between_them() -> None:
    handler = build_handler(lambda_settings())

    statuses = []
    for _ in range(20):
        statuses.append(health(handler))
        after_asyncio_run()

    assert statuses == [200] * 20


def test_the_handlers_own_loop_closed_between_invocations_is_replaced() -> None:
    handler = build_handler(lambda_settings())
    assert health(handler) == 200
    # The loop the handler made current is the one closed here.
    asyncio.get_event_loop().close()

    assert health(handler) == 200
    assert health(handler) == 200


def test_called_from_a_coroutine_the_handler_still_answers() -> None:
    """A running loop on the calling thread: no other loop may run inside it."""
    handler = build_handler(lambda_settings())

    async def call_from_async_code() -> int:
        return health(handler)

    assert asyncio.run(call_from_async_code()) == 200
    assert health(handler) == 200


def mutated(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(HEALTH))
    change(event)
    return event


# Well-formed payload 2.0 events whose values Mangum cannot turn into an ASGI request.
UNTRANSLATABLE_EVENTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "x-forwarded-port not a number": lambda e: e["headers"].update({"x-forwarded-port": "abc"}),
    "host with two colons": lambda e: e["headers"].update({"host": "a:b:c"}),
    "host with a port that is not a number": lambda e: e["headers"].update({"host": "example.com:https"}),
    # Thousands of digits pass Python's int-string limit inside Mangum.
    "host with a port of 5000 digits": lambda e: e["headers"].update({"host": "example.com:" + "9" * 5000}),
    "x-forwarded-port of 5000 digits": lambda e: e["headers"].update({"x-forwarded-port": "9" * 5000}),
    "lone surrogate in a header value": lambda e: e["headers"].update({"x-trace": "a\ud800b"}),
    "lone surrogate in a header name": lambda e: e["headers"].update({"x-\udfff": "a"}),
    "lone surrogate in the query string": lambda e: e.update(rawQueryString="q=\ud800"),
    "lone surrogate in a cookie": lambda e: e.update(cookies=["session=\ud800"]),
    "lone surrogate in a text body": lambda e: e.update(body="\ud800"),
}


@pytest.mark.parametrize("change", UNTRANSLATABLE_EVENTS.values(), ids=UNTRANSLATABLE_EVENTS.keys())
def test_an_event_mangum_cannot_translate_gets_a_problem_and_one_log_line(
    change: Callable[[dict[str, Any]], Any], caplog: pytest.LogCaptureFixture
) -> None:
    handler = build_handler(lambda_settings())

    with caplog.at_level(logging.DEBUG):
        result = handler(mutated(change), FakeContext())

    assert result["statusCode"] == 400
    assert result["headers"]["content-type"] == "application/problem+json"
    body = json.loads(result["body"])
    assert body["code"] == "unsupported_event"
    assert body["detail"].isascii()  # nothing of the client's text comes back
    assert [(r.name, r.levelname) for r in caplog.records] == [("service.lambda", "ERROR")]
    assert "Traceback" not in caplog.text


def test_a_response_mangum_cannot_translate_is_a_500_problem_not_an_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = lambda_settings()
    app = create_app(settings)

    @app.get("/v1/latin")
    async def latin() -> PlainTextResponse:
        # Starlette writes header values as Latin-1; Mangum reads them back as UTF-8.
        return PlainTextResponse("ok", headers={"x-name": "caf\u00e9"})

    handler = build_handler(settings, app=app)
    event = mutated(lambda e: e.update(rawPath="/mvp/v1/latin"))
    event["requestContext"]["http"]["path"] = "/mvp/v1/latin"

    with caplog.at_level(logging.DEBUG):
        result = handler(event, FakeContext())

    assert result["statusCode"] == 500
    assert json.loads(result["body"])["code"] == "internal_error"
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == ["the invocation failed outside the app: UnicodeDecodeError"]
    assert "Traceback" not in caplog.text
