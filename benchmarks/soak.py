"""Soak under faults: many mixed requests, random faults, every outcome accounted for.

``make soak`` runs ``python benchmarks/soak.py``: 5,000 requests against the bundled emulator,
mixed over {core, LangChain, LlamaIndex} x {call, stream} x {sync, async}, 64 at a time, with
10 % of the emulator's answers replaced by a random fault (429s, 408, 5xx, an HTML error page,
connection resets, truncated / stalled / malformed streams, in-band errors, the daily quota).

Every request must end in a success whose text is the whole reply, or in a ``WorkersAIError``;
a stream cut after it began must keep exactly the text the caller received. Nothing may hang,
no exception may go unhandled, and after the run no socket or descriptor may be left open. The
emulator runs in its own process, and its memory must stay flat: the growth per thousand
requests over the second half of the run (the recorded-request window is full by then) must
stay under ``FLAT_KB_PER_THOUSAND``. The figures are printed; the exit status is 1 when any of
that fails. tests/reliability/test_soak.py
runs the same code with 300 requests in ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from cf_mistral import (
    AsyncWorkersAIClient,
    ChatRequest,
    StreamInterruptedError,
    TextDelta,
    UserMessage,
    WorkersAIClient,
    WorkersAIError,
)
from cf_mistral.emulator import FaultKind

ROOT = Path(__file__).resolve().parent.parent

#: Faults drawn at random: everything the emulator injects except bad input, auth and size,
#: which are not load-dependent and are covered by tests/reliability.
SOAK_FAULTS = (
    FaultKind.capacity,
    FaultKind.quota,
    FaultKind.timeout,
    FaultKind.server_error,
    FaultKind.html_error,
    FaultKind.connection_reset,
    FaultKind.truncated_stream,
    FaultKind.stall,
    FaultKind.malformed_sse,
    FaultKind.inband_error,
)
FRAMEWORKS = ("core", "langchain", "llamaindex")
#: No request may take longer than this; one that does counts as a hang.
HANG_AFTER = 60.0
TIMEOUTS = {"connect": 5.0, "read": 20.0, "stream_idle": 0.5}
#: The emulator's memory is flat when it grows less than this per thousand requests (an
#: emulator that recorded every request grew by about 2,500 KB per thousand).
FLAT_KB_PER_THOUSAND = 250.0
#: Fewer requests than this in the measured half say nothing about a slope: reported, not judged.
MIN_MEASURED_REQUESTS = 1000


@dataclass
class Report:
    requests: int = 0
    concurrency: int = 0
    fault_rate: float = 0.0
    wall_seconds: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    by_path: dict[str, int] = field(default_factory=dict)
    wire_requests: int = 0
    faults_injected: int = 0
    retries: int = 0
    partial_streams: int = 0
    lost_text: int = 0
    wrong_text: int = 0
    untyped_errors: list[str] = field(default_factory=list)
    hangs: int = 0
    unhandled: list[str] = field(default_factory=list)
    latency_p50: float = 0.0
    latency_p99: float = 0.0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    leaked_sockets: int = 0
    leaked_fds: int = 0
    emulator_rss_start_mb: float = 0.0
    emulator_rss_mid_mb: float = 0.0
    emulator_rss_end_mb: float = 0.0
    #: Wire requests between the mid and end samples of the emulator's memory.
    emulator_measured_requests: int = 0

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb

    @property
    def emulator_kb_per_thousand(self) -> float:
        """The emulator's memory growth per thousand requests over the run's second half."""
        growth_kb = (self.emulator_rss_end_mb - self.emulator_rss_mid_mb) * 1024
        return growth_kb * 1000 / max(self.emulator_measured_requests, 1)

    @property
    def emulator_flat(self) -> bool | None:
        """Whether the emulator's memory stayed flat; ``None`` for too short a run."""
        if self.emulator_measured_requests < MIN_MEASURED_REQUESTS:
            return None
        return self.emulator_kb_per_thousand < FLAT_KB_PER_THOUSAND

    @property
    def ok(self) -> bool:
        return not (
            self.untyped_errors
            or self.hangs
            or self.unhandled
            or self.lost_text
            or self.wrong_text
            or self.leaked_sockets
            or self.leaked_fds > 0
            or self.emulator_flat is False
            or sum(self.outcomes.values()) != self.requests
        )


