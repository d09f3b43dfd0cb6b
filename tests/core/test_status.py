"""Errors: every Workers AI error body becomes the right class, with status, code, message and
request id; none carries the API token; all survive pickling."""

from __future__ import annotations

import json
import pickle
import traceback
from typing import Any

import cloudpickle
import pytest

from cf_mistral import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    GatewayError,
    GuidedJSONError,
    InvalidParameterError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    ResponseParseError,
    ServerError,
    StreamInterruptedError,
    UserMessage,
    WorkersAIError,
)
from cf_mistral._status import error_from_payload, error_from_response, request_id_of
from cf_mistral.emulator import Emulator, Fault, FaultKind

from .helpers import DriverFactory

SENTINEL = "S3NT1NEL-cf-token-0123456789"


def envelope(code: int | None, message: str) -> bytes:
    item: dict[str, Any] = {"message": message}
    if code is not None:
        item["code"] = code
    return json.dumps({"errors": [item], "success": False, "result": {}, "messages": []}).encode()


CASES = [
    (401, envelope(10000, "Authentication error"), AuthenticationError, 10000, False),
    (403, envelope(10000, "Authentication error"), AuthenticationError, 10000, False),
    (400, envelope(5006, "AiError: Bad input: Error: oneOf at '/'"), BadRequestError, 5006, False),
    (400, envelope(5007, "No such model @cf/x or task"), BadRequestError, 5007, False),
    (400, envelope(5024, "AiError: JSON Mode couldn't be met"), GuidedJSONError, 5024, False),
    (400, envelope(None, "AiError: JSON Mode couldn't be met"), GuidedJSONError, None, False),
    (404, envelope(3042, "The model name is invalid"), NotFoundError, 3042, False),
    (429, envelope(3040, "Capacity temporarily exceeded"), RateLimitError, 3040, True),
    (429, envelope(3036, "daily free allocation"), QuotaExceededError, 3036, False),
    (
        429,
        envelope(4006, "AiError: you have used up your daily free allocation"),
        QuotaExceededError,
        4006,
        False,
    ),
    (
        429,
        envelope(None, "you have used up your daily free allocation"),
        QuotaExceededError,
        None,
        False,
    ),
    (413, envelope(3006, "Request is too large"), RequestTooLargeError, 3006, False),
    (413, b"", RequestTooLargeError, None, False),
    (
        408,
        envelope(3007, "AiError: AiError: Request timeout (uuid)"),
        RequestTimeoutError,
        3007,
        True,
    ),
    (408, envelope(3008, "Request was aborted"), RequestTimeoutError, 3008, True),
    (500, envelope(None, "AiError: Internal server error"), ServerError, None, True),
    (502, b"Bad Gateway", ServerError, None, True),
    (503, envelope(None, "overloaded"), ServerError, None, True),
    (504, b"", ServerError, None, True),
    (
        400,
        json.dumps({"success": False, "error": [{"code": 2001, "message": "no gw"}]}).encode(),
        GatewayError,
        2001,
        False,
    ),
    (
        401,
        json.dumps(
            {"success": False, "error": [{"code": 2009, "message": "Unauthorized"}]}
        ).encode(),
        GatewayError,
        2009,
        False,
    ),
    (
        400,
        json.dumps(
            {"success": False, "error": [{"code": 2008, "message": "Invalid provider"}]}
        ).encode(),
        GatewayError,
        2008,
        False,
    ),
    (418, envelope(None, "teapot"), APIStatusError, None, False),
]


@pytest.mark.parametrize(("status", "body", "cls", "code", "retryable"), CASES)
def test_error_bodies_map_to_their_class(
    status: int, body: bytes, cls: type[APIStatusError], code: int | None, retryable: bool
) -> None:
    headers = {"cf-ai-req-id": "req-1", "cf-ray": "ray-1", "content-type": "application/json"}
    error = error_from_response(status, headers, body)
    assert type(error) is cls
    assert error.status_code == status
    assert error.code == code
    assert error.request_id == "req-1"
    assert error.retryable is retryable
    assert error.message
    assert isinstance(error, WorkersAIError)
    assert f"HTTP {status}" in str(error)


