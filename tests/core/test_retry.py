"""Retries: pure decisions pinned by vectors, then max_retries and stream rules on the wire."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from cf_mistral import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServerError,
    StreamEnd,
    StreamInterruptedError,
    TextDelta,
    UserMessage,
    WorkersAIError,
)
from cf_mistral._retry import INITIAL_DELAY, MAX_DELAY, MAX_RETRY_AFTER, retry_delay, should_retry
from cf_mistral._status import parse_retry_after
from cf_mistral.emulator import Emulator, Fault, FaultKind

from .helpers import DriverFactory

HELLO = ChatRequest(messages=[UserMessage("hello")])


@pytest.mark.parametrize(
    ("attempt", "jitter", "delay"),
    [
        (0, 0.0, 0.5),
        (0, 1.0, 0.375),
        (1, 0.0, 1.0),
        (2, 0.5, 1.75),
        (3, 0.0, 4.0),
        (4, 0.0, 8.0),
        (10, 0.0, 8.0),
        (10, 1.0, 6.0),
    ],
)
def test_backoff_doubles_with_jitter_and_a_cap(attempt: int, jitter: float, delay: float) -> None:
    assert retry_delay(ServerError("x"), attempt=attempt, jitter=jitter) == pytest.approx(delay)


def test_random_jitter_stays_within_a_quarter() -> None:
    for attempt in range(6):
        base = min(INITIAL_DELAY * 2**attempt, MAX_DELAY)
        for _ in range(50):
            assert 0.75 * base <= retry_delay(ServerError("x"), attempt=attempt) <= base


@pytest.mark.parametrize(
    ("retry_after", "delay"), [(0.0, 0.0), (2.0, 2.0), (59.5, 59.5), (600.0, MAX_RETRY_AFTER)]
)
@pytest.mark.parametrize("cls", [RateLimitError, ServerError, RequestTimeoutError])
def test_retry_after_replaces_the_backoff(
    cls: type[RateLimitError], retry_after: float, delay: float
) -> None:
    error = cls("x", retry_after=retry_after)
    assert retry_delay(error, attempt=5, jitter=1.0) == delay


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "not a date"}, None),
        ({"retry-after": "NaN"}, None),
        ({"retry-after-ms": "nan", "retry-after": "1"}, 1.0),
        ({"retry-after": ""}, None),
        ({}, None),
    ],
)
def test_parse_retry_after_vectors(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds


def test_parse_retry_after_http_date_in_the_future() -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    seconds = parse_retry_after({"retry-after": when})
    assert seconds is not None
    assert 25 <= seconds <= 30


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (APIConnectionError("reset"), True),
        (APITimeoutError("slow"), True),
        (RequestTimeoutError("408"), True),
        (RateLimitError("429"), True),
        (RateLimitError("429", retry_after=60), True),
        (RateLimitError("429", retry_after=61), False),
        (ServerError("500"), True),
        (ServerError("503", retry_after=61), False),
        (StreamInterruptedError("cut"), True),
        (QuotaExceededError("quota"), False),
        (BadRequestError("400"), False),
        (AuthenticationError("401"), False),
        (RequestTooLargeError("413"), False),
        (ValueError("not ours"), False),
        (WorkersAIError("base"), False),
    ],
)
def test_should_retry_vectors(error: BaseException, retried: bool) -> None:
    assert should_retry(error, attempt=0, max_retries=2) is retried
    assert should_retry(error, attempt=2, max_retries=2) is False
    assert should_retry(error, attempt=0, max_retries=0) is False


def capacity(retry_after: float = 0) -> Fault:
    return Fault(kind=FaultKind.capacity, retry_after=retry_after)


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_max_retries_is_respected_exactly(
    emulator: Emulator, drive: DriverFactory, max_retries: int
) -> None:
    for _ in range(max_retries + 2):
        emulator.fault(capacity())
    with pytest.raises(RateLimitError):
        await drive(max_retries=max_retries).chat(HELLO)
    assert len(emulator.requests) == max_retries + 1


@pytest.mark.parametrize(
    "fault",
    [
        capacity(),
        Fault(kind=FaultKind.timeout, retry_after=0),
        Fault(kind=FaultKind.server_error, status=502, retry_after=0),
        Fault(kind=FaultKind.html_error, retry_after=0),
    ],
    ids=lambda f: f.kind.value,
)
async def test_transient_errors_are_retried_until_success(
    emulator: Emulator, drive: DriverFactory, fault: Fault
) -> None:
    emulator.fault(fault)
    emulator.fault(fault)
    result = await drive(max_retries=2).chat(HELLO)
    assert result.text == "You said: hello"
    assert len(emulator.requests) == 3
    assert [r.fault for r in emulator.requests] == [fault.kind.value] * 2 + [None]


async def test_connection_reset_is_retried(emulator: Emulator, drive: DriverFactory) -> None:
    emulator.fault(Fault(kind=FaultKind.connection_reset))
    result = await drive(max_retries=1).chat(HELLO)
    assert result.text == "You said: hello"
    assert len(emulator.requests) == 2


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (Fault(kind=FaultKind.quota, retry_after=0), QuotaExceededError),
        (Fault(kind=FaultKind.bad_request), BadRequestError),
        (Fault(kind=FaultKind.auth), AuthenticationError),
        (Fault(kind=FaultKind.too_large), RequestTooLargeError),
        (capacity(retry_after=120), RateLimitError),
    ],
    ids=["quota", "400", "401", "413", "retry-after-too-long"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
async def test_permanent_errors_are_never_retried(
    emulator: Emulator, drive: DriverFactory, fault: Fault, cls: type, stream: bool
) -> None:
    emulator.fault(fault)
    client = drive(max_retries=3)
    send = client.stream if stream else client.chat
    with pytest.raises(cls):
        await send(HELLO)
    assert len(emulator.requests) == 1


async def test_retry_after_is_honoured(emulator: Emulator, drive: DriverFactory) -> None:
    emulator.fault(capacity(retry_after=0.4))
    started = time.monotonic()
    await drive(max_retries=1).chat(HELLO)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 3
    assert emulator.requests[1].time - emulator.requests[0].time >= 0.4


@pytest.mark.parametrize(
    "fault",
    [
        capacity(),
        Fault(kind=FaultKind.connection_reset),
        Fault(kind=FaultKind.inband_error, after_events=0),
        Fault(kind=FaultKind.truncated_stream, after_events=0, clean_close=True),
    ],
    ids=lambda f: f.kind.value,
)
async def test_stream_is_retried_before_its_first_event(
    emulator: Emulator, drive: DriverFactory, fault: Fault
) -> None:
    emulator.fault(fault)
    events = await drive(max_retries=1).stream(HELLO)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "You said: hello"
    assert isinstance(events[-1], StreamEnd)
    assert len(emulator.requests) == 2


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind=FaultKind.truncated_stream, after_events=2),
        Fault(kind=FaultKind.inband_error, after_events=2),
        Fault(kind=FaultKind.malformed_sse, after_events=2),
    ],
    ids=lambda f: f.kind.value,
)
async def test_stream_is_never_retried_after_it_yielded(
    emulator: Emulator, drive: DriverFactory, fault: Fault
) -> None:
    emulator.fault(fault)
    events, error = await drive(max_retries=3).stream_until_error(
        ChatRequest(messages=[UserMessage("one two three four")])
    )
    assert isinstance(error, StreamInterruptedError)
    assert error.text == "".join(e.text for e in events if isinstance(e, TextDelta))
    assert error.text
    assert len(emulator.requests) == 1


async def test_exhausted_stream_retries_raise_the_last_error(
    emulator: Emulator, drive: DriverFactory
) -> None:
    for _ in range(3):
        emulator.fault(capacity())
    events, error = await drive(max_retries=2).stream_until_error(HELLO)
    assert events == []
    assert isinstance(error, RateLimitError)
    assert len(emulator.requests) == 3
