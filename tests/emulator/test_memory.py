"""A long-running emulator keeps flat memory: only the latest requests are recorded."""

from __future__ import annotations

import httpx
import pytest

from cf_mistral.emulator import Emulator, EmulatorConfig

from .helpers import chat


def send(emulator: Emulator, client: httpx.Client, count: int, start: int = 0) -> None:
    for index in range(start, start + count):
        client.post(emulator.run_url(), json=chat(f"request {index}"))


def texts(emulator: Emulator) -> list[str]:
    return [recorded.body["messages"][0]["content"] for recorded in emulator.requests]


def test_the_default_keeps_the_last_thousand_requests() -> None:
    assert EmulatorConfig().max_recorded_requests == 1000


def test_only_the_latest_requests_are_kept_and_all_are_counted() -> None:
    with Emulator(max_recorded_requests=5) as emulator, httpx.Client() as client:
        emulator.fault("capacity")
        send(emulator, client, 12)
        assert texts(emulator) == [f"request {index}" for index in range(7, 12)]
        assert emulator.last_request is not None
        assert emulator.last_request.body == chat("request 11")
        assert emulator.requests_received == 12
        assert emulator.faults_injected == 1
        health = client.get(emulator.url + "/__emulator/health").json()
        assert health["requests_received"] == 12
        assert health["faults_injected"] == 1
        admin = client.get(emulator.url + "/__emulator/requests").json()["requests"]
        assert len(admin) == 5
        emulator.clear_requests()
        assert (emulator.requests, emulator.requests_received) == ([], 0)


def test_the_bound_can_be_changed_while_running(emulator: Emulator, client: httpx.Client) -> None:
    send(emulator, client, 4)
    emulator.configure(max_recorded_requests=2)
    assert texts(emulator) == ["request 2", "request 3"]
    send(emulator, client, 3, start=4)
    assert texts(emulator) == ["request 5", "request 6"]
    emulator.configure(max_recorded_requests=0)
    send(emulator, client, 1)
    assert emulator.requests == []
    assert emulator.requests_received == 8
    emulator.reset()  # back to the configured bound
    send(emulator, client, 3)
    assert len(emulator.requests) == 3


def test_a_negative_bound_is_refused(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="max_recorded_requests=-1"):
        emulator.configure(max_recorded_requests=-1)
