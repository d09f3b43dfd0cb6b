"""The eight endpoints, sync and async, streaming and not, with the wire body asserted."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole, TextBlock

from cf_mistral import DEFAULT_MAX_TOKENS, InvalidParameterError, TextDelta
from cf_mistral.emulator import Emulator
from llama_index_cf_mistral._stream import ChatStream

USER = [ChatMessage(role="user", content="Hello there")]


async def test_chat_sends_the_messages_and_returns_the_reply(calls: Any, emulator: Emulator):
    response = await calls.chat(
        [ChatMessage(role="system", content="Be brief."), *USER], temperature=0.3
    )

    assert response.message.role == MessageRole.ASSISTANT
    assert response.message.content == "You said: Hello there [system: Be brief.]"
    assert emulator.last_request.body == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"},
        ],
        "max_tokens": DEFAULT_MAX_TOKENS,
        "temperature": 0.3,
    }


async def test_stream_chat_carries_the_cumulative_message_and_only_new_text_in_delta(
    calls: Any, emulator: Emulator
):
    emulator.script(chunks=["Hel", "lo", " wor", "ld"])

    chunks = await calls.stream_chat(USER)

    assert "".join(chunk.delta for chunk in chunks) == "Hello world"
    assert [c.message.content for c in chunks[:4]] == ["Hel", "Hello", "Hello wor", "Hello world"]
    # One text block, never one per chunk (the MistralAI integration's duplication bug).
    assert all(len([b for b in c.message.blocks if isinstance(b, TextBlock)]) == 1 for c in chunks)
    assert chunks[-1].message.content == "Hello world"
    assert emulator.last_request.body["stream"] is True


async def test_the_last_stream_chunk_carries_the_usage(calls: Any, emulator: Emulator):
    emulator.script(text="Two words", usage={"prompt_tokens": 11, "completion_tokens": 2})

    chunks = await calls.stream_chat(USER)

    usage = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}
    assert chunks[-1].raw["usage"] == usage
    assert chunks[-1].additional_kwargs == usage
    assert all(chunk.raw is None for chunk in chunks[:-1])


async def test_chat_reports_usage_in_raw_and_additional_kwargs(calls: Any, emulator: Emulator):
    emulator.script(text="Hi", usage={"prompt_tokens": 7, "completion_tokens": 1})

    response = await calls.chat(USER)

    usage = {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}
    assert response.raw["usage"] == usage
    assert response.additional_kwargs == usage
    assert response.raw["finish_reason"] == "stop"
    assert response.raw["request_id"]


async def test_complete_sends_one_user_message(calls: Any, emulator: Emulator):
    response = await calls.complete("Tell me a joke")

    assert response.text == "You said: Tell me a joke"
    assert response.raw["usage"]["total_tokens"] > 0
    assert emulator.last_request.body == {
        "messages": [{"role": "user", "content": "Tell me a joke"}],
        "max_tokens": DEFAULT_MAX_TOKENS,
    }


async def test_complete_formatted_sends_the_raw_prompt_form(calls: Any, emulator: Emulator):
    prompt = "<s>[INST]Say hi[/INST]"

    response = await calls.complete(prompt, formatted=True)

    assert response.text == f"You said: {prompt}"
    assert emulator.last_request.body == {
        "prompt": prompt,
        "raw": True,
        "max_tokens": DEFAULT_MAX_TOKENS,
    }


async def test_stream_complete_text_is_cumulative_and_delta_new(calls: Any, emulator: Emulator):
    emulator.script(chunks=["a", "b", "c"], usage={"prompt_tokens": 1, "completion_tokens": 3})

    chunks = await calls.stream_complete("letters")

    assert [c.delta for c in chunks] == ["a", "b", "c", ""]
    assert [c.text for c in chunks] == ["a", "ab", "abc", "abc"]
    assert chunks[-1].raw["usage"]["completion_tokens"] == 3
    assert emulator.last_request.body["messages"] == [{"role": "user", "content": "letters"}]
    assert emulator.last_request.body["stream"] is True


async def test_constructor_parameters_reach_the_wire(make_calls: Any, emulator: Emulator):
    calls = make_calls(
        temperature=0.5,
        max_tokens=100,
        top_p=0.9,
        top_k=40,
        seed=7,
        repetition_penalty=1.1,
        frequency_penalty=0.2,
        presence_penalty=0.3,
        additional_kwargs={"seed": 8},
    )

    await calls.chat(USER)

    body = emulator.last_request.body
    assert {key: body[key] for key in body if key != "messages"} == {
        "temperature": 0.5,
        "max_tokens": 100,
        "top_p": 0.9,
        "top_k": 40,
        "seed": 8,  # additional_kwargs wins over the field
        "repetition_penalty": 1.1,
        "frequency_penalty": 0.2,
        "presence_penalty": 0.3,
    }


async def test_per_call_parameters_override_the_constructor(make_calls: Any, emulator: Emulator):
    calls = make_calls(temperature=0.5)

    await calls.chat(USER, temperature=0.0, max_tokens=5)

    assert emulator.last_request.body["temperature"] == 0.0
    assert emulator.last_request.body["max_tokens"] == 5


async def test_an_unknown_keyword_argument_is_refused_by_name(calls: Any, emulator: Emulator):
    with pytest.raises(TypeError, match=r"\['temprature'\].*temperature"):
        await calls.chat(USER, temprature=0.2)
    assert emulator.requests == []


async def test_an_out_of_range_call_parameter_is_refused_before_sending(
    calls: Any, emulator: Emulator
):
    with pytest.raises(InvalidParameterError, match="temperature"):
        await calls.chat(USER, temperature=9)
    assert emulator.requests == []


async def test_stop_sequences_end_the_reply(calls: Any, emulator: Emulator):
    emulator.script(chunks=["one ", "two ", "STOP", " three"])

    response = await calls.chat(USER, stop=["STOP"])

    assert response.message.content == "one two "
    assert "stop" not in emulator.last_request.body


async def test_a_server_error_surfaces_as_the_core_error(calls: Any, emulator: Emulator):
    from cf_mistral import BadRequestError
    from cf_mistral.emulator import Fault, FaultKind

    emulator.fault(Fault(kind=FaultKind.bad_request))

    with pytest.raises(BadRequestError):
        await calls.chat(USER)


@settings(max_examples=50, deadline=None)
@given(
    pieces=st.lists(st.text(min_size=1), min_size=1, max_size=5),
    snapshots=st.booleans(),
)
def test_stream_chunks_equal_what_llama_index_validation_builds(pieces: list[str], snapshots: bool):
    # Expected: built by LlamaIndex's own constructors, field for field.
    stream, text = ChatStream(), ""
    for piece in pieces:
        text += piece
        chunk = stream.feed(TextDelta(piece, text if snapshots else None))
        validated = ChatMessage(
            role=MessageRole.ASSISTANT, blocks=[TextBlock(text=text)], additional_kwargs={}
        )
        expected = ChatResponse(message=validated, delta=piece)
        assert chunk is not None
        assert chunk == expected
        assert chunk.message.model_fields_set == expected.message.model_fields_set
        assert chunk.message.blocks == expected.message.blocks
        assert pickle.loads(pickle.dumps(chunk)) == expected


def test_stream_chunks_share_no_mutable_state():
    stream = ChatStream()
    first, second = stream.feed(TextDelta("a")), stream.feed(TextDelta("b"))
    assert first is not None
    assert second is not None
    first.message.additional_kwargs["k"] = 1
    first.additional_kwargs["k"] = 1
    assert second.message.additional_kwargs == {}
    assert second.additional_kwargs == {}
    assert first.message.blocks is not second.message.blocks
