"""The stand-in model: guided_json, heuristic tool calls, echo, max_tokens, determinism."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cf_mistral.emulator import Emulator, count_tokens
from cf_mistral.emulator._model import generate_value, split_pieces
from cf_mistral.emulator._validate import validate

from .helpers import WEATHER_TOOL, chat, user

SCHEMAS: list[dict[str, Any]] = [
    {},
    {"type": "object"},
    {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "capital": {"type": "string"},
            "languages": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "capital", "languages"],
    },
    {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 18, "maximum": 99},
            "score": {"type": "number", "exclusiveMaximum": 1, "minimum": 0},
            "mood": {"enum": ["happy", "sad"]},
            "ok": {"type": "boolean"},
            "nick": {"type": ["string", "null"], "minLength": 3, "maxLength": 5},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "when": {"type": "string", "format": "date"},
        },
        "required": ["age", "score", "mood"],
        "additionalProperties": False,
    },
    {
        "$defs": {
            "Person": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "friends": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/Pet"}},
                },
                "required": ["name", "friends"],
            },
            "Pet": {"type": "object", "properties": {"kind": {"const": "dog"}}},
        },
        "$ref": "#/$defs/Person",
    },
    {
        "type": "object",
        "properties": {
            "value": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "item": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "both": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
                ]
            },
        },
        "required": ["value", "item", "both"],
    },
    {"type": "array", "items": {"type": "object", "properties": {"t": {"type": "string"}}}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_generate_value_is_valid(schema: dict[str, Any]) -> None:
    value = generate_value(schema, "Tell me about India and Delhi, age 30, score 0.5, happy")
    assert validate(value, schema) == [], value


@pytest.mark.parametrize("schema", SCHEMAS[:6])
def test_guided_json_over_http(
    emulator: Emulator, client: httpx.Client, schema: dict[str, Any]
) -> None:
    r = client.post(
        emulator.run_url(), json=chat("Tell me about India.", guided_json=schema, max_tokens=1000)
    )
    assert r.status_code == 200, r.text
    response = r.json()["result"]["response"]
    assert isinstance(response, str)
    value = json.loads(response)
    assert validate(value, schema) == []
    if schema is SCHEMAS[0]:
        assert isinstance(value, dict)
        assert value


def test_guided_json_strings_from_prompt(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(
        emulator.run_url(),
        json=chat("Tell me about India.", guided_json=SCHEMAS[2], max_tokens=500),
    )
    value = json.loads(r.json()["result"]["response"])
    assert value["name"] == "India"


def test_guided_json_object_mode(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(guided_json_response="object")
    r = client.post(emulator.run_url(), json=chat("India", guided_json=SCHEMAS[2]))
    assert isinstance(r.json()["result"]["response"], dict)


def test_openai_response_format(emulator: Emulator, client: httpx.Client) -> None:
    body = {
        "model": emulator.model,
        **chat("Tell me about India."),
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "c", "schema": SCHEMAS[2]},
        },
    }
    content = client.post(emulator.openai_url, json=body).json()["choices"][0]["message"]
    assert validate(json.loads(content["content"]), SCHEMAS[2]) == []


def test_heuristic_tool_call(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(
        emulator.run_url(),
        json=chat(
            "What's the weather in Paris for 3 days? Use the get weather tool.",
            tools=[WEATHER_TOOL],
        ),
    )
    result = r.json()["result"]
    assert result["response"] == ""
    assert result["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}
    ]
    params = WEATHER_TOOL["function"]["parameters"]  # type: ignore[index]
    assert validate(result["tool_calls"][0]["arguments"], params) == []


def test_tool_call_quoted_and_parallel(emulator: Emulator, client: httpx.Client) -> None:
    search = {
        "name": "searchDocs",
        "description": "search",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "q"}},
            "required": ["query"],
        },
    }
    r = client.post(
        emulator.run_url(),
        json=chat(
            'Please search docs for "vector stores" and then get_weather in Rome',
            tools=[WEATHER_TOOL, search],
        ),
    )
    calls = r.json()["result"]["tool_calls"]
    assert [c["name"] for c in calls] == ["searchDocs", "get_weather"]
    assert calls[0]["arguments"] == {"query": "vector stores"}


def test_no_tool_named_gives_text(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(emulator.run_url(), json=chat("Just say hi", tools=[WEATHER_TOOL]))
    assert r.json()["result"]["response"] == "You said: Just say hi"


@pytest.mark.parametrize(
    ("mode", "expected"), [("empty", ""), ("null", None), ("absent", "missing")]
)
def test_tool_turn_response_modes(
    emulator: Emulator, client: httpx.Client, mode: str, expected: object
) -> None:
    emulator.configure(tool_turn_response=mode)
    result = client.post(
        emulator.run_url(), json=chat("get_weather Paris 1", tools=[WEATHER_TOOL])
    ).json()["result"]
    assert result.get("response", "missing") == expected


def test_arguments_as_string(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(arguments_as_string=True)
    call = client.post(
        emulator.run_url(), json=chat("get_weather Paris 1", tools=[WEATHER_TOOL])
    ).json()["result"]["tool_calls"][0]
    assert json.loads(call["arguments"]) == {"city": "Paris", "days": 1}


def test_system_and_context_visible(emulator: Emulator, client: httpx.Client) -> None:
    body = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            user("first question"),
            {"role": "assistant", "content": "first answer"},
            user("Context: the sky is green.\nQuestion: what colour is the sky?"),
        ]
    }
    text = client.post(emulator.run_url(), json=body).json()["result"]["response"]
    assert text.startswith("You said: Context: the sky is green.")
    assert "[system: You are terse.]" in text
    assert "[context: first question | first answer]" in text


def test_max_tokens_cut(emulator: Emulator, client: httpx.Client) -> None:
    result = client.post(
        emulator.run_url(), json=chat("one two three four five six", max_tokens=4)
    ).json()["result"]
    assert result["response"] == "You said: one"
    assert result["usage"]["completion_tokens"] == 4
    msg = client.post(
        emulator.openai_url, json={"model": emulator.model, **chat("one two three", max_tokens=2)}
    ).json()["choices"][0]
    assert msg["finish_reason"] == "length"


def test_default_max_tokens_256(emulator: Emulator, client: httpx.Client) -> None:
    usage = client.post(emulator.run_url(), json=chat("w " * 400)).json()["result"]["usage"]
    assert usage["completion_tokens"] == 256
    assert usage["prompt_tokens"] == 400


def test_deterministic(emulator: Emulator, client: httpx.Client) -> None:
    body = chat("Describe Lisbon in 12 words", tools=[WEATHER_TOOL], guided_json=SCHEMAS[3])
    results = [client.post(emulator.run_url(), json=body).json()["result"] for _ in range(3)]
    assert results[0] == results[1] == results[2]


def test_count_tokens_and_pieces() -> None:
    assert count_tokens("") == 1
    assert count_tokens("Hello, world!") == 4
    text = "  Hello,  world! "
    pieces = split_pieces(text)
    assert "".join(pieces) == text
    assert len(pieces) == count_tokens(text)


def test_a_distinctive_word_of_a_tool_name_calls_it(
    emulator: Emulator, client: httpx.Client
) -> None:
    r = client.post(
        emulator.run_url(), json=chat("What is the weather in Oslo?", tools=[WEATHER_TOOL])
    )
    assert [c["name"] for c in r.json()["result"]["tool_calls"]] == ["get_weather"]


def test_a_generic_word_of_a_tool_name_does_not_call_it(
    emulator: Emulator, client: httpx.Client
) -> None:
    r = client.post(emulator.run_url(), json=chat("Get me a coffee", tools=[WEATHER_TOOL]))
    assert "tool_calls" not in r.json()["result"]


def test_json_mode_answers_with_the_keys_the_prompt_quotes(
    emulator: Emulator, client: httpx.Client
) -> None:
    prompt = "Tell me a joke as JSON with 'setup' and 'punchline' keys."
    r = client.post(emulator.run_url(), json=chat(prompt, guided_json={}))
    value = json.loads(r.json()["result"]["response"])
    assert set(value) == {"setup", "punchline"}
    assert all(isinstance(v, str) and v for v in value.values())
