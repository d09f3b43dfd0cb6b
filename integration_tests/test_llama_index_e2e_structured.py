"""End to end: structured output through LlamaIndex, in all four forms (see also the RAG tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from llama_index.core.prompts import PromptTemplate
from pydantic import BaseModel, Field

from llama_index_cf_mistral import CloudflareMistral

PROMPT = PromptTemplate("Extract the person from this text: {text}")
TEXT = "Ada Lovelace, aged 36, wrote the first published computer program."


class Person(BaseModel):
    """A person mentioned in a text."""

    name: str = Field(description="Full name")
    age: int = Field(description="Age in years")


@pytest.fixture
async def llm(connection: dict[str, Any]) -> AsyncIterator[CloudflareMistral]:
    model = CloudflareMistral(**connection, temperature=0, max_tokens=256)
    yield model
    model.close()
    await model.aclose()


async def test_structured_predict_in_all_four_forms(llm: CloudflareMistral):
    whole = llm.structured_predict(Person, PROMPT, text=TEXT)
    awaited = await llm.astructured_predict(Person, PROMPT, text=TEXT)
    streamed = list(llm.stream_structured_predict(Person, PROMPT, text=TEXT))
    astreamed = [p async for p in await llm.astream_structured_predict(Person, PROMPT, text=TEXT)]

    for person in (whole, awaited, streamed[-1], astreamed[-1]):
        assert isinstance(person, Person)
    assert len(streamed) > 1
    assert len(astreamed) > 1
