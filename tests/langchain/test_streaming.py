"""Streams and streamed invokes hold the reply as text, and show what langchain-core's show.

Every scenario runs twice against the emulator, once through ``ChatCloudflareMistral`` and once
through the same model with langchain-core's own ``stream``/``astream`` and ``_should_stream``
(so that its ``_generate_with_cache`` streams invokes itself), and compares everything a caller
or a callback sees: the chunks or the reply, every callback event with its arguments,
``astream_events``, LangGraph's messages stream, the runs a tracer records, the errors. Run ids
(and the message ids built from them) and tool-call ids are the only values that differ, and
are masked.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import re
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, LLMResult
from langchain_core.outputs.chat_generation import merge_chat_generation_chunks
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.runnables import RunnableConfig
from langchain_core.tracers.run_collector import RunCollectorCallbackHandler
from pydantic import BaseModel, Field

import cf_mistral as cf
from cf_mistral.emulator import Emulator, Fault, FaultKind
from langchain_cf_mistral import ChatCloudflareMistral, _chat_model, _streaming
from langchain_cf_mistral._streaming import RunningMerge

T = TypeVar("T")
TIMEOUT = {"stream_idle": 5, "read": 10}
CALL_ID = re.compile(r"'[A-Za-z0-9]{9}'")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# The methods through which ChatCloudflareMistral streams its own way: stream / astream, and
# _should_stream, which hands langchain-core's streamed invokes to _generate / _agenerate.
STREAMING_METHODS = ("stream", "astream", "_should_stream")


@contextlib.contextmanager
def streaming_by(way: str) -> Iterator[None]:
    """``ChatCloudflareMistral`` streaming its own way (``ours``) or langchain-core's."""
    if way == "ours":
        yield
        return
    ours = {name: vars(ChatCloudflareMistral)[name] for name in STREAMING_METHODS}
    for name in STREAMING_METHODS:
        setattr(ChatCloudflareMistral, name, getattr(BaseChatModel, name))
    try:
        yield
    finally:
        for name, method in ours.items():
            setattr(ChatCloudflareMistral, name, method)


WAYS = ("ours", "langchain-core's")


async def each_way(
    connection: dict[str, Any], run: Callable[[ChatCloudflareMistral], Awaitable[T]]
) -> list[T]:
    """``run`` on a fresh model streaming our way, then langchain-core's."""
    results = []
    for way in WAYS:
        model = ChatCloudflareMistral(**connection, max_retries=0, timeout=TIMEOUT)
        try:
            with streaming_by(way):
                results.append(await run(model))
        finally:
            await model.aclose()
    return results


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
        self.events.append(("start", (serialized, messages, kwargs)))

    def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        self.events.append(("token", (token, kwargs)))

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.events.append(("end", (response, kwargs)))

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.events.append(("error", (type(error), str(error), kwargs)))


class RecordingLimiter(InMemoryRateLimiter):
    """A rate limiter that adds its waits to the running ``Recorder``'s events."""

    def __init__(self) -> None:
        super().__init__(requests_per_second=1000)
        self.events: list[tuple[str, Any]] = []

    def acquire(self, *, blocking: bool = True) -> bool:
        self.events.append(("rate limiter", blocking))
        return super().acquire(blocking=blocking)

    async def aacquire(self, *, blocking: bool = True) -> bool:
        self.events.append(("rate limiter", blocking))
        return await super().aacquire(blocking=blocking)


def masked(value: Any) -> str:
    """``value``'s repr, its run ids (and message ids built from them) and tool-call ids masked.

    The emulator gives each call new tool-call ids, Mistral's nine characters.
    """
    return CALL_ID.sub("'<call-id>'", UUID_TEXT.sub("<uuid>", repr(value)))


Scenario = Callable[[Emulator], None]


def text_reply(emulator: Emulator) -> None:
    emulator.script(text="Paris is the capital of France, on the Seine.", repeat=2)


def tool_reply(emulator: Emulator) -> None:
    emulator.script(tool_calls=[{"name": "GetWeather", "arguments": {"city": "Zürich"}}], repeat=2)


def truncated_reply(emulator: Emulator) -> None:
    for _ in range(2):
        emulator.script(text="one two three four five six seven")
        emulator.fault(Fault(FaultKind.truncated_stream, after_events=3))


