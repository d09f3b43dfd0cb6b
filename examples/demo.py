"""``make demo``: the main job, end to end (``python examples/demo.py``).

With ``CLOUDFLARE_ACCOUNT_ID`` and ``CLOUDFLARE_API_TOKEN`` set it calls Workers AI; without
them it starts the bundled emulator on a free loopback port and says so. It shows a plain
answer, a streamed answer, a tool round-trip and a structured answer with token usage and
cost, then the same model through LangChain (a call and an agent) and LlamaIndex (a query).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from cf_mistral import (
    AssistantMessage,
    ChatRequest,
    ChatResult,
    StreamEnd,
    SystemMessage,
    TextDelta,
    ToolDefinition,
    ToolMessage,
    Usage,
    UserMessage,
    WorkersAIClient,
)

__all__ = ["run_demo"]

WEATHER_TOOL = ToolDefinition(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
        "required": ["city"],
    },
)
CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "country": {"type": "string"},
        "population": {"type": "integer"},
    },
    "required": ["name", "country", "population"],
}


def get_weather(city: str) -> str:
    """The demo's local tool."""
    return json.dumps({"city": city, "temperature_c": 21, "sky": "clear"})


def _has_credentials() -> bool:
    account = os.environ.get("CLOUDFLARE_ACCOUNT_ID") or os.environ.get("CF_ACCOUNT_ID")
    token = next(
        (
            os.environ[name]
            for name in (
                "CLOUDFLARE_API_TOKEN",
                "CLOUDFLARE_AUTH_TOKEN",
                "CF_AI_API_TOKEN",
                "CF_API_TOKEN",
            )
            if os.environ.get(name)
        ),
        None,
    )
    return bool(account and token)


@contextlib.contextmanager
def _connection() -> Iterator[dict[str, Any]]:
    """Keyword arguments for every client: real API with credentials, else the emulator."""
    if _has_credentials():
        print("Using the Cloudflare Workers AI API (credentials found in the environment).")
        yield {}
        return
    from cf_mistral.emulator import Emulator

    with Emulator() as emulator:
        print(
            f"No CLOUDFLARE_ACCOUNT_ID / CLOUDFLARE_API_TOKEN set: using the bundled emulator at "
            f"{emulator.url} (a deterministic stand-in model, not Mistral)."
        )
        yield {
            "account_id": emulator.account_id,
            "api_token": emulator.token,
            "base_url": emulator.base_url,
        }


def _usage_line(usage: Usage | None) -> str:
    if usage is None:
        return "   usage: not reported"
    return (
        f"   usage: {usage.prompt_tokens} in + {usage.completion_tokens} out tokens, "
        f"estimated ${usage.cost_usd:.7f}"
    )


def _section(title: str) -> None:
    print(f"\n== {title}")


def _core_demo(connection: dict[str, Any]) -> None:
    with WorkersAIClient(**connection) as client:
        _section("Plain answer (cf_mistral.WorkersAIClient.chat)")
        question = UserMessage("In one sentence: why do people run models at the edge?")
        result = client.chat(ChatRequest(messages=[question], params={"max_tokens": 120}))
        print(f"   {result.text}")
        print(_usage_line(result.usage))

        _section("Streamed answer (WorkersAIClient.stream)")
        print("   ", end="")
        end: ChatResult | None = None
        for event in client.stream(ChatRequest(messages=[UserMessage("Count from one to five.")])):
            if isinstance(event, TextDelta):
                print(event.text, end="", flush=True)
            elif isinstance(event, StreamEnd):
                end = event.result
        print()
        print(_usage_line(end.usage if end else None))

        _section("Tool round-trip")
        messages: list[Any] = [
            SystemMessage("Use the tools when they help."),
            UserMessage("Use get_weather to tell me the weather in Paris."),
        ]
        first = client.chat(ChatRequest(messages=messages, tools=[WEATHER_TOOL]))
        tools: dict[str, Callable[..., str]] = {"get_weather": get_weather}
        for call in first.tool_calls:
            print(f"   model called {call.name}({json.dumps(dict(call.arguments))}) id={call.id}")
        messages.append(AssistantMessage(content=first.text, tool_calls=first.tool_calls))
        for call in first.tool_calls:
            messages.append(ToolMessage(call.id, tools[call.name](**call.arguments), call.name))
        final = client.chat(ChatRequest(messages=messages, tools=[WEATHER_TOOL]))
        print(f"   answer: {final.text}")
        print(_usage_line(final.usage))

        _section("Structured answer (guided_json)")
        structured = client.chat(
            ChatRequest(
                messages=[UserMessage("Describe the capital of France as JSON.")],
                response_schema=CITY_SCHEMA,
            )
        )
        print(f"   {json.loads(structured.text)}")
        print(_usage_line(structured.usage))


def _langchain_demo(connection: dict[str, Any]) -> None:
    from langchain.agents import create_agent
    from langchain_core.tools import tool

    from langchain_cf_mistral import ChatCloudflareMistral

    llm = ChatCloudflareMistral(**connection, temperature=0.2, max_tokens=256)
    _section("LangChain: ChatCloudflareMistral.invoke")
    reply = llm.invoke("Name one famous landmark in Paris.")
    print(f"   {reply.content}")
    print(f"   usage_metadata={reply.usage_metadata}")
    print(f"   cost_usd={reply.response_metadata['cost_usd']:.7f}")

    @tool
    def weather(city: str) -> str:
        """Current weather for a city."""
        return get_weather(city)

    @tool
    def local_time(city: str) -> str:
        """Local time in a city."""
        return json.dumps({"city": city, "time": "14:05"})

    _section("LangChain: create_agent with two tools")
    agent = create_agent(llm, tools=[weather, local_time])
    state = agent.invoke({"messages": [("user", "Use weather to check Lyon, please.")]})
    for message in state["messages"]:
        calls = getattr(message, "tool_calls", None)
        detail = f"calls {[c['name'] for c in calls]}" if calls else str(message.content)[:90]
        print(f"   {message.type:>5}: {detail}")


def _llama_index_demo(connection: dict[str, Any]) -> None:
    import hashlib
    import math
    import re

    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding

    from llama_index_cf_mistral import CloudflareMistral

    class HashingEmbedding(BaseEmbedding):
        """Offline bag-of-words embedding, so the demo needs no embedding service."""

        def _vector(self, text: str) -> list[float]:
            vector = [0.0] * 256
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % 256] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            return [v / norm for v in vector]

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._vector(text)

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._vector(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._vector(query)

    documents = [
        Document(text="The ingestion service is codenamed Blueheron and ships in March."),
        Document(text="The billing service moved to Postgres 17 last year."),
    ]
    index = VectorStoreIndex.from_documents(documents, embed_model=HashingEmbedding())
    llm = CloudflareMistral(**connection, max_tokens=256)
    _section("LlamaIndex: VectorStoreIndex.as_query_engine with CloudflareMistral")
    response = index.as_query_engine(llm=llm, similarity_top_k=1).query(
        "What is the codename of the ingestion service?"
    )
    print(f"   {' '.join(str(response).split())[:160]}...")
    print(f"   source: {response.source_nodes[0].node.get_content()[:80]}")


def run_demo() -> int:
    """Run every part of the demo; return the process exit code."""
    with _connection() as connection:
        _core_demo(connection)
        _langchain_demo(connection)
        _llama_index_demo(connection)
    print("\nDone.")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_demo())
