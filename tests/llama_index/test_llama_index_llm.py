"""The LLM object: metadata, configuration, secrets, usage accounting, events and images."""

from __future__ import annotations

import asyncio
import base64
import http.server
import logging
import pickle
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    ImageBlock,
    TextBlock,
)
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatInProgressEvent,
    LLMChatStartEvent,
)
from llama_index.core.llms import LLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import PydanticProgramMode

import llama_index_cf_mistral
from cf_mistral import (
    CONTEXT_WINDOW,
    DEFAULT_MODEL,
    AuthenticationError,
    InvalidParameterError,
    InvalidRequestError,
)
from cf_mistral.emulator import Emulator
from llama_index_cf_mistral import CloudflareMistral
from tests.core.helpers import serving

USER = [ChatMessage(role="user", content="Hello there")]
SENTINEL = "SENTINEL-token-5f3a9c1e"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PNG_DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


# -- the object ------------------------------------------------------------------------------


def test_exports_are_curated_and_versioned():
    import cf_mistral

    assert llama_index_cf_mistral.__all__ == ["CloudflareMistral", "__version__"]
    assert llama_index_cf_mistral.__version__ == cf_mistral.__version__


def test_the_llamahub_import_path_gives_the_same_class():
    from llama_index.llms.cf_mistral import CloudflareMistral as FromHub

    assert FromHub is CloudflareMistral


def test_it_is_a_function_calling_llm_with_the_model_metadata(llm: CloudflareMistral):
    assert isinstance(llm, FunctionCallingLLM)
    assert CloudflareMistral.class_name() == "CloudflareMistral_LLM"
    metadata = llm.metadata
    assert metadata.context_window == CONTEXT_WINDOW == 128_000
    assert metadata.num_output == llm.max_tokens
    assert metadata.is_chat_model
    assert metadata.is_function_calling_model
    assert metadata.model_name == DEFAULT_MODEL


def test_num_output_follows_max_tokens(make_llm: Any):
    assert make_llm(max_tokens=512).metadata.num_output == 512


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", 7.0, r"temperature=7.0 is outside the model's range: pass a number from 0"),
        ("top_k", 0, r"top_k=0 .*1 to 50"),
        ("max_tokens", 0, r"max_tokens=0"),
    ],
)
def test_out_of_range_parameters_fail_at_construction(
    make_llm: Any, field: str, value: Any, message: str
):
    with pytest.raises(InvalidParameterError, match=message):
        make_llm(**{field: value})


def test_unknown_additional_kwargs_fail_at_construction(make_llm: Any):
    with pytest.raises(ValueError, match=r"\['stop_sequences'\].*temperature"):
        make_llm(additional_kwargs={"stop_sequences": ["x"]})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temprature": 0.2}, r"'temprature' \(did you mean 'temperature'\?\)"),
        ({"max_token": 9}, r"'max_token' \(did you mean 'max_tokens'\?\)"),
        ({"timout": 5}, r"'timout' \(did you mean 'timeout'\?\)"),
        ({"flavour": "x"}, r"CloudflareMistral got unknown argument\(s\) 'flavour'\."),
    ],
)
def test_unknown_arguments_fail_at_construction_naming_the_close_match(
    make_llm: Any, options: dict[str, Any], message: str
):
    with pytest.raises(InvalidRequestError, match=message):
        make_llm(**options)


async def test_the_base_class_fields_are_still_arguments(make_llm: Any, emulator: Emulator):
    counter = TokenCountingHandler()
    llm = make_llm(
        callback_manager=CallbackManager([counter]),
        system_prompt="Answer in French.",
        pydantic_program_mode=PydanticProgramMode.FUNCTION,
        messages_to_prompt=lambda messages: "\n".join(str(m.content) for m in messages),
        completion_to_prompt=lambda prompt: prompt,
        query_wrapper_prompt=PromptTemplate("Q: {query_str}"),
    )
    assert llm.pydantic_program_mode == PydanticProgramMode.FUNCTION
    assert llm.query_wrapper_prompt is not None
    llm.predict(PromptTemplate("Hello {who}"), who="there")  # predict adds the system prompt
    sent = emulator.last_request.body["messages"]
    assert sent[0] == {"role": "system", "content": "Answer in French."}
    assert counter.llm_token_counts, "the callback manager saw the call"
    copy = CloudflareMistral.from_json(llm.to_json())  # to_dict's keys are all arguments
    assert copy.system_prompt == "Answer in French."