async def consume(
    model: ChatCloudflareMistral, mode: str, value: Any, stop_after: int | None, **kwargs: Any
) -> tuple[list[str], str | None]:
    """The chunks a caller sees (masked), and the error it got, if any."""
    seen: list[str] = []
    try:
        if mode == "stream":
            chunks: Iterator[AIMessageChunk] = model.stream(value, **kwargs)
            for chunk in chunks:
                seen.append(masked(chunk))
                if stop_after is not None and len(seen) == stop_after:
                    chunks.close()  # type: ignore[attr-defined]
                    break
        else:
            achunks: AsyncIterator[AIMessageChunk] = model.astream(value, **kwargs)
            async for chunk in achunks:
                seen.append(masked(chunk))
                if stop_after is not None and len(seen) == stop_after:
                    await achunks.aclose()  # type: ignore[attr-defined]
                    break
    except Exception as error:  # compared, not hidden: both sides must fail alike
        return seen, f"{type(error).__name__}: {error}"
    return seen, None


async def both_ways(
    emulator: Emulator,
    connection: dict[str, Any],
    mode: str,
    *,
    options: dict[str, Any] | None = None,
    config: RunnableConfig | None = None,
    stop_after: int | None = None,
    bind: Callable[[ChatCloudflareMistral], Any] | None = None,
    **kwargs: Any,
) -> list[tuple[list[str], str | None, list[str]]]:
    """The same call through ours and langchain-core's stream: what each caller/callback saw."""
    seen = []
    for way in WAYS:
        recorder = Recorder()
        model = ChatCloudflareMistral(
            **connection,
            max_retries=0,
            timeout=TIMEOUT,
            callbacks=[recorder],
            tags=["model-tag"],
            metadata={"model-meta": 2},
            **(options or {}),
        )
        if isinstance(model.rate_limiter, RecordingLimiter):
            model.rate_limiter.events = recorder.events  # its waits, in order with callbacks
        runnable = bind(model) if bind is not None else model
        try:
            with streaming_by(way):
                chunks, error = await consume(
                    runnable, mode, "Where is Paris?", stop_after, config=config, **kwargs
                )
        finally:
            await model.aclose()
        seen.append((chunks, error, [masked(event) for event in recorder.events]))
    return seen


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize(
    ("scenario", "stop_after", "options"),
    [
        pytest.param(text_reply, None, {}, id="text"),
        pytest.param(text_reply, None, {"stop": ["Seine"]}, id="stop-sequence"),
        pytest.param(text_reply, 3, {}, id="caller-stops-early"),
        pytest.param(tool_reply, None, {}, id="tool-call"),
        pytest.param(truncated_reply, None, {}, id="interrupted"),
        pytest.param(text_reply, None, {"disable_streaming": True}, id="streaming-disabled"),
        pytest.param(text_reply, None, {"output_version": "v1"}, id="content-blocks"),
        pytest.param(text_reply, 3, {"output_version": "v1"}, id="content-blocks-stopped-early"),
        pytest.param(text_reply, None, {"rate_limiter": RecordingLimiter()}, id="rate-limited"),
    ],
)
async def test_stream_shows_callers_and_callbacks_what_langchain_core_shows(
    mode: str,
    scenario: Scenario,
    stop_after: int | None,
    options: dict[str, Any],
    emulator: Emulator,
    connection: dict[str, Any],
) -> None:
    scenario(emulator)
    config: RunnableConfig = {"tags": ["t"], "metadata": {"m": 1}, "run_name": "named"}
    bind = None
    if scenario is tool_reply:

        def bind(model: ChatCloudflareMistral) -> Any:
            return model.bind_tools([GetWeather])

    ours, theirs = await both_ways(
        emulator,
        connection,
        mode,
        options=options,
        config=config,
        stop_after=stop_after,
        bind=bind,
    )
    assert ours == theirs
    chunks, error, events = ours
    assert chunks
    assert events[0].startswith("('start'")
    if "rate_limiter" in options:
        assert events[1] == "('rate limiter', True)"
    if scenario is truncated_reply:
        assert error is not None
        assert "StreamInterruptedError" in error
        assert events[-1].startswith("('error'")
    elif stop_after is not None:
        assert events[-1].startswith("('error', (<class 'GeneratorExit'>")
    else:
        assert error is None
        assert events[-1].startswith("('end'")