class _Models:
    """One shared model object per (framework, sync/async), as an application would hold."""

    def __init__(self, connection: dict[str, Any]) -> None:
        from langchain_cf_mistral import ChatCloudflareMistral
        from llama_index_cf_mistral import CloudflareMistral

        options = {**connection, "timeout": TIMEOUTS, "max_retries": 2}
        self.core_sync = WorkersAIClient(**options)
        self.core_async = AsyncWorkersAIClient(**options)
        self.langchain = ChatCloudflareMistral(**options)
        self.llamaindex = CloudflareMistral(**options)

    async def aclose(self) -> None:
        self.core_sync.close()
        await self.core_async.aclose()
        self.langchain.close()
        await self.langchain.aclose()
        self.llamaindex.close()
        await self.llamaindex.aclose()


def _sync_request(
    models: _Models, framework: str, streams: bool, prompt: str, got: list[str]
) -> None:
    if framework == "core":
        request = ChatRequest([UserMessage(prompt)])
        if streams:
            for event in models.core_sync.stream(request):
                if isinstance(event, TextDelta):
                    got.append(event.text)
        else:
            got.append(models.core_sync.chat(request).text)
    elif framework == "langchain":
        from langchain_core.messages import HumanMessage

        if streams:
            for chunk in models.langchain.stream([HumanMessage(prompt)]):
                got.append(chunk.text)
        else:
            got.append(models.langchain.invoke([HumanMessage(prompt)]).text)
    else:
        from llama_index.core.llms import ChatMessage

        messages = [ChatMessage(role="user", content=prompt)]
        if streams:
            for response in models.llamaindex.stream_chat(messages):
                got.append(response.delta or "")
        else:
            got.append(models.llamaindex.chat(messages).message.content or "")


async def _async_request(
    models: _Models, framework: str, streams: bool, prompt: str, got: list[str]
) -> None:
    if framework == "core":
        request = ChatRequest([UserMessage(prompt)])
        if streams:
            async for event in models.core_async.stream(request):
                if isinstance(event, TextDelta):
                    got.append(event.text)
        else:
            got.append((await models.core_async.chat(request)).text)
    elif framework == "langchain":
        from langchain_core.messages import HumanMessage

        if streams:
            async for chunk in models.langchain.astream([HumanMessage(prompt)]):
                got.append(chunk.text)
        else:
            got.append((await models.langchain.ainvoke([HumanMessage(prompt)])).text)
    else:
        from llama_index.core.llms import ChatMessage

        messages = [ChatMessage(role="user", content=prompt)]
        if streams:
            async for response in await models.llamaindex.astream_chat(messages):
                got.append(response.delta or "")
        else:
            got.append((await models.llamaindex.achat(messages)).message.content or "")


def _own_sockets(port: int) -> int:
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if port in (getattr(conn.laddr, "port", None), getattr(conn.raddr, "port", None))
        and conn.status != psutil.CONN_TIME_WAIT
    )


