"""Schema validation and the validation switches (wording asserted)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cf_mistral.emulator import Emulator
from cf_mistral.emulator._validate import validate

from .helpers import WEATHER_TOOL, chat, user

BAD = "AiError: Bad input: Error: "


def error_of(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert body["success"] is False
    assert body["result"] == {}
    assert body["messages"] == []
    err: dict[str, Any] = body["errors"][0]
    return err


def post(emulator: Emulator, client: httpx.Client, body: Any) -> httpx.Response:
    return client.post(emulator.run_url(), json=body)


def test_oneof_content_type_wording(emulator: Emulator, client: httpx.Client) -> None:
    r = post(emulator, client, {"messages": [{"role": "user", "content": 42}]})
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == 5006
    assert err["message"] == (
        BAD + "oneOf at '/' not met, 0 matches: required properties at '/' are 'prompt', "
        "oneOf at '/messages/0/content' not met, 0 matches: "
        "Type mismatch of '/messages/0/content', 'integer' not in 'string', "
        "Type mismatch of '/messages/0/content', 'integer' not in 'array', "
        "Type mismatch of '/messages/0/content', 'integer' not in 'object'"
    )


def test_recorded_message_shape_reproduced() -> None:
    # the recording's model had string-only content; same validator, same words
    schema = {
        "type": "object",
        "oneOf": [
            {"properties": {"prompt": {"type": "string"}}, "required": ["prompt"]},
            {
                "properties": {
                    "messages": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"content": {"type": "string"}}},
                    }
                },
                "required": ["messages"],
            },
        ],
    }
    errors = validate({"messages": [{"role": "user", "content": []}]}, schema)
    assert ", ".join(errors) == (
        "oneOf at '/' not met, 0 matches: required properties at '/' are 'prompt', "
        "Type mismatch of '/messages/0/content', 'array' not in 'string'"
    )


def test_neither_prompt_nor_messages(emulator: Emulator, client: httpx.Client) -> None:
    r = post(emulator, client, {"max_tokens": 5})
    assert error_of(r)["message"] == (
        BAD + "oneOf at '/' not met, 0 matches: required properties at '/' are 'prompt', "
        "required properties at '/' are 'messages'"
    )


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"temperature": 6}, "Value 6 at '/temperature' is greater than maximum 5"),
        ({"top_k": 0}, "Value 0 at '/top_k' is less than minimum 1"),
        ({"max_tokens": "10"}, "Type mismatch of '/max_tokens', 'string' not in 'integer'"),
        ({"stream": "yes"}, "Type mismatch of '/stream', 'string' not in 'boolean'"),
    ],
)
def test_parameter_ranges(
    emulator: Emulator, client: httpx.Client, extra: dict[str, Any], fragment: str
) -> None:
    r = post(emulator, client, chat("x", **extra))
    assert r.status_code == 400
    assert fragment in error_of(r)["message"]


def test_prompt_min_length(emulator: Emulator, client: httpx.Client) -> None:
    r = post(emulator, client, {"prompt": ""})
    assert "String at '/prompt' is shorter than 1 characters" in error_of(r)["message"]


def test_image_part_pattern(emulator: Emulator, client: httpx.Client) -> None:
    good = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                ],
            }
        ]
    }
    r = post(emulator, client, good)
    assert r.status_code == 200
    assert "[1 image(s) received]" in r.json()["result"]["response"]
    bad = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                ],
            }
        ]
    }
    r = post(emulator, client, bad)
    assert r.status_code == 400
    assert "does not match pattern '^data:*'" in error_of(r)["message"]


def test_tool_choice_rejected_by_default(emulator: Emulator, client: httpx.Client) -> None:
    r = post(emulator, client, chat("x", tool_choice="auto"))
    assert r.status_code == 400
    assert error_of(r) == {
        "code": 5006,
        "message": BAD + "Additional or unevaluated properties '/tool_choice' at '/' not allowed",
    }
    r = post(emulator, client, chat("x", tool_choice="auto", response_format={"type": "json"}))
    assert "'/tool_choice, /response_format' at '/'" in error_of(r)["message"]


def test_tool_choice_switch_off(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(reject_tool_choice_response_format=False)
    assert post(emulator, client, chat("x", tool_choice="auto")).status_code == 200


def test_undeclared_keys_switch(emulator: Emulator, client: httpx.Client) -> None:
    assert post(emulator, client, chat("x", stop=None, n=1)).status_code == 200
    emulator.configure(reject_undeclared_keys=True)
    r = post(emulator, client, chat("x", stop=None, n=1))
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        BAD + "Additional or unevaluated properties '/stop, /n' at '/' not allowed"
    )
    assert post(emulator, client, chat("x", seed=5, functions=[])).status_code == 200


def test_lora_rejected(emulator: Emulator, client: httpx.Client) -> None:
    r = post(emulator, client, chat("x", lora="my-adapter"))
    assert r.status_code == 405
    assert error_of(r)["code"] == 5005
    assert "does not support LoRa inference" in error_of(r)["message"]


def test_null_content(emulator: Emulator, client: httpx.Client) -> None:
    body = {"messages": [user("hi"), {"role": "assistant", "content": None}, user("again")]}
    r = post(emulator, client, body)
    assert r.status_code == 400
    assert (
        "Type mismatch of '/messages/1/content', 'null' not in 'string'" in error_of(r)["message"]
    )
    emulator.configure(reject_null_content=False, check_role_order=False)
    assert post(emulator, client, body).status_code == 200
    emulator.configure(reject_null_content=True, validate_schema=False)
    r = post(emulator, client, body)
    assert error_of(r)["message"] == BAD + "content must not be null at '/messages/1/content'"


def history(call_id: str, answer_id: str | None = None) -> dict[str, Any]:
    return {
        "messages": [
            user("weather in Paris?"),
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": answer_id or call_id,
                "name": "get_weather",
                "content": '{"temp": 21}',
            },
        ],
        "tools": [WEATHER_TOOL],
    }


def test_tool_id_strict9(emulator: Emulator, client: httpx.Client) -> None:
    r = post(emulator, client, history("Ab3dE6gH9"))
    assert r.status_code == 200
    assert r.json()["result"]["response"] == 'Based on the tool results: {"temp": 21}'
    # the schema's unanchored pattern rejects ids without 9 alnum in a row ...
    r = post(emulator, client, history("abc"))
    assert (
        "String at '/messages/2/tool_call_id' does not match pattern '[a-zA-Z0-9]{9}'"
        in error_of(r)["message"]
    )
    # ... and the strict9 policy rejects what the pattern lets through
    for bad in ("chatcmpl-tool-875d3ec6179676ae", "Ab3dE6gH9-", "Ab3dE6gH9x"):
        r = post(emulator, client, history(bad))
        assert r.status_code == 400
        assert error_of(r)["message"] == (
            BAD + f"Tool call id was {bad} but must be a-z, A-Z, 0-9, with a length of 9."
        )


def test_tool_id_vllm(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(tool_id_policy="vllm")
    assert post(emulator, client, history("call_abcdef123456789")).status_code == 200
    r = post(emulator, client, history("abcdefgh9-"))
    assert "Tool call id was bcdefgh9-" in error_of(r)["message"]
    r = post(emulator, client, history("chatcmpl-tool-875d3ec61-79676ae"))
    assert "Tool call id was 1-79676ae but" in error_of(r)["message"]


def test_tool_id_lenient(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(tool_id_policy="lenient")
    assert post(emulator, client, history("x")).status_code == 200


def test_role_user_after_tool(emulator: Emulator, client: httpx.Client) -> None:
    body = history("Ab3dE6gH9")
    body["messages"].append(user("thanks"))
    r = post(emulator, client, body)
    assert error_of(r)["message"] == BAD + "Unexpected role 'user' after role 'tool'"
    emulator.configure(check_role_order=False)
    assert post(emulator, client, body).status_code == 200


def test_assistant_content_and_tool_calls(emulator: Emulator, client: httpx.Client) -> None:
    body = history("Ab3dE6gH9")
    body["messages"][1]["content"] = "Let me check."
    r = post(emulator, client, body)
    assert r.status_code == 400
    assert "either content or tool_calls, but not both" in error_of(r)["message"]


def test_tool_answers_no_call(emulator: Emulator, client: httpx.Client) -> None:
    r = post(emulator, client, history("Ab3dE6gH9", answer_id="Zz9yY8xX7"))
    assert r.status_code == 400
    assert "tool_call_id 'Zz9yY8xX7' does not answer any earlier" in error_of(r)["message"]
    body = history("Ab3dE6gH9")
    del body["messages"][2]["tool_call_id"]
    assert "must have a tool_call_id" in error_of(post(emulator, client, body))["message"]


def test_tool_definition_validation(emulator: Emulator, client: httpx.Client) -> None:
    no_desc = {
        "type": "function",
        "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
    }
    r = post(emulator, client, chat("x", tools=[no_desc]))
    assert r.status_code == 400
    assert "required properties at '/tools/0/function' are 'description'" in error_of(r)["message"]
    flat = {
        "name": "f",
        "description": "d",
        "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
    }
    assert post(emulator, client, chat("x", tools=[flat])).status_code == 200


def test_tool_property_descriptions_switch(emulator: Emulator, client: httpx.Client) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "description": "d",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "required": ["a"],
            },
        },
    }
    assert post(emulator, client, chat("x", tools=[tool])).status_code == 200
    emulator.configure(validate_tool_property_descriptions=True)
    r = post(emulator, client, chat("x", tools=[tool]))
    assert r.status_code == 400
    assert (
        "required properties at '/tools/0/function/parameters/properties/a' are 'description'"
    ) in error_of(r)["message"]
    assert post(emulator, client, chat("x", tools=[WEATHER_TOOL])).status_code == 200


def test_invalid_json_and_empty_body(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(
        emulator.run_url(), content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert error_of(r)["code"] == 5006
    r = client.post(emulator.run_url(), content=b"")
    assert r.status_code == 400
    assert error_of(r)["code"] == 3003


def test_request_too_large(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(max_request_bytes=1000)
    r = client.post(emulator.run_url(), json=chat("x" * 2000))
    assert r.status_code == 413
    assert error_of(r) == {"message": "Request is too large", "code": 3006}
    assert client.post(emulator.run_url(), json=chat("small")).status_code == 200


def test_validator_keywords() -> None:
    schema = {
        "$defs": {"pos": {"type": "integer", "exclusiveMinimum": 0}},
        "type": "object",
        "properties": {
            "n": {"$ref": "#/$defs/pos"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "kind": {"enum": ["a", "b"]},
            "opt": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["n"],
        "additionalProperties": False,
    }
    assert validate({"n": 1, "tags": ["x"], "kind": "a", "opt": None}, schema) == []
    errs = validate({"n": 0, "tags": [], "kind": "c", "opt": 1, "zz": 1}, schema)
    text = ", ".join(errs)
    assert "Value 0 at '/n' is not greater than 0" in text
    assert "Array at '/tags' has fewer than 1 items" in text
    assert "Value at '/kind' is not one of the enum values" in text
    assert "anyOf at '/opt' not met" in text
    assert "Additional or unevaluated properties '/zz' at '/' not allowed" in text
    assert validate(1.0, {"type": "integer"}) == []
    assert validate(True, {"type": "integer"}) != []
    assert validate("xx-abc123XYZ", {"pattern": "[a-zA-Z0-9]{9}"}) == []  # unanchored
