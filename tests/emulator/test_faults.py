"""Fault injection: status, code, body, headers, socket-level behaviour."""

from __future__ import annotations

import time

import httpx
import pytest

from cf_mistral.emulator import Emulator, Fault, FaultKind

from .helpers import chat, sse_data, sse_json


def post(emulator: Emulator, client: httpx.Client, **extra: object) -> httpx.Response:
    return client.post(emulator.run_url(), json=chat("Hello there friend", **extra))


def test_capacity_with_retry_after(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(Fault(kind=FaultKind.capacity, retry_after=1))
    r = post(emulator, client)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert r.json() == {
        "success": False,
        "errors": [{"code": 3040, "message": "Capacity temporarily exceeded, please try again."}],
    }
    assert post(emulator, client).status_code == 200  # consumed


def test_rate_limit_no_retry_after(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(FaultKind.rate_limit)
    r = post(emulator, client)
    assert r.status_code == 429
    assert "retry-after" not in r.headers
    assert r.json()["errors"][0]["code"] == 3040


def test_quota(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(FaultKind.quota)
    r = post(emulator, client)
    assert r.status_code == 429
    body = r.json()
    assert list(body) == ["errors", "success", "result", "messages"]
    err = body["errors"][0]
    assert err["code"] == 4006
    assert err["message"].startswith(
        "AiError: AiError: you have used up your daily free allocation of 10,000 neurons"
    )


def test_timeout(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(FaultKind.timeout)
    r = post(emulator, client)
    assert r.status_code == 408
    err = r.json()["errors"][0]
    assert err["code"] == 3007
    assert err["message"].startswith("AiError: AiError: Request timeout (")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error(emulator: Emulator, client: httpx.Client, status: int) -> None:
    emulator.fault(Fault(kind=FaultKind.server_error, status=None if status == 500 else status))
    r = post(emulator, client)
    assert r.status_code == status
    assert r.json()["success"] is False


def test_html_error(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(FaultKind.html_error)
    r = post(emulator, client)
    assert r.status_code == 502
    assert r.headers["content-type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in r.text
    assert "cloudflare" in r.text


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (FaultKind.bad_request, 400, 5006),
        (FaultKind.auth, 401, 10000),
        (FaultKind.too_large, 413, 3006),
    ],
)
def test_simple_error_kinds(
    emulator: Emulator, client: httpx.Client, kind: FaultKind, status: int, code: int
) -> None:
    emulator.fault(kind)
    r = post(emulator, client)
    assert r.status_code == status
    assert r.json()["errors"][0]["code"] == code


def test_overrides(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(
        Fault(kind=FaultKind.capacity, status=503, code=1234, message="custom", retry_after=2.5)
    )
    r = post(emulator, client)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2.5"
    assert r.json()["errors"][0] == {"code": 1234, "message": "custom"}


def test_connection_reset(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(FaultKind.connection_reset)
    with pytest.raises(httpx.TransportError):
        post(emulator, client)
    assert post(emulator, client).status_code == 200
    assert emulator.requests[0].fault == "connection_reset"


def test_faults_fifo(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(FaultKind.capacity)
    emulator.fault(FaultKind.timeout)
    assert [post(emulator, client).status_code for _ in range(3)] == [429, 408, 200]


def test_truncated_stream(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(Fault(kind=FaultKind.truncated_stream, after_events=2))
    received: list[bytes] = []
    statuses: list[int] = []

    def consume() -> None:
        with client.stream(
            "POST", emulator.run_url(), json=chat("Hello there friend", stream=True)
        ) as r:
            statuses.append(r.status_code)
            received.extend(r.iter_bytes())

    with pytest.raises(httpx.RemoteProtocolError):
        consume()
    assert statuses == [200]
    text = b"".join(received).decode()
    assert len(sse_json(text)) == 2
    assert "[DONE]" not in text
    assert post(emulator, client).status_code == 200


def test_truncated_stream_clean_close(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(Fault(kind=FaultKind.truncated_stream, after_events=3, clean_close=True))
    r = post(emulator, client, stream=True)
    assert r.status_code == 200
    assert len(sse_json(r.text)) == 3
    assert "[DONE]" not in r.text


def test_stall(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(Fault(kind=FaultKind.stall, after_events=2, stall_seconds=0.5))
    times: list[float] = []
    start = time.perf_counter()
    with client.stream(
        "POST", emulator.run_url(), json=chat("Hello there friend", stream=True)
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                times.append(time.perf_counter() - start)
    assert times[2] - times[1] >= 0.45  # the stall sits between the 2nd and 3rd event
    assert len(times) == 8  # 6 pieces + usage + [DONE]


def test_stall_read_timeout(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(Fault(kind=FaultKind.stall, after_events=1, stall_seconds=1.0))
    with (
        pytest.raises(httpx.ReadTimeout),
        client.stream(
            "POST",
            emulator.run_url(),
            json=chat("Hello there friend", stream=True),
            timeout=httpx.Timeout(5, read=0.3),
        ) as r,
    ):
        for _ in r.iter_bytes():
            pass


def test_malformed_sse(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(Fault(kind=FaultKind.malformed_sse, after_events=1))
    r = post(emulator, client, stream=True)
    data = sse_data(r.text)
    assert data[1] == "{not json"
    assert data[-1] == "[DONE]"


def test_inband_error(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(Fault(kind=FaultKind.inband_error, after_events=2))
    r = post(emulator, client, stream=True)
    assert r.status_code == 200
    assert sse_data(r.text)[2] == (
        '{"errors":[{"code":3040,"message":"Capacity temporarily exceeded, please try again."}]}'
    )
    assert "[DONE]" not in r.text


def test_stream_fault_on_non_stream_request(emulator: Emulator, client: httpx.Client) -> None:
    emulator.fault(FaultKind.truncated_stream)
    with pytest.raises(httpx.RemoteProtocolError):
        post(emulator, client)
    emulator.fault(FaultKind.inband_error)
    assert post(emulator, client).status_code == 200


def test_fault_rate_deterministic(emulator: Emulator, client: httpx.Client) -> None:
    def run() -> list[int]:
        emulator.set_fault_rate(0.3, kinds=[FaultKind.capacity, FaultKind.timeout], seed=7)
        return [post(emulator, client).status_code for _ in range(30)]

    first = run()
    assert run() == first
    assert {429, 408} & set(first)
    assert 200 in first
    emulator.set_fault_rate(0)
    assert all(post(emulator, client).status_code == 200 for _ in range(5))


def test_scripted_fault(emulator: Emulator, client: httpx.Client) -> None:
    emulator.script(fault=Fault(kind=FaultKind.quota))
    assert post(emulator, client).status_code == 429
    # validation errors don't consume scripts
    emulator.script(text="later")
    assert client.post(emulator.run_url(), json={"messages": 1}).status_code == 400
    assert post(emulator, client).json()["result"]["response"] == "later"
