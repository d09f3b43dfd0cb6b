"""LangChain end to end: LangGraph and create_agent tool loops, structured agents, LCEL.

Against the emulator by default and the real API with credentials (``connection``). Tests
that need a scripted sequence of replies use ``emulator_only``.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.structured_output import ToolStrategy
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent
from pydantic import BaseModel, Field

from cf_mistral.emulator import Emulator
from langchain_cf_mistral import ChatCloudflareMistral


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is sunny and 21 degrees in {city}."


@tool
def get_time(city: str) -> str:
    """Get the local time in a city."""
    return f"It is 14:05 in {city}."


class CityReport(BaseModel):
    """A short report about a city."""

    city: str = Field(description="The city")
    weather: str = Field(description="The weather there")


# create_react_agent is deprecated in favour of create_agent, and still widely used: test both.
pytestmark = pytest.mark.filterwarnings("ignore::langgraph.warnings.LangGraphDeprecatedSinceV10")

QUESTION = "Use get_weather and get_time for Paris, then answer."


@pytest.fixture
def model(connection: dict[str, Any]) -> ChatCloudflareMistral:
    return ChatCloudflareMistral(**connection, temperature=0, max_tokens=512, timeout=60)


def _check_tool_loop(messages: list[Any]) -> None:
    calls = [call["name"] for m in messages if isinstance(m, AIMessage) for call in m.tool_calls]
    assert {"get_weather", "get_time"} <= set(calls)
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(results) == len(calls)
    final = messages[-1]
    assert isinstance(final, AIMessage)
    assert not final.tool_calls
    assert final.text


def test_langgraph_react_agent_runs_the_tool_loop(model: ChatCloudflareMistral) -> None:
    agent = create_react_agent(model, [get_weather, get_time])
    state = agent.invoke({"messages": [HumanMessage(QUESTION)]})
    _check_tool_loop(state["messages"])


async def test_create_agent_runs_the_tool_loop_async(model: ChatCloudflareMistral) -> None:
    agent = create_agent(model, [get_weather, get_time])
    state = await agent.ainvoke({"messages": [HumanMessage(QUESTION)]})
    _check_tool_loop(state["messages"])


@pytest.mark.parametrize("factory", [create_react_agent, create_agent])
def test_agents_stream_messages_with_tool_call_chunks(
    model: ChatCloudflareMistral, factory: Any
) -> None:
    agent = factory(model, [get_weather, get_time])
    chunks = [
        message
        for message, _ in agent.stream(
            {"messages": [HumanMessage(QUESTION)]}, stream_mode="messages"
        )
    ]
    model_chunks = [c for c in chunks if isinstance(c, AIMessageChunk)]
    tool_chunks = [tc for c in model_chunks for tc in c.tool_call_chunks]
    assert {tc["name"] for tc in tool_chunks if tc["name"]} >= {"get_weather", "get_time"}
    assert all(tc["index"] is not None for tc in tool_chunks)
    assert any(isinstance(c, ToolMessage) for c in chunks)
    assert "".join(c.text for c in model_chunks)  # the final answer streamed as text


def test_sequential_tool_steps_until_the_answer(
    model: ChatCloudflareMistral, emulator_only: Emulator
) -> None:
    emulator_only.script(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    emulator_only.script(tool_calls=[{"name": "get_time", "arguments": {"city": "Paris"}}])
    emulator_only.script(text="Sunny, 21 degrees, and it is 14:05 in Paris.")
    agent = create_agent(model, [get_weather, get_time])
    state = agent.invoke({"messages": [HumanMessage("What is it like in Paris right now?")]})
    steps = [m for m in state["messages"] if isinstance(m, AIMessage)]
    assert [[c["name"] for c in m.tool_calls] for m in steps] == [["get_weather"], ["get_time"], []]
    assert steps[-1].text == "Sunny, 21 degrees, and it is 14:05 in Paris."
    # The third request carries both earlier tool turns, with Mistral-valid ids.
    wire = emulator_only.requests[-1].body["messages"]
    assert [m["role"] for m in wire] == ["user", "assistant", "tool", "assistant", "tool"]


@pytest.mark.parametrize("with_tools", [True, False])
def test_create_agent_with_response_format_returns_the_parsed_object(
    model: ChatCloudflareMistral, with_tools: bool
) -> None:
    tools = [get_weather, get_time] if with_tools else []
    agent = create_agent(model, tools, response_format=CityReport)
    state = agent.invoke({"messages": [HumanMessage("Use get_weather for Paris and report.")]})
    report = state["structured_response"]
    assert isinstance(report, CityReport)
    assert report.city
    if with_tools:
        names = [
            c["name"] for m in state["messages"] if isinstance(m, AIMessage) for c in m.tool_calls
        ]
        assert "get_weather" in names


def test_create_agent_with_tool_strategy_returns_the_parsed_object(
    model: ChatCloudflareMistral,
) -> None:
    agent = create_agent(model, [], response_format=ToolStrategy(CityReport))
    state = agent.invoke({"messages": [HumanMessage("Report on Paris.")]})
    assert isinstance(state["structured_response"], CityReport)


async def test_lcel_chain_streams(model: ChatCloudflareMistral) -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer in one sentence."), ("human", "Tell me about {topic}")]
    )
    chain = prompt | model | StrOutputParser()
    pieces = [piece async for piece in chain.astream({"topic": "Lyon"})]
    assert len(pieces) > 1
    assert "".join(pieces).strip()
    assert chain.invoke({"topic": "Lyon"})
