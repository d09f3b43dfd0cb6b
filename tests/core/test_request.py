"""Request building: the wire body the emulator records for each kind of request."""

from __future__ import annotations

import base64
import http.server
import json
from collections.abc import Iterator
from typing import Any

import pytest

from cf_mistral import (
    DEFAULT_MAX_TOKENS,
    AssistantMessage,
    ChatRequest,
    ImagePart,
    InvalidRequestError,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    UserMessage,
    to_data_url,
)
from cf_mistral._request import prepare_call
from cf_mistral.emulator import Emulator

from .helpers import (
    PNG,
    PNG_DATA_URL,
    WEATHER_PARAMETERS,
    Driver,
    DriverFactory,
    assert_clean_wire_body,
    serving,
)

WEATHER = ToolDefinition("get_weather", "Current weather for a city", WEATHER_PARAMETERS)


def body_of(emulator: Emulator) -> dict[str, Any]:
    recorded = emulator.last_request
    assert recorded is not None
    assert isinstance(recorded.body, dict)
    return recorded.body


async def test_max_tokens_is_always_explicit(emulator: Emulator, driver: Driver) -> None:
    await driver.chat(ChatRequest(messages=[UserMessage("hi")]))
    assert body_of(emulator) == {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": DEFAULT_MAX_TOKENS,
    }
    await driver.stream(ChatRequest(messages=[UserMessage("hi")], params={"max_tokens": 7}))
    assert body_of(emulator)["max_tokens"] == 7
    assert body_of(emulator)["stream"] is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", 0),
        ("temperature", 0.15),
        ("temperature", 5),
        ("top_p", 0.9),
        ("top_k", 40),
        ("seed", 9_999_999_999),
        ("repetition_penalty", 1.1),
        ("frequency_penalty", 0.5),
        ("presence_penalty", 2),
        ("max_tokens", 1),
    ],
)
async def test_each_sampling_parameter_reaches_the_wire_as_given(
    emulator: Emulator, driver: Driver, name: str, value: float
) -> None:
    await driver.chat(ChatRequest(messages=[UserMessage("hi")], params={name: value}))
    sent = body_of(emulator)[name]
    assert sent == value
    assert type(sent) is type(value)


async def test_all_schema_parameters_together(emulator: Emulator, driver: Driver) -> None:
    params = {
        "temperature": 0.7,
        "top_p": 0.5,
        "top_k": 10,
        "seed": 42,
        "repetition_penalty": 1.0,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "max_tokens": 64,
    }
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    await driver.stream(
        ChatRequest(messages=[UserMessage("hi")], params=params, response_schema=schema)
    )
    body = body_of(emulator)
    assert body == {
        "messages": [{"role": "user", "content": "hi"}],
        "guided_json": schema,
        "stream": True,
        **params,
    }


async def test_tools_are_sent_in_openai_form_with_descriptions_everywhere(
    emulator: Emulator, driver: Driver
) -> None:
    bare = ToolDefinition(
        "lookup",
        parameters={
            "properties": {"q": {"type": "string"}, "n": {"type": "integer", "description": "N"}}
        },
    )
    await driver.chat(ChatRequest(messages=[UserMessage("hi")], tools=[WEATHER, bare]))
    assert body_of(emulator)["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": WEATHER_PARAMETERS,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "q": {"type": "string", "description": ""},
                        "n": {"type": "integer", "description": "N"},
                    },
                },
            },
        },
    ]


async def test_tool_choice_none_sends_no_tools(emulator: Emulator, driver: Driver) -> None:
    result = await driver.chat(
        ChatRequest(messages=[UserMessage("use get_weather")], tools=[WEATHER], tool_choice="none")
    )
    assert "tools" not in body_of(emulator)
    assert result.tool_calls == ()


async def test_response_schema_becomes_guided_json(emulator: Emulator, driver: Driver) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    result = await driver.chat(
        ChatRequest(messages=[UserMessage("a name")], response_schema=schema)
    )
    assert body_of(emulator)["guided_json"] == schema
    assert isinstance(json.loads(result.text)["name"], str)


async def test_empty_response_schema_admits_any_object(emulator: Emulator, driver: Driver) -> None:
    await driver.chat(ChatRequest(messages=[UserMessage("json")], response_schema={}))
    assert body_of(emulator)["guided_json"] == {}


