"""Error bodies → the exception tree, decided once, by HTTP status and Cloudflare code.

Bodies vary (WIRE-FORMAT §7.1): the v4 envelope ``{"errors": [{"code", "message"}]}``, AI
Gateway's ``{"error": [...]}``, ``errors`` as one object, no ``code``, an HTML page from the
edge, plain text. Each still gives a clear message. The class comes from the code when the
body has one, else from the status; a few texts are recognised because Cloudflare sends them
under several codes (WIRE-FORMAT §11.10).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from cf_mistral import _errors as e

__all__ = ["error_from_payload", "error_from_response", "parse_retry_after", "request_id_of"]

_BY_CODE: dict[int, type[e.APIStatusError]] = {
    10000: e.AuthenticationError,
    2009: e.GatewayError,
    2001: e.GatewayError,
    2008: e.GatewayError,
    3040: e.RateLimitError,
    3036: e.QuotaExceededError,
    4006: e.QuotaExceededError,
    3006: e.RequestTooLargeError,
    3007: e.RequestTimeoutError,
    3008: e.RequestTimeoutError,
    5006: e.BadRequestError,
    5007: e.BadRequestError,
    3042: e.NotFoundError,
    5024: e.GuidedJSONError,
}
_BY_STATUS: dict[int, type[e.APIStatusError]] = {
    400: e.BadRequestError,
    401: e.AuthenticationError,
    403: e.AuthenticationError,
    404: e.NotFoundError,
    408: e.RequestTimeoutError,
    409: e.ServerError,
    413: e.RequestTooLargeError,
    422: e.BadRequestError,
    429: e.RateLimitError,
}
_BY_TEXT: tuple[tuple[str, type[e.APIStatusError]], ...] = (
    ("daily free allocation", e.QuotaExceededError),
    ("json mode couldn't be met", e.GuidedJSONError),
    ("capacity temporarily exceeded", e.RateLimitError),
)
_HINTS: dict[type[e.APIStatusError], str] = {
    e.AuthenticationError: (
        "Check the API token (CLOUDFLARE_API_TOKEN): it needs 'Workers AI' read permission "
        "on this account."
    ),
    e.QuotaExceededError: (
        "The daily free allocation resets at 00:00 UTC; upgrade to Workers Paid to continue now. "
        "Not retried."
    ),
    e.RateLimitError: "Workers AI is at capacity or rate limiting; retried with backoff.",
    e.RequestTooLargeError: "Shrink the prompt or images.",
    e.GuidedJSONError: "The model could not satisfy the JSON schema; simplify the schema.",
}
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """``cf-ai-req-id`` (Workers AI), else ``cf-aig-log-id`` (AI Gateway), else ``cf-ray``."""
    for name in ("cf-ai-req-id", "cf-aig-log-id", "cf-ray"):
        value = headers.get(name)
        if value:
            return value
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            seconds = float(millis) / 1000.0
            if not math.isnan(seconds):  # "NaN" parses, and would make the sleep raise
                return max(seconds, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
        return None if math.isnan(seconds) else max(seconds, 0.0)
    except ValueError:
        pass
    try:
        from datetime import datetime, timezone

        when = parsedate_to_datetime(value)
        return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _first_error(payload: Any) -> tuple[int | None, str | None, bool]:
    """(code, message, from_gateway) from any error body shape we know."""
    if not isinstance(payload, Mapping):
        return None, None, False
    gateway = "error" in payload and "errors" not in payload
    errors = payload.get("errors") if not gateway else payload.get("error")
    if errors is None and ("message" in payload or "description" in payload):
        # A bare error object (the binding's internal body, some proxies): its text is the message.
        errors = payload
    if isinstance(errors, list):
        errors = errors[0] if errors else None
    if isinstance(errors, str):
        return None, errors, gateway
    if isinstance(errors, Mapping):
        code = errors.get("code")
        message = errors.get("message") or errors.get("description")
        try:
            code = int(code) if code is not None else None
        except (TypeError, ValueError):
            code = None
        return code, str(message) if message is not None else None, gateway
    return None, None, gateway


def _classify(status: int | None, code: int | None, message: str) -> type[e.APIStatusError]:
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    lowered = message.lower()
    for needle, cls in _BY_TEXT:
        if needle in lowered:
            return cls
    if status is not None:
        if status in _BY_STATUS:
            return _BY_STATUS[status]
        if status >= 500:
            return e.ServerError
    return e.APIStatusError


def _body_text(raw: bytes, content_type: str) -> str:
    text = raw.decode("utf-8", errors="replace")
    if "html" in content_type or text.lstrip().lower().startswith(("<!doctype", "<html")):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        text = title.group(1) if title else _TAG.sub(" ", text)
    return _SPACE.sub(" ", text).strip()[:300]


def error_from_payload(
    payload: Any,
    *,
    status: int | None,
    request_id: str | None,
    retry_after: float | None = None,
    fallback: str = "",
) -> e.APIStatusError:
    """The exception for a decoded error body (or an in-band stream ``errors`` event)."""
    code, message, gateway = _first_error(payload)
    text = message or fallback or f"HTTP {status} with no error message"
    cls = _classify(status, code, text)
    if gateway and not cls.retryable:
        # AI Gateway's own errors (bad gateway id, gateway auth) are not Workers AI's.
        cls = e.GatewayError
    hint = _HINTS.get(cls)
    full = f"{text} — {hint}" if hint else text
    body = json.dumps(payload)[:2000] if payload is not None else fallback[:2000] or None
    return cls(
        full,
        retry_after=retry_after,
        status_code=status,
        code=code,
        request_id=request_id,
        body=body,
    )


def error_from_response(
    status: int, headers: Mapping[str, str], content: bytes
) -> e.APIStatusError:
    """The exception for an HTTP error response (status ≥ 400)."""
    content_type = headers.get("content-type", "")
    payload: Any = None
    try:
        payload = json.loads(content) if content else None
    except ValueError:
        payload = None
    fallback = ""
    if not isinstance(payload, Mapping):
        snippet = _body_text(content, content_type) if content else ""
        fallback = f"HTTP {status}" + (f": {snippet}" if snippet else "")
        payload = None
    return error_from_payload(
        payload,
        status=status,
        request_id=request_id_of(headers),
        retry_after=parse_retry_after(headers),
        fallback=fallback,
    )