class OtherChunks(ChatCloudflareMistral):
    """Streams ``PIECES`` as bare chunks, with no closing one, as other integrations do."""

    PIECES: ClassVar[list[str]] = []

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in self.PIECES:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream():
            yield chunk


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("pieces", [["a", "b"], []], ids=["closing-chunk-added", "no-chunks"])
async def test_other_chunk_sources_are_closed_and_refused_as_langchain_core_does(
    mode: str, pieces: list[str], connection: dict[str, Any]
) -> None:
    OtherChunks.PIECES = pieces
    seen = []
    for way in WAYS:
        recorder = Recorder()
        model = OtherChunks(**connection, callbacks=[recorder])
        with streaming_by(way):
            chunks, error = await consume(model, mode, "Hi", None)
        seen.append((chunks, error, [masked(event) for event in recorder.events]))
    assert seen[0] == seen[1]
    chunks, error, events = seen[0]
    if pieces:
        assert "chunk_position='last'" in chunks[-1]
        assert error is None
    else:
        assert error == "ValueError: No generation chunks were returned"
        assert events[-1].startswith("('error'")


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_structured_output_streams_as_langchain_core_streams_it(
    mode: str, emulator: Emulator, connection: dict[str, Any]
) -> None:
    # A bound schema adds the tracing-only ``ls_structured_output_format`` argument, which the
    # stream must take off before calling the model.
    emulator.script(json={"city": "Paris"}, repeat=2)
    ours, theirs = await both_ways(
        emulator,
        connection,
        mode,
        bind=lambda model: model.with_structured_output(GetWeather, method="json_schema"),
    )
    assert ours == theirs
    assert ours[1] is None
    assert "Paris" in ours[0][-1]


@pytest.mark.filterwarnings("ignore:astream_events version='v1' is deprecated")
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_astream_events_are_langchain_cores(
    version: str, emulator: Emulator, connection: dict[str, Any]
) -> None:
    text_reply(emulator)

    async def events(model: ChatCloudflareMistral) -> list[str]:
        stream = model.astream_events("Hi", version=version)  # type: ignore[call-overload]
        return [masked(event) async for event in stream]

    ours, theirs = await each_way(connection, events)
    assert ours == theirs
    assert any("on_chat_model_stream" in event for event in ours)


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_tracer_records_the_runs_langchain_core_would(
    mode: str, emulator: Emulator, connection: dict[str, Any]
) -> None:
    text_reply(emulator)

    async def traced(model: ChatCloudflareMistral) -> str:
        collector = RunCollectorCallbackHandler()
        await consume(model, mode, "Hi", None, config={"callbacks": [collector]})
        (run,) = collector.traced_runs
        return masked(
            (
                run.name,
                run.run_type,
                run.inputs,
                run.outputs,
                run.error,
                run.tags,
                run.extra,
                [(event["name"], event.get("kwargs")) for event in run.events],
            )
        )

    ours, theirs = await each_way(connection, traced)
    assert ours == theirs


LONG_REPLY = [f" w{i}" for i in range(20_000)]


async def held_over_core(
    emulator: Emulator,
    core_client: cf.WorkersAIClient,
    reply: Callable[[str], Awaitable[str]],
) -> dict[str, float]:
    """Peak traced memory of ``reply(way)`` for ``LONG_REPLY``, over the core client's, x its size.

    The core client streaming the same reply in this process is the baseline: the emulator
    serving it runs in this process too, and costs the same each time.
    """

    async def core() -> str:
        text = ""
        for event in core_client.stream(cf.ChatRequest(messages=[cf.UserMessage("Hi")])):
            if type(event) is cf.TextDelta:
                text += event.text  # grown in place: the caller holds 1x
        return text

    emulator.script(text="warm up", repeat=2)  # clients and pools made before measuring
    await core()
    await reply("ours")
    held = {}
    for name in ("core", *WAYS):
        emulator.script(chunks=LONG_REPLY)
        gc.collect()
        tracemalloc.start()
        try:
            text = await (core() if name == "core" else reply(name))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert text == "".join(LONG_REPLY)
        held[name] = peak / len(text.encode())
    return {way: held[way] - held["core"] for way in WAYS}


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_long_stream_holds_its_text_not_its_chunks(
    mode: str, emulator: Emulator, connection: dict[str, Any], core_client: cf.WorkersAIClient
) -> None:
    model = ChatCloudflareMistral(**connection, max_retries=0, timeout=TIMEOUT)

    async def reply(way: str) -> str:
        text = ""
        with streaming_by(way):
            if mode == "stream":
                for chunk in model.stream("Hi"):
                    text += str(chunk.content)
            else:
                async for chunk in model.astream("Hi"):
                    text += str(chunk.content)
        return text

    over_core = await held_over_core(emulator, core_client, reply)
    await model.aclose()
    assert over_core["ours"] < 3, over_core
    assert over_core["langchain-core's"] > 50, over_core


