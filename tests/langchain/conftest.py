"""Fixtures of the LangChain adapter tests.

``run`` drives one test body through ``invoke``, ``stream``, ``ainvoke`` and ``astream``
(parametrized), returning the reply as one message (streams aggregated) and the chunks.
Every test that uses the emulator runs it in its strictest mode, so each wire body the
adapter causes is also checked against the model's schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable

from langchain_cf_mistral import ChatCloudflareMistral

MODES = ("invoke", "stream", "ainvoke", "astream")


@pytest.fixture
async def make_model(
    connection: dict[str, Any],
) -> AsyncIterator[Callable[..., ChatCloudflareMistral]]:
    made: list[ChatCloudflareMistral] = []

    def make(**options: Any) -> ChatCloudflareMistral:
        options.setdefault("timeout", {"stream_idle": 5, "read": 10})
        model = ChatCloudflareMistral(**connection, **options)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


@pytest.fixture
def model(make_model: Callable[..., ChatCloudflareMistral]) -> ChatCloudflareMistral:
    return make_model()


@dataclass
class Reply:
    message: BaseMessage
    chunks: list[AIMessageChunk] = field(default_factory=list)


@dataclass
class Runner:
    """Calls a runnable the way ``mode`` says; streams come back aggregated."""

    mode: str

    @property
    def streams(self) -> bool:
        return "stream" in self.mode

    async def __call__(self, runnable: Runnable[Any, Any], value: Any, **kwargs: Any) -> Reply:
        if self.mode == "invoke":
            return Reply(runnable.invoke(value, **kwargs))
        if self.mode == "ainvoke":
            return Reply(await runnable.ainvoke(value, **kwargs))
        if self.mode == "stream":
            chunks = list(runnable.stream(value, **kwargs))
        else:
            chunks = [chunk async for chunk in runnable.astream(value, **kwargs)]
        assert chunks, "the stream yielded nothing"
        total = chunks[0]
        for chunk in chunks[1:]:
            total = total + chunk
        return Reply(total, chunks)

    async def raw(self, runnable: Runnable[Any, Any], value: Any, **kwargs: Any) -> list[Any]:
        """The outputs as a list (one item for invoke; every streamed item for streams)."""
        if self.mode == "invoke":
            return [runnable.invoke(value, **kwargs)]
        if self.mode == "ainvoke":
            return [await runnable.ainvoke(value, **kwargs)]
        if self.mode == "stream":
            return list(runnable.stream(value, **kwargs))
        return [item async for item in runnable.astream(value, **kwargs)]


@pytest.fixture(params=MODES)
def run(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)
