"""End to end: LlamaIndex agents (FunctionAgent, ReActAgent, AgentWorkflow) on CloudflareMistral.

Multi-step tasks script the model's replies (``emulator_only``), so each step is known; the
tests that need no script run against the real API too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from llama_index.core.agent.workflow import (
    AgentOutput,
    AgentStream,
    AgentWorkflow,
    FunctionAgent,
    ReActAgent,
    ToolCall,
    ToolCallResult,
)
from pydantic import BaseModel

from cf_mistral.emulator import Emulator
from llama_index_cf_mistral import CloudflareMistral

NINE = re.compile(r"[A-Za-z0-9]{9}")

# llama-index's workflow machinery inspects pydantic objects through deprecated attributes.
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
    pytest.mark.filterwarnings("ignore:is_running called from within a step:DeprecationWarning"),
]


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"It is sunny and 21 degrees in {city}."


@pytest.fixture
async def llm(connection: dict[str, Any]) -> AsyncIterator[CloudflareMistral]:
    model = CloudflareMistral(**connection, temperature=0, max_tokens=512)
    yield model
    await model.aclose()


async def _run(agent: Any, message: str) -> tuple[Any, list[Any]]:
    handler = agent.run(user_msg=message)
    events = [event async for event in handler.stream_events()]
    return await handler, events


def _script_add_then_multiply(emulator: Emulator) -> None:
    emulator.script(tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 3}}])
    emulator.script(tool_calls=[{"name": "multiply", "arguments": {"a": 5, "b": 4}}])
    emulator.script(chunks=["(2 + 3) ", "* 4 = ", "20"])


async def test_function_agent_calls_a_tool_and_answers(llm: CloudflareMistral):
    agent = FunctionAgent(tools=[get_weather, add], llm=llm)

    result, events = await _run(agent, "Use get_weather to tell me the weather in Paris.")

    calls = [e for e in events if isinstance(e, ToolCallResult)]
    assert [c.tool_name for c in calls][:1] == ["get_weather"]
    assert "sunny" in str(result).lower()


async def test_function_agent_completes_a_two_step_task_streaming_its_events(
    llm: CloudflareMistral, emulator_only: Emulator
):
    _script_add_then_multiply(emulator_only)
    agent = FunctionAgent(tools=[add, multiply], llm=llm)

    result, events = await _run(agent, "What is (2 + 3) * 4? Use the tools.")

    results = [e for e in events if isinstance(e, ToolCallResult)]
    assert [(r.tool_name, r.tool_kwargs, r.tool_output.raw_output) for r in results] == [
        ("add", {"a": 2, "b": 3}, 5),
        ("multiply", {"a": 5, "b": 4}, 20),
    ]
    assert all(NINE.fullmatch(r.tool_id) for r in results)
    deltas = [e.delta for e in events if isinstance(e, AgentStream) and e.delta]
    assert "".join(deltas) == "(2 + 3) * 4 = 20"
    assert str(result) == "(2 + 3) * 4 = 20"
    # Each tool result went back under its call's id, in the turn after the call.
    second, third = emulator_only.requests[1].body, emulator_only.requests[2].body
    call = second["messages"][-2]["tool_calls"][0]
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": "5",
        "name": "add",
    }
    assert third["messages"][-1]["content"] == "20"
    assert all(r.body["stream"] is True for r in emulator_only.requests)


async def test_function_agent_without_streaming(llm: CloudflareMistral, emulator_only: Emulator):
    _script_add_then_multiply(emulator_only)
    agent = FunctionAgent(tools=[add, multiply], llm=llm, streaming=False)

    result, events = await _run(agent, "What is (2 + 3) * 4?")

    assert [e.tool_name for e in events if isinstance(e, ToolCall)][-2:] == ["add", "multiply"]
    assert str(result) == "(2 + 3) * 4 = 20"
    assert all("stream" not in r.body for r in emulator_only.requests)


class Arithmetic(BaseModel):
    expression: str
    value: int


async def test_function_agent_with_an_output_class(llm: CloudflareMistral, emulator_only: Emulator):
    _script_add_then_multiply(emulator_only)
    agent = FunctionAgent(tools=[add, multiply], llm=llm, output_cls=Arithmetic)

    result, _ = await _run(agent, "What is (2 + 3) * 4?")

    assert Arithmetic.model_validate(result.structured_response)
    assert emulator_only.last_request.body["guided_json"] == Arithmetic.model_json_schema()


async def test_react_agent_reasons_in_text_and_calls_tools(
    llm: CloudflareMistral, emulator_only: Emulator
):
    emulator_only.script(
        text='Thought: I need to add first.\nAction: add\nAction Input: {"a": 2, "b": 3}'
    )
    emulator_only.script(
        text='Thought: Now multiply.\nAction: multiply\nAction Input: {"a": 5, "b": 4}'
    )
    emulator_only.script(text="Thought: I can answer without using any more tools.\nAnswer: 20")
    agent = ReActAgent(tools=[add, multiply], llm=llm)

    result, events = await _run(agent, "What is (2 + 3) * 4?")

    outputs = [e.tool_output.raw_output for e in events if isinstance(e, ToolCallResult)]
    assert outputs == [5, 20]
    assert str(result) == "20"
    # ReAct sends no tools: the model reads them from the system prompt.
    assert all("tools" not in r.body for r in emulator_only.requests)


async def test_agent_workflow_picks_a_function_agent_and_finishes(
    llm: CloudflareMistral, emulator_only: Emulator
):
    _script_add_then_multiply(emulator_only)
    workflow = AgentWorkflow.from_tools_or_functions([add, multiply], llm=llm)

    assert isinstance(workflow.agents[next(iter(workflow.agents))], FunctionAgent)
    result, events = await _run(workflow, "What is (2 + 3) * 4?")

    assert [e.tool_name for e in events if isinstance(e, ToolCallResult)] == ["add", "multiply"]
    assert any(isinstance(e, AgentOutput) for e in events)
    assert str(result) == "(2 + 3) * 4 = 20"