# -- RunningMerge equals langchain-core's merge, chunk for chunk ----------------------------

_IDS = st.sampled_from([None, "", "lc_run--1", "lc_run--2", "lc_abc", "provider-id"])
_TEXT = st.text(max_size=6)


def _message(**fields: Any) -> ChatGenerationChunk:
    return ChatGenerationChunk(message=AIMessageChunk(**fields))


_CHUNKS = st.one_of(
    st.builds(lambda text, id_: _message(content=text, id=id_), _TEXT, _IDS),
    st.builds(lambda text, id_: _message(content=text, id=id_), _TEXT, _IDS),  # text weighs 2x
    st.builds(
        lambda text, index: _message(content=[{"type": "text", "text": text, "index": index}]),
        _TEXT,
        st.integers(0, 1),
    ),
    st.builds(
        lambda name, args, index, id_: _message(
            content="",
            id=id_,
            tool_call_chunks=[{"name": name, "args": args, "id": None, "index": index}],
        ),
        st.sampled_from([None, "GetWeather"]),
        _TEXT,
        st.integers(0, 2),
        _IDS,
    ),
    st.builds(
        lambda n: _message(
            content="",
            usage_metadata={"input_tokens": n, "output_tokens": 1, "total_tokens": n + 1},
        ),
        st.integers(0, 9),
    ),
    st.builds(
        lambda reason, info: ChatGenerationChunk(
            message=AIMessageChunk(content="", response_metadata={"finish_reason": reason}),
            generation_info=info,
        ),
        st.sampled_from(["stop", "length"]),
        st.sampled_from([None, {"model_name": "m"}]),
    ),
    st.builds(lambda text: _message(content=text, chunk_position="last"), _TEXT),
    st.builds(lambda text: _message(content=text, name="bot"), _TEXT),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_CHUNKS, max_size=12))
def test_running_merge_equals_langchain_cores_merge(chunks: list[ChatGenerationChunk]) -> None:
    # Each merge gets its own copies: before 1.8, langchain-core's merge extends the first
    # chunk's content list in place.
    merge = RunningMerge()
    for chunk in copy.deepcopy(chunks):
        merge.add(chunk)
    expected = merge_chat_generation_chunks(copy.deepcopy(chunks))
    merged = merge.result()
    if expected is None:
        assert merged is None
        return
    assert merged is not None
    assert merged == expected
    assert merged.text == expected.text
    assert type(merged.message) is type(expected.message)
    assert merged.message.tool_calls == expected.message.tool_calls  # type: ignore[attr-defined]


def test_running_merge_joins_long_runs_in_blocks() -> None:
    merge = RunningMerge()
    pieces = [f"{i} " for i in range(5_000)]
    for piece in pieces:
        merge.add(_message(content=piece, id="lc_run--1"))
    usage: dict[str, Any] = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    merge.add(_message(content="", usage_metadata=usage))
    merged = merge.result()
    assert merged is not None
    assert merged.text == "".join(pieces)
    assert isinstance(merged.message, AIMessageChunk)
    assert merged.message.usage_metadata == usage
    assert merge.result() == merged  # asking again changes nothing


