"""Fault injection: kinds, the :class:`Fault` record and the error bodies they produce.

Error bodies copy the shapes in ``/work/shared/workers-ai/recordings`` (the Cloudflare v4
envelope; the 3040 body is the shorter ``{"success":false,"errors":[...]}`` variant).
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["STREAM_KINDS", "Fault", "FaultKind", "error_body", "fault_response"]


class FaultKind(str, enum.Enum):
    """What goes wrong."""

    capacity = "capacity"  # 429 / 3040, optional Retry-After
    rate_limit = "rate_limit"  # alias of capacity without Retry-After
    quota = "quota"  # 429 / 4006 daily neuron allocation
    timeout = "timeout"  # 408 / 3007
    server_error = "server_error"  # 500 (status may pick 502/503/504), no code by default
    html_error = "html_error"  # 502 HTML page from the edge
    bad_request = "bad_request"  # 400 / 5006
    auth = "auth"  # 401 / 10000
    too_large = "too_large"  # 413 / 3006
    connection_reset = "connection_reset"  # close the socket before any response byte
    truncated_stream = "truncated_stream"  # N events, then close with no [DONE]
    stall = "stall"  # N events, sleep stall_seconds, then continue
    malformed_sse = "malformed_sse"  # a ``data: {not json`` line after N events
    inband_error = "inband_error"  # a ``data: {"errors":[...]}`` event after N events


#: Kinds that act on a successful (streamed) reply instead of replacing it.
STREAM_KINDS = frozenset(
    {FaultKind.truncated_stream, FaultKind.stall, FaultKind.malformed_sse, FaultKind.inband_error}
)

CAPACITY_MESSAGE = "Capacity temporarily exceeded, please try again."
QUOTA_MESSAGE = (
    "you have used up your daily free allocation of 10,000 neurons, please upgrade to "
    "Cloudflare's Workers Paid plan if you would like to continue usage."
)

_DEFAULTS: dict[FaultKind, tuple[int, int | None, str]] = {
    FaultKind.capacity: (429, 3040, CAPACITY_MESSAGE),
    FaultKind.rate_limit: (429, 3040, CAPACITY_MESSAGE),
    FaultKind.quota: (429, 4006, QUOTA_MESSAGE),
    FaultKind.timeout: (408, 3007, "Request timeout"),
    FaultKind.server_error: (500, None, "AiError: Internal server error"),
    FaultKind.html_error: (502, None, "Bad Gateway"),
    FaultKind.bad_request: (
        400,
        5006,
        "AiError: Bad input: Error: oneOf at '/' not met, 0 matches: "
        "required properties at '/' are 'prompt', required properties at '/' are 'messages'",
    ),
    FaultKind.auth: (401, 10000, "Authentication error"),
    FaultKind.too_large: (413, 3006, "Request is too large"),
    FaultKind.inband_error: (200, 3040, CAPACITY_MESSAGE),
}

_HTML_PAGE = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    """One injected failure.

    ``status``/``code``/``message`` override the kind's defaults; ``retry_after`` (seconds)
    adds a ``Retry-After`` header; ``after_events`` is how many stream events are sent before
    a stream fault acts; ``stall_seconds`` is the pause of a ``stall``.  ``clean_close``
    (``truncated_stream`` only) ends the chunked body properly instead of dropping the
    connection mid-body.
    """

    kind: FaultKind
    status: int | None = None
    code: int | None = None
    message: str | None = None
    retry_after: float | None = None
    after_events: int = 2
    stall_seconds: float = 1.0
    clean_close: bool = False

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)

    @property
    def is_stream_fault(self) -> bool:
        return self.kind in STREAM_KINDS

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown Fault fields: {sorted(unknown)}")
        return cls(**data)

    def resolved(self) -> tuple[int, int | None, str]:
        """(status, code, message) after applying defaults."""
        status, code, message = _DEFAULTS.get(self.kind, (500, None, "error"))
        if self.status is not None:
            status = self.status
        if self.code is not None:
            code = self.code
        if self.message is not None:
            message = self.message
        return status, code, message


def error_body(code: int | None, message: str, *, variant: str = "standard") -> bytes:
    """A Cloudflare v4 error envelope."""
    item: dict[str, Any] = {"message": message}
    if code is not None:
        item["code"] = code
    body: dict[str, Any]
    if variant == "auth":
        body = {
            "result": None,
            "success": False,
            "errors": [{"code": code, "message": message}],
            "messages": [],
        }
    elif variant == "short":
        body = {"success": False, "errors": [{"code": code, "message": message}]}
    elif variant == "gateway":
        body = {"success": False, "error": [{"code": code, "message": message}]}
    else:
        body = {"errors": [item], "success": False, "result": {}, "messages": []}
    return json.dumps(body, separators=(",", ":")).encode()


def fault_response(fault: Fault) -> tuple[int, str, bytes, dict[str, str]]:
    """(status, content type, body, extra headers) for a response-replacing fault."""
    status, code, message = fault.resolved()
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        ra = fault.retry_after
        headers["retry-after"] = str(int(ra)) if float(ra).is_integer() else str(ra)
    kind = fault.kind
    if kind is FaultKind.html_error:
        page = _HTML_PAGE.format(status=status) if fault.message is None else fault.message
        return status, "text/html", page.encode(), headers
    if kind in (FaultKind.capacity, FaultKind.rate_limit):
        return status, "application/json", error_body(code, message, variant="short"), headers
    if kind is FaultKind.auth:
        return status, "application/json", error_body(code, message, variant="auth"), headers
    if fault.message is None and kind in (FaultKind.quota, FaultKind.timeout):
        message = f"AiError: AiError: {message} ({uuid.uuid4()})"
    return status, "application/json", error_body(code, message), headers
