"""Local Workers AI emulator for ``@cf/mistralai/mistral-small-3.1-24b-instruct``.

A real HTTP/1.1 server on loopback (asyncio + h11, keep-alive, chunked SSE) that speaks the
native ``/ai/run`` route, the OpenAI-compatible ``/ai/v1/chat/completions`` route and the AI
Gateway route, validates input against the published model schema, answers with a
deterministic stand-in model, and injects faults on demand.  See ``WIRE-FORMAT.md``.
"""

from ._emulator import Emulator, serve
from ._faults import Fault, FaultKind
from ._model import count_tokens
from ._types import MISTRAL_MODEL, EmulatorConfig, RecordedRequest, ScriptedReply

__all__ = [
    "MISTRAL_MODEL",
    "Emulator",
    "EmulatorConfig",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "ScriptedReply",
    "count_tokens",
    "serve",
]
