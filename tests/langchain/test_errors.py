"""Every core error surfaces from invoke, stream, ainvoke and astream in both hierarchies."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core import exceptions as lc

import cf_mistral as cf
import langchain_cf_mistral as lcm
from cf_mistral.emulator import Emulator, Fault, FaultKind
from langchain_cf_mistral import ChatCloudflareMistral

from .conftest import Runner

# core class, LangChain class, how to provoke it (given the emulator), is_retryable
CASES: list[
    tuple[type[cf.WorkersAIError], type[lc.ModelError], Callable[[Emulator], Any], bool]
] = [
    (cf.RateLimitError, lc.ModelRateLimitError, lambda e: e.fault(FaultKind.capacity), True),
    (cf.QuotaExceededError, lc.ModelRateLimitError, lambda e: e.fault(FaultKind.quota), False),
    (cf.RequestTimeoutError, lc.ModelTimeoutError, lambda e: e.fault(FaultKind.timeout), True),
    (cf.ServerError, lc.ModelAPIError, lambda e: e.fault(FaultKind.server_error), True),
    (
        cf.BadRequestError,
        lc.ModelInvalidRequestError,
        lambda e: e.fault(FaultKind.bad_request),
        False,
    ),
    (cf.AuthenticationError, lc.ModelAuthenticationError, lambda e: e.fault(FaultKind.auth), False),
    (
        cf.RequestTooLargeError,
        lc.ContextOverflowError,
        lambda e: e.fault(FaultKind.too_large),
        False,
    ),
    (
        cf.NotFoundError,
        lc.ModelNotFoundError,
        lambda e: e.fault(
            Fault(FaultKind.bad_request, status=404, code=3042, message="No such model")
        ),
        False,
    ),
    (
        cf.GuidedJSONError,
        lc.ModelInvalidRequestError,
        lambda e: e.fault(
            Fault(FaultKind.bad_request, code=5024, message="JSON Mode couldn't be met")
        ),
        False,
    ),
    (
        cf.GatewayError,
        lc.ModelAPIError,
        lambda e: e.fault(Fault(FaultKind.bad_request, code=2001, message="Gateway not found")),
        False,
    ),
    (
        cf.APIConnectionError,
        lc.ModelConnectionError,
        lambda e: e.fault(FaultKind.connection_reset),
        True,
    ),
    (
        cf.ResponseParseError,
        lc.ModelAPIError,
        lambda e: e.script(raw_body="<html>not json</html>", content_type="application/json"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("core_class", "lc_class", "provoke", "retryable"),
    CASES,
    ids=[case[0].__name__ for case in CASES],
)
async def test_core_errors_surface_in_both_hierarchies(
    run: Runner,
    emulator: Emulator,
    make_model: Callable[..., ChatCloudflareMistral],
    core_class: type[cf.WorkersAIError],
    lc_class: type[lc.ModelError],
    provoke: Callable[[Emulator], Any],
    retryable: bool,
) -> None:
    provoke(emulator)
    model = make_model(max_retries=0)
    with pytest.raises(core_class) as caught:
        await run(model, "Hello")
    error = caught.value
    assert isinstance(error, lc_class)
    assert type(error).__module__ == "langchain_cf_mistral"
    assert error.is_retryable is retryable
    assert pickle.loads(pickle.dumps(error)).status_code == error.status_code


async def test_timeout_surfaces_as_model_timeout_error(
    run: Runner, emulator: Emulator, make_model: Callable[..., ChatCloudflareMistral]
) -> None:
    emulator.configure(latency=1.0)
    model = make_model(max_retries=0, timeout=0.2)
    with pytest.raises(cf.APITimeoutError) as caught:
        await run(model, "Hello")
    assert isinstance(caught.value, lc.ModelTimeoutError)
    assert caught.value.is_retryable


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_interrupted_stream_keeps_its_text_and_is_a_connection_error(
    mode: str, emulator: Emulator, make_model: Callable[..., ChatCloudflareMistral]
) -> None:
    emulator.script(text="one two three four five six")
    emulator.fault(Fault(FaultKind.truncated_stream, after_events=3))
    with pytest.raises(cf.StreamInterruptedError) as caught:
        await Runner(mode)(make_model(max_retries=0), "Hello")
    assert isinstance(caught.value, lc.ModelConnectionError)
    assert isinstance(caught.value, lcm.CloudflareStreamInterruptedError)
    assert caught.value.text


async def test_bad_input_is_refused_before_sending_in_both_hierarchies(
    run: Runner, emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    with pytest.raises(cf.InvalidParameterError) as caught:
        await run(model, "Hello", temperature=9)
    assert isinstance(caught.value, lc.ModelInvalidRequestError)
    assert "temperature" in str(caught.value)
    assert emulator.requests == []


def test_retryable_errors_are_retried_by_the_core_only(
    emulator: Emulator, make_model: Callable[..., ChatCloudflareMistral]
) -> None:
    emulator.fault(Fault(FaultKind.capacity, retry_after=0))
    emulator.fault(Fault(FaultKind.server_error))
    reply = make_model(max_retries=2).invoke("Hello")
    assert reply.text == "You said: Hello"
    assert len(emulator.requests) == 3
