"""langchain-tests' ChatModelIntegrationTests, against the emulator (or the real API).

Nothing is overridden and nothing is scripted: the emulator's stand-in model answers every
standard test from its prompt. One offline adjustment, not touching cf-mistral: the standard
image tests download a PNG from GitHub; here ``httpx.get`` in those tests serves a local PNG
instead (the request to the model is unchanged: the same content blocks).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import httpx
import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

import cf_mistral as cf
from cf_mistral.emulator import Emulator
from langchain_cf_mistral import ChatCloudflareMistral


def _png(width: int = 8, height: int = 8) -> bytes:
    """A small valid RGB PNG, made here so the test needs no download."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# A second Workers AI text model, for the per-call ``model=`` override tests.
OTHER_MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"


class TestChatCloudflareMistralIntegration(ChatModelIntegrationTests):
    _connection: dict[str, Any] = {}

    @pytest.fixture(autouse=True)
    def _offline(
        self,
        request: pytest.FixtureRequest,
        connection: dict[str, Any],
        live_server: Emulator | None,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        type(self)._connection = connection
        name = request.node.originalname
        if name in ("test_image_inputs", "test_anthropic_inputs"):
            monkeypatch.setattr(httpx, "get", lambda *a, **k: httpx.Response(200, content=_png()))
        if live_server is not None:
            live_server.configure(models=(cf.DEFAULT_MODEL, OTHER_MODEL))

    @property
    def chat_model_class(self) -> type[ChatCloudflareMistral]:
        return ChatCloudflareMistral

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {**self._connection, "timeout": 30, "max_tokens": 512}

    @property
    def model_override_value(self) -> str:
        return OTHER_MODEL

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        # Workers AI refuses http(s) image URLs ("HTTP URL will not be accepted").
        return False

    @property
    def supports_image_tool_message(self) -> bool:
        # Workers AI tool messages carry text only.
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True
