"""with_structured_output: three methods, every schema kind, include_raw, parse errors, streams."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pydantic.v1 as pydantic_v1
import pytest
from langchain_core.exceptions import OutputParserException
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from cf_mistral.emulator import Emulator
from langchain_cf_mistral import ChatCloudflareMistral

from .conftest import Runner


class Joke(BaseModel):
    """A joke."""

    setup: str = Field(description="The question")
    punchline: str = Field(description="The answer")


class JokeV1(pydantic_v1.BaseModel):
    """A joke."""

    setup: str
    punchline: str


class JokeDict(TypedDict):
    """A joke."""

    setup: Annotated[str, ..., "The question"]
    punchline: Annotated[str, ..., "The answer"]


JOKE_SCHEMA = {
    "title": "Joke",
    "description": "A joke.",
    "type": "object",
    "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
    "required": ["setup", "punchline"],
}
SCHEMAS: dict[str, Any] = {
    "pydantic": Joke,
    "pydantic_v1": JokeV1,
    "typeddict": JokeDict,
    "json_schema": JOKE_SCHEMA,
}
JOKE = {"setup": "Why did the cat sit on the computer?", "punchline": "To watch the mouse."}


def _check(value: Any, schema: Any) -> None:
    if isinstance(schema, type) and issubclass(schema, (BaseModel, pydantic_v1.BaseModel)):
        assert isinstance(value, schema)
        assert value.setup == JOKE["setup"]
    else:
        assert value == JOKE


@pytest.mark.parametrize("kind", SCHEMAS)
async def test_json_schema_is_guided_json(
    run: Runner, emulator: Emulator, model: ChatCloudflareMistral, kind: str
) -> None:
    emulator.script(json=JOKE)
    schema = SCHEMAS[kind]
    outputs = await run.raw(model.with_structured_output(schema), "Tell me a joke")
    _check(outputs[-1], schema)
    sent = emulator.requests[-1].body
    assert sent["guided_json"]["properties"].keys() == {"setup", "punchline"}
    assert sorted(sent["guided_json"]["required"]) == ["punchline", "setup"]
    assert "tools" not in sent


@pytest.mark.parametrize("kind", SCHEMAS)
async def test_function_calling_forces_the_schema_tool(
    run: Runner, emulator: Emulator, model: ChatCloudflareMistral, kind: str
) -> None:
    emulator.script(json=JOKE)
    schema = SCHEMAS[kind]
    runnable = model.with_structured_output(schema, method="function_calling")
    outputs = await run.raw(runnable, "Tell me a joke")
    _check(outputs[-1], schema)
    sent = emulator.requests[-1].body
    assert "tools" not in sent  # forced: the reply is decoded against the tool's schema
    assert sent["guided_json"]["properties"].keys() == {"setup", "punchline"}


async def test_json_mode_constrains_to_any_object(
    run: Runner, emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    emulator.script(json=JOKE)
    outputs = await run.raw(
        model.with_structured_output(Joke, method="json_mode"), "A joke as JSON"
    )
    _check(outputs[-1], Joke)
    assert emulator.requests[-1].body["guided_json"] == {}


async def test_include_raw_gives_raw_parsed_and_parsing_error(
    emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    emulator.script(json=JOKE)
    good = model.with_structured_output(Joke, include_raw=True).invoke("joke")
    assert good["parsing_error"] is None
    assert isinstance(good["parsed"], Joke)
    assert json.loads(good["raw"].text) == JOKE
    emulator.script(json={"setup": "only half"})
    bad = await model.with_structured_output(Joke, include_raw=True).ainvoke("joke")
    assert bad["parsed"] is None
    assert isinstance(bad["parsing_error"], OutputParserException)
    assert bad["raw"].text == '{"setup": "only half"}'


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])  # streams skip invalid partials
async def test_reply_that_fails_validation_raises_with_the_raw_text(
    mode: str, emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    run = Runner(mode)
    emulator.script(json={"setup": "only half"})
    with pytest.raises(OutputParserException) as caught:
        await run(model.with_structured_output(Joke), "joke")
    assert caught.value.llm_output == '{"setup": "only half"}'


async def test_streaming_yields_growing_partial_objects(
    emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    text = json.dumps(JOKE)
    emulator.script(chunks=[text[i : i + 8] for i in range(0, len(text), 8)])
    emulator.script(chunks=[text[i : i + 8] for i in range(0, len(text), 8)])
    # The stand-in streams scripted chunks as they are; a guided_json reply is JSON text.
    partials = list(model.with_structured_output(JOKE_SCHEMA).stream("joke"))
    assert len(partials) > 2
    assert partials[-1] == JOKE
    assert all(set(p) <= {"setup", "punchline"} for p in partials)
    lengths = [len(json.dumps(p)) for p in partials]
    assert lengths == sorted(lengths)
    joke_partials = [p async for p in model.with_structured_output(Joke).astream("joke")]
    assert all(isinstance(p, Joke) for p in joke_partials)
    assert joke_partials[-1] == Joke(**JOKE)


def test_ls_structured_output_format_is_traced(model: ChatCloudflareMistral) -> None:
    for method in ("json_schema", "function_calling", "json_mode"):
        bound: Any = model.with_structured_output(Joke, method=method).first  # type: ignore[attr-defined]
        traced = bound.kwargs["ls_structured_output_format"]
        assert traced["schema"] is Joke
        assert traced["kwargs"]["method"] == method


def test_bad_arguments_are_refused(model: ChatCloudflareMistral) -> None:
    with pytest.raises(ValueError, match="method="):
        model.with_structured_output(Joke, method="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strict"):
        model.with_structured_output(Joke, method="json_mode", strict=True)
    with pytest.raises(ValueError, match="unexpected"):
        model.with_structured_output(Joke, tools=[])
