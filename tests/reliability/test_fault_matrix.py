"""Every fault the emulator injects, on every path: the outcome the caller sees, and the requests.

Three outcomes exist (see docs/failure-semantics.md): *retried then succeeded* (the caller sees
the whole reply; the emulator saw exactly two identical requests), *a typed error* (the
specific ``WorkersAIError`` subclass after exactly one request), and *partial* (a stream that
had already yielded text ends in ``StreamInterruptedError`` whose ``text`` is exactly what the
caller received). Each retryable fault is also run with ``max_retries=0`` to pin the error the
caller gets when retries are exhausted, after exactly one request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from cf_mistral import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StreamInterruptedError,
    WorkersAIError,
)
from cf_mistral.emulator import Emulator, Fault

from .paths import ALL_PATHS, Outcome, Path, check_all, run_on_lanes

CHUNKS = ["The quick", " brown fox", " jumps over", " the lazy", " dog."]
REPLY = "".join(CHUNKS)
# Two events before a mid-stream fault: the caller has received exactly this.
RECEIVED = "".join(CHUNKS[:2])
IDLE = 0.75
READ = 1.5
# What a stalled stream may take beyond the idle timeout (scheduling on a busy 2-core box).
MARGIN = 1.5
OPTIONS: dict[str, Any] = {"timeout": {"connect": 2.0, "read": READ, "stream_idle": IDLE}}

RETRIED = "retried"
PARTIAL = "partial"


@dataclass(frozen=True)
class Case:
    id: str
    fault: dict[str, Any]
    expect: str | type[WorkersAIError]  # RETRIED, PARTIAL, or the error class
    modes: tuple[str, ...] = ("call", "stream")
    # The error when retries are exhausted (max_retries=0), for RETRIED cases.
    exhausted: type[WorkersAIError] | None = None
    message: str | None = None  # a fragment the error message must contain
    extra: dict[str, Any] = field(default_factory=dict)


CASES = (
    Case(
        "capacity-429-retry-after",
        {"kind": "capacity", "retry_after": 0},
        RETRIED,
        exhausted=RateLimitError,
        message="Capacity temporarily exceeded",
    ),
    Case(
        "capacity-429-no-retry-after",
        {"kind": "capacity"},
        RETRIED,
        exhausted=RateLimitError,
        message="Capacity temporarily exceeded",
    ),
    Case("quota-429-4006", {"kind": "quota"}, QuotaExceededError, message="daily free allocation"),
    Case("http-408", {"kind": "timeout"}, RETRIED, exhausted=RequestTimeoutError),
    Case("http-500", {"kind": "server_error"}, RETRIED, exhausted=ServerError),
    Case("http-502", {"kind": "server_error", "status": 502}, RETRIED, exhausted=ServerError),
    Case("http-503", {"kind": "server_error", "status": 503}, RETRIED, exhausted=ServerError),
    Case(
        "html-error-page-502",
        {"kind": "html_error"},
        RETRIED,
        exhausted=ServerError,
        message="502 Bad Gateway",
    ),
    Case("http-400", {"kind": "bad_request"}, BadRequestError, message="Bad input"),
    Case("http-401", {"kind": "auth"}, AuthenticationError, message="Authentication error"),
    Case(
        "connection-reset-before-headers",
        {"kind": "connection_reset"},
        RETRIED,
        exhausted=APIConnectionError,
        message="Could not reach Workers AI",
    ),
    Case(
        "truncated-before-text",
        {"kind": "truncated_stream", "after_events": 0},
        RETRIED,
        exhausted=APIConnectionError,
    ),
    Case(
        "truncated-clean-before-text",
        {"kind": "truncated_stream", "after_events": 0, "clean_close": True},
        RETRIED,
        modes=("stream",),
        exhausted=StreamInterruptedError,
        message="before [DONE]",
    ),
    Case(
        "truncated-after-text",
        {"kind": "truncated_stream", "after_events": 2},
        PARTIAL,
        modes=("stream",),
        message="connection broke",
    ),
    Case(
        "truncated-clean-after-text",
        {"kind": "truncated_stream", "after_events": 2, "clean_close": True},
        PARTIAL,
        modes=("stream",),
        message="before [DONE]",
    ),
    Case(
        "stall-before-text",
        {"kind": "stall", "after_events": 0, "stall_seconds": 4},
        RETRIED,
        exhausted=APITimeoutError,
        message="did not answer in time",
    ),
    Case(
        "stall-mid-stream",
        {"kind": "stall", "after_events": 2, "stall_seconds": 4},
        PARTIAL,
        modes=("stream",),
        message="stalled",
    ),
    Case(
        "malformed-sse-before-text",
        {"kind": "malformed_sse", "after_events": 0},
        RETRIED,
        modes=("stream",),
        exhausted=StreamInterruptedError,
        message="malformed stream event",
    ),
    Case(
        "malformed-sse-after-text",
        {"kind": "malformed_sse", "after_events": 2},
        PARTIAL,
        modes=("stream",),
        message="malformed stream event",
    ),
    Case(
        "inband-capacity-before-text",
        {"kind": "inband_error", "after_events": 0},
        RETRIED,
        modes=("stream",),
        exhausted=RateLimitError,
        message="Capacity temporarily exceeded",
    ),
    Case(
        "inband-quota-before-text",
        {
            "kind": "inband_error",
            "after_events": 0,
            "code": 4006,
            "message": "you have used up your daily free allocation of 10,000 neurons",
        },
        QuotaExceededError,
        modes=("stream",),
        message="daily free allocation",
    ),
    Case(
        "inband-error-after-text",
        {"kind": "inband_error", "after_events": 2},
        PARTIAL,
        modes=("stream",),
        message="error after it began",
    ),
)


def rows(predicate: Any = lambda case: True) -> list[Any]:
    return [pytest.param(case, id=case.id) for case in CASES if predicate(case)]


def arm(case: Case) -> Callable[[Emulator], object]:
    def arm_lane(lane: Emulator) -> None:
        lane.script(chunks=CHUNKS, repeat=0)
        lane.fault(Fault(**case.fault))

    return arm_lane


def paths_for(case: Case) -> list[Path]:
    return [path for path in ALL_PATHS if path.mode in case.modes]


@pytest.mark.parametrize("case", rows())
async def test_fault_outcome(case: Case, lanes: list[Emulator]) -> None:
    results = await run_on_lanes(paths_for(case), lanes, arm(case), max_retries=2, **OPTIONS)

    def check(outcome: Outcome, seen: list[Any]) -> None:
        error = outcome.error
        if case.expect == RETRIED:
            assert error is None, f"expected a retry then success, got {error!r}"
            assert outcome.text == REPLY
            assert len(seen) == 2, f"{len(seen)} requests"
            assert seen[0].body == seen[1].body, "a retry must resend the same body"
            return
        assert len(seen) == 1, f"this fault must not be retried: {len(seen)} requests"
        if case.expect == PARTIAL:
            assert isinstance(error, StreamInterruptedError), repr(error)
            # Nothing received is lost: the error carries exactly what the caller got.
            assert outcome.text == RECEIVED, outcome.text
            assert error.text == RECEIVED, error.text
            if case.id == "stall-mid-stream":
                assert outcome.elapsed < IDLE + MARGIN, outcome.elapsed
        else:
            assert isinstance(case.expect, type)
            assert isinstance(error, case.expect), repr(error)
            assert outcome.text == ""
        if case.message is not None:
            assert case.message in str(error), str(error)

    check_all(results, check)


@pytest.mark.parametrize("case", rows(lambda case: case.exhausted is not None))
async def test_fault_with_retries_exhausted_raises_its_class(
    case: Case, lanes: list[Emulator]
) -> None:
    results = await run_on_lanes(paths_for(case), lanes, arm(case), max_retries=0, **OPTIONS)

    def check(outcome: Outcome, seen: list[Any]) -> None:
        error = outcome.error
        assert case.exhausted is not None
        assert isinstance(error, case.exhausted), repr(error)
        assert outcome.text == ""
        assert len(seen) == 1, f"max_retries=0 means exactly one attempt: {len(seen)} requests"
        if case.message is not None:
            assert case.message in str(error), str(error)
        if case.id == "html-error-page-502":
            # Readable: the page's title, not its markup.
            assert "<" not in str(error)
            assert error.status_code == 502  # type: ignore[attr-defined]

    check_all(results, check)
