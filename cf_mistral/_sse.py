"""A sans-I/O decoder for Server-Sent Events: bytes in, ``data`` payloads out.

It follows the WHATWG "event stream interpretation" (html.spec.whatwg.org §9.2.6): lines end
at CR, LF or CRLF and nowhere else (``str.splitlines`` would also split on U+2028 inside a
JSON string); a line ``field: value`` drops one leading space from the value; ``data`` lines
accumulate, joined by LF, until a blank line dispatches the event; ``:`` lines are comments;
``event``, ``id`` and ``retry`` are read and ignored (Workers AI sends none).

Workers AI departures it absorbs (WIRE-FORMAT §4.1): ``data:`` with or without the space, and
a bare ``[DONE]`` line without ``data:``. Input may be split anywhere, even inside a CRLF or a
UTF-8 sequence; the same events come out for any split.
"""

from __future__ import annotations

from cf_mistral._errors import StreamInterruptedError

__all__ = ["DONE", "SSEDecoder"]

DONE = "[DONE]"
# One event larger than this is not a Workers AI event; stop buffering instead of growing forever.
MAX_EVENT_BYTES = 16 * 1024 * 1024


class SSEDecoder:
    """Feed bytes with :meth:`feed`; each call returns the complete events' data payloads."""

    __slots__ = ("_buffer", "_data", "_has_data", "_pending_cr")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._data: list[str] = []
        self._has_data = False
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        """Decode ``chunk``; return the payloads of the events it completes, in order."""
        if not chunk:
            return []
        events: list[str] = []
        if self._pending_cr:
            # The previous chunk ended in CR: a LF starting this one belongs to that CRLF.
            self._pending_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._buffer
        buffer += chunk
        if b"\r" not in buffer:
            # The usual case, LF-only line ends: split in C rather than line by line in Python
            # (a 2,000-event stream is 4,000 lines; this is most of the decoder's time).
            end = buffer.rfind(b"\n")
            if end >= 0:
                for line in bytes(buffer[:end]).split(b"\n"):
                    self._line(line, events)
                del buffer[: end + 1]
            return self._checked(events)
        start = 0
        length = len(buffer)
        while start < length:
            lf = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start, lf if lf >= 0 else length)
            if cr >= 0:
                end = cr
                if cr + 1 < length:
                    next_start = cr + 2 if buffer[cr + 1] == 0x0A else cr + 1
                else:
                    next_start = cr + 1
                    self._pending_cr = True
            elif lf >= 0:
                end = lf
                next_start = lf + 1
            else:
                break
            self._line(bytes(buffer[start:end]), events)
            start = next_start
        del buffer[:start]
        return self._checked(events)

    def _checked(self, events: list[str]) -> list[str]:
        if len(self._buffer) > MAX_EVENT_BYTES:
            raise StreamInterruptedError(
                f"A stream line exceeded {MAX_EVENT_BYTES} bytes without ending; this is not a "
                "Workers AI event stream."
            )
        return events

    def flush(self) -> list[str]:
        """At the end of input: a last unterminated line, and an event it left undispatched.

        The spec discards an event without its blank line; we keep a final complete
        payload (typically ``[DONE]``) because a proxy may drop the last blank line.
        """
        events: list[str] = []
        if self._buffer:
            line = bytes(self._buffer)
            self._buffer.clear()
            self._line(line, events)
        if self._has_data:
            events.append("\n".join(self._data))
            self._data = []
            self._has_data = False
        return events

    def _line(self, raw: bytes, events: list[str]) -> None:
        if not raw:
            if self._has_data:
                events.append("\n".join(self._data))
                self._data = []
                self._has_data = False
            return
        if raw[:6] == b"data: ":  # nearly every line: skip the general field parsing
            self._data.append(raw[6:].decode("utf-8", errors="replace"))
            self._has_data = True
            return
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            return
        field, colon, value = line.partition(":")
        if not colon:
            if line == DONE:
                # Bare "[DONE]" line, as some Workers AI paths send it: an event of its own.
                events.append(DONE)
            return
        if value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._has_data = True