async def test_a_langchain_core_without_the_helpers_streams_its_own_way(
    emulator: Emulator, connection: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_streaming, "HELPERS_FOUND", False)

    def no_lean_run(run_id: object) -> None:
        raise AssertionError("the lean stream ran without langchain-core's helpers")

    monkeypatch.setattr(_chat_model, "StreamRun", no_lean_run)
    text_reply(emulator)
    ours, theirs = await both_ways(emulator, connection, "astream")
    assert ours == theirs
    assert ours[2][-1].startswith("('end'")


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_streamed_messages_carry_their_runs_id(
    mode: str, emulator: Emulator, connection: dict[str, Any]
) -> None:
    text_reply(emulator)
    recorder = Recorder()
    model = ChatCloudflareMistral(**connection, callbacks=[recorder], timeout=TIMEOUT)
    if mode == "stream":
        chunks = list(model.stream("Hi"))
    else:
        chunks = [chunk async for chunk in model.astream("Hi")]
    await model.aclose()
    run_id = recorder.events[0][1][2]["run_id"]
    assert {chunk.id for chunk in chunks} == {f"lc_run--{run_id}"}
    (generation,) = recorder.events[-1][1][0].generations[0]
    assert generation.message.id == f"lc_run--{run_id}"


# -- invokes that langchain-core streams: a streaming callback, or streaming=True ------------


