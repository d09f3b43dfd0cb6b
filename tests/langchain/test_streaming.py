"""Streams and streamed invokes, through langchain-core's own ``stream``, ``astream`` and invoke.

``ChatCloudflareMistral`` implements ``_stream`` / ``_astream`` and nothing around them, so
these tests pin what callers and callbacks get from that pair through langchain-core's path:
the chunks (text, the single usage chunk, tool-call pieces, the closing chunk), every callback
in order, stop sequences, errors, rate limiting, ``astream_events``, a tracer's runs, and
LangGraph's messages stream, for ``stream``/``astream`` and for the invokes langchain-core
streams (a streaming callback attached, or ``streaming=True``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import LLMResult
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.runnables import RunnableConfig
from langchain_core.tracers.run_collector import RunCollectorCallbackHandler
from pydantic import BaseModel, Field

from cf_mistral.emulator import Emulator, Fault, FaultKind
from langchain_cf_mistral import ChatCloudflareMistral

TIMEOUT = {"stream_idle": 5, "read": 10}
REPLY = "Paris is the capital of France, on the Seine."


class GetWeather(BaseModel):
    """Get the current weather in a city."""

    city: str = Field(description="The city name")


class Recorder(BaseCallbackHandler):
    """Every callback a chat model run makes, with its arguments, in order."""

    run_inline = True  # the async manager then calls it in order, not in an executor

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.events.append(("start", kwargs))

    def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        self.events.append(("token", (token, kwargs["chunk"])))

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.events.append(("end", response))

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.events.append(("error", error))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def tokens(self) -> list[AIMessageChunk]:
        return [chunk.message for kind, (_, chunk) in self._of("token")]

    def ended_with(self) -> AIMessage:
        """The message ``on_llm_end`` reported."""
        ((_, response),) = [event for event in self.events if event[0] == "end"]
        (generation,) = response.generations[0]
        return generation.message  # type: ignore[no-any-return]

    def _of(self, kind: str) -> list[tuple[str, Any]]:
        return [event for event in self.events if event[0] == kind]


class StreamingRecorder(Recorder):
    """A ``Recorder`` that asks for streamed invokes, as LangGraph's messages handler does."""

    def tap_output_iter(self, run_id: Any, output: Iterator[Any]) -> Iterator[Any]:
        return output

    def tap_output_aiter(self, run_id: Any, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return output


class RecordingLimiter(InMemoryRateLimiter):
    """A rate limiter that adds its waits to a ``Recorder``'s events."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(requests_per_second=1000)
        self.recorder = recorder

    def acquire(self, *, blocking: bool = True) -> bool:
        self.recorder.events.append(("rate limiter", blocking))
        return super().acquire(blocking=blocking)

    async def aacquire(self, *, blocking: bool = True) -> bool:
        self.recorder.events.append(("rate limiter", blocking))
        return await super().aacquire(blocking=blocking)


@pytest.fixture
async def recorded(connection: dict[str, Any]) -> AsyncIterator[Any]:
    """Makes models with a ``Recorder`` attached; closes them afterwards."""
    made: list[ChatCloudflareMistral] = []

    def make(recorder: Recorder, **options: Any) -> ChatCloudflareMistral:
        model = ChatCloudflareMistral(
            **connection, max_retries=0, timeout=TIMEOUT, callbacks=[recorder], **options
        )
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


async def consume(
    runnable: Any, mode: str, value: Any = "Where is Paris?", stop_after: int | None = None
) -> tuple[list[Any], BaseException | None]:
    """The chunks a caller of ``stream``/``astream`` sees, and the error it got, if any."""
    seen: list[Any] = []
    try:
        if mode == "stream":
            chunks = runnable.stream(value)
            for chunk in chunks:
                seen.append(chunk)
                if stop_after is not None and len(seen) == stop_after:
                    chunks.close()
                    break
        else:
            achunks = runnable.astream(value)
            async for chunk in achunks:
                seen.append(chunk)
                if stop_after is not None and len(seen) == stop_after:
                    await achunks.aclose()
                    break
    except Exception as error:
        return seen, error
    return seen, None


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


BROKEN_REPLY = "one two three four five six seven"


def break_the_stream(emulator: Emulator) -> None:
    """The next reply's stream breaks off after three events."""
    emulator.script(text=BROKEN_REPLY)
    emulator.fault(Fault(FaultKind.truncated_stream, after_events=3))


STREAMS = pytest.mark.parametrize("mode", ["stream", "astream"])
INVOKES = pytest.mark.parametrize("mode", ["invoke", "ainvoke"])


def test_the_model_leaves_langchain_cores_entry_points_alone() -> None:
    # Only the documented hooks (_generate, _agenerate, _stream, _astream, ...) are ours.
    entry_points = ("stream", "astream", "_should_stream", "invoke", "ainvoke")
    entry_points += ("generate", "agenerate", "batch", "abatch", "astream_events")
    assert [name for name in entry_points if name in vars(ChatCloudflareMistral)] == []
    hooks = ("_generate", "_agenerate", "_stream", "_astream")
    assert all(name in vars(ChatCloudflareMistral) for name in hooks)


# -- stream / astream ---------------------------------------------------------------------------


@STREAMS
async def test_a_stream_yields_the_text_then_usage_then_a_closing_chunk(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    recorder = Recorder()
    chunks, error = await consume(recorded(recorder), mode)
    assert error is None
    total = merged(chunks)
    assert total.text == REPLY
    assert sum(chunk.usage_metadata is not None for chunk in chunks) == 1
    assert total.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] > 0
    assert chunks[-1].chunk_position == "last"
    assert total.response_metadata["finish_reason"] == "stop"
    assert total.response_metadata["model_provider"] == "cloudflare"
    assert len([chunk for chunk in chunks if chunk.text]) > 2  # streamed, not one piece


@STREAMS
async def test_callbacks_see_the_start_each_chunk_and_the_merged_reply(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    recorder = Recorder()
    chunks, _ = await consume(recorded(recorder), mode)
    kinds = recorder.kinds()
    assert kinds == ["start", *["token"] * len(chunks), "end"]
    assert recorder.tokens() == chunks  # the very chunks the caller got, in order
    ended = recorder.ended_with()
    assert ended.text == REPLY
    assert ended.usage_metadata == merged(chunks).usage_metadata


@STREAMS
async def test_streamed_messages_carry_their_runs_id(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    recorder = Recorder()
    chunks, _ = await consume(recorded(recorder), mode)
    run_id = recorder.events[0][1]["run_id"]
    assert {chunk.id for chunk in chunks} == {f"lc_run--{run_id}"}
    assert recorder.ended_with().id == f"lc_run--{run_id}"


@STREAMS
async def test_a_stop_sequence_ends_the_streamed_text(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    recorder = Recorder()
    chunks, error = await consume(recorded(recorder, stop=["Seine"]), mode)
    assert error is None
    assert merged(chunks).text == REPLY[: REPLY.index("Seine")]
    assert recorder.ended_with().text == REPLY[: REPLY.index("Seine")]
    assert merged(chunks).response_metadata["finish_reason"] == "stop"


@STREAMS
async def test_tool_calls_stream_as_indexed_pieces_that_merge_into_the_call(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(tool_calls=[{"name": "GetWeather", "arguments": {"city": "Zürich"}}])
    recorder = Recorder()
    chunks, error = await consume(recorded(recorder).bind_tools([GetWeather]), mode)
    assert error is None
    assert any(chunk.tool_call_chunks for chunk in chunks)
    total = merged(chunks)
    (call,) = total.tool_calls
    assert call["name"] == "GetWeather"
    assert call["args"] == {"city": "Zürich"}
    assert call["id"] is not None
    assert len(call["id"]) == 9
    assert total.response_metadata["finish_reason"] == "tool_calls"
    assert recorder.ended_with().tool_calls == total.tool_calls


@STREAMS
async def test_a_caller_that_stops_early_ends_the_run_with_an_error_callback(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY, repeat=2)
    recorder = Recorder()
    model = recorded(recorder)
    chunks, error = await consume(model, mode, stop_after=3)
    assert error is None
    assert len(chunks) == 3
    assert recorder.kinds() == ["start", "token", "token", "token", "error"]
    assert isinstance(recorder.events[-1][1], GeneratorExit)
    again, _ = await consume(model, mode)  # the connection is not left half read
    assert merged(again).text == REPLY


@STREAMS
async def test_an_interrupted_stream_raises_after_the_text_it_got(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    break_the_stream(emulator)
    recorder = Recorder()
    chunks, error = await consume(recorded(recorder), mode)
    assert type(error).__name__ == "CloudflareStreamInterruptedError"
    assert chunks
    assert BROKEN_REPLY.startswith(merged(chunks).text)
    assert recorder.kinds()[-1] == "error"
    assert recorder.events[-1][1] is error


@STREAMS
async def test_a_model_told_not_to_stream_yields_the_whole_reply_once(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    recorder = Recorder()
    chunks, error = await consume(recorded(recorder, disable_streaming=True), mode)
    assert error is None
    (chunk,) = chunks
    assert chunk.text == REPLY
    assert emulator.last_request is not None
    assert emulator.last_request.body.get("stream") is not True


@STREAMS
async def test_content_blocks_stream_as_text_blocks(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    recorder = Recorder()
    chunks, error = await consume(recorded(recorder, output_version="v1"), mode)
    assert error is None
    assert any(isinstance(chunk.content, list) and chunk.content for chunk in chunks)
    total = merged(chunks)
    assert "".join(b["text"] for b in total.content_blocks if b["type"] == "text") == REPLY


@STREAMS
async def test_the_rate_limiter_is_waited_on_once_after_the_start(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    recorder = Recorder()
    model = recorded(recorder, rate_limiter=RecordingLimiter(recorder))
    chunks, _ = await consume(model, mode)
    assert recorder.kinds()[:3] == ["start", "rate limiter", "token"]
    assert recorder.kinds().count("rate limiter") == 1
    assert merged(chunks).text == REPLY


@STREAMS
async def test_structured_output_streams_growing_objects(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    # A bound schema adds the tracing-only ``ls_structured_output_format`` argument, which
    # must not reach the model's call.
    emulator.script(json={"city": "Paris"})
    recorder = Recorder()
    runnable = recorded(recorder).with_structured_output(GetWeather, method="json_schema")
    parts, error = await consume(runnable, mode)
    assert error is None
    assert parts[-1] == GetWeather(city="Paris")
    traced = recorder.events[0][1]["options"]["ls_structured_output_format"]
    assert traced["kwargs"]["method"] == "json_schema"


@pytest.mark.filterwarnings("ignore:astream_events version='v1' is deprecated")
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_astream_events_show_the_stream(
    version: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    model = recorded(Recorder())
    stream = model.astream_events("Hi", version=version)
    events = [event async for event in stream]
    names = [event["event"] for event in events]
    assert names[0] == "on_chat_model_start"
    assert names[-1] == "on_chat_model_end"
    streamed = [
        event["data"]["chunk"] for event in events if event["event"] == "on_chat_model_stream"
    ]
    assert len(streamed) > 2
    assert merged(streamed).text == REPLY


@STREAMS
async def test_a_tracer_records_one_llm_run_with_every_token(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    collector = RunCollectorCallbackHandler()
    model = recorded(Recorder())
    config: RunnableConfig = {"callbacks": [collector], "run_name": "named", "tags": ["t"]}
    if mode == "stream":
        chunks = list(model.stream("Hi", config=config))
    else:
        chunks = [chunk async for chunk in model.astream("Hi", config=config)]
    (run,) = collector.traced_runs
    assert (run.name, run.run_type, run.error) == ("named", "llm", None)
    assert "t" in (run.tags or [])
    assert run.outputs is not None
    assert run.outputs["generations"][0][0]["text"] == REPLY
    assert sum(event["name"] == "new_token" for event in run.events) == len(chunks)
    assert run.extra is not None
    assert run.extra["metadata"]["ls_provider"] == "cloudflare"


# -- invokes that langchain-core streams: a streaming callback, or streaming=True --------------


async def invoke(runnable: Any, mode: str, config: RunnableConfig | None = None) -> Any:
    if mode == "invoke":
        return runnable.invoke("Where is Paris?", config=config)
    return await runnable.ainvoke("Where is Paris?", config=config)


@INVOKES
@pytest.mark.parametrize(
    ("options", "recorder_type"),
    [
        pytest.param({}, StreamingRecorder, id="streaming-callback"),
        pytest.param({"streaming": True}, Recorder, id="streaming-field"),
    ],
)
async def test_a_streamed_invoke_hands_out_tokens_and_returns_the_whole_reply(
    mode: str,
    options: dict[str, Any],
    recorder_type: type[Recorder],
    emulator: Emulator,
    recorded: Any,
) -> None:
    emulator.script(text=REPLY)
    recorder = recorder_type()
    reply = await invoke(recorded(recorder, **options), mode)
    assert emulator.last_request is not None
    assert emulator.last_request.body["stream"] is True
    assert isinstance(reply, AIMessage)
    assert reply.text == REPLY
    assert reply.usage_metadata is not None
    assert reply.response_metadata["finish_reason"] == "stop"
    tokens = recorder.tokens()
    assert len(tokens) > 2
    assert merged(tokens).text == REPLY
    assert recorder.kinds()[0] == "start"
    assert recorder.kinds()[-1] == "end"


@INVOKES
async def test_an_invoke_without_a_streaming_callback_is_not_streamed(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    recorder = Recorder()
    reply = await invoke(recorded(recorder), mode)
    assert reply.text == REPLY
    assert emulator.last_request is not None
    assert emulator.last_request.body.get("stream") is not True
    assert recorder.kinds() == ["start", "end"]


@INVOKES
async def test_a_streamed_invoke_keeps_stop_sequences_tool_calls_and_content_blocks(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    emulator.script(text=REPLY)
    stopped = await invoke(recorded(StreamingRecorder(), stop=["Seine"]), mode)
    assert stopped.text == REPLY[: REPLY.index("Seine")]

    emulator.script(tool_calls=[{"name": "GetWeather", "arguments": {"city": "Zürich"}}])
    bound = recorded(StreamingRecorder()).bind_tools([GetWeather])
    called = await invoke(bound, mode)
    assert [(call["name"], call["args"]) for call in called.tool_calls] == [
        ("GetWeather", {"city": "Zürich"})
    ]

    emulator.script(text=REPLY)
    blocks = await invoke(recorded(StreamingRecorder(), output_version="v1"), mode)
    assert [block["type"] for block in blocks.content_blocks] == ["text"]
    assert blocks.text == REPLY


@INVOKES
async def test_an_interrupted_streamed_invoke_raises_and_reports_the_error(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    break_the_stream(emulator)
    recorder = StreamingRecorder()
    with pytest.raises(Exception, match="stream") as raised:
        await invoke(recorded(recorder), mode)
    assert type(raised.value).__name__ == "CloudflareStreamInterruptedError"
    assert recorder.kinds()[-1] == "error"
    assert "token" in recorder.kinds()


async def test_a_streamed_structured_output_invoke_returns_the_object(
    emulator: Emulator, recorded: Any
) -> None:
    emulator.script(json={"city": "Paris"})
    recorder = StreamingRecorder()
    runnable = recorded(recorder).with_structured_output(GetWeather, method="json_schema")
    assert await invoke(runnable, "ainvoke", {"callbacks": [recorder]}) == GetWeather(city="Paris")
    assert len(recorder.tokens()) > 1


@INVOKES
async def test_langgraph_messages_mode_streams_an_invoking_node(
    mode: str, emulator: Emulator, recorded: Any
) -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph

    emulator.script(text=REPLY)
    model = recorded(Recorder())

    async def call_model(state: MessagesState) -> dict[str, Any]:
        if mode == "invoke":
            return {"messages": [model.invoke(state["messages"])]}
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_edge(START, "model")
    graph.add_edge("model", END)
    app = graph.compile()
    question = {"messages": [("user", "Where is Paris?")]}
    parts = app.astream(question, stream_mode="messages")  # type: ignore[call-overload]
    messages = [message async for message, _ in parts]
    assert len(messages) > 2
    assert all(isinstance(message, AIMessageChunk) for message in messages)
    assert merged(messages).text == REPLY


async def test_astream_events_over_a_chain_that_invokes_show_the_stream(
    emulator: Emulator, recorded: Any
) -> None:
    from langchain_core.runnables import RunnableLambda

    emulator.script(text=REPLY)
    model = recorded(Recorder())

    async def ask(question: str) -> Any:
        return await model.ainvoke(question)

    chain = RunnableLambda(ask)
    events = [event async for event in chain.astream_events("Hi", version="v2")]
    streamed = [
        event["data"]["chunk"] for event in events if event["event"] == "on_chat_model_stream"
    ]
    assert len(streamed) > 2
    assert merged(streamed).text == REPLY
    (end,) = [event for event in events if event["event"] == "on_chat_model_end"]
    assert end["data"]["output"].text == REPLY
