"""The API token and the AI Gateway token never show up where people look or paste.

Sentinel tokens are put in every object; then every representation a user, a log pipeline, a
tracer or a bug report sees is searched for them: repr/str, model_dump(_json), LangChain
dumps/dumpd and callback payloads, LlamaIndex to_dict/to_json and instrumentation events, logs
at DEBUG (httpx and httpcore included), exception messages, chains and tracebacks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import traceback
from collections.abc import Iterator
from typing import Any

import distributed  # noqa: F401  (installs tblib's exception pickling, as for any Dask user)
import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, dumps
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms import ChatMessage

from cf_mistral import (
    AIGateway,
    APIConnectionError,
    AsyncWorkersAIClient,
    AuthenticationError,
    ChatRequest,
    ClientConfig,
    UserMessage,
    WorkersAIClient,
    WorkersAIError,
)
from cf_mistral.emulator import Emulator, FaultKind

from .paths import ALL_PATHS, HumanMessage, Path, adapter_class, params, run

TOKEN = "SENTINEL-TOKEN-123"
GATEWAY_TOKEN = "SENTINEL-GATEWAY-456"
SECRETS = (TOKEN, GATEWAY_TOKEN)
REQUEST = ChatRequest(messages=[UserMessage("hello")])


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked in {where}: ...{_around(text, secret)}..."


def _around(text: str, secret: str) -> str:
    at = text.index(secret)
    return text[max(0, at - 80) : at + 40]


@pytest.fixture
def secured(emulator: Emulator) -> Emulator:
    """The emulator demands the sentinel token and, on gateway routes, the gateway token."""
    emulator.configure(token=TOKEN, gateway_token=GATEWAY_TOKEN)
    return emulator


def gateway(emulator: Emulator) -> AIGateway:
    return AIGateway(gateway_id="gw", token=GATEWAY_TOKEN, base_url=emulator.gateway_url)


def options(emulator: Emulator) -> dict[str, Any]:
    return {
        "account_id": emulator.account_id,
        "api_token": TOKEN,
        "base_url": emulator.base_url,
        "gateway": gateway(emulator),
    }


def models(emulator: Emulator) -> Iterator[tuple[str, Any]]:
    yield "ClientConfig", ClientConfig.build(**options(emulator))
    yield "AIGateway", gateway(emulator)
    yield "WorkersAIClient", WorkersAIClient(**options(emulator))
    yield "AsyncWorkersAIClient", AsyncWorkersAIClient(**options(emulator))
    yield "ChatCloudflareMistral", adapter_class("langchain")(**options(emulator))
    yield "CloudflareMistral", adapter_class("llamaindex")(**options(emulator))


def test_no_representation_of_any_object_shows_a_token(secured: Emulator) -> None:
    checked = 0
    for name, model in models(secured):
        forms = {"repr": repr(model), "str": str(model)}
        for method in ("model_dump", "model_dump_json", "to_dict", "to_json", "asdict"):
            if callable(getattr(model, method, None)):
                forms[method] = str(getattr(model, method)())
        if name == "ChatCloudflareMistral":
            forms["dumps"] = dumps(model)
            forms["dumpd"] = json.dumps(dumpd(model))
            forms["ls params"] = repr(model._get_ls_params())
        if name == "CloudflareMistral":
            forms["metadata"] = repr(model.metadata)
        for form, text in forms.items():
            assert_clean(text, f"{name} {form}")
            checked += 1
    assert checked >= 20


def test_the_tokens_are_sent_where_they_belong(secured: Emulator) -> None:
    # The contrapositive of the tests here: the secrets are not simply missing.
    with WorkersAIClient(**options(secured)) as client:
        assert client.chat(REQUEST).text == "You said: hello"
    headers = secured.last_request.headers  # type: ignore[union-attr]
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["cf-aig-authorization"] == f"Bearer {GATEWAY_TOKEN}"


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.payloads: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            payloads = object.__getattribute__(self, "payloads")

            def record(*args: Any, **kwargs: Any) -> None:
                payloads.append(repr((name, args, kwargs)))

            return record
        return object.__getattribute__(self, name)


class _Events(BaseEventHandler):
    seen: list[str] = []

    @classmethod
    def class_name(cls) -> str:
        return "SecretsEventRecorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.seen.append(event.model_dump_json())
        self.seen.append(repr(event))


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "cf_mistral", "langchain_cf_mistral", "llama_index"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.mark.parametrize("path", params())
async def test_logs_callbacks_and_events_never_show_a_token(
    path: Path, secured: Emulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    # A retried call logs the most: the request, the error, the retry decision.
    secured.fault(FaultKind.capacity, retry_after=0)
    if path.framework == "langchain":
        recorder = _Recorder()
        model = adapter_class("langchain")(**options(secured), callbacks=[recorder])
        messages = [HumanMessage("hello")]
        if path.streams:
            chunks = (
                [c async for c in model.astream(messages)]
                if path.is_async
                else await asyncio.to_thread(lambda: list(model.stream(messages)))
            )
            assert "".join(c.text for c in chunks) == "You said: hello"
        elif path.is_async:
            await model.ainvoke(messages)
        else:
            await asyncio.to_thread(model.invoke, messages)
        assert recorder.payloads
        assert_clean("\n".join(recorder.payloads), "LangChain callback payloads")
    elif path.framework == "llamaindex":
        handler = _Events()
        handler.seen = []
        dispatcher = get_dispatcher()
        dispatcher.add_event_handler(handler)
        try:
            llm = adapter_class("llamaindex")(**options(secured))
            messages = [ChatMessage(role="user", content="hello")]
            if path.streams:
                if path.is_async:
                    async for _ in await llm.astream_chat(messages):
                        pass
                else:
                    await asyncio.to_thread(lambda: list(llm.stream_chat(messages)))
            elif path.is_async:
                await llm.achat(messages)
            else:
                await asyncio.to_thread(llm.chat, messages)
        finally:
            dispatcher.event_handlers.remove(handler)
        assert handler.seen
        assert_clean("\n".join(handler.seen), "LlamaIndex instrumentation events")
    else:
        outcome = await run(path, options(secured))
        assert outcome.error is None, repr(outcome.error)
    assert len(secured.requests) == 2
    records = debug_logs.records
    assert any(r.name.startswith("httpcore") for r in records)
    assert any(r.name.startswith("cf_mistral") for r in records)
    assert_clean(debug_logs.text, "logs")
    for record in records:
        assert_clean(repr(record.__dict__), f"log record {record.name}")


def everything_about(error: BaseException) -> str:
    """All the text an error carries: messages, chain, traceback, pickled form, attributes.

    The pickle is taken with tblib's reducers installed (Dask does that, to ship worker errors
    to the client): they pickle ``__context__`` too, even when it is suppressed.
    """
    parts = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(vars(current)), repr(current.args)]
        current = current.__cause__ or current.__context__
    parts += traceback.format_exception(error)
    parts.append(repr(pickle.dumps(error)))
    return "\n".join(parts)


def _expected_error(path: Path, kind: str) -> type[WorkersAIError]:
    return AuthenticationError if kind == "401" else APIConnectionError


@pytest.mark.parametrize("kind", ["401", "connection-refused"])
@pytest.mark.parametrize("path", params(ALL_PATHS))
async def test_errors_and_tracebacks_never_show_a_token(
    path: Path, kind: str, secured: Emulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    connection = options(secured)
    if kind == "401":
        secured.configure(token="another-token")  # the sentinel is now the wrong token
    else:
        refused = AIGateway(gateway_id="gw", token=GATEWAY_TOKEN, base_url="http://127.0.0.1:9")
        connection["gateway"] = refused
    outcome = await run(path, connection, max_retries=0)
    assert isinstance(outcome.error, _expected_error(path, kind)), repr(outcome.error)
    assert_clean(everything_about(outcome.error), f"the {kind} error")
    assert_clean(debug_logs.text, "logs")


async def test_a_connection_error_keeps_where_the_request_went_but_not_its_credentials(
    secured: Emulator,
) -> None:
    # The httpx error stays reachable as __context__ (tblib pickles it): its request is swapped
    # for one with the method and URL only, through httpx's public setter.
    refused = {**options(secured), "base_url": "http://127.0.0.1:9/client/v4", "max_retries": 0}
    refused["gateway"] = None
    errors: list[BaseException] = []
    with WorkersAIClient(**refused) as client, pytest.raises(APIConnectionError) as raised:
        client.chat(REQUEST)
    errors.append(raised.value)
    async with AsyncWorkersAIClient(**refused) as aclient:
        with pytest.raises(APIConnectionError) as araised:
            await aclient.chat(REQUEST)
    errors.append(araised.value)
    for error in errors:
        context = error.__context__
        assert isinstance(context, httpx.ConnectError)
        assert context.request.method == "POST"
        assert str(context.request.url).startswith("http://127.0.0.1:9/client/v4/accounts/")
        assert "authorization" not in context.request.headers
        assert context.request.content == b""
        assert_clean(everything_about(error), "a connection error")
        assert_clean(repr(pickle.loads(pickle.dumps(context)).__dict__), "the httpx error")
