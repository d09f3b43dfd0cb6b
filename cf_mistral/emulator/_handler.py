"""Request → response plan: routing, auth, validation, model, reply shapes (no I/O)."""

from __future__ import annotations

import json
import random
import re
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import _openai
from ._faults import Fault, FaultKind, error_body, fault_response
from ._model import Reply, generate_reply, message_text, prompt_text
from ._state import State
from ._types import EmulatorConfig, RecordedRequest, ScriptedReply
from ._validate import bad_input, declared_keys, input_schema, validate

__all__ = ["Plan", "handle", "sse", "too_large_plan"]

_NATIVE_RE = re.compile(r"^/client/v4/accounts/([^/]+)/ai/run(?:/(.+))?$")
_OPENAI_RE = re.compile(r"^/client/v4/accounts/([^/]+)/ai/v1/chat/completions$")
_GATEWAY_RE = re.compile(r"^/v1/([^/]+)/([^/]+)/workers-ai/(.+)$")
_ID9_RE = re.compile(r"^[A-Za-z0-9]{9}$")
_PAD_ALPHABET = string.ascii_lowercase + string.digits
# Calls with the same key reach one replica and share its prompt cache (WIRE-FORMAT §3.6).
_SESSION_AFFINITY_HEADER = "x-session-affinity"


@dataclass
class Plan:
    """How to answer one request."""

    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    events: list[bytes] | None = None  # SSE blocks (each ends with a blank line)
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    fault: Fault | None = None  # a stream fault applied while writing
    close: bool = False
    latency: float = 0.0
    interval: float = 0.0


class _Reject(Exception):  # noqa: N818
    def __init__(self, status: int, code: int | None, message: str, variant: str = "standard"):
        super().__init__(message)
        self.status, self.code, self.message, self.variant = status, code, message, variant


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sse(obj: Any) -> bytes:
    """One SSE block ``data: <json>\\n\\n``."""
    return b"data: " + _compact(obj) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def _json_plan(status: int, obj: Any) -> Plan:
    return Plan(status=status, body=_compact(obj))


def _base_headers(gateway: bool) -> dict[str, str]:
    headers = {"cf-ray": secrets.token_hex(8) + "-SJC", "cf-ai-req-id": str(uuid.uuid4())}
    if gateway:
        headers["cf-aig-log-id"] = uuid.uuid4().hex.upper()[:26]
        headers["cf-aig-cache-status"] = "MISS"
    return headers


# ----------------------------------------------------------------------------------------
# admin


def _admin(state: State, method: str, path: str, body: bytes) -> Plan:
    name = path[len("/__emulator/") :].strip("/")
    try:
        payload: Any = json.loads(body) if body.strip() else None
    except ValueError as exc:
        return _json_plan(400, {"ok": False, "error": f"invalid JSON: {exc}"})
    try:
        if name == "health" and method == "GET":
            cfg = state.config
            return _json_plan(
                200,
                {
                    "ok": True,
                    "models": list(cfg.models),
                    "account_id": cfg.account_id,
                    "connections_opened": state.connections_opened,
                    "requests_received": state.requests_received,
                    "faults_injected": state.faults_injected,
                    **state.pending,
                },
            )
        if name == "requests" and method == "GET":
            return _json_plan(200, {"requests": [r.to_dict() for r in state.requests]})
        if name == "requests" and method == "DELETE":
            state.clear_requests()
            return _json_plan(200, {"ok": True})
        if name == "reset" and method == "POST":
            state.reset()
            return _json_plan(200, {"ok": True})
        if name == "script" and method == "POST":
            items = payload if isinstance(payload, list) else [payload]
            for item in items:
                if not isinstance(item, dict):
                    raise ValueError("a ScriptedReply must be a JSON object")
                state.add_script(ScriptedReply.from_dict(item))
            return _json_plan(200, {"ok": True, "queued": len(items)})
        if name == "faults" and method == "POST":
            if not isinstance(payload, dict):
                raise ValueError('expected a Fault or {"rate": ...}')
            if "rate" in payload:
                state.set_fault_rate(payload["rate"], payload.get("kinds"), payload.get("seed"))
            else:
                state.add_fault(Fault.from_dict(payload))
            return _json_plan(200, {"ok": True})
        if name == "config" and method == "POST":
            if not isinstance(payload, dict):
                raise ValueError("expected an object of EmulatorConfig fields")
            if isinstance(payload.get("models"), list):
                payload["models"] = tuple(payload["models"])
            state.configure(**payload)
            return _json_plan(200, {"ok": True, "config": state.config.to_dict()})
    except (ValueError, TypeError) as exc:
        return _json_plan(400, {"ok": False, "error": str(exc)})
    return _json_plan(404, {"ok": False, "error": f"no admin endpoint {method} {path}"})


