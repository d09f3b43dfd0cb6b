"""The thinnest possible framework integrations over raw httpx: the framework's own cost.

``ReferenceChatModel`` (a LangChain ``BaseChatModel``) and ``ReferenceLLM`` (a LlamaIndex
``LLM``) do the least a working chat integration can do on the native route: text messages
in, text out, streams read with httpx-sse to the end of the body (so the connection goes back
to the pool). No usage, no tools, no retries, no error mapping. Whatever they cost above raw
httpx is what LangChain or LlamaIndex itself costs per call; whatever our adapters cost above
them is what the adapters add.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
from httpx_sse import aconnect_sse, connect_sse
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from llama_index.core.base.llms.generic_utils import (
    achat_to_completion_decorator,
    astream_chat_to_completion_decorator,
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import LLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import ConfigDict, Field, PrivateAttr

__all__ = ["ReferenceChatModel", "ReferenceLLM"]

_LC_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _body(messages: list[dict[str, str]], *, stream: bool) -> bytes:
    return json.dumps({"messages": messages, "stream": stream}).encode()


def _stream_text(data: str) -> str:
    text = json.loads(data).get("response")
    return text if isinstance(text, str) else ""


class ReferenceChatModel(BaseChatModel):
    """The thinnest LangChain chat model over raw httpx (native ``/ai/run`` route)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    url: str
    token: str
    client: httpx.Client = Field(default_factory=httpx.Client, exclude=True)
    async_client: httpx.AsyncClient = Field(default_factory=httpx.AsyncClient, exclude=True)

    @property
    def _llm_type(self) -> str:
        return "reference-httpx"

    def _request(self, messages: list[BaseMessage], *, stream: bool) -> dict[str, Any]:
        wire = [{"role": _LC_ROLES[m.type], "content": m.text} for m in messages]
        return {
            "content": _body(wire, stream=stream),
            "headers": {
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        response = self.client.post(self.url, **self._request(messages, stream=False))
        text = json.loads(response.content)["result"]["response"]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        response = await self.async_client.post(self.url, **self._request(messages, stream=False))
        text = json.loads(response.content)["result"]["response"]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stream=True)
        with connect_sse(self.client, "POST", self.url, **request) as source:
            for event in source.iter_sse():
                if event.data == "[DONE]":
                    continue  # read on to the end of the body: the connection is reused
                text = _stream_text(event.data)
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager is not None:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = self._request(messages, stream=True)
        async with aconnect_sse(self.async_client, "POST", self.url, **request) as source:
            async for event in source.aiter_sse():
                if event.data == "[DONE]":
                    continue
                text = _stream_text(event.data)
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager is not None:
                        await run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk


class ReferenceLLM(LLM):
    """The thinnest LlamaIndex LLM over raw httpx (native ``/ai/run`` route)."""

    url: str
    token: str
    _client: httpx.Client = PrivateAttr(default_factory=httpx.Client)
    _async_client: httpx.AsyncClient = PrivateAttr(default_factory=httpx.AsyncClient)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=128_000, num_output=256, is_chat_model=True)

    def _request(self, messages: Sequence[ChatMessage], *, stream: bool) -> dict[str, Any]:
        wire = [{"role": m.role.value, "content": m.content or ""} for m in messages]
        return {
            "content": _body(wire, stream=stream),
            "headers": {
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
        }

    @staticmethod
    def _response(raw: bytes) -> ChatResponse:
        text = json.loads(raw)["result"]["response"]
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        response = self._client.post(self.url, **self._request(messages, stream=False))
        return self._response(response.content)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        response = await self._async_client.post(self.url, **self._request(messages, stream=False))
        return self._response(response.content)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        request = self._request(messages, stream=True)

        def gen() -> ChatResponseGen:
            # LlamaIndex's convention: each response carries the text so far and the delta.
            content = ""
            with connect_sse(self._client, "POST", self.url, **request) as source:
                for event in source.iter_sse():
                    if event.data == "[DONE]":
                        continue
                    delta = _stream_text(event.data)
                    if delta:
                        content += delta
                        yield ChatResponse(
                            message=ChatMessage(role=MessageRole.ASSISTANT, content=content),
                            delta=delta,
                        )

        return gen()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        request = self._request(messages, stream=True)

        async def gen() -> ChatResponseAsyncGen:
            content = ""
            async with aconnect_sse(self._async_client, "POST", self.url, **request) as source:
                async for event in source.aiter_sse():
                    if event.data == "[DONE]":
                        continue
                    delta = _stream_text(event.data)
                    if delta:
                        content += delta
                        yield ChatResponse(
                            message=ChatMessage(role=MessageRole.ASSISTANT, content=content),
                            delta=delta,
                        )

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return chat_to_completion_decorator(self.chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return await achat_to_completion_decorator(self.achat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        return stream_chat_to_completion_decorator(self.stream_chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        return await astream_chat_to_completion_decorator(self.astream_chat)(prompt, **kwargs)
