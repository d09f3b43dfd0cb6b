"""Small helpers shared by the emulator tests."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from typing import Any

MODEL = "@cf/mistralai/mistral-small-3.1-24b-instruct"


@contextlib.contextmanager
def running(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    """A foreground command (its stdout piped), killed at the end if it still runs."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def chat(*texts: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [user(t) for t in texts], **extra}


def sse_data(text: str) -> list[str]:
    """The payloads of every ``data:`` line, in order."""
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


def sse_json(text: str) -> list[Any]:
    """Parsed JSON events (``[DONE]`` excluded)."""
    return [json.loads(d) for d in sse_data(text) if d != "[DONE]"]


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "days": {"type": "integer", "description": "Days", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "days"],
        },
    },
}