def test_response_schema_must_be_a_mapping() -> None:
    request = ChatRequest(messages=[UserMessage("x")], response_schema="{}")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="JSON Schema object"):
        prepare_call(request, stream=False)


async def test_tool_round_trip_history_on_the_wire(emulator: Emulator, driver: Driver) -> None:
    history = [
        SystemMessage("be brief"),
        UserMessage("weather in Paris?"),
        AssistantMessage(
            tool_calls=[ToolCall("call_JIIjI55tTipFFzpcP8re3BpM", "get_weather", {"city": "Paris"})]
        ),
        ToolMessage("call_JIIjI55tTipFFzpcP8re3BpM", '{"temp": 21}'),
    ]
    result = await driver.chat(ChatRequest(messages=history, tools=[WEATHER]))
    assert result.text == 'Based on the tool results: {"temp": 21}'
    assert body_of(emulator)["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "8kxAQvoED",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "8kxAQvoED",
            "content": '{"temp": 21}',
            "name": "get_weather",
        },
    ]


async def test_tool_message_name_given_explicitly_is_kept(
    emulator: Emulator, driver: Driver
) -> None:
    history = [
        UserMessage("go"),
        AssistantMessage(tool_calls=[ToolCall("abc123", "get_weather", {"city": "Oslo"})]),
        ToolMessage("abc123", "cold", name="get_weather"),
    ]
    await driver.chat(ChatRequest(messages=history, tools=[WEATHER]))
    tool_turn = body_of(emulator)["messages"][-1]
    assert tool_turn == {
        "role": "tool",
        "tool_call_id": "pL5rEGzxe",
        "content": "cold",
        "name": "get_weather",
    }


async def test_non_ascii_tool_arguments_are_sent_as_json_text(
    emulator: Emulator, driver: Driver
) -> None:
    history = [
        UserMessage("go"),
        AssistantMessage(tool_calls=[ToolCall("ssAbar4Dr", "get_weather", {"city": "Zürich"})]),
        ToolMessage("ssAbar4Dr", "mild"),
    ]
    await driver.chat(ChatRequest(messages=history, tools=[WEATHER]))
    call = body_of(emulator)["messages"][1]["tool_calls"][0]
    assert call["id"] == "ssAbar4Dr"
    assert json.loads(call["function"]["arguments"]) == {"city": "Zürich"}


async def test_images_are_sent_as_data_url_parts(emulator: Emulator, driver: Driver) -> None:
    content = [TextPart("what is this?"), ImagePart(PNG_DATA_URL)]
    result = await driver.chat(ChatRequest(messages=[UserMessage(content)]))
    assert body_of(emulator)["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
    ]
    assert "[1 image(s) received]" in result.text


async def test_http_image_url_is_refused_before_sending(emulator: Emulator, driver: Driver) -> None:
    request = ChatRequest(messages=[UserMessage([ImagePart("https://example.com/cat.png")])])
    with pytest.raises(InvalidRequestError) as info:
        await driver.chat(request)
    message = str(info.value)
    assert "https://example.com/cat.png" in message
    assert "data: URL" in message
    assert "inline_remote_images=True" in message
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("data:text/plain;base64,aGVsbG8=", "not an image"),
        ("data:;base64,aGVsbG8=", "not an image"),
        ("data:image/png,rawbytes", "not base64"),
        ("data:image/png;base64,@@@@", "invalid base64"),
        ("ftp://example.com/x.png", "neither a data: URL"),
        ("/local/file.png", "neither a data: URL"),
    ],
)
async def test_bad_image_urls_are_refused_naming_the_problem(
    emulator: Emulator, driver: Driver, url: str, fragment: str
) -> None:
    with pytest.raises(InvalidRequestError, match=fragment):
        await driver.chat(ChatRequest(messages=[UserMessage([ImagePart(url)])]))
    assert emulator.requests == []


