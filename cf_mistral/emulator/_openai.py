"""Shapes of the OpenAI-compatible route (``/ai/v1/chat/completions``)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

from ._model import Reply

__all__ = ["completion", "completion_chunks", "guided_schema", "tool_call_id"]


def tool_call_id() -> str:
    return "chatcmpl-tool-" + secrets.token_hex(16)


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    out = []
    for call in reply.tool_calls or []:
        args = call.get("arguments", {})
        out.append(
            {
                "id": tool_call_id(),
                "type": "function",
                "function": {
                    "name": call.get("name"),
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
        )
    return out


def guided_schema(body: dict[str, Any]) -> Any:
    """The JSON schema a request asks for, from ``guided_json`` or ``response_format``."""
    if isinstance(body.get("guided_json"), dict):
        return body["guided_json"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_object":
            return {}
        if fmt.get("type") == "json_schema":
            js = fmt.get("json_schema")
            if isinstance(js, dict):
                schema = js.get("schema", js)
                return schema if isinstance(schema, dict) else {}
    return None


def completion(reply: Reply, model: str) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["content"] = None
        message["tool_calls"] = _tool_calls(reply)
    return {
        "id": "chatcmpl-" + secrets.token_hex(16),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
        ],
        "usage": reply.usage,
    }


def completion_chunks(reply: Reply, model: str) -> Iterator[dict[str, Any]]:
    """``chat.completion.chunk`` objects: role, deltas, finish, then a usage chunk."""
    cid = "chatcmpl-" + secrets.token_hex(16)
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    if reply.tool_calls:
        for index, call in enumerate(_tool_calls(reply)):
            fn = call["function"]
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": fn["name"], "arguments": ""},
                        }
                    ]
                }
            )
            yield chunk(
                {"tool_calls": [{"index": index, "function": {"arguments": fn["arguments"]}}]}
            )
    else:
        for piece in reply.pieces:
            yield chunk({"content": piece})
    yield chunk({}, reply.finish_reason)
    yield {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": reply.usage,
    }