# ----------------------------------------------------------------------------------------
# checks


def _check_tool_ids(messages: list[dict[str, Any]], cfg: EmulatorConfig) -> None:
    policy = cfg.tool_id_policy
    if policy == "lenient":
        return
    for msg in messages:
        ids: list[Any] = []
        if msg.get("role") == "assistant" and isinstance(msg.get("tool_calls"), list):
            ids = [c.get("id") if isinstance(c, dict) else None for c in msg["tool_calls"]]
        elif msg.get("role") == "tool" and "tool_call_id" in msg:
            ids = [msg.get("tool_call_id")]
        for raw in ids:
            value = raw
            if policy == "vllm" and isinstance(value, str) and len(value) > 9:
                value = value[-9:]
            if not (isinstance(value, str) and _ID9_RE.match(value)):
                shown = value if isinstance(value, str) else json.dumps(value)
                raise _Reject(
                    400,
                    5006,
                    "AiError: Bad input: Error: Tool call id was "
                    f"{shown} but must be a-z, A-Z, 0-9, with a length of 9.",
                )


def _norm_id(value: Any, cfg: EmulatorConfig) -> Any:
    if cfg.tool_id_policy == "vllm" and isinstance(value, str) and len(value) > 9:
        return value[-9:]
    return value


def _check_roles(messages: list[dict[str, Any]], cfg: EmulatorConfig) -> None:
    prefix = "AiError: Bad input: Error: "
    pending: set[Any] = set()
    previous: str | None = None
    for msg in messages:
        role = msg.get("role")
        if role == "user" and previous == "tool":
            raise _Reject(400, 5006, prefix + "Unexpected role 'user' after role 'tool'")
        if role == "assistant":
            calls = msg.get("tool_calls")
            has_calls = isinstance(calls, list) and len(calls) > 0
            text = message_text(msg.get("content")).strip()
            if has_calls and text:
                raise _Reject(
                    400,
                    5006,
                    prefix + "Assistant message must have either content "
                    "or tool_calls, but not both.",
                )
            if not has_calls and not text and msg is not messages[-1]:
                raise _Reject(
                    400,
                    5006,
                    prefix + "Assistant message must have either content "
                    "or tool_calls, but not none.",
                )
            if has_calls:
                assert isinstance(calls, list)
                pending = {_norm_id(c.get("id"), cfg) for c in calls if isinstance(c, dict)}
        if role == "tool":
            if "tool_call_id" not in msg:
                raise _Reject(400, 5006, prefix + "Tool message must have a tool_call_id.")
            tid = _norm_id(msg.get("tool_call_id"), cfg)
            if tid not in pending:
                raise _Reject(
                    400,
                    5006,
                    prefix + f"Tool message tool_call_id '{tid}' does not "
                    "answer any earlier assistant tool call.",
                )
        previous = role if isinstance(role, str) else previous


def _validate_native(body: Any, cfg: EmulatorConfig, model: str) -> None:
    if not isinstance(body, dict):
        if cfg.validate_schema:
            errors = validate(
                body,
                input_schema(
                    cfg.validate_tool_property_descriptions, cfg.tool_id_policy != "lenient"
                ),
            )
            raise _Reject(400, 5006, bad_input(errors))
        raise _Reject(400, 5006, "AiError: Bad input: Error: body must be an object")
    if "lora" in body and cfg.reject_lora:
        raise _Reject(405, 5005, f"AiError: The model {model} does not support LoRa inference")
    extra: list[str] = []
    if cfg.reject_tool_choice_response_format:
        extra += [k for k in ("tool_choice", "response_format") if k in body]
    if cfg.reject_undeclared_keys:
        extra += [k for k in body if k not in declared_keys() and k not in extra]
    if extra:
        listed = ", ".join("/" + k for k in extra)
        raise _Reject(
            400,
            5006,
            "AiError: Bad input: Error: Additional or unevaluated "
            f"properties '{listed}' at '/' not allowed",
        )
    messages = body.get("messages")
    if isinstance(messages, list):
        for i, msg in enumerate(messages):
            if isinstance(msg, dict) and "content" in msg and msg["content"] is None:
                if not cfg.reject_null_content:
                    msg["content"] = ""
                elif not cfg.validate_schema:
                    raise _Reject(
                        400,
                        5006,
                        "AiError: Bad input: Error: content must not be "
                        f"null at '/messages/{i}/content'",
                    )
    if cfg.validate_schema:
        errors = validate(
            body,
            input_schema(cfg.validate_tool_property_descriptions, cfg.tool_id_policy != "lenient"),
        )
        if errors:
            raise _Reject(400, 5006, bad_input(errors))


