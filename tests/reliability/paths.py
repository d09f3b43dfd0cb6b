"""The twelve paths of a request: {core, LangChain, LlamaIndex}, {call, stream}, {sync, async}.

Every reliability test that is about behaviour users see runs through :func:`run`, so one test
body covers all twelve paths. The adapters are imported lazily: a path whose package does not
import is skipped with the ImportError named (and only then).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.llms import ChatMessage

from cf_mistral import (
    AsyncWorkersAIClient,
    ChatRequest,
    TextDelta,
    UserMessage,
    WorkersAIClient,
)
from cf_mistral.emulator import Emulator, RecordedRequest

# Imported here, once: an import inside a test would block the event loop for seconds while
# concurrent async paths are timing their timeouts.
_ADAPTERS: dict[str, Any] = {}
try:
    from langchain_cf_mistral import ChatCloudflareMistral

    _ADAPTERS["langchain"] = ChatCloudflareMistral
except ImportError as error:
    _ADAPTERS["langchain"] = error
try:
    from llama_index_cf_mistral import CloudflareMistral

    _ADAPTERS["llamaindex"] = CloudflareMistral
except ImportError as error:
    _ADAPTERS["llamaindex"] = error

FRAMEWORKS = ("core", "langchain", "llamaindex")
MODES = ("call", "stream")


@dataclass(frozen=True)
class Path:
    framework: str
    mode: str
    is_async: bool

    @property
    def id(self) -> str:
        return f"{self.framework}-{self.mode}-{'async' if self.is_async else 'sync'}"

    @property
    def streams(self) -> bool:
        return self.mode == "stream"


ALL_PATHS = tuple(
    Path(framework, mode, is_async)
    for framework in FRAMEWORKS
    for mode in MODES
    for is_async in (False, True)
)
STREAM_PATHS = tuple(path for path in ALL_PATHS if path.streams)


def params(paths: tuple[Path, ...] = ALL_PATHS) -> list[Any]:
    """``pytest.param`` per path, with readable ids."""
    return [pytest.param(path, id=path.id) for path in paths]


@dataclass
class Outcome:
    """What the caller saw: the text it received (for a stream, before any error) and the error."""

    text: str = ""
    error: BaseException | None = None
    elapsed: float = 0.0
    chunks: list[str] = field(default_factory=list)


def adapter_class(framework: str) -> Any:
    """The adapter's model class; skips (naming the ImportError) when it does not import."""
    adapter = _ADAPTERS[framework]
    if isinstance(adapter, ImportError):
        pytest.skip(f"adapter not yet available: {adapter}")
    return adapter


def build(framework: str, connection: dict[str, Any], **options: Any) -> Any:
    """A model object for ``framework``; for the core, the client matching ``is_async``."""
    if framework == "core":
        raise ValueError("use core_client()")
    return adapter_class(framework)(**connection, **options)


async def run(
    path: Path, connection: dict[str, Any], prompt: str = "hello world", **options: Any
) -> Outcome:
    """Send one user message along ``path``; collect what the caller got, never raise.

    Sync paths run in a worker thread, so several paths can run at once from one event loop.
    """
    if path.framework != "core":
        adapter_class(path.framework)  # skip before starting anything
    outcome = Outcome()
    started = time.monotonic()
    try:
        if path.is_async:
            await _run_async(path, connection, prompt, options, outcome)
        else:
            await asyncio.to_thread(_run_sync, path, connection, prompt, options, outcome)
    except Exception as error:
        outcome.error = error
    outcome.elapsed = time.monotonic() - started
    if path.streams:
        outcome.text = "".join(outcome.chunks)
    return outcome


def _run_sync(
    path: Path, connection: dict[str, Any], prompt: str, options: dict[str, Any], out: Outcome
) -> None:
    if path.framework == "core":
        request = ChatRequest(messages=[UserMessage(prompt)])
        with WorkersAIClient(**connection, **options) as client:
            if path.streams:
                for event in client.stream(request):
                    if isinstance(event, TextDelta):
                        out.chunks.append(event.text)
            else:
                out.text = client.chat(request).text
    elif path.framework == "langchain":
        chat = build("langchain", connection, **options)
        if path.streams:
            for chunk in chat.stream([HumanMessage(prompt)]):
                out.chunks.append(chunk.text)
        else:
            out.text = chat.invoke([HumanMessage(prompt)]).text
    else:
        llm = build("llamaindex", connection, **options)
        messages = [ChatMessage(role="user", content=prompt)]
        if path.streams:
            for response in llm.stream_chat(messages):
                out.chunks.append(response.delta or "")
        else:
            out.text = llm.chat(messages).message.content or ""


async def _run_async(
    path: Path, connection: dict[str, Any], prompt: str, options: dict[str, Any], out: Outcome
) -> None:
    if path.framework == "core":
        request = ChatRequest(messages=[UserMessage(prompt)])
        async with AsyncWorkersAIClient(**connection, **options) as client:
            if path.streams:
                async for event in client.stream(request):
                    if isinstance(event, TextDelta):
                        out.chunks.append(event.text)
            else:
                out.text = (await client.chat(request)).text
    elif path.framework == "langchain":
        chat = build("langchain", connection, **options)
        if path.streams:
            async for chunk in chat.astream([HumanMessage(prompt)]):
                out.chunks.append(chunk.text)
        else:
            out.text = (await chat.ainvoke([HumanMessage(prompt)])).text
    else:
        llm = build("llamaindex", connection, **options)
        messages = [ChatMessage(role="user", content=prompt)]
        if path.streams:
            async for response in await llm.astream_chat(messages):
                out.chunks.append(response.delta or "")
        else:
            out.text = (await llm.achat(messages)).message.content or ""


def connection_to(emulator: Emulator) -> dict[str, Any]:
    """Keyword arguments that point any cf-mistral class at ``emulator``."""
    return {
        "account_id": emulator.account_id,
        "api_token": emulator.token,
        "base_url": emulator.base_url,
    }


async def run_on_lanes(
    paths: Sequence[Path],
    lanes: Sequence[Emulator],
    arm: Callable[[Emulator], object] = lambda lane: None,
    prompt: str = "hello world",
    **options: Any,
) -> list[tuple[Path, Outcome, Emulator]]:
    """Run ``paths`` at once, each on its own emulator ('lane') first set up by ``arm``.

    Faults are queued per emulator, so each path gets exactly the faults armed for it.
    """
    pairs = list(zip(paths, lanes[: len(paths)], strict=True))
    for _, lane in pairs:
        arm(lane)
    outcomes = await asyncio.gather(
        *(run(path, connection_to(lane), prompt, **options) for path, lane in pairs)
    )
    return [(path, outcome, lane) for (path, lane), outcome in zip(pairs, outcomes, strict=True)]


def check_all(
    results: Sequence[tuple[Path, Outcome, Emulator]],
    check: Callable[[Outcome, list[RecordedRequest]], None],
) -> None:
    """Run ``check`` on every cell and report every failing cell, not only the first."""
    failures = []
    for path, outcome, lane in results:
        try:
            check(outcome, lane.requests)
        except AssertionError as error:
            failures.append(f"{path.id}: {error}")
    assert not failures, "\n".join(failures)