async def soak(
    requests: int = 5_000, concurrency: int = 64, fault_rate: float = 0.1, seed: int = 0
) -> Report:
    """Run the soak and return its figures (the caller decides what is acceptable)."""
    report = Report(requests=requests, concurrency=concurrency, fault_rate=fault_rate)
    process = psutil.Process()
    gc.collect()
    fds_before = process.num_fds()

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: report.unhandled.append(str(context)[:300]))
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: report.unhandled.append(repr(args.exc_value)[:300])
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="soak")
    loop.set_default_executor(executor)

    # The emulator in its own process, as `cf-mistral emulator` runs beside an app: its memory
    # is measured apart from the clients'.
    sys.path.insert(0, str(ROOT))
    from benchmarks._server import EmulatorProcess

    server = EmulatorProcess().__enter__()  # closed after the run, below
    port = int(server.url.rsplit(":", 1)[1])
    models = _Models(
        {"account_id": server.account_id, "api_token": server.token, "base_url": server.base_url}
    )
    # Warm up (imports, pools, first-call caches) so that RSS growth measures the soak itself.
    try:
        for framework in FRAMEWORKS:
            for streams in (False, True):
                _sync_request(models, framework, streams, "warm-up", [])
                await _async_request(models, framework, streams, "warm-up", [])
    except BaseException:
        server.close()
        raise
    gc.collect()
    report.rss_start_mb = process.memory_info().rss / 2**20
    server.clear_requests()
    server.set_fault_rate(fault_rate, kinds=[kind.value for kind in SOAK_FAULTS], seed=seed)
    report.emulator_rss_start_mb = server.rss_bytes() / 2**20
    gate = asyncio.Semaphore(concurrency)
    outcomes: Counter[str] = Counter()
    by_path: Counter[str] = Counter()
    latencies: list[float] = []

    async def one(index: int) -> None:
        framework = FRAMEWORKS[index % 3]
        streams = (index // 3) % 2 == 1
        is_async = (index // 6) % 2 == 1
        path = f"{framework}-{'stream' if streams else 'call'}-{'async' if is_async else 'sync'}"
        prompt = f"soak request {index}"
        expected = f"You said: {prompt}"
        got: list[str] = []
        async with gate:
            started = time.monotonic()
            try:
                work = (
                    _async_request(models, framework, streams, prompt, got)
                    if is_async
                    else asyncio.to_thread(_sync_request, models, framework, streams, prompt, got)
                )
                await asyncio.wait_for(work, HANG_AFTER)
            except asyncio.TimeoutError:
                report.hangs += 1
                outcomes["hang"] += 1
            except StreamInterruptedError as error:
                outcomes["StreamInterruptedError"] += 1
                received = "".join(got)
                if received:
                    report.partial_streams += 1
                if error.text != received or not expected.startswith(received):
                    report.lost_text += 1
            except WorkersAIError as error:
                # Adapter errors subclass the core's; count them under the core class name.
                core = next(c for c in type(error).__mro__ if c.__module__ == "cf_mistral")
                outcomes[core.__name__] += 1
            except Exception as error:
                report.untyped_errors.append(f"{path}: {type(error).__name__}: {error}"[:300])
                outcomes["untyped"] += 1
            else:
                outcomes["ok"] += 1
                if "".join(got) != expected:
                    report.wrong_text += 1
            latencies.append(time.monotonic() - started)
            by_path[path] += 1

    started = time.monotonic()
    half = requests // 2
    try:
        await asyncio.gather(*(one(index) for index in range(half)))
        report.emulator_rss_mid_mb = server.rss_bytes() / 2**20
        wire_mid = server.health()["requests_received"]
        await asyncio.gather(*(one(index) for index in range(half, requests)))
        report.emulator_rss_end_mb = server.rss_bytes() / 2**20
    finally:
        report.wall_seconds = time.monotonic() - started
        await models.aclose()
        health = server.health()
        server.close()
        executor.shutdown(wait=True)
        threading.excepthook = previous_hook

    report.outcomes = dict(outcomes.most_common())
    report.by_path = dict(sorted(by_path.items()))
    report.wire_requests = health["requests_received"]
    report.faults_injected = health["faults_injected"]
    report.retries = report.wire_requests - requests
    report.emulator_measured_requests = report.wire_requests - wire_mid
    latencies.sort()
    report.latency_p50 = statistics.median(latencies)
    report.latency_p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    gc.collect()
    report.rss_end_mb = process.memory_info().rss / 2**20
    report.leaked_sockets = _own_sockets(port)
    report.leaked_fds = max(0, process.num_fds() - fds_before)
    return report


def suite_figures() -> dict[str, Any]:
    """Coverage figures of tests/reliability, read from its tables (when the tests are here)."""
    try:
        sys.path.insert(0, str(ROOT))
        from tests.reliability import test_bad_input, test_fault_matrix, test_fuzz
        from tests.reliability.paths import ALL_PATHS
    except ImportError as error:  # an installed package without its tests
        return {"note": f"tests/reliability not importable: {error}"}
    cases = test_fault_matrix.CASES
    cells = sum(1 for case in cases for path in ALL_PATHS if path.mode in case.modes)
    exhausted = sum(
        1 for case in cases if case.exhausted for path in ALL_PATHS if path.mode in case.modes
    )
    fuzz = 4 * test_fuzz.FUZZ.max_examples + 60
    return {
        "fault cases": len(cases),
        "paths": len(ALL_PATHS),
        "fault x path cells": cells,
        "exhausted-retry cells": exhausted,
        "fuzz examples per run": fuzz,
        "bad inputs (core table x 4 modes)": f"{len(test_bad_input.BAD)} x 4",
    }


def print_report(report: Report, figures: dict[str, Any]) -> None:
    print(f"soak: {report.requests} requests, concurrency {report.concurrency}, "
          f"{report.fault_rate:.0%} random faults, {report.wall_seconds:.1f} s "
          f"({report.requests / max(report.wall_seconds, 1e-9):.0f} req/s)")  # fmt: skip
    print(f"  wire requests {report.wire_requests} (retries {report.retries}), "
          f"faults injected {report.faults_injected}")  # fmt: skip
    print("  outcomes: " + ", ".join(f"{name} {count}" for name, count in report.outcomes.items()))
    print("  per path: " + ", ".join(f"{name} {count}" for name, count in report.by_path.items()))
    print(f"  partial streams kept their text: {report.partial_streams} (text lost: "
          f"{report.lost_text}, wrong text on success: {report.wrong_text})")  # fmt: skip
    print(f"  latency p50 {report.latency_p50 * 1000:.0f} ms, "
          f"p99 {report.latency_p99 * 1000:.0f} ms")  # fmt: skip
    print(f"  untyped errors {len(report.untyped_errors)}, hangs {report.hangs}, "
          f"unhandled exceptions {len(report.unhandled)}")  # fmt: skip
    print(f"  RSS {report.rss_start_mb:.0f} -> {report.rss_end_mb:.0f} MB "
          f"(growth {report.rss_growth_mb:+.1f} MB); leaked sockets {report.leaked_sockets}, "
          f"leaked descriptors {report.leaked_fds}")  # fmt: skip
    verdict = {True: "flat", False: "NOT FLAT", None: "too few requests to judge"}
    print(f"  emulator process RSS {report.emulator_rss_start_mb:.0f} -> "
          f"{report.emulator_rss_mid_mb:.0f} -> {report.emulator_rss_end_mb:.0f} MB; growth "
          f"{report.emulator_kb_per_thousand:+.0f} KB per 1,000 requests over the last "
          f"{report.emulator_measured_requests} ({verdict[report.emulator_flat]}, limit "
          f"{FLAT_KB_PER_THOUSAND:.0f} KB)")  # fmt: skip
    for problem in (report.untyped_errors + report.unhandled)[:10]:
        print(f"  ! {problem}")
    if figures:
        print("  suite: " + ", ".join(f"{name} {value}" for name, value in figures.items()))
    print("  result: " + ("OK" if report.ok else "FAILED"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    report = asyncio.run(soak(args.requests, args.concurrency, args.fault_rate, args.seed))
    figures = suite_figures()
    if args.json:
        print(json.dumps({**asdict(report), "suite": figures}, indent=2))
    else:
        print_report(report, figures)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