def _validate_openai(body: Any) -> None:
    prefix = "AiError: Bad input: Error: "
    if not isinstance(body, dict):
        raise _Reject(
            400, 5006, prefix + f"Type mismatch of '/', '{type(body).__name__}' not in 'object'"
        )
    missing = [k for k in ("model", "messages") if k not in body]
    if missing:
        names = ", ".join(f"'{k}'" for k in missing)
        raise _Reject(400, 5006, prefix + f"required properties at '/' are {names}")
    if not isinstance(body["messages"], list):
        raise _Reject(
            400,
            5006,
            prefix + "Type mismatch of '/messages', "
            f"'{type(body['messages']).__name__}' not in 'array'",
        )
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        js = fmt.get("json_schema")
        if not isinstance(js, dict) or "name" not in js:
            raise _Reject(
                400,
                5006,
                prefix + "anyOf at '/' not met: required properties at "
                "'/response_format/json_schema' are 'name'",
            )


# ----------------------------------------------------------------------------------------
# reply shapes


_PAD_RNG = random.Random()
_PAD_SOURCE = "".join(_PAD_RNG.choices(_PAD_ALPHABET, k=8192))


def _pad(rng: random.Random) -> str:
    """Random lowercase-alnum padding of 1-50 chars (the ``p`` field)."""
    start = rng.randrange(0, len(_PAD_SOURCE) - 50)
    return _PAD_SOURCE[start : start + rng.randint(1, 50)]


def _native_tool_calls(reply: Reply, cfg: EmulatorConfig) -> list[dict[str, Any]]:
    out = []
    for call in reply.tool_calls or []:
        args = call.get("arguments", {})
        if cfg.arguments_as_string and not isinstance(args, str):
            args = json.dumps(args)
        out.append({"name": call.get("name"), "arguments": args})
    return out


def _native_result(reply: Reply, cfg: EmulatorConfig) -> dict[str, Any]:
    if reply.raw_result is not None:
        return reply.raw_result
    result: dict[str, Any] = {}
    if reply.tool_calls is not None:
        if cfg.tool_turn_response == "empty":
            result["response"] = ""
        elif cfg.tool_turn_response == "null":
            result["response"] = None
        result["tool_calls"] = _native_tool_calls(reply, cfg)
    elif reply.is_json and cfg.guided_json_response == "object":
        result["response"] = reply.json_value
    else:
        result["response"] = reply.text if reply.text is not None else ""
    result["usage"] = reply.usage
    return result