def test_quota_error_says_when_it_resets_and_that_it_is_not_retried() -> None:
    error = error_from_response(429, {}, envelope(4006, "daily free allocation used"))
    assert "00:00 UTC" in str(error)
    assert "Not retried" in str(error)
    assert not error.retryable


def test_capacity_error_keeps_retry_after() -> None:
    error = error_from_response(429, {"retry-after": "3"}, envelope(3040, "Capacity"))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 3.0


def test_authentication_error_says_which_permission_is_needed() -> None:
    error = error_from_response(401, {}, envelope(10000, "Authentication error"))
    assert "Workers AI" in str(error)
    assert "CLOUDFLARE_API_TOKEN" in str(error)


@pytest.mark.parametrize(
    ("status", "content_type", "body", "fragment"),
    [
        (
            502,
            "text/html",
            b"<html><head><title>502 Bad Gateway</title></head></html>",
            "502 Bad Gateway",
        ),
        (500, "text/html", b"<html><body><h1>Oops</h1> <p>broken</p></body></html>", "Oops broken"),
        (503, "text/plain", b"upstream connect error", "upstream connect error"),
        (
            500,
            "application/json",
            b'{"errors": {"code": 3040, "message": "as an object"}}',
            "as an object",
        ),
        (400, "application/json", b'{"errors": [{"message": "no code here"}]}', "no code here"),
        (400, "application/json", b'{"errors": "just a string"}', "just a string"),
        (400, "application/json", b'{"errors": []}', "HTTP 400 with no error message"),
        (400, "application/json", b"[1, 2]", "HTTP 400"),
        (500, "application/json", b"", "HTTP 500"),
        (500, "application/octet-stream", b"\xff\xfe\x00", "HTTP 500"),
        (
            400,
            "application/json",
            b'{"internalCode":1001,"message":"InvalidInput: prompt and messages are mutually '
            b'exclusive","name":"InvalidInput"}',
            "mutually exclusive",
        ),
    ],
)
def test_bodies_that_are_not_the_envelope_still_give_a_clear_message(
    status: int, content_type: str, body: bytes, fragment: str
) -> None:
    error = error_from_response(status, {"content-type": content_type, "cf-ray": "r"}, body)
    assert fragment in str(error)
    assert error.status_code == status
    assert error.request_id == "r"
    assert "<" not in error.message  # no HTML tags


def test_errors_as_an_object_are_classified_by_their_code() -> None:
    error = error_from_response(500, {}, b'{"errors": {"code": 3040, "message": "busy"}}')
    assert isinstance(error, RateLimitError)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cf-ai-req-id": "a", "cf-aig-log-id": "b", "cf-ray": "c"}, "a"),
        ({"cf-aig-log-id": "b", "cf-ray": "c"}, "b"),
        ({"cf-ray": "c"}, "c"),
        ({}, None),
    ],
)
def test_request_id_prefers_workers_ai_then_gateway_then_ray(
    headers: dict[str, str], expected: str | None
) -> None:
    assert request_id_of(headers) == expected


def test_inband_payload_without_status_is_classified_by_code() -> None:
    error = error_from_payload(
        {"errors": [{"code": 3040, "message": "busy"}]}, status=None, request_id=None
    )
    assert isinstance(error, RateLimitError)
    assert "HTTP" not in str(error)


ALL_ERRORS = [
    WorkersAIError("m", status_code=500, code=1, request_id="r", body="b"),
    InvalidRequestError("bad input"),
    InvalidParameterError("temperature=9"),
    APIConnectionError("refused"),
    APITimeoutError("slow"),
    APIStatusError("x", status_code=418),
    BadRequestError("x", status_code=400, code=5006),
    GuidedJSONError("x", status_code=400, code=5024),
    AuthenticationError("x", status_code=401, code=10000),
    NotFoundError("x", status_code=404),
    RequestTimeoutError("x", status_code=408, code=3007),
    RequestTooLargeError("x", status_code=413, code=3006),
    RateLimitError("x", retry_after=2.5, status_code=429, code=3040, request_id="rid"),
    QuotaExceededError("x", status_code=429, code=4006),
    ServerError("x", status_code=503),
    GatewayError("x", status_code=400, code=2001),
    ResponseParseError("x", request_id="rid"),
    StreamInterruptedError("x", text="partial", code=3040, request_id="rid"),
]


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_every_error_survives_pickling(error: WorkersAIError, dumps: Any) -> None:
    copy = pickle.loads(dumps(error))
    assert type(copy) is type(error)
    assert vars(copy) == vars(error)
    assert str(copy) == str(error)
    assert copy.args == error.args