async def test_missing_credentials_name_the_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
):
    for name in ("CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "CF_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    llm = CloudflareMistral()

    with pytest.raises(InvalidRequestError, match="CLOUDFLARE_ACCOUNT_ID"):
        llm.chat(USER)


def test_it_round_trips_through_json_without_secrets(make_llm: Any):
    llm = make_llm(temperature=0.4, max_tokens=99, timeout=5)

    copy = CloudflareMistral.from_json(llm.to_json())

    assert copy.to_dict() == llm.to_dict()
    assert copy.temperature == 0.4


def test_it_survives_pickling_and_still_works(llm: CloudflareMistral, emulator: Emulator):
    llm.chat(USER)  # a live client must not stop the copy

    copy = pickle.loads(pickle.dumps(llm))

    assert copy.chat(USER).message.content == "You said: Hello there"
    copy.close()


def test_injected_http_clients_are_used(make_llm: Any, emulator: Emulator):
    seen: list[str] = []
    client = httpx.Client(event_hooks={"request": [lambda r: seen.append(str(r.url))]})
    llm = make_llm(http_client=client)

    llm.chat(USER)

    assert seen == [emulator.run_url()]
    client.close()


async def test_injected_async_http_client_is_used(make_llm: Any, emulator: Emulator):
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    async with httpx.AsyncClient(event_hooks={"request": [hook]}) as client:
        llm = make_llm(async_http_client=client)
        await llm.achat(USER)

    assert seen == [emulator.run_url()]


def test_one_llm_serves_several_event_loops(llm: CloudflareMistral, emulator: Emulator):
    # A second asyncio.run must not reuse the first loop's connection pool.
    first = asyncio.run(llm.achat(USER))
    second = asyncio.run(llm.achat(USER))

    assert first.message.content == second.message.content == "You said: Hello there"


# -- secrets ---------------------------------------------------------------------------------


class _Recorder(BaseEventHandler):
    events: list[BaseEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    handler = _Recorder(events=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    yield handler
    root.event_handlers.remove(handler)


async def test_the_token_never_leaves_in_serialization_events_logs_or_errors(
    make_llm: Any, emulator: Emulator, recorder: _Recorder, caplog: pytest.LogCaptureFixture
):
    emulator.configure(token=None)  # the emulator accepts any bearer token
    from cf_mistral import AIGateway

    gateway = AIGateway(gateway_id="gw", base_url=emulator.gateway_url, token=SENTINEL)
    llm = make_llm(api_token=SENTINEL, gateway=gateway, default_headers={"x-team-secret": SENTINEL})
    caplog.set_level(logging.DEBUG)

    llm.chat(USER)
    list(llm.stream_chat(USER))
    await llm.achat(USER)
    emulator.configure(token="another-token")
    with pytest.raises(AuthenticationError) as raised:
        llm.chat(USER)

    assert emulator.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"
    assert emulator.requests[0].headers["cf-aig-authorization"] == f"Bearer {SENTINEL}"
    exposed = [
        llm.to_json(),
        str(llm.to_dict()),
        repr(llm),
        str(llm),
        llm.model_dump_json(),
        caplog.text,
        str(raised.value),
        repr(raised.value),
        repr(raised.value.__dict__),
        *(event.model_dump_json() for event in recorder.events),
        *(repr(event) for event in recorder.events),
    ]
    assert recorder.events
    assert all(SENTINEL not in text for text in exposed)


# -- usage and events ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_token_counting_handler_reports_the_servers_numbers(
    calls: Any, emulator: Emulator, stream: bool
):
    counter = TokenCountingHandler()
    calls.llm.callback_manager = CallbackManager([counter])
    emulator.script(text="Some answer", usage={"prompt_tokens": 1234, "completion_tokens": 56})

    if stream:
        await calls.stream_chat(USER)
    else:
        await calls.chat(USER)

    assert counter.prompt_llm_token_count == 1234
    assert counter.completion_llm_token_count == 56
    assert counter.total_llm_token_count == 1290


async def test_token_counting_covers_completions(calls: Any, emulator: Emulator):
    counter = TokenCountingHandler()
    calls.llm.callback_manager = CallbackManager([counter])
    emulator.script(text="Done", usage={"prompt_tokens": 300, "completion_tokens": 2})
    emulator.script(text="Done", usage={"prompt_tokens": 300, "completion_tokens": 2})

    await calls.complete("a")
    await calls.stream_complete("b")

    assert counter.prompt_llm_token_count == 600
    assert counter.completion_llm_token_count == 4


async def test_every_endpoint_emits_start_progress_and_end_events(
    calls: Any, emulator: Emulator, recorder: _Recorder
):
    emulator.script(chunks=["a", "b"])

    await calls.chat(USER)
    await calls.stream_chat(USER)

    kinds = [
        type(e)
        for e in recorder.events
        if isinstance(e, (LLMChatStartEvent, LLMChatInProgressEvent, LLMChatEndEvent))
    ]
    assert kinds[:2] == [LLMChatStartEvent, LLMChatEndEvent]
    assert kinds[2] is LLMChatStartEvent
    assert kinds[-1] is LLMChatEndEvent
    assert LLMChatInProgressEvent in kinds[3:-1]
    end = [e for e in recorder.events if isinstance(e, LLMChatEndEvent)][-1]
    assert end.response.raw["usage"]["total_tokens"] > 0


def test_predict_uses_chat_because_this_is_a_chat_model(llm: CloudflareMistral, emulator: Emulator):
    from llama_index.core.prompts import PromptTemplate

    assert isinstance(llm, LLM)
    assert llm.predict(PromptTemplate("Say {word}"), word="yes") == "You said: Say yes"
    assert emulator.last_request.body["messages"] == [{"role": "user", "content": "Say yes"}]


# -- images ----------------------------------------------------------------------------------


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.send_header("content-length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def image_url() -> Iterator[str]:
    with serving(_ImageHandler) as url:
        yield f"{url}/cat.png"


@pytest.mark.parametrize("source", ["bytes", "path", "data_url"])
async def test_image_blocks_become_data_urls(
    calls: Any, emulator: Emulator, tmp_path: Any, source: str
):
    if source == "bytes":
        block = ImageBlock(image=PNG)
    elif source == "path":
        (tmp_path / "cat.png").write_bytes(PNG)
        block = ImageBlock(path=tmp_path / "cat.png")
    else:
        block = ImageBlock(url=PNG_DATA_URL)
    message = ChatMessage(role="user", blocks=[TextBlock(text="What is this?"), block])

    response = await calls.chat([message])

    assert response.message.content == "You said: What is this? [1 image(s) received]"
    assert emulator.last_request.body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
    ]


async def test_a_web_image_url_is_refused_with_the_fix(calls: Any, emulator: Emulator):
    message = ChatMessage(role="user", blocks=[ImageBlock(url="https://example.com/cat.png")])

    with pytest.raises(InvalidRequestError, match="inline_remote_images=True"):
        await calls.chat([message])
    assert emulator.requests == []


async def test_a_web_image_is_inlined_when_opted_in(
    make_calls: Any, emulator: Emulator, image_url: str
):
    calls = make_calls(inline_remote_images=True, private_image_hosts=["127.0.0.1"])
    message = ChatMessage(role="user", blocks=[TextBlock(text="see"), ImageBlock(url=image_url)])

    await calls.chat([message])

    part = emulator.last_request.body["messages"][0]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": PNG_DATA_URL}}


def test_content_the_model_cannot_read_is_refused_by_name(llm: CloudflareMistral):
    message = ChatMessage(role="user", blocks=[AudioBlock(audio=b"RIFF0000WAVE")])

    with pytest.raises(ValueError, match=r"messages\[0\] holds a 'audio' block"):
        llm.chat([message])


def test_an_image_in_an_assistant_message_is_refused(llm: CloudflareMistral):
    message = ChatMessage(role="assistant", blocks=[ImageBlock(image=PNG)])

    with pytest.raises(ValueError, match="only in user and system messages"):
        llm.chat([*USER, message])


# -- transport options reach the core ---------------------------------------------------------


async def test_a_capacity_error_is_retried_by_the_core(make_calls: Any, emulator: Emulator):
    from cf_mistral.emulator import Fault, FaultKind

    calls = make_calls(max_retries=1)
    emulator.fault(Fault(kind=FaultKind.capacity, retry_after=0))

    response = await calls.chat(USER)

    assert response.message.content == "You said: Hello there"
    assert [r.status for r in emulator.requests] == [429, 200]


async def test_ai_gateway_routes_through_the_gateway_url(make_calls: Any, emulator: Emulator):
    from cf_mistral import AIGateway

    gateway = AIGateway(gateway_id="my-gateway", base_url=emulator.gateway_url, cache_ttl=3600)
    calls = make_calls(gateway=gateway)

    await calls.chat(USER)

    request = emulator.last_request
    assert request.route == "gateway"
    assert request.gateway == "my-gateway"
    assert request.headers["cf-aig-cache-ttl"] == "3600"


def test_an_injected_http_client_of_the_wrong_kind_fails_at_construction() -> None:
    import httpx

    from llama_index_cf_mistral import CloudflareMistral

    with pytest.raises(ValueError, match=r"needs an httpx\.AsyncClient"):
        CloudflareMistral(account_id="a", api_token="t", async_http_client=httpx.Client())


def test_max_connections_reaches_the_core_client():
    llm = CloudflareMistral(account_id="a", api_token="t", max_connections=7)
    assert llm._config.max_connections == 7
    with pytest.raises(ValueError, match="max_connections"):
        CloudflareMistral(account_id="a", api_token="t", max_connections=0)


def test_api_key_is_accepted_as_llama_index_names_it():
    llm = CloudflareMistral(account_id="a", api_key="secret-key")
    assert llm.api_token is not None
    assert llm.api_token.get_secret_value() == "secret-key"
    assert "secret-key" not in llm.to_json()