def _native_events(reply: Reply, cfg: EmulatorConfig) -> list[bytes]:
    if reply.raw_result is not None:
        return [sse(reply.raw_result), DONE]
    events: list[bytes] = []
    rng = _PAD_RNG
    if reply.tool_calls is not None:
        if cfg.stream_tool_call_shape == "flat":
            events.append(sse({"response": "", "tool_calls": _native_tool_calls(reply, cfg)}))
        else:
            for index, call in enumerate(reply.tool_calls):
                args = call.get("arguments", {})
                text = args if isinstance(args, str) else json.dumps(args)
                half = len(text) // 2
                events.append(
                    sse(
                        {
                            "tool_calls": [
                                {
                                    "id": _openai.tool_call_id(),
                                    "type": "function",
                                    "index": index,
                                    "function": {"name": call.get("name")},
                                }
                            ]
                        }
                    )
                )
                for part in (text[:half], text[half:]):
                    events.append(
                        sse({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
                    )
                events.append(
                    sse(
                        {
                            "tool_calls": [
                                {
                                    "id": None,
                                    "type": None,
                                    "index": index,
                                    "function": {"name": None, "arguments": ""},
                                }
                            ]
                        }
                    )
                )
    else:
        noise = cfg.empty_tool_calls_noise
        padding = cfg.stream_padding
        for piece in reply.pieces:
            obj: dict[str, Any] = {"response": piece}
            if noise:
                obj["tool_calls"] = []
            if padding:
                obj["p"] = _pad(rng)
            events.append(sse(obj))
    events.append(sse({"response": "", "usage": reply.usage}))
    events.append(DONE)
    return events


def split_sse(raw: bytes) -> list[bytes]:
    """Split verbatim SSE bytes into blocks (concatenation is the input)."""
    blocks: list[bytes] = []
    start = 0
    while True:
        end = raw.find(b"\n\n", start)
        if end < 0:
            if start < len(raw):
                blocks.append(raw[start:])
            return blocks
        blocks.append(raw[start : end + 2])
        start = end + 2


# ----------------------------------------------------------------------------------------
# the pipeline


def _bearer(headers: dict[str, str], name: str) -> str | None:
    value = headers.get(name, "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _fault_plan(fault: Fault) -> Plan:
    if fault.kind is FaultKind.connection_reset:
        return Plan(reset=True)
    status, ctype, body, headers = fault_response(fault)
    return Plan(status=status, content_type=ctype, body=body, headers=headers)


def handle(state: State, method: str, target: str, headers: dict[str, str], raw: bytes) -> Plan:
    """Decide the answer to one request (and record it)."""
    path, _, query = target.partition("?")
    path = unquote(path)
    if path.startswith("/__emulator/"):
        return _admin(state, method, path, raw)

    cfg = state.config
    account: str | None = None
    model: str | None = None
    gateway: str | None = None
    api = "native"
    route = "unknown"
    if m := _NATIVE_RE.match(path):
        route, account, model = "native", m.group(1), m.group(2)
    elif m := _OPENAI_RE.match(path):
        route, api, account = "openai", "openai", m.group(1)
    elif m := _GATEWAY_RE.match(path):
        route, account, gateway = "gateway", m.group(1), m.group(2)
        rest = m.group(3)
        if rest in ("v1/chat/completions", "chat/completions"):
            api = "openai"
        else:
            model = rest[4:] if rest.startswith("run/") else rest
    if route == "native" and "cf-aig-gateway-id" in headers:
        gateway = headers["cf-aig-gateway-id"]

    try:
        body: Any = json.loads(raw) if raw.strip() else None
        parse_error: str | None = None
    except ValueError as exc:
        body, parse_error = None, str(exc)

    record = RecordedRequest(
        method=method,
        path=path,
        route=route,
        headers=dict(headers),
        body=body,
        raw=raw,
        time=time.time(),
        query=query,
        account=account,
        model=model,
        gateway=gateway,
    )
    state.record(record)
    plan = _plan(state, cfg, record, api, parse_error)
    if route == "gateway" and plan.status >= 400 and not plan.reset:
        plan.headers.setdefault("cf-aig-log-id", uuid.uuid4().hex.upper()[:26])
    record.status = None if plan.reset else plan.status
    plan.headers = {**_base_headers(route == "gateway"), **plan.headers}
    plan.latency = cfg.latency
    plan.interval = cfg.stream_interval
    return plan


def _plan(
    state: State, cfg: EmulatorConfig, rec: RecordedRequest, api: str, parse_error: str | None
) -> Plan:
    try:
        if rec.route == "unknown":
            raise _Reject(404, 7000, "No route for that URI", "short")
        if rec.method != "POST":
            raise _Reject(405, 7001, "Method not allowed", "short")

        fault = state.next_fault()
        if fault is not None:
            rec.fault = fault.kind.value
            if not fault.is_stream_fault:
                return _fault_plan(fault)

        if rec.route == "gateway":
            if cfg.gateways is not None and rec.gateway not in cfg.gateways:
                raise _Reject(
                    400, 2001, "Please configure AI Gateway in the Cloudflare dashboard", "gateway"
                )
            if cfg.gateway_token is not None and (
                _bearer(rec.headers, "cf-aig-authorization") != cfg.gateway_token
            ):
                raise _Reject(401, 2009, "Unauthorized", "gateway")

        token = _bearer(rec.headers, "authorization")
        if token is None or (cfg.token is not None and token != cfg.token):
            raise _Reject(401, 10000, "Authentication error", "auth")

        if len(rec.raw) > cfg.max_request_bytes:
            raise _Reject(413, 3006, "Request is too large")
        if not rec.raw.strip():
            raise _Reject(400, 3003, "Request is missing headers or body")
        if parse_error is not None:
            raise _Reject(400, 5006, f"AiError: Bad input: Error: Invalid JSON: {parse_error}")

        body = rec.body
        if rec.model is None and api == "native" and isinstance(body, dict):
            # model-in-body form: POST .../ai/run {"model": ..., "input": {...}}
            rec.model = body.get("model") if isinstance(body.get("model"), str) else None
            if isinstance(body.get("input"), dict):
                body = body["input"]
        if api == "openai":
            _validate_openai(body)
            rec.model = body.get("model")
        model = rec.model or ""
        if model not in cfg.models:
            raise _Reject(400, 5007, f"No such model {model} or task")

        if api == "native":
            _validate_native(body, cfg, model)
        messages = body.get("messages")
        if isinstance(messages, list):
            msgs = [m for m in messages if isinstance(m, dict)]
            _check_tool_ids(msgs, cfg)
            if cfg.check_role_order:
                _check_roles(msgs, cfg)

        script = state.next_script()
        guided = _openai.guided_schema(body) if api == "openai" else body.get("guided_json")
        max_tokens = body.get("max_tokens")
        if api == "openai" and body.get("max_completion_tokens") is not None:
            max_tokens = body.get("max_completion_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            max_tokens = cfg.default_max_tokens
        reply = generate_reply(body, script=script, guided=guided, max_tokens=max_tokens)
        affinity = rec.headers.get(_SESSION_AFFINITY_HEADER)
        if affinity is not None and (script is None or script.usage is None):
            cached = state.prompt_cache.cached_tokens(affinity, prompt_text(body))
            _report_cached_tokens(reply, cached)
        if reply.fault is not None:
            rec.fault = reply.fault.kind.value
            if not reply.fault.is_stream_fault:
                return _fault_plan(reply.fault)
            fault = reply.fault
        plan = _shape(reply, cfg, api, model, stream=body.get("stream") is True)
        plan.fault = fault if fault is not None and fault.is_stream_fault else None
        return plan
    except _Reject as rej:
        return Plan(status=rej.status, body=error_body(rej.code, rej.message, variant=rej.variant))


def _report_cached_tokens(reply: Reply, cached: int) -> None:
    """``prompt_tokens_details.cached_tokens``, as Workers AI reports it (cloudflare/ai#509)."""
    if "prompt_tokens" in reply.usage:
        cached = min(cached, reply.usage["prompt_tokens"])
        reply.usage["prompt_tokens_details"] = {"cached_tokens": cached}


def _shape(reply: Reply, cfg: EmulatorConfig, api: str, model: str, *, stream: bool) -> Plan:
    if reply.raw_sse is not None:
        return Plan(
            status=reply.status,
            content_type=reply.content_type or "text/event-stream",
            events=split_sse(reply.raw_sse),
        )
    if reply.raw_body is not None:
        return Plan(
            status=reply.status,
            content_type=reply.content_type or "application/json",
            body=reply.raw_body,
        )
    if api == "openai":
        if stream:
            events = [sse(c) for c in _openai.completion_chunks(reply, model)] + [DONE]
            return Plan(content_type="text/event-stream", events=events)
        return _json_plan(200, _openai.completion(reply, model))
    if stream:
        return Plan(content_type="text/event-stream", events=_native_events(reply, cfg))
    return _json_plan(
        200, {"result": _native_result(reply, cfg), "success": True, "errors": [], "messages": []}
    )


def too_large_plan(state: State, method: str, target: str, headers: dict[str, str]) -> Plan:
    """413 / 3006 for a request whose Content-Length exceeds the limit (body unread)."""
    path, _, query = target.partition("?")
    route = (
        "gateway"
        if path.startswith("/v1/")
        else ("openai" if path.endswith("/chat/completions") else "native")
    )
    state.record(
        RecordedRequest(
            method=method,
            path=unquote(path),
            route=route,
            headers=dict(headers),
            body=None,
            raw=b"",
            time=time.time(),
            query=query,
            status=413,
        )
    )
    return Plan(
        status=413,
        close=True,
        headers=_base_headers(route == "gateway"),
        body=error_body(3006, "Request is too large"),
    )
