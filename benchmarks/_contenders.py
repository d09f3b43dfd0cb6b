"""Every contender behind one shape: invoke / stream, sync and async, returning text pieces.

A factory builds each contender against the emulator. A peer that is not installed (or one of
our adapters that has not landed) raises :class:`Unavailable` and is reported, not hidden.
All contenders send the same one-message prompt; the ones on the native route must return the
very text the floor returns.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse, connect_sse

from benchmarks._server import EmulatorProcess

__all__ = [
    "CONTENDERS",
    "INJECTABLE",
    "PROMPT",
    "Contender",
    "Unavailable",
    "build",
    "build_all",
]

PROMPT = "Hello there, how fast is this integration?"


class Unavailable(Exception):  # noqa: N818 - a state, not an error
    """This contender cannot run here (package missing, adapter not landed)."""


@dataclass
class Contender:
    """One way of calling the model. ``stream`` yields the text pieces as they arrive."""

    name: str
    group: str  # "floor" | "ours" | "reference" | "peer"
    route: str  # "native" | "openai"
    framework: str  # "" | "langchain" | "llama-index"
    invoke: Callable[[], str]
    stream: Callable[[], Iterator[str]]
    ainvoke: Callable[[], Awaitable[str]]
    astream: Callable[[], AsyncIterator[str]]
    closers: list[Callable[[], Any]] = field(default_factory=list)


def _auth(emu: EmulatorProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"}


# -- the floors: raw httpx (+ httpx-sse for streams) -----------------------------------------


def _raw(
    emu: EmulatorProcess, *, route: str, async_client: httpx.AsyncClient | None = None
) -> Contender:
    client = httpx.Client(headers=_auth(emu))
    aclient = async_client or httpx.AsyncClient()
    aclient.headers.update(_auth(emu))
    messages = [{"role": "user", "content": PROMPT}]
    if route == "native":
        url = emu.run_url

        def body(stream: bool) -> str:
            return json.dumps({"messages": messages, "stream": stream})

        def text_of(reply: Any) -> str:
            return str(reply["result"]["response"])

        def piece_of(event: Any) -> str:
            return event.get("response") or ""

    else:
        url = emu.openai_base + "/chat/completions"

        def body(stream: bool) -> str:
            return json.dumps({"model": emu.model, "messages": messages, "stream": stream})

        def text_of(reply: Any) -> str:
            return str(reply["choices"][0]["message"]["content"])

        def piece_of(event: Any) -> str:
            choices = event.get("choices")
            return (choices[0]["delta"].get("content") or "") if choices else ""

    def invoke() -> str:
        return text_of(json.loads(client.post(url, content=body(False)).content))

    async def ainvoke() -> str:
        return text_of(json.loads((await aclient.post(url, content=body(False))).content))

    def stream() -> Iterator[str]:
        with connect_sse(client, "POST", url, content=body(True)) as source:
            for event in source.iter_sse():
                if event.data != "[DONE]":  # and read on to the end of the body
                    piece = piece_of(json.loads(event.data))
                    if piece:
                        yield piece

    async def astream() -> AsyncIterator[str]:
        async with aconnect_sse(aclient, "POST", url, content=body(True)) as source:
            async for event in source.aiter_sse():
                if event.data != "[DONE]":
                    piece = piece_of(json.loads(event.data))
                    if piece:
                        yield piece

    name = "raw httpx" if route == "native" else "raw httpx, OpenAI route"
    return Contender(
        name, "floor", route, "", invoke, stream, ainvoke, astream, [client.close, aclient.aclose]
    )


def floor(emu: EmulatorProcess, async_client: httpx.AsyncClient | None = None) -> Contender:
    return _raw(emu, route="native", async_client=async_client)


def floor_openai(emu: EmulatorProcess) -> Contender:
    return _raw(emu, route="openai")


# -- the core client -----------------------------------------------------------------------


def core(
    emu: EmulatorProcess,
    async_client: httpx.AsyncClient | None = None,
    *,
    max_connections: int | None = None,
) -> Contender:
    from cf_mistral import (
        AsyncWorkersAIClient,
        ChatRequest,
        TextDelta,
        UserMessage,
        WorkersAIClient,
    )

    options: dict[str, Any] = {
        "account_id": emu.account_id,
        "api_token": emu.token,
        "base_url": emu.base_url,
    }
    if max_connections is not None:
        options["max_connections"] = max_connections
    client = WorkersAIClient(**options)
    aclient = AsyncWorkersAIClient(**options, http_client=async_client)

    def invoke() -> str:
        return client.chat(ChatRequest(messages=[UserMessage(PROMPT)])).text

    async def ainvoke() -> str:
        return (await aclient.chat(ChatRequest(messages=[UserMessage(PROMPT)]))).text

    def stream() -> Iterator[str]:
        for event in client.stream(ChatRequest(messages=[UserMessage(PROMPT)])):
            if isinstance(event, TextDelta):
                yield event.text

    async def astream() -> AsyncIterator[str]:
        async for event in aclient.stream(ChatRequest(messages=[UserMessage(PROMPT)])):
            if isinstance(event, TextDelta):
                yield event.text

    return Contender(
        "cf_mistral core client",
        "ours",
        "native",
        "",
        invoke,
        stream,
        ainvoke,
        astream,
        [client.close, aclient.aclose],
    )


# -- LangChain and LlamaIndex contenders: one wrapper per framework ---------------------------


def _langchain(name: str, group: str, route: str, model: Any) -> Contender:
    from langchain_core.messages import HumanMessage

    messages = [HumanMessage(PROMPT)]

    def invoke() -> str:
        return str(model.invoke(messages).content)

    async def ainvoke() -> str:
        return str((await model.ainvoke(messages)).content)

    def stream() -> Iterator[str]:
        for chunk in model.stream(messages):
            if chunk.content:
                yield chunk.content

    async def astream() -> AsyncIterator[str]:
        async for chunk in model.astream(messages):
            if chunk.content:
                yield chunk.content

    return Contender(name, group, route, "langchain", invoke, stream, ainvoke, astream)


def _llama_index(name: str, group: str, route: str, llm: Any) -> Contender:
    from llama_index.core.llms import ChatMessage

    messages = [ChatMessage(role="user", content=PROMPT)]

    def invoke() -> str:
        return str(llm.chat(messages).message.content)

    async def ainvoke() -> str:
        return str((await llm.achat(messages)).message.content)

    def stream() -> Iterator[str]:
        for response in llm.stream_chat(messages):
            if response.delta:
                yield response.delta

    async def astream() -> AsyncIterator[str]:
        async for response in await llm.astream_chat(messages):
            if response.delta:
                yield response.delta

    return Contender(name, group, route, "llama-index", invoke, stream, ainvoke, astream)


def _need(module: str) -> None:
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as error:
        raise Unavailable(f"{module} not available ({error})") from None


def lc_ours(
    emu: EmulatorProcess,
    async_client: httpx.AsyncClient | None = None,
    *,
    max_connections: int = 100,
) -> Contender:
    _need("langchain_cf_mistral")
    from langchain_cf_mistral import ChatCloudflareMistral

    model = ChatCloudflareMistral(
        account_id=emu.account_id,
        api_token=emu.token,
        base_url=emu.base_url,
        http_async_client=async_client,
        max_connections=max_connections,
    )
    return _langchain("ChatCloudflareMistral", "ours", "native", model)


def li_ours(
    emu: EmulatorProcess,
    async_client: httpx.AsyncClient | None = None,
    *,
    max_connections: int = 100,
) -> Contender:
    _need("llama_index_cf_mistral")
    from llama_index_cf_mistral import CloudflareMistral

    llm = CloudflareMistral(
        account_id=emu.account_id,
        api_token=emu.token,
        base_url=emu.base_url,
        async_http_client=async_client,
        max_connections=max_connections,
    )
    return _llama_index("CloudflareMistral", "ours", "native", llm)


def lc_reference(emu: EmulatorProcess, async_client: httpx.AsyncClient | None = None) -> Contender:
    from benchmarks._reference import ReferenceChatModel

    model = ReferenceChatModel(url=emu.run_url, token=emu.token)
    if async_client is not None:
        model.async_client = async_client
    return _langchain("thinnest BaseChatModel", "reference", "native", model)


def li_reference(emu: EmulatorProcess, async_client: httpx.AsyncClient | None = None) -> Contender:
    from benchmarks._reference import ReferenceLLM

    llm = ReferenceLLM(url=emu.run_url, token=emu.token)
    if async_client is not None:
        llm._async_client = async_client
    return _llama_index("thinnest LlamaIndex LLM", "reference", "native", llm)


def lc_cloudflare(emu: EmulatorProcess) -> Contender:
    _need("langchain_cloudflare")
    from langchain_cloudflare import ChatCloudflareWorkersAI

    model = ChatCloudflareWorkersAI(
        model=emu.model, account_id=emu.account_id, api_token=emu.token, base_url=emu.base_url
    )
    return _langchain("langchain-cloudflare", "peer", "native", model)


def lc_openai(emu: EmulatorProcess) -> Contender:
    _need("langchain_openai")
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model=emu.model, api_key=emu.token, base_url=emu.openai_base)
    return _langchain("ChatOpenAI", "peer", "openai", model)


def lc_mistral(emu: EmulatorProcess) -> Contender:
    _need("langchain_mistralai")
    from langchain_mistralai import ChatMistralAI

    model = ChatMistralAI(model=emu.model, api_key=emu.token, base_url=emu.openai_base)
    return _langchain("ChatMistralAI", "peer", "openai", model)


def li_openai_like(emu: EmulatorProcess) -> Contender:
    _need("llama_index.llms.openai_like")
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model=emu.model,
        api_key=emu.token,
        api_base=emu.openai_base,
        is_chat_model=True,
        context_window=128_000,
    )
    return _llama_index("OpenAILike", "peer", "openai", llm)


#: name -> factory, in table order.
CONTENDERS: dict[str, Callable[..., Contender]] = {
    "floor": floor,
    "floor-openai": floor_openai,
    "core": core,
    "lc-ours": lc_ours,
    "lc-reference": lc_reference,
    "lc-cloudflare": lc_cloudflare,
    "lc-mistral": lc_mistral,
    "lc-openai": lc_openai,
    "li-ours": li_ours,
    "li-reference": li_reference,
    "li-openai-like": li_openai_like,
}


#: The contenders that take an injected ``httpx.AsyncClient`` (the option users have to set
#: connection limits): the production scenarios' floor, ours and the thinnest subclasses.
INJECTABLE = ("floor", "core", "lc-ours", "lc-reference", "li-ours", "li-reference")


def build(
    key: str, emu: EmulatorProcess, async_client: httpx.AsyncClient | None = None
) -> Contender:
    """Build one contender; ``async_client`` only for :data:`INJECTABLE` ones."""
    if async_client is not None:
        return CONTENDERS[key](emu, async_client)
    return CONTENDERS[key](emu)


def build_all(
    emu: EmulatorProcess, keys: set[str] | None = None
) -> tuple[dict[str, Contender], dict[str, str]]:
    """The contenders (all, or ``keys``) that can run, and why the others cannot."""
    built: dict[str, Contender] = {}
    missing: dict[str, str] = {}
    for key, factory in CONTENDERS.items():
        if keys is not None and key not in keys:
            continue
        try:
            built[key] = factory(emu)
        except Unavailable as why:
            missing[key] = str(why)
    return built, missing
