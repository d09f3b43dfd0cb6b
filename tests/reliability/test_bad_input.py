"""Bad input gets an error that names the problem and the fix, before anything is sent.

Each case asserts the message text and that the emulator saw no request (except oversized
payloads: Workers AI documents no byte limit for /ai/run, so the server's 413 is what the
caller gets, once, never retried). The core cases run on call and stream, sync and async; the
adapter cases check the same errors reach LangChain and LlamaIndex users.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.messages import ToolMessage as LCToolMessage
from llama_index.core.llms import ChatMessage, ImageBlock, TextBlock

from cf_mistral import (
    AssistantMessage,
    AsyncWorkersAIClient,
    ChatRequest,
    ImagePart,
    InvalidParameterError,
    InvalidRequestError,
    RequestTooLargeError,
    TextPart,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    UserMessage,
    WorkersAIClient,
    WorkersAIError,
)
from cf_mistral.emulator import Emulator

from .paths import adapter_class

TOOL = ToolDefinition("get_weather", "Weather of a city", {"type": "object", "properties": {}})
CALL = ToolCall("abcdefghi", "get_weather", {"city": "Paris"})
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 16).decode()


def user(content: Any = "hi") -> UserMessage:
    return UserMessage(content)


@dataclass(frozen=True)
class Bad:
    id: str
    request: Callable[[], ChatRequest]
    error: type[WorkersAIError]
    message: str


BAD = (
    Bad("temperature-out-of-range", lambda: ChatRequest([user()], params={"temperature": 9}),
        InvalidParameterError, "temperature=9 is outside the model's range: pass a number from 0"),
    Bad("max-tokens-zero", lambda: ChatRequest([user()], params={"max_tokens": 0}),
        InvalidParameterError, "max_tokens=0 is outside the model's range"),
    Bad("top-p-negative", lambda: ChatRequest([user()], params={"top_p": -0.5}),
        InvalidParameterError, "top_p=-0.5 is outside the model's range"),
    Bad("unknown-parameter", lambda: ChatRequest([user()], params={"foo": 1}),
        InvalidRequestError, "'foo' is not a parameter of @cf/mistralai/mistral-small-3.1-24b"),
    Bad("empty-message-list", lambda: ChatRequest([]),
        InvalidRequestError, "messages is empty: pass at least one message"),
    Bad("null-user-content", lambda: ChatRequest([user(None)]),
        InvalidRequestError, "messages[0] (UserMessage) has content of type NoneType: pass a"),
    Bad("null-tool-content",
        lambda: ChatRequest([user(), AssistantMessage(tool_calls=[CALL]),
                             ToolMessage("abcdefghi", None)], tools=[TOOL]),  # type: ignore[arg-type]
        InvalidRequestError, "messages[2] (ToolMessage) has content of type NoneType"),
    Bad("image-as-http-url",
        lambda: ChatRequest([user([TextPart("what?"), ImagePart("https://example.com/cat.png")])]),
        InvalidRequestError, "is a web address, which Workers AI does not accept. Pass the"),
    Bad("non-image-data-url",
        lambda: ChatRequest([user([TextPart("?"), ImagePart("data:application/pdf;base64,AAAA")])]),
        InvalidRequestError, "has media type 'application/pdf', not an image"),
    Bad("data-url-bad-base64",
        lambda: ChatRequest([user([TextPart("what?"), ImagePart("data:image/png;base64,@@@")])]),
        InvalidRequestError, "invalid base64 data"),
    Bad("tool-schema-not-a-dict",
        lambda: ChatRequest([user()], tools=[ToolDefinition("f", "d", ["x"])]),  # type: ignore[arg-type]
        InvalidRequestError, "Tool 'f': parameters must be a JSON Schema object (a dict), got"),
    Bad("tool-schema-wrong-type",
        lambda: ChatRequest([user()], tools=[ToolDefinition("f", "d", {"type": "banana"})]),
        InvalidRequestError, "must be a JSON Schema of type 'object'"),
    Bad("tool-schema-properties-not-schemas",
        lambda: ChatRequest([user()], tools=[ToolDefinition("f", "d", {"properties": [1]})]),
        InvalidRequestError, "parameters.properties must map each argument name to a JSON Schema"),
    Bad("tool-name-invalid",
        lambda: ChatRequest([user()], tools=[ToolDefinition("get weather!", "d", {})]),
        InvalidRequestError, "a tool name is 1 to 64 characters of letters, digits, '_' and '-'"),
    Bad("unanswered-tool-call",
        lambda: ChatRequest([user(), AssistantMessage(tool_calls=[CALL]), user("?")], tools=[TOOL]),
        InvalidRequestError, "has tool call(s) ['abcdefghi'] with no tool result before"),
    Bad("tool-result-without-call",
        lambda: ChatRequest([user(), ToolMessage("zzzzzzzzz", "sunny")]),
        InvalidRequestError, "no earlier assistant message has a tool call with that id"),
    Bad("response-schema-not-a-dict", lambda: ChatRequest([user()], response_schema=[1]),  # type: ignore[arg-type]
        InvalidRequestError, "response_schema must be a JSON Schema object (a dict), got list"),
    Bad("empty-stop-sequence", lambda: ChatRequest([user()], stop=[""]),
        InvalidRequestError, "stop sequences must be non-empty strings"),
)  # fmt: skip


async def attempt(request: ChatRequest, mode: str, connection: dict[str, Any]) -> None:
    if mode.startswith("sync"):
        with WorkersAIClient(**connection) as client:
            if mode.endswith("call"):
                client.chat(request)
            else:
                list(client.stream(request))
        return
    async with AsyncWorkersAIClient(**connection) as aclient:
        if mode.endswith("call"):
            await aclient.chat(request)
        else:
            [event async for event in aclient.stream(request)]


@pytest.mark.parametrize("mode", ["sync-call", "sync-stream", "async-call", "async-stream"])
@pytest.mark.parametrize("bad", [pytest.param(b, id=b.id) for b in BAD])
async def test_bad_request_is_refused_before_sending(
    bad: Bad, mode: str, emulator: Emulator, connection: dict[str, Any]
) -> None:
    with pytest.raises(bad.error) as caught:
        await attempt(bad.request(), mode, connection)
    assert bad.message in str(caught.value)
    assert isinstance(caught.value, ValueError), "bad input is also a ValueError"
    assert emulator.requests == []


def test_missing_credentials_name_the_variables(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN",
                 "CLOUDFLARE_AUTH_TOKEN", "CF_AI_API_TOKEN", "CF_API_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InvalidRequestError, match=r"Missing account_id \(or CLOUDFLARE_ACCOUNT_ID"):
        WorkersAIClient(base_url=emulator.base_url).chat(ChatRequest([user()]))
    assert emulator.requests == []


@pytest.mark.parametrize("mode", ["sync-call", "async-stream"])
async def test_oversized_payload_is_request_too_large_and_not_retried(
    mode: str, emulator: Emulator, connection: dict[str, Any]
) -> None:
    emulator.configure(max_request_bytes=50_000)
    with pytest.raises(RequestTooLargeError) as caught:
        await attempt(ChatRequest([user("x" * 60_000)]), mode, {**connection, "max_retries": 3})
    assert "Request is too large — Shrink the prompt or images" in str(caught.value)
    assert caught.value.status_code == 413
    assert len(emulator.requests) == 1


async def test_reply_naming_an_undeclared_tool_is_an_invalid_tool_call(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    emulator.script(tool_calls=[{"name": "delete_everything", "arguments": {}}], repeat=2)
    request = ChatRequest([user("do it")], tools=[TOOL])
    with WorkersAIClient(**connection) as client:
        called = client.chat(request)
        streamed = list(client.stream(request))[-1].result  # type: ignore[union-attr]
    for result in (called, streamed):
        assert result.tool_calls == ()
        (invalid,) = result.invalid_tool_calls
        assert invalid.name == "delete_everything"
        assert invalid.error == (
            "the model called 'delete_everything', which is not a bound tool (get_weather)"
        )


# -- the adapters surface the same errors -------------------------------------------------------


def test_langchain_refuses_bad_input_before_sending(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    chat_class = adapter_class("langchain")
    with pytest.raises(ValueError, match=r"temperature=9\.0 is outside the model's range"):
        chat_class(**connection, temperature=9)
    chat = chat_class(**connection)
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: chat.invoke([]), "messages is empty"),
        (lambda: chat.invoke("hi", temperature=9), "temperature=9 is outside the model's range"),
        (lambda: chat.invoke([HumanMessage(content=[
            {"type": "text", "text": "what?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ])]), "is a web address"),
        (lambda: chat.invoke([HumanMessage(content=[
            {"type": "text", "text": "what?"},
            {"type": "image_url", "image_url": {"url": "data:application/pdf;base64,AAAA"}},
        ])]), "not an image"),
        (lambda: chat.bind_tools([{"type": "function", "function": {
            "name": "f", "description": "d", "parameters": {"type": "banana"}}}]).invoke("hi"),
         "must be a JSON Schema of type 'object'"),
        (lambda: chat.invoke([
            HumanMessage("hi"),
            AIMessage(content="", tool_calls=[{"name": "f", "args": {}, "id": "abcdefghi"}]),
            HumanMessage("and?"),
        ]), "with no tool result"),
        (lambda: chat.invoke([HumanMessage("hi"), LCToolMessage("ok", tool_call_id="zzzzzzzzz")]),
         "no earlier assistant message has a tool call with that id"),
    ]  # fmt: skip
    for call, message in cases:
        with pytest.raises(InvalidRequestError) as caught:
            call()
        assert message in str(caught.value)
    # LangChain itself refuses None content when the message is built.
    with pytest.raises(ValueError, match="content"):
        AIMessage(content=None)  # type: ignore[arg-type]
    assert emulator.requests == []


def test_langchain_reports_an_undeclared_tool_call(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    emulator.script(tool_calls=[{"name": "delete_everything", "arguments": {}}])
    chat = adapter_class("langchain")(**connection).bind_tools([{
        "type": "function",
        "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object"}},
    }])  # fmt: skip
    message = chat.invoke("do it")
    assert message.tool_calls == []
    (invalid,) = message.invalid_tool_calls
    assert invalid["name"] == "delete_everything"
    assert "which is not a bound tool (get_weather)" in (invalid["error"] or "")


def test_llamaindex_refuses_bad_input_before_sending(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    llm_class = adapter_class("llamaindex")
    with pytest.raises(InvalidParameterError, match=r"temperature=9\.0 is outside the model's"):
        llm_class(**connection, temperature=9)
    llm = llm_class(**connection)
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: llm.chat([]), "messages is empty"),
        (lambda: llm.chat([ChatMessage(role="user", blocks=[
            TextBlock(text="what?"), ImageBlock(url="https://example.com/cat.png")])]),
         "is a web address"),
    ]  # fmt: skip
    for call, message in cases:
        with pytest.raises(InvalidRequestError) as caught:
            call()
        assert message in str(caught.value)
    assert emulator.requests == []


def test_llamaindex_null_content_is_sent_as_empty_text(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    # LlamaIndex allows ChatMessage(content=None); it means "no text", never a wire null.
    llm = adapter_class("llamaindex")(**connection)
    reply = llm.chat([ChatMessage(role="user", content=None)])
    assert reply.message.content == "You said: "
    (request,) = emulator.requests
    assert request.body["messages"] == [{"role": "user", "content": ""}]
