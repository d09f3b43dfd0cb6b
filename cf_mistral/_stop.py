"""Stop sequences, applied client-side (Workers AI has no ``stop`` parameter).

:class:`StopFilter` works on a stream: it holds back only the tail that could still become a
stop sequence, so text reaches the caller as early as it safely can.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["StopFilter", "truncate_at_stop"]


def truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop sequence, and whether one was found."""
    cut = min((index for index in (text.find(stop) for stop in stops) if index >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class StopFilter:
    """Feed stream text with :meth:`push`; it returns what is safe to emit."""

    __slots__ = ("_held", "_longest", "_stops", "stopped")

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(stops)
        self._longest = max((len(stop) for stop in self._stops), default=0)
        self._held = ""
        self.stopped = False

    def push(self, text: str) -> str:
        if self.stopped:
            return ""
        if not self._stops:
            return text
        pending = self._held + text
        emitted, found = truncate_at_stop(pending, self._stops)
        start = len(pending) - self._unsafe_tail(pending)
        if found and start >= len(emitted):
            self._held = ""
            self.stopped = True
            return emitted
        # Hold the tail that may still become a stop sequence. When a stop already matched,
        # a longer one that began earlier may still complete (stops "O" and "POO", text
        # "PO"): the reply ends at the earliest start, as it does without streaming.
        self._held = pending[start:]
        return pending[:start]

    def flush(self) -> str:
        held, self._held = self._held, ""
        # The held text may hold a complete stop behind an unfinished longer one.
        text, found = truncate_at_stop(held, self._stops)
        self.stopped = self.stopped or found
        return text

    def _unsafe_tail(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that is a proper prefix of a stop sequence."""
        for size in range(min(len(text), self._longest - 1), 0, -1):
            tail = text[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0