def test_to_data_url_encodes_images_and_refuses_other_media() -> None:
    assert to_data_url(PNG, "image/png") == PNG_DATA_URL
    with pytest.raises(InvalidRequestError, match="image/"):
        to_data_url(b"%PDF", "application/pdf")
    with pytest.raises(InvalidRequestError, match="bytes"):
        to_data_url(b"\0" * (10 * 1024 * 1024 + 1), "image/png")


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes]] = {
        "/cat.png": (200, "image/png", PNG),
        "/behind-gate.png": (200, "image/png", PNG),
        "/doc.txt": (200, "text/plain", b"hello"),
        "/gone.png": (404, "text/plain", b"not found"),
    }

    def do_GET(self) -> None:
        if self.path == "/gated.png":  # a CDN gate: a cookie, then a redirect that needs it
            self.send_response(302)
            self.send_header("Set-Cookie", "gate=open; Path=/")
            self.send_header("Location", "/behind-gate.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, content_type, body = self.routes.get(self.path, (404, "text/plain", b""))
        if self.path == "/behind-gate.png" and self.headers.get("Cookie") != "gate=open":
            status, content_type, body = 403, "text/plain", b"no cookie"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    with serving(_ImageHandler) as url:
        yield url


async def test_image_downloads_keep_the_cookies_a_redirect_sets(
    emulator: Emulator, drive: DriverFactory, image_server: str
) -> None:
    # Our clients skip the cookie jar for API calls only: a download follows redirects with it.
    client = drive(inline_remote_images=True, private_image_hosts=["127.0.0.1"])
    url = f"{image_server}/gated.png"
    await client.chat(ChatRequest(messages=[UserMessage([TextPart("see"), ImagePart(url)])]))
    part = body_of(emulator)["messages"][0]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": PNG_DATA_URL}}


@pytest.mark.parametrize("where", ["client", "request"])
async def test_remote_images_are_inlined_when_opted_in(
    emulator: Emulator, drive: DriverFactory, image_server: str, where: str
) -> None:
    url = f"{image_server}/cat.png"
    if where == "client":
        client = drive(inline_remote_images=True, private_image_hosts=["127.0.0.1"])
        request = ChatRequest(messages=[UserMessage([TextPart("see"), ImagePart(url)])])
    else:
        client = drive(private_image_hosts=["127.0.0.1"])
        request = ChatRequest(
            messages=[UserMessage([TextPart("see"), ImagePart(url)])], inline_remote_images=True
        )
    await client.chat(request)
    part = body_of(emulator)["messages"][0]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": PNG_DATA_URL}}
    assert base64.b64decode(part["image_url"]["url"].split(",", 1)[1]) == PNG


async def test_request_can_refuse_inlining_that_the_client_allows(
    emulator: Emulator, drive: DriverFactory, image_server: str
) -> None:
    request = ChatRequest(
        messages=[UserMessage([ImagePart(f"{image_server}/cat.png")])], inline_remote_images=False
    )
    with pytest.raises(InvalidRequestError, match="web address"):
        await drive(inline_remote_images=True, private_image_hosts=["127.0.0.1"]).chat(request)
    assert emulator.requests == []


@pytest.mark.parametrize(("path", "fragment"), [("/doc.txt", "image"), ("/gone.png", "HTTP 404")])
async def test_inlining_a_non_image_or_missing_image_fails_clearly(
    emulator: Emulator, drive: DriverFactory, image_server: str, path: str, fragment: str
) -> None:
    request = ChatRequest(messages=[UserMessage([ImagePart(image_server + path)])])
    with pytest.raises(InvalidRequestError, match=fragment):
        await drive(inline_remote_images=True, private_image_hosts=["127.0.0.1"]).chat(request)
    assert emulator.requests == []


async def test_prompt_form_and_raw_reach_the_wire(emulator: Emulator, driver: Driver) -> None:
    await driver.chat(ChatRequest(prompt="Tell me a joke"))
    assert body_of(emulator) == {"prompt": "Tell me a joke", "max_tokens": DEFAULT_MAX_TOKENS}
    templated = "<s>[INST]Hello[/INST]"
    await driver.chat(ChatRequest(prompt=templated, raw=True, params={"max_tokens": 5}))
    assert body_of(emulator) == {"prompt": templated, "raw": True, "max_tokens": 5}


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (ChatRequest(prompt="x", messages=[UserMessage("y")]), "either messages or prompt"),
        (ChatRequest(prompt=""), "prompt is empty"),
        (ChatRequest(prompt="x", tools=[WEATHER]), "Tools need the messages form"),
        (
            ChatRequest(messages=[UserMessage("x")], params={"functions": [{"name": "f"}]}),
            "pass tools instead",
        ),
        (ChatRequest(messages=[UserMessage("x")], params={"stream": True}), "stream()"),
        (ChatRequest(messages=[UserMessage("x")], params={"tools": []}), "use tools"),
        (ChatRequest(messages=[UserMessage("x")], params={"guided_json": {}}), "response_schema"),
        (ChatRequest(messages=[UserMessage("x")], params={"stop": ["a"]}), "stop=\\[...\\]"),
        (ChatRequest(messages=[UserMessage("x")], params={"tool_choice": "auto"}), "tool_choice"),
        (ChatRequest(messages=[UserMessage("x")], params={"n": 2}), "'n' is not a parameter"),
        (ChatRequest(messages=[UserMessage("x")], stop=[""]), "non-empty strings"),
        (
            ChatRequest(messages=[UserMessage("x")], tools=[ToolDefinition("t", parameters=[])]),  # type: ignore[arg-type]
            "parameters must be a JSON Schema object",
        ),
        (
            ChatRequest(messages=[ToolMessage("x", 42)]),  # type: ignore[arg-type]
            "messages\\[0\\] \\(ToolMessage\\) has content of type",
        ),
        (
            ChatRequest(messages=[UserMessage("x")], tools=[ToolDefinition("bad name!")]),
            "tools\\[0\\] has name 'bad name!'",
        ),
        (
            ChatRequest(
                messages=[UserMessage("x")],
                tools=[ToolDefinition("t", parameters={"type": "string"})],
            ),
            "type 'object'",
        ),
        (
            ChatRequest(
                messages=[UserMessage("x")],
                tools=[ToolDefinition("t", parameters={"properties": {"a": "string"}})],
            ),
            "properties must map",
        ),
        (
            ChatRequest(
                messages=[UserMessage("x")],
                tools=[ToolDefinition("t", parameters={"properties": {}, "required": "a"})],
            ),
            "required must be a list",
        ),
        (
            ChatRequest(messages=[UserMessage("x")], tools=[{"name": "t"}]),  # type: ignore[list-item]
            "not a ToolDefinition",
        ),
        (
            ChatRequest(messages=[UserMessage([{"type": "text"}])]),  # type: ignore[list-item]
            "Unsupported content part",
        ),
    ],
)
async def test_bad_requests_are_refused_before_sending(
    emulator: Emulator, driver: Driver, request_: ChatRequest, fragment: str
) -> None:
    with pytest.raises(InvalidRequestError, match=fragment):
        await driver.chat(request_)
    with pytest.raises(InvalidRequestError, match=fragment):
        await driver.stream(request_)
    assert emulator.requests == []


