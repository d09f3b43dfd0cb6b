"""Model objects cross process boundaries: pickle, cloudpickle, and a Dask cluster.

Clients pickle their configuration only (sockets and pools are rebuilt lazily in the new
process), so a pickled object works after unpickling, even one that had a pool open.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Iterator
from typing import Any

import cloudpickle
import pytest
from distributed import Client, LocalCluster

from cf_mistral import (
    AsyncWorkersAIClient,
    ChatRequest,
    RateLimitError,
    UserMessage,
    WorkersAIClient,
)
from cf_mistral.emulator import Emulator, FaultKind

from .paths import ChatMessage, HumanMessage, adapter_class

DUMPERS = {"pickle": pickle.dumps, "cloudpickle": cloudpickle.dumps}


def ask(model: Any, prompt: str, loop: asyncio.AbstractEventLoop) -> str:
    """One call with whatever model object this is; async clients run on ``loop``.

    One loop for the whole test: an httpx.AsyncClient's pool belongs to the loop that opened it.
    """
    if isinstance(model, WorkersAIClient):
        return model.chat(ChatRequest([UserMessage(prompt)])).text
    if isinstance(model, AsyncWorkersAIClient):
        result = loop.run_until_complete(model.chat(ChatRequest([UserMessage(prompt)])))
        return result.text
    if type(model).__name__ == "ChatCloudflareMistral":
        return str(model.invoke([HumanMessage(prompt)]).text)
    return str(model.chat([ChatMessage(role="user", content=prompt)]).message.content)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def model_of(kind: str, connection: dict[str, Any]) -> Any:
    if kind == "core-sync":
        return WorkersAIClient(**connection, max_retries=1)
    if kind == "core-async":
        return AsyncWorkersAIClient(**connection, max_retries=1)
    return adapter_class(kind)(**connection, max_retries=1)


@pytest.mark.parametrize("dumper", sorted(DUMPERS))
@pytest.mark.parametrize("kind", ["core-sync", "core-async", "langchain", "llamaindex"])
def test_model_objects_survive_pickling_and_work_after(
    kind: str,
    dumper: str,
    emulator: Emulator,
    connection: dict[str, Any],
    loop: asyncio.AbstractEventLoop,
) -> None:
    model = model_of(kind, connection)
    assert ask(model, "before", loop) == "You said: before"  # a pool is open now
    clone = pickle.loads(DUMPERS[dumper](model))
    assert type(clone) is type(model)
    assert ask(clone, "after", loop) == "You said: after"
    # The configuration came across whole: the retry policy still applies.
    emulator.fault(FaultKind.capacity, retry_after=0)
    assert ask(clone, "retried", loop) == "You said: retried"
    emulator.fault(FaultKind.capacity, retry_after=0)
    emulator.fault(FaultKind.capacity, retry_after=0)
    with pytest.raises(RateLimitError):
        ask(clone, "exhausted", loop)


def test_errors_survive_pickling_with_their_details(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    emulator.fault(FaultKind.capacity, retry_after=7)
    with pytest.raises(RateLimitError) as caught, WorkersAIClient(**connection, max_retries=0) as c:
        c.chat(ChatRequest([UserMessage("hi")]))
    for dumps in DUMPERS.values():
        clone = pickle.loads(dumps(caught.value))
        assert type(clone) is RateLimitError
        assert (clone.status_code, clone.code, clone.retry_after) == (429, 3040, 7)
        assert str(clone) == str(caught.value)


@pytest.fixture(scope="module")
def dask_client() -> Any:
    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_a_batch_over_a_dask_cluster_comes_back_whole_and_in_order(
    dask_client: Any, emulator: Emulator, connection: dict[str, Any]
) -> None:
    prompts = [f"question {index}" for index in range(16)]

    def answer(prompt: str, connection: dict[str, Any]) -> tuple[str, int]:
        # Each worker process builds its own client, with its own pool.
        import os

        from cf_mistral import ChatRequest, UserMessage, WorkersAIClient

        with WorkersAIClient(**connection) as client:
            return client.chat(ChatRequest([UserMessage(prompt)])).text, os.getpid()

    futures = dask_client.map(answer, prompts, connection=connection, pure=False)
    results = dask_client.gather(futures)
    assert [text for text, _ in results] == [f"You said: {p}" for p in prompts]
    assert len({pid for _, pid in results}) == 2, "both worker processes took part"
    assert len(emulator.requests) == len(prompts)


def test_adapter_models_shipped_to_dask_workers_work_there(
    dask_client: Any, emulator: Emulator, connection: dict[str, Any]
) -> None:
    models = [model_of(kind, connection) for kind in ("langchain", "llamaindex")]
    prompts = [f"item {index}" for index in range(6)]

    def run(model: Any, prompt: str) -> str:
        if type(model).__name__ == "ChatCloudflareMistral":
            return str(model.invoke(prompt).text)
        from llama_index.core.llms import ChatMessage

        return str(model.chat([ChatMessage(role="user", content=prompt)]).message.content)

    for model in models:
        futures = dask_client.map(run, [model] * len(prompts), prompts, pure=False)
        assert dask_client.gather(futures) == [f"You said: {p}" for p in prompts]
