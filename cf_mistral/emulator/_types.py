"""Configuration and data records of the emulator."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ._faults import Fault

__all__ = ["MISTRAL_MODEL", "EmulatorConfig", "RecordedRequest", "ScriptedReply"]

MISTRAL_MODEL = "@cf/mistralai/mistral-small-3.1-24b-instruct"


@dataclass
class EmulatorConfig:
    """Everything that can be switched.  Defaults follow WIRE-FORMAT.md §12."""

    host: str = "127.0.0.1"
    port: int = 0
    account_id: str = "test-account"
    #: Bearer token required on API routes; ``None`` accepts any bearer token.
    token: str | None = "test-token"  # noqa: S105
    #: When set, gateway routes require ``cf-aig-authorization: Bearer <gateway_token>``.
    gateway_token: str | None = None
    #: When set, gateway ids outside this list get 400 / 2001.
    gateways: tuple[str, ...] | None = None
    models: tuple[str, ...] = (MISTRAL_MODEL,)
    max_request_bytes: int = 10 * 1024 * 1024
    #: How many of the latest requests are kept for inspection (``Emulator.requests``): a
    #: long-running emulator must not grow with every request it has ever served.
    max_recorded_requests: int = 1000
    default_max_tokens: int = 256

    # -- validation switches ---------------------------------------------------------
    validate_schema: bool = True
    reject_tool_choice_response_format: bool = True
    reject_undeclared_keys: bool = False
    tool_id_policy: Literal["strict9", "vllm", "lenient"] = "strict9"
    reject_null_content: bool = True
    check_role_order: bool = True
    validate_tool_property_descriptions: bool = False
    reject_lora: bool = True

    # -- reply shapes ----------------------------------------------------------------
    tool_turn_response: Literal["empty", "null", "absent"] = "empty"
    arguments_as_string: bool = False
    guided_json_response: Literal["string", "object"] = "string"
    empty_tool_calls_noise: bool = False
    stream_tool_call_shape: Literal["flat", "openai_delta"] = "flat"
    #: Add the random ``p`` padding field to stream text events.
    stream_padding: bool = True

    # -- pacing ----------------------------------------------------------------------
    stream_interval: float = 0.0
    latency: float = 0.0
    #: Seconds a new connection waits before its first reply is read (a real edge's TCP and
    #: TLS round trips); a reused connection does not wait.
    connect_delay: float = 0.0

    def replace(self, **changes: Any) -> EmulatorConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _fault_or_none(value: Any) -> Fault | None:
    if value is None or isinstance(value, Fault):
        return value
    if isinstance(value, dict):
        return Fault.from_dict(value)
    raise TypeError(f"fault must be a Fault or a dict, not {type(value).__name__}")


@dataclass
class ScriptedReply:
    """A canned reply for the next request(s); JSON-serialisable for ``/__emulator/script``.

    Precedence: ``fault`` > ``raw_sse`` > ``raw_body`` > ``raw_result`` > ``tool_calls`` >
    ``json`` > ``chunks`` > ``text``.
    """

    text: str | None = None
    chunks: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    json: Any = None
    raw_result: dict[str, Any] | None = None
    raw_body: bytes | str | None = None
    status: int = 200
    content_type: str | None = None
    raw_sse: str | bytes | None = None
    fault: Fault | None = None
    usage: dict[str, Any] | None = None
    #: Serve this reply for that many requests; ``<= 0`` = until reset.
    repeat: int = 1

    def __post_init__(self) -> None:
        self.fault = _fault_or_none(self.fault)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Fault):
                value = value.to_dict()
            elif isinstance(value, bytes):
                value = {"base64": base64.b64encode(value).decode()}
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScriptedReply:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown ScriptedReply fields: {sorted(unknown)}")
        data = dict(data)
        for key in ("raw_body", "raw_sse"):
            value = data.get(key)
            if isinstance(value, dict) and "base64" in value:
                data[key] = base64.b64decode(value["base64"])
        return cls(**data)


@dataclass
class RecordedRequest:
    """One request as the emulator saw it."""

    method: str
    path: str
    route: str  # "native" | "openai" | "gateway" | "admin" | "unknown"
    headers: dict[str, str]
    body: Any
    raw: bytes
    time: float
    query: str = ""
    account: str | None = None
    model: str | None = None
    gateway: str | None = None
    status: int | None = None
    fault: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "route": self.route,
            "headers": self.headers,
            "body": self.body,
            "raw": self.raw.decode("utf-8", "replace"),
            "time": self.time,
            "account": self.account,
            "model": self.model,
            "gateway": self.gateway,
            "status": self.status,
            "fault": self.fault,
        }