def test_no_stop_sequences() -> None:
    request = ChatRequest(messages=[UserMessage("x")], stop=None)  # type: ignore[arg-type]
    assert prepare_call(request, stream=False).stop == ()


def test_stop_sequences_never_reach_the_wire() -> None:
    call = prepare_call(ChatRequest(messages=[UserMessage("x")], stop="END"), stream=False)
    assert call.stop == ("END",)
    assert "stop" not in call.body


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [], "max_tokens": 1, "temperature": None},
        {"messages": [{"role": "user", "content": None}], "max_tokens": 1},
        {"messages": [], "max_tokens": 1, "tool_choice": "auto"},
        {"messages": [], "max_tokens": 1, "response_format": {"type": "json_object"}},
        {"messages": [], "max_tokens": 1, "stop": ["x"]},
        {"messages": [], "max_tokens": 1, "functions": []},
        {"messages": []},
    ],
)
def test_the_wire_body_check_catches_what_the_issue_forbids(body: dict[str, Any]) -> None:
    # The autouse check in conftest.py runs on every recorded body; make sure it can fail.
    with pytest.raises(AssertionError):
        assert_clean_wire_body(body)


def test_an_image_over_the_inline_limit_is_refused_with_its_size() -> None:
    from cf_mistral import InvalidRequestError, to_data_url
    from cf_mistral._images import MAX_IMAGE_BYTES

    to_data_url(b"x" * MAX_IMAGE_BYTES, "image/png")  # at the limit: accepted
    with pytest.raises(InvalidRequestError, match=r"limit here is 10485760 bytes"):
        to_data_url(b"x" * (MAX_IMAGE_BYTES + 1), "image/png")
