"""End to end: a LlamaIndex RAG pipeline answered by CloudflareMistral.

A ``VectorStoreIndex`` over a few local documents with a deterministic local embedding (hashed
bag of words: no model, no network), queried through query and chat engines. Against the
emulator the answer echoes the prompt, which holds the retrieved text; against the real API
the model answers from it. Either way the retrieved fact must be in the answer.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import ChatMessage
from pydantic import BaseModel, Field

from llama_index_cf_mistral import CloudflareMistral

DOCUMENTS = [
    Document(
        text="Project Heron: the internal codename of the new ingestion service is BLUEHERON. "
        "The ingestion service codename was chosen by the platform team.",
        doc_id="heron",
    ),
    Document(
        text="The cafeteria in the Lisbon office serves pastel de nata every Friday morning.",
        doc_id="cafeteria",
    ),
    Document(
        text="Parking permits for the Austin office are renewed each January at reception.",
        doc_id="parking",
    ),
]
QUESTION = "What is the codename of the new ingestion service?"


class Codename(BaseModel):
    """A project codename found in the documents."""

    codename: str = Field(description="The codename, exactly as written")


class HashingEmbedding(BaseEmbedding):
    """Bag of words hashed into buckets, L2-normalised: deterministic keyword similarity."""

    dimensions: int = 512

    @classmethod
    def class_name(cls) -> str:
        return "HashingEmbedding"

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimensions
            vector[bucket] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)


@pytest.fixture(scope="module")
def index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(DOCUMENTS, embed_model=HashingEmbedding())


@pytest.fixture
def llm(connection: dict[str, Any]) -> Iterator[CloudflareMistral]:
    model = CloudflareMistral(**connection, temperature=0, max_tokens=512)
    yield model
    model.close()


def _answers_from_the_retrieved_text(answer: str) -> None:
    assert "blueheron" in answer.lower(), answer


def test_query_engine_answers_from_the_retrieved_document(
    index: VectorStoreIndex, llm: CloudflareMistral
):
    engine = index.as_query_engine(llm=llm, similarity_top_k=1)

    response = engine.query(QUESTION)

    assert response.source_nodes[0].node.ref_doc_id == "heron"
    _answers_from_the_retrieved_text(str(response))


def test_streaming_query_engine_streams_the_answer(index: VectorStoreIndex, llm: CloudflareMistral):
    engine = index.as_query_engine(llm=llm, similarity_top_k=1, streaming=True)

    response = engine.query(QUESTION)
    pieces = list(response.response_gen)

    assert len(pieces) > 1
    _answers_from_the_retrieved_text("".join(pieces))


async def test_async_streaming_query_engine(index: VectorStoreIndex, llm: CloudflareMistral):
    engine = index.as_query_engine(llm=llm, similarity_top_k=1, streaming=True)

    response = await engine.aquery(QUESTION)
    pieces = [piece async for piece in response.async_response_gen()]

    _answers_from_the_retrieved_text("".join(pieces))
    await llm.aclose()


def test_chat_engine_answers_with_context_over_two_turns(
    index: VectorStoreIndex, llm: CloudflareMistral
):
    engine = index.as_chat_engine(llm=llm, similarity_top_k=1)

    first = engine.chat(QUESTION)
    second = engine.chat("Repeat that codename, please.")

    _answers_from_the_retrieved_text(str(first))
    _answers_from_the_retrieved_text(str(second))
    assert [m.role.value for m in engine.chat_history] == ["user", "assistant"] * 2


def test_streaming_chat_engine(index: VectorStoreIndex, llm: CloudflareMistral):
    engine = index.as_chat_engine(llm=llm, similarity_top_k=1)

    response = engine.stream_chat(QUESTION)
    answer = "".join(response.response_gen)

    _answers_from_the_retrieved_text(answer)


def test_the_prompt_sent_holds_the_retrieved_text(
    index: VectorStoreIndex, llm: CloudflareMistral, emulator_only: Any
):
    index.as_query_engine(llm=llm, similarity_top_k=1).query(QUESTION)

    [request] = emulator_only.requests
    prompt = request.body["messages"][-1]["content"]
    assert "BLUEHERON" in prompt
    assert "pastel de nata" not in prompt
    assert QUESTION in prompt


def test_chat_history_is_sent_as_messages(llm: CloudflareMistral, emulator_only: Any):
    history = [
        ChatMessage(role="user", content="My name is Ada."),
        ChatMessage(role="assistant", content="Hello Ada."),
        ChatMessage(role="user", content="What is my name?"),
    ]

    llm.chat(history)

    assert [m["role"] for m in emulator_only.last_request.body["messages"]] == [
        "user",
        "assistant",
        "user",
    ]


def test_query_engine_with_an_output_class(index: VectorStoreIndex, llm: CloudflareMistral):
    engine = index.as_query_engine(llm=llm, similarity_top_k=1, output_cls=Codename)

    response = engine.query(QUESTION)

    assert isinstance(response.response, Codename)
    assert response.source_nodes[0].node.ref_doc_id == "heron"


def test_query_engine_output_class_is_decoded_under_its_schema(
    llm: CloudflareMistral, emulator_only: Any
):
    index = VectorStoreIndex.from_documents(
        [Document(text="The codename is BLUEHERON.")], embed_model=HashingEmbedding()
    )

    index.as_query_engine(llm=llm, output_cls=Codename).query("What is the codename?")

    body = emulator_only.last_request.body
    assert body["guided_json"] == Codename.model_json_schema()
    assert "BLUEHERON" in body["messages"][-1]["content"]
