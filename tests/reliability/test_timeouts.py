"""Timeouts: connect, read and stream-idle each fire when they should, and none is infinite."""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import Iterator

import pytest

from cf_mistral import (
    APITimeoutError,
    AsyncWorkersAIClient,
    StreamInterruptedError,
    Timeouts,
    WorkersAIClient,
)
from cf_mistral.emulator import Emulator, Fault, FaultKind, RecordedRequest

from .paths import (
    ALL_PATHS,
    STREAM_PATHS,
    Outcome,
    Path,
    adapter_class,
    check_all,
    params,
    run,
    run_on_lanes,
)

MARGIN = 1.5
CORE_PATHS = tuple(path for path in ALL_PATHS if path.framework == "core")


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full: a TCP connect to it hangs until it times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.mark.parametrize("path", params(CORE_PATHS))
async def test_connect_timeout_fires(path: Path, unanswered_port: int) -> None:
    connection = {
        "account_id": "acct",
        "api_token": "token",
        "base_url": f"http://127.0.0.1:{unanswered_port}/client/v4",
    }
    outcome = await run(path, connection, max_retries=0, timeout={"connect": 0.3})
    assert isinstance(outcome.error, APITimeoutError), repr(outcome.error)
    assert "ConnectTimeout" in str(outcome.error)
    assert outcome.elapsed < 0.3 + MARGIN


async def test_read_timeout_fires_before_the_first_byte(lanes: list[Emulator]) -> None:
    def arm(lane: Emulator) -> None:
        lane.configure(latency=3)

    results = await run_on_lanes(ALL_PATHS, lanes, arm, max_retries=0, timeout={"read": 0.4})

    def check(outcome: Outcome, seen: list[RecordedRequest]) -> None:
        assert isinstance(outcome.error, APITimeoutError), repr(outcome.error)
        assert "ReadTimeout" in str(outcome.error)
        assert outcome.elapsed < 0.4 + MARGIN, outcome.elapsed
        assert len(seen) == 1

    check_all(results, check)


async def test_stalled_stream_raises_within_the_idle_timeout(lanes: list[Emulator]) -> None:
    def arm(lane: Emulator) -> None:
        lane.script(chunks=["one", " two", " three", " four"])
        lane.fault(Fault(kind=FaultKind.stall, after_events=2, stall_seconds=10))

    results = await run_on_lanes(STREAM_PATHS, lanes, arm, timeout={"read": 5, "stream_idle": 0.4})

    def check(outcome: Outcome, seen: list[RecordedRequest]) -> None:
        assert isinstance(outcome.error, StreamInterruptedError), repr(outcome.error)
        assert outcome.error.text == outcome.text == "one two"
        assert 0.4 <= outcome.elapsed < 0.4 + MARGIN, outcome.elapsed
        assert len(seen) == 1

    check_all(results, check)


async def test_slow_but_steady_stream_is_not_cut_by_the_idle_timeout(
    lanes: list[Emulator],
) -> None:
    # The idle timeout bounds the gap between events, not the whole reply.
    def arm(lane: Emulator) -> None:
        lane.configure(stream_interval=0.15)
        lane.script(chunks=["a", "b", "c", "d", "e", "f", "g", "h"])

    results = await run_on_lanes(STREAM_PATHS, lanes, arm, timeout={"read": 5, "stream_idle": 0.6})

    def check(outcome: Outcome, seen: list[RecordedRequest]) -> None:
        assert outcome.error is None, repr(outcome.error)
        assert outcome.text == "abcdefgh"
        assert outcome.elapsed > 0.6

    check_all(results, check)


def test_every_default_timeout_is_finite() -> None:
    defaults = Timeouts()
    for phase, seconds in defaults.model_dump().items():
        assert 0 < seconds < math.inf, phase
    sync = WorkersAIClient(account_id="a", api_token="t")
    for phase, seconds in sync._http.timeout.as_dict().items():
        assert seconds is not None, phase
        assert seconds < math.inf, phase
    sync.close()


async def test_async_client_default_timeouts_are_finite() -> None:
    client = AsyncWorkersAIClient(account_id="a", api_token="t")
    for phase, seconds in client._http.timeout.as_dict().items():
        assert seconds is not None, phase
        assert seconds < math.inf, phase
    await client.aclose()


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_adapters_default_to_the_core_finite_timeouts(framework: str) -> None:
    model = adapter_class(framework)(account_id="a", api_token="t")
    assert model._config.timeouts == Timeouts()
    with pytest.raises(ValueError, match="greater than 0"):
        adapter_class(framework)(account_id="a", api_token="t", timeout={"read": -1})