class StreamingRecorder(Recorder):
    """A ``Recorder`` that asks for streamed invokes, as LangGraph's messages handler does."""

    def tap_output_iter(self, run_id: Any, output: Iterator[Any]) -> Iterator[Any]:
        return output

    def tap_output_aiter(self, run_id: Any, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return output


async def invoke_both_ways(
    connection: dict[str, Any],
    mode: str,
    *,
    options: dict[str, Any] | None = None,
    bind: Callable[[ChatCloudflareMistral], Any] | None = None,
    recorder_type: type[Recorder] = StreamingRecorder,
) -> list[tuple[str, list[str]]]:
    """One invoke, ours and langchain-core's: the reply (or error) and every callback."""
    seen = []
    for way in WAYS:
        recorder = recorder_type()
        model = ChatCloudflareMistral(
            **connection, max_retries=0, timeout=TIMEOUT, **(options or {})
        )
        runnable = bind(model) if bind is not None else model
        config: RunnableConfig = {"callbacks": [recorder], "tags": ["t"]}
        try:
            with streaming_by(way):
                if mode == "invoke":
                    reply = runnable.invoke("Where is Paris?", config=config)
                else:
                    reply = await runnable.ainvoke("Where is Paris?", config=config)
            outcome = masked(reply)
        except Exception as error:  # compared, not hidden: both sides must fail alike
            outcome = f"{type(error).__name__}: {error}"
        finally:
            await model.aclose()
        seen.append((outcome, [masked(event) for event in recorder.events]))
    return seen


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
@pytest.mark.parametrize(
    ("scenario", "options", "recorder_type"),
    [
        pytest.param(text_reply, {}, StreamingRecorder, id="streaming-callback"),
        pytest.param(text_reply, {"streaming": True}, Recorder, id="streaming-field"),
        pytest.param(text_reply, {"stop": ["Seine"]}, StreamingRecorder, id="stop-sequence"),
        pytest.param(tool_reply, {}, StreamingRecorder, id="tool-call"),
        pytest.param(truncated_reply, {}, StreamingRecorder, id="interrupted"),
        pytest.param(text_reply, {}, Recorder, id="not-streamed"),
        pytest.param(text_reply, {"output_version": "v1"}, StreamingRecorder, id="content-blocks"),
    ],
)
async def test_streamed_invokes_show_what_langchain_cores_show(
    mode: str,
    scenario: Scenario,
    options: dict[str, Any],
    recorder_type: type[Recorder],
    emulator: Emulator,
    connection: dict[str, Any],
) -> None:
    scenario(emulator)
    bind = None
    if scenario is tool_reply:

        def bind(model: ChatCloudflareMistral) -> Any:
            return model.bind_tools([GetWeather])

    ours, theirs = await invoke_both_ways(
        connection, mode, options=options, bind=bind, recorder_type=recorder_type
    )
    assert ours == theirs
    outcome, events = ours
    tokens = [event for event in events if event.startswith("('token'")]
    if recorder_type is Recorder and "streaming" not in options:
        assert tokens == []
    else:
        assert len(tokens) > 2
    if scenario is truncated_reply:
        assert outcome.startswith("CloudflareStreamInterruptedError")
    else:
        assert outcome.startswith("AIMessage(")


async def test_structured_output_invokes_stream_as_langchain_core_streams_them(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    emulator.script(json={"city": "Paris"}, repeat=2)
    ours, theirs = await invoke_both_ways(
        connection,
        "ainvoke",
        bind=lambda model: model.with_structured_output(GetWeather, method="json_schema"),
    )
    assert ours == theirs
    assert ours[0] == masked(GetWeather(city="Paris"))


@pytest.mark.parametrize("node", ["invoke", "ainvoke"])
async def test_langgraph_messages_mode_streams_what_langchain_core_streams(
    node: str, emulator: Emulator, connection: dict[str, Any]
) -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph

    text_reply(emulator)

    async def streamed(model: ChatCloudflareMistral) -> list[str]:
        async def call_model(state: MessagesState) -> dict[str, Any]:
            if node == "invoke":
                return {"messages": [model.invoke(state["messages"])]}
            return {"messages": [await model.ainvoke(state["messages"])]}

        graph = StateGraph(MessagesState)
        graph.add_node("model", call_model)
        graph.add_edge(START, "model")
        graph.add_edge("model", END)
        app = graph.compile()
        question = {"messages": [("user", "Where is Paris?")]}
        parts = app.astream(question, stream_mode="messages")  # type: ignore[call-overload]
        return [masked(message) async for message, _ in parts]

    ours, theirs = await each_way(connection, streamed)
    assert ours == theirs
    assert len(ours) > 2


async def test_astream_events_over_a_chain_that_invokes_are_langchain_cores(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    from langchain_core.runnables import RunnableLambda

    text_reply(emulator)

    async def events(model: ChatCloudflareMistral) -> list[str]:
        async def ask(question: str) -> Any:
            return await model.ainvoke(question)

        chain = RunnableLambda(ask)
        return [masked(event) async for event in chain.astream_events("Hi", version="v2")]

    ours, theirs = await each_way(connection, events)
    assert ours == theirs
    assert sum("on_chat_model_stream" in event for event in ours) > 2


class StreamingSink(BaseCallbackHandler):
    """Asks for streamed invokes, as LangGraph's messages handler does, and keeps nothing."""

    def tap_output_iter(self, run_id: Any, output: Iterator[Any]) -> Iterator[Any]:
        return output

    def tap_output_aiter(self, run_id: Any, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return output


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_a_long_streamed_invoke_holds_its_text_not_its_chunks(
    mode: str, emulator: Emulator, connection: dict[str, Any], core_client: cf.WorkersAIClient
) -> None:
    model = ChatCloudflareMistral(**connection, max_retries=0, timeout=TIMEOUT)
    config: RunnableConfig = {"callbacks": [StreamingSink()]}

    async def reply(way: str) -> str:
        with streaming_by(way):
            if mode == "invoke":
                return str(model.invoke("Hi", config=config).content)
            return str((await model.ainvoke("Hi", config=config)).content)

    over_core = await held_over_core(emulator, core_client, reply)
    await model.aclose()
    # The reply's message and its merge are a few x; langchain-core's list of chunks ~250x.
    assert over_core["ours"] < 5, over_core
    assert over_core["langchain-core's"] > 50, over_core
    assert over_core["langchain-core's"] > 50, over_core


class OwnGenerate(OtherChunks):
    """Brings its own ``_generate``: langchain-core's path must stream its invokes."""

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a streamed invoke goes through _stream")

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a streamed invoke goes through _astream")


class InvokesNotStreamed(OtherChunks):
    """Declines, through ``_should_stream``, to stream invokes: they go to ``_generate``."""

    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        if run_manager is not None:
            return False
        return super()._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
@pytest.mark.parametrize("model_type", [OwnGenerate, InvokesNotStreamed])
async def test_subclasses_keep_their_say_over_streamed_invokes(
    mode: str,
    model_type: type[ChatCloudflareMistral],
    emulator: Emulator,
    connection: dict[str, Any],
) -> None:
    OtherChunks.PIECES = ["a", "b"]
    emulator.script(text="not streamed", repeat=2)
    seen = []
    for way in WAYS:
        recorder = StreamingRecorder()
        model = model_type(**connection, timeout=TIMEOUT)
        config: RunnableConfig = {"callbacks": [recorder]}
        with streaming_by(way):
            if mode == "invoke":
                reply = model.invoke("Hi", config=config)
            else:
                reply = await model.ainvoke("Hi", config=config)
        await model.aclose()
        seen.append((masked(reply), [masked(event) for event in recorder.events]))
    assert seen[0] == seen[1]
    expected = "ab" if model_type is OwnGenerate else "not streamed"
    assert f"content='{expected}'" in seen[0][0]