def test_the_tree_is_rooted_at_workers_ai_error() -> None:
    for error in ALL_ERRORS:
        assert isinstance(error, WorkersAIError)
    assert issubclass(InvalidRequestError, ValueError)


def assert_no_secret(error: BaseException) -> None:
    rendered = [
        str(error),
        repr(error),
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        repr(vars(error)),
        pickle.dumps(error).decode("latin-1"),
    ]
    for text in rendered:
        assert SENTINEL not in text


FAULTS = [
    (Fault(kind=FaultKind.capacity, retry_after=1), RateLimitError),
    (Fault(kind=FaultKind.quota), QuotaExceededError),
    (Fault(kind=FaultKind.timeout), RequestTimeoutError),
    (Fault(kind=FaultKind.server_error, status=503), ServerError),
    (Fault(kind=FaultKind.html_error), ServerError),
    (Fault(kind=FaultKind.bad_request), BadRequestError),
    (Fault(kind=FaultKind.too_large), RequestTooLargeError),
    (Fault(kind=FaultKind.auth), AuthenticationError),
    (Fault(kind=FaultKind.connection_reset), APIConnectionError),
]


@pytest.mark.parametrize(("fault", "cls"), FAULTS, ids=lambda v: getattr(v, "value", ""))
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
async def test_emulated_faults_raise_their_class_with_request_id_and_no_token(
    emulator: Emulator, drive: DriverFactory, fault: Fault, cls: type, stream: bool
) -> None:
    emulator.configure(token=None)  # accept any bearer token: the sentinel gets through
    emulator.fault(fault)
    driver = drive(api_token=SENTINEL)
    request = ChatRequest(messages=[UserMessage("hi")])
    send = driver.stream if stream else driver.chat
    with pytest.raises(WorkersAIError) as info:
        await send(request)
    error = info.value
    assert type(error) is cls
    assert len(emulator.requests) == 1
    assert emulator.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"
    if isinstance(error, APIStatusError):
        assert error.status_code == fault.resolved()[0]
        assert error.code == fault.resolved()[1]
        assert error.request_id  # cf-ai-req-id of the emulator's reply
    if isinstance(error, RateLimitError):
        assert error.retry_after == 1.0
    assert_no_secret(error)
    assert_no_secret(pickle.loads(pickle.dumps(error)))


async def test_wrong_token_is_an_authentication_error_without_the_token(
    emulator: Emulator, drive: DriverFactory
) -> None:
    with pytest.raises(AuthenticationError) as info:
        await drive(api_token=SENTINEL).chat(ChatRequest(messages=[UserMessage("hi")]))
    assert info.value.status_code == 401
    assert info.value.code == 10000
    assert_no_secret(info.value)


async def test_stream_interruption_carries_no_token(
    emulator: Emulator, drive: DriverFactory
) -> None:
    emulator.configure(token=None)
    emulator.fault(Fault(kind=FaultKind.truncated_stream, after_events=2))
    _, error = await drive(api_token=SENTINEL).stream_until_error(
        ChatRequest(messages=[UserMessage("a b c")])
    )
    assert isinstance(error, StreamInterruptedError)
    assert_no_secret(error)


def test_non_numeric_error_code_is_dropped_but_the_message_kept() -> None:
    error = error_from_response(400, {}, b'{"errors": [{"code": "E42", "message": "weird"}]}')
    assert isinstance(error, BadRequestError)
    assert error.code is None
    assert "weird" in str(error)
