"""Scenario 2: consuming a 2,000-event stream: wall time and time to first token.

The emulator is scripted (over its admin endpoint, ``repeat=0``) to answer every request with
the same 2,000 pieces. Each contender must return exactly their concatenation and open no new
connection per stream once warm: a client that stops reading at ``[DONE]`` leaves the
chunked body unfinished, and httpcore then closes the connection instead of pooling it.

For the timed rounds the emulator replays, verbatim (``raw_sse``), the bytes it rendered for
that route: rendering 2,000 events costs the server more than most clients spend reading
them, and that constant would be added to every contender alike and flatten every ratio.
"""

from __future__ import annotations

import time

import httpx

from benchmarks._contenders import Contender
from benchmarks._report import Report, Settings, fmt_ms, fmt_ratio
from benchmarks._server import EmulatorProcess
from benchmarks._stats import interleaved, median, ratio

__all__ = ["pieces", "run"]

_CONNECTION_PROBES = 5


def pieces(count: int) -> list[str]:
    """``count`` word-sized pieces, each with its leading space, as a tokenizer would emit."""
    words = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")
    return [f" {words[i % len(words)]}{i % 97}" for i in range(count)]


def _record(emu: EmulatorProcess, route: str) -> str:
    """The SSE body the emulator renders for the scripted reply on ``route``."""
    messages = [{"role": "user", "content": "record"}]
    headers = {"Authorization": f"Bearer {emu.token}"}
    if route == "native":
        url, body = emu.run_url, {"messages": messages, "stream": True}
    else:
        url = emu.openai_base + "/chat/completions"
        body = {"model": emu.model, "messages": messages, "stream": True}
    response = httpx.post(url, json=body, headers=headers, timeout=60)
    response.raise_for_status()
    return response.text


def run(
    emu: EmulatorProcess, contenders: dict[str, Contender], settings: Settings, report: Report
) -> None:
    chunks = pieces(settings.stream_events)
    expected = "".join(chunks)
    emu.reset()
    emu.script_chunks(chunks, repeat=0)

    for key, contender in contenders.items():
        text = "".join(contender.stream())  # warm-up, and the text check
        before = emu.connections_opened()
        for _ in range(_CONNECTION_PROBES):
            text = "".join(contender.stream())
        new = (emu.connections_opened() - before) / _CONNECTION_PROBES
        report.set(key, "conns_per_stream", f"{new:g}", new)
        if text != expected:
            report.set(key, "same_text", "NO", 0.0)
            report.notes.append(f"{contender.name}: the 2,000-event text differs")

    recorded = {route: _record(emu, route) for route in ("native", "openai")}
    emu.reset()
    first: dict[str, list[float]] = {key: [] for key in contenders}

    def measure(key: str) -> float:
        contender = contenders[key]
        emu.script(raw_sse=recorded[contender.route], repeat=1)
        stream = contender.stream
        start = time.perf_counter()
        received: list[str] = []
        iterator = iter(stream())
        for piece in iterator:
            first[key].append(time.perf_counter() - start)
            received.append(piece)
            break
        received.extend(iterator)
        return time.perf_counter() - start

    samples = interleaved(list(contenders), measure, rounds=settings.stream_rounds, warmup=1)
    emu.reset()
    base, base_first = median(samples["floor"]), median(first["floor"][1:])
    for key, values in samples.items():
        total, ttft = median(values), median(first[key][1:])
        if key == "floor":
            report.set(key, "stream", fmt_ms(total), total)
            report.set(key, "ttft", fmt_ms(ttft), ttft)
        else:
            report.set(key, "stream", fmt_ratio(ratio(total, base)), ratio(total, base))
            report.set(key, "ttft", fmt_ratio(ratio(ttft, base_first)), ratio(ttft, base_first))
    report.notes.append(
        f"stream: {settings.stream_events:,} events, {settings.stream_rounds} interleaved rounds; "
        f"floor {fmt_ms(base)} to the end, {fmt_ms(base_first)} to the first token"
    )
