"""Structured output: native guided_json in DEFAULT mode, LlamaIndex's programs otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMStructuredPredictEndEvent,
    LLMStructuredPredictInProgressEvent,
    LLMStructuredPredictStartEvent,
)
from llama_index.core.program.utils import num_valid_fields
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import PydanticProgramMode
from pydantic import BaseModel, Field

from cf_mistral.emulator import Emulator

PROMPT = PromptTemplate("Describe the city {city}.")


class City(BaseModel):
    """A city."""

    name: str = Field(description="The city's name")
    country: str = Field(description="Its country")
    population: int = Field(description="Inhabitants")


async def test_structured_predict_decodes_under_the_class_schema(calls: Any, emulator: Emulator):
    city = await calls.structured_predict(City, PROMPT, city="Paris")

    assert isinstance(city, City)
    body = emulator.last_request.body
    assert body["guided_json"] == City.model_json_schema()
    assert "tools" not in body
    assert body["messages"] == [{"role": "user", "content": "Describe the city Paris."}]


async def test_structured_predict_drops_tool_arguments_from_llm_kwargs(
    calls: Any, emulator: Emulator
):
    await calls.structured_predict(
        City, PROMPT, llm_kwargs={"tool_choice": "required", "temperature": 0.1}, city="Oslo"
    )

    body = emulator.last_request.body
    assert body["temperature"] == 0.1
    assert "guided_json" in body
    assert "tools" not in body


async def test_stream_structured_predict_yields_growing_partial_objects(
    calls: Any, emulator: Emulator
):
    emulator.script(
        chunks=['{"name": "Pa', 'ris", "coun', 'try": "France", ', '"population": 2100000}']
    )

    objects = await calls.stream_structured_predict(City, PROMPT, city="Paris")

    assert objects[-1] == City(name="Paris", country="France", population=2100000)
    counts = [num_valid_fields(o) for o in objects]
    assert counts == sorted(counts)
    assert len(objects) > 1
    body = emulator.last_request.body
    assert body["stream"] is True
    assert body["guided_json"] == City.model_json_schema()


class _StructuredEvents(BaseEventHandler):
    seen: list[BaseEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "StructuredEventRecorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        structured = (
            LLMStructuredPredictStartEvent,
            LLMStructuredPredictInProgressEvent,
            LLMStructuredPredictEndEvent,
        )
        if isinstance(event, structured):
            self.seen.append(event)


async def test_stream_structured_predict_sends_llama_indexs_events(calls: Any, emulator: Emulator):
    emulator.script(chunks=['{"name": "Rome", ', '"country": "Italy", ', '"population": 2800000}'])
    handler = _StructuredEvents(seen=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        objects = await calls.stream_structured_predict(City, PROMPT, city="Rome")
    finally:
        dispatcher.event_handlers.remove(handler)

    kinds = [type(event) for event in handler.seen]
    assert kinds[0] is LLMStructuredPredictStartEvent
    assert kinds[1:-1] == [LLMStructuredPredictInProgressEvent] * len(objects)
    assert kinds[-1] is LLMStructuredPredictEndEvent
    assert (
        handler.seen[-1].output
        == objects[-1]
        == City(name="Rome", country="Italy", population=2800000)
    )


async def test_a_reply_that_is_not_the_class_names_the_problem(calls: Any, emulator: Emulator):
    emulator.script(json={"name": "Paris"})

    with pytest.raises(ValueError, match=r"not a valid City.*country"):
        await calls.structured_predict(City, PROMPT, city="Paris")


async def test_a_truncated_structured_reply_says_to_raise_max_tokens(
    make_calls: Any, emulator: Emulator
):
    calls = make_calls(max_tokens=3)

    with pytest.raises(ValueError, match="raise max_tokens"):
        await calls.structured_predict(City, PROMPT, city="Paris")


async def test_a_stream_that_ends_incomplete_raises_instead_of_yielding_a_partial(
    calls: Any, emulator: Emulator
):
    emulator.script(chunks=['{"name": "Paris"}'])

    with pytest.raises(ValueError, match="not a valid City"):
        await calls.stream_structured_predict(City, PROMPT, city="Paris")


async def test_function_mode_falls_back_to_a_forced_tool_call(make_calls: Any, emulator: Emulator):
    calls = make_calls(pydantic_program_mode=PydanticProgramMode.FUNCTION)

    city = await calls.structured_predict(City, PROMPT, city="Paris")

    assert isinstance(city, City)
    body = emulator.last_request.body
    # FunctionCallingProgram asks for tool_required: the core forces it with guided_json.
    assert set(body["guided_json"]["required"]) == {"name", "country", "population"}
    assert set(body["guided_json"]["properties"]) == {"name", "country", "population"}
    assert "tools" not in body


async def test_function_mode_streams_through_tool_calls(make_calls: Any, emulator: Emulator):
    calls = make_calls(pydantic_program_mode=PydanticProgramMode.FUNCTION)
    emulator.script(
        tool_calls=[
            {"name": "City", "arguments": {"name": "Rome", "country": "Italy", "population": 1}}
        ]
    )

    objects = await calls.stream_structured_predict(City, PROMPT, city="Rome")

    assert objects[-1] == City(name="Rome", country="Italy", population=1)
    assert emulator.last_request.body["tools"][0]["function"]["name"] == "City"


async def test_llm_mode_parses_the_text_reply(make_calls: Any, emulator: Emulator):
    calls = make_calls(pydantic_program_mode=PydanticProgramMode.LLM)
    emulator.script(text='{"name": "Lima", "country": "Peru", "population": 10}')

    city = await calls.structured_predict(City, PROMPT, city="Lima")

    assert city == City(name="Lima", country="Peru", population=10)
    body = emulator.last_request.body
    assert "guided_json" not in body
    assert "tools" not in body


# LlamaIndex's StructuredLLM.stream_chat calls the deprecated BaseModel.json().
@pytest.mark.filterwarnings("ignore::pydantic.PydanticDeprecatedSince20")
async def test_as_structured_llm_chats_in_the_output_class(calls: Any, emulator: Emulator):
    structured = calls.llm.as_structured_llm(City)
    messages = [ChatMessage(role="user", content="Tell me about Paris")]

    response = structured.chat(messages) if calls.sync else await structured.achat(messages)
    chunks = (
        list(structured.stream_chat(messages))
        if calls.sync
        else [c async for c in await structured.astream_chat(messages)]
    )

    assert isinstance(response.raw, City)
    assert City.model_validate_json(response.message.content) == response.raw
    assert isinstance(chunks[-1].raw, City)
    assert all("guided_json" in r.body for r in emulator.requests)
