"""Fixtures of the LlamaIndex adapter tests.

``llm`` is a ``CloudflareMistral`` pointed at the session's emulator. ``calls`` runs one test
body against the sync and the async endpoints alike: it is parametrized over both, and its
methods call ``chat`` or ``await achat`` (and so on), returning the same shapes. Every wire
body the emulator records is checked against the model's schema after each test.

No ``__init__.py`` here on purpose: a ``tests/llama_index`` package would shadow the real
``llama_index`` namespace package on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.chat_engine.types import AgentChatResponse
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import BaseTool
from pydantic import BaseModel

from llama_index_cf_mistral import CloudflareMistral


@pytest.fixture
async def make_llm(
    connection: dict[str, Any],
) -> AsyncIterator[Callable[..., CloudflareMistral]]:
    """``make_llm(**fields)``: an LLM on the emulator (no retries, short timeouts)."""
    made: list[CloudflareMistral] = []

    def make(**fields: Any) -> CloudflareMistral:
        options: dict[str, Any] = {
            **connection,
            "max_retries": 0,
            "timeout": {"read": 10, "stream_idle": 5},
            **fields,
        }
        llm = CloudflareMistral(**options)
        made.append(llm)
        return llm

    yield make
    for llm in made:
        llm.close()
        await llm.aclose()


@pytest.fixture
def llm(make_llm: Callable[..., CloudflareMistral]) -> CloudflareMistral:
    return make_llm()


class Calls:
    """The endpoints of one LLM, sync or async, behind one awaitable interface."""

    def __init__(self, llm: CloudflareMistral, sync: bool) -> None:
        self.llm = llm
        self.sync = sync

    async def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self.sync:
            return self.llm.chat(messages, **kwargs)
        return await self.llm.achat(messages, **kwargs)

    async def stream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> list[ChatResponse]:
        if self.sync:
            return list(self.llm.stream_chat(messages, **kwargs))
        return [chunk async for chunk in await self.llm.astream_chat(messages, **kwargs)]

    async def complete(self, prompt: str, **kwargs: Any) -> CompletionResponse:
        if self.sync:
            return self.llm.complete(prompt, **kwargs)
        return await self.llm.acomplete(prompt, **kwargs)

    async def stream_complete(self, prompt: str, **kwargs: Any) -> list[CompletionResponse]:
        if self.sync:
            return list(self.llm.stream_complete(prompt, **kwargs))
        return [chunk async for chunk in await self.llm.astream_complete(prompt, **kwargs)]

    async def chat_with_tools(self, tools: Sequence[BaseTool], **kwargs: Any) -> ChatResponse:
        if self.sync:
            return self.llm.chat_with_tools(tools, **kwargs)
        return await self.llm.achat_with_tools(tools, **kwargs)

    async def stream_chat_with_tools(
        self, tools: Sequence[BaseTool], **kwargs: Any
    ) -> list[ChatResponse]:
        if self.sync:
            return list(self.llm.stream_chat_with_tools(tools, **kwargs))
        stream = await self.llm.astream_chat_with_tools(tools, **kwargs)
        return [chunk async for chunk in stream]

    async def predict_and_call(self, tools: Sequence[BaseTool], **kwargs: Any) -> AgentChatResponse:
        if self.sync:
            return self.llm.predict_and_call(tools, **kwargs)
        return await self.llm.apredict_and_call(tools, **kwargs)

    async def structured_predict(
        self, output_cls: type[BaseModel], prompt: PromptTemplate, **kwargs: Any
    ) -> BaseModel:
        if self.sync:
            return self.llm.structured_predict(output_cls, prompt, **kwargs)
        return await self.llm.astructured_predict(output_cls, prompt, **kwargs)

    async def stream_structured_predict(
        self, output_cls: type[BaseModel], prompt: PromptTemplate, **kwargs: Any
    ) -> list[Any]:
        if self.sync:
            return list(self.llm.stream_structured_predict(output_cls, prompt, **kwargs))
        stream = await self.llm.astream_structured_predict(output_cls, prompt, **kwargs)
        return [item async for item in stream]


@pytest.fixture(params=[True, False], ids=["sync", "async"])
def calls(request: pytest.FixtureRequest, llm: CloudflareMistral) -> Calls:
    return Calls(llm, request.param)


@pytest.fixture(params=[True, False], ids=["sync", "async"])
def make_calls(
    request: pytest.FixtureRequest, make_llm: Callable[..., CloudflareMistral]
) -> Callable[..., Calls]:
    """``make_calls(**fields)``: :class:`Calls` over an LLM built with those fields."""
    return lambda **fields: Calls(make_llm(**fields), request.param)
