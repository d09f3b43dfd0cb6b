"""Scenario 5: peak RSS growth while streaming a long reply, over the reply's size.

One child process per contender (``python -m benchmarks.memory KEY URL``): it builds the
contender, streams a short scripted reply to warm up, then streams the long one while a thread
samples its RSS every millisecond. The consumer keeps no pieces (only a running hash, to check
the text), so what grows is what the integration itself holds. The figure is
``(peak RSS - RSS before) / UTF-8 bytes of the reply``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import resource
import subprocess
import sys
import threading
import time

from benchmarks._report import Report, Settings
from benchmarks._server import EmulatorProcess
from benchmarks.streaming import pieces

__all__ = ["run"]

_WARMUP_PIECES = 200


class _Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        import psutil

        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.001):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, self._process.memory_info().rss)


def _child(key: str, url: str) -> None:
    from benchmarks._contenders import build

    emu = EmulatorProcess(url)
    contender = build(key, emu)
    for _ in contender.stream():  # the short warm-up reply
        pass
    gc.collect()
    max_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sampler = _Sampler()
    before = sampler.peak
    sampler.start()
    digest = hashlib.sha256()
    size = 0
    start = time.perf_counter()
    for piece in contender.stream():
        data = piece.encode()
        digest.update(data)
        size += len(data)
    elapsed = time.perf_counter() - start
    peak = sampler.stop()
    max_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if max_after > max_before:  # the kernel saw a new peak between two samples
        peak = max(peak, max_after)
    print(
        json.dumps(
            {"growth": peak - before, "bytes": size, "sha": digest.hexdigest(), "seconds": elapsed}
        )
    )


def run(emu: EmulatorProcess, keys: list[str], settings: Settings, report: Report) -> None:
    long_reply = pieces(settings.memory_tokens)
    expected = hashlib.sha256("".join(long_reply).encode()).hexdigest()
    reply_bytes = len("".join(long_reply).encode())
    for key in keys:
        emu.reset()
        emu.script_chunks(pieces(_WARMUP_PIECES), repeat=1)
        emu.script_chunks(long_reply, repeat=1)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", key, emu.url],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            report.set(key, "memory", "failed")
            tail = done.stderr.strip().splitlines()[-1:] or ["?"]
            report.notes.append(f"memory, {key}: {tail[0]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        share = result["growth"] / reply_bytes
        report.set(key, "memory", f"{share:.1f}x ({result['seconds']:.1f}s)", share)
        if result["sha"] != expected:
            report.notes.append(f"memory, {key}: the {settings.memory_tokens:,}-token text differs")
    emu.reset()
    report.notes.append(
        f"memory: a {settings.memory_tokens:,}-token reply ({reply_bytes / 1e6:.2f} MB of text) "
        "streamed in a fresh process per contender; peak RSS growth / reply bytes "
        "(and the time the stream took)"
    )


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
