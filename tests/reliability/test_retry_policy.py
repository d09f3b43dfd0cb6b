"""The retry policy, measured on the wire: how many requests, and how far apart.

Retry-After is honoured (and a Retry-After too long to wait for is surfaced at once, not slept
on); without it the delay is 0.5 s doubling, shortened by up to 25 % of jitter; max_retries
bounds the attempts. The 8 s cap of the doubling is pinned by the core's own retry vectors
(tests/core): reaching it here would take 15 s of sleeping.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from cf_mistral import RateLimitError
from cf_mistral._retry import INITIAL_DELAY, MAX_RETRY_AFTER
from cf_mistral.emulator import Emulator, Fault, FaultKind

from .paths import ALL_PATHS, Outcome, Path, run_on_lanes

# Scheduling slack on a shared 2-core machine: a delay is never shorter than asked, and not
# more than this longer.
SLACK = 1.0


async def run_all(
    lanes: list[Emulator], faults: list[Fault], **options: Any
) -> list[tuple[Path, Outcome, Emulator]]:
    """Every path at once, each on its own emulator with ``faults`` queued."""

    def arm(lane: Emulator) -> None:
        for fault in faults:
            lane.fault(fault)

    return await run_on_lanes(ALL_PATHS, lanes, arm, **options)


def gaps(lane: Emulator) -> list[float]:
    times = [request.time for request in lane.requests]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


async def test_retry_after_is_honoured(lanes: list[Emulator]) -> None:
    results = await run_all(lanes, [Fault(kind=FaultKind.capacity, retry_after=1)], max_retries=2)
    for path, outcome, lane in results:
        assert outcome.error is None, (path.id, outcome.error)
        assert len(lane.requests) == 2, path.id
        (gap,) = gaps(lane)
        assert 1.0 <= gap < 1.0 + SLACK, (path.id, gap)


async def test_retry_after_zero_retries_at_once(lanes: list[Emulator]) -> None:
    results = await run_all(lanes, [Fault(kind=FaultKind.capacity, retry_after=0)], max_retries=2)
    for path, outcome, lane in results:
        assert outcome.error is None, (path.id, outcome.error)
        (gap,) = gaps(lane)
        assert gap < SLACK, (path.id, gap)


async def test_retry_after_beyond_the_cap_is_raised_not_slept_on(lanes: list[Emulator]) -> None:
    # Blocking a call for minutes is worse than telling the caller when to come back.
    wait = MAX_RETRY_AFTER + 60
    results = await run_all(
        lanes, [Fault(kind=FaultKind.capacity, retry_after=wait)], max_retries=2
    )
    for path, outcome, lane in results:
        assert isinstance(outcome.error, RateLimitError), (path.id, outcome.error)
        assert outcome.error.retry_after == wait
        assert len(lane.requests) == 1, path.id
        assert outcome.elapsed < 5, (path.id, outcome.elapsed)  # not 120 s


async def test_backoff_doubles_with_jitter_without_retry_after(lanes: list[Emulator]) -> None:
    faults = [Fault(kind=FaultKind.server_error), Fault(kind=FaultKind.server_error)]
    results = await run_all(lanes, faults, max_retries=2)
    first_gaps = []
    for path, outcome, lane in results:
        assert outcome.error is None, (path.id, outcome.error)
        assert len(lane.requests) == 3, path.id
        first, second = gaps(lane)
        # 0.5 s then 1 s, each shortened by up to 25 % of jitter.
        assert 0.75 * INITIAL_DELAY <= first < INITIAL_DELAY + SLACK, (path.id, first)
        assert 1.5 * INITIAL_DELAY <= second < 2 * INITIAL_DELAY + SLACK, (path.id, second)
        first_gaps.append(first)
    # Jitter: twelve clients that failed together do not come back in lock-step.
    assert max(first_gaps) - min(first_gaps) > 0.005, first_gaps


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_max_retries_bounds_the_attempts(lanes: list[Emulator], max_retries: int) -> None:
    faults = [Fault(kind=FaultKind.capacity, retry_after=0)] * (max_retries + 1)
    started = time.monotonic()
    results = await run_all(lanes, faults, max_retries=max_retries)
    for path, outcome, lane in results:
        assert isinstance(outcome.error, RateLimitError), (path.id, outcome.error)
        assert len(lane.requests) == max_retries + 1, path.id
    assert time.monotonic() - started < 5


async def test_retries_stop_as_soon_as_one_succeeds(lanes: list[Emulator]) -> None:
    faults = [Fault(kind=FaultKind.capacity, retry_after=0)] * 2
    results = await run_all(lanes, faults, max_retries=5)
    for path, outcome, lane in results:
        assert outcome.error is None, (path.id, outcome.error)
        assert outcome.text == "You said: hello world"
        assert len(lane.requests) == 3, path.id
