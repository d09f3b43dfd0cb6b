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

from collections.abc import Iterator

from cf_mistral._errors import StreamInterruptedError

__all__ = ["DONE", "SSEDecoder"]

DONE = "[DONE]"
# One event larger than this is not a Workers AI event; stop buffering instead of growing forever.
MAX_EVENT_BYTES = 16 * 1024 * 1024


class SSEDecoder:
    """Bytes in with :meth:`receive`, payloads out one at a time with :meth:`next_event`.

    Pull-based, as h11 is: a caller that hands each payload on before decoding the next gets
    its first event as soon as its line is complete, however much arrived with it (a
    loopback read can hold a whole reply). :meth:`feed` is the eager form.
    """

    __slots__ = ("_buffer", "_data", "_has_data", "_pending_cr", "_pos", "_seen_cr")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pos = 0  # start of the unread part of _buffer
        self._data: list[str] = []
        self._has_data = False
        self._pending_cr = False  # a line ended in CR at the end of the data so far
        self._seen_cr = False  # any CR at all: only then is the slower line search needed

    def receive(self, chunk: bytes) -> None:
        """Add ``chunk`` to the input; decode nothing yet."""
        if not chunk:
            return
        if self._pending_cr:
            # The previous line ended in CR at the end of the data: a LF starting this chunk
            # belongs to that CRLF.
            self._pending_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += chunk
        if not self._seen_cr and b"\r" in chunk:
            self._seen_cr = True

    def next_event(self) -> str | None:
        """The next complete event's payload, or ``None`` until more input arrives."""
        if not self._seen_cr and not self._has_data:
            # Nearly every Workers AI event is one "data: ..." line and a blank line: take it
            # whole with two searches instead of interpreting two lines.
            buffer, pos = self._buffer, self._pos
            end = buffer.find(b"\n\n", pos)
            if end >= 0 and buffer.startswith(b"data: ", pos) and buffer.find(b"\n", pos, end) < 0:
                self._pos = end + 2
                return buffer[pos + 6 : end].decode("utf-8", errors="replace")
        while True:
            line = self._next_line()
            if line is None:
                if len(self._buffer) - self._pos > MAX_EVENT_BYTES:
                    raise StreamInterruptedError(
                        f"A stream line exceeded {MAX_EVENT_BYTES} bytes without ending; this "
                        "is not a Workers AI event stream."
                    )
                return None
            payload = self._line(line)
            if payload is not None:
                return payload

    def events(self) -> Iterator[str]:
        """Every complete event's payload, decoded lazily as the iterator is advanced."""
        while (payload := self.next_event()) is not None:
            yield payload

    def feed(self, chunk: bytes) -> list[str]:
        """Decode ``chunk``; return the payloads of the events it completes, in order."""
        self.receive(chunk)
        return list(self.events())

    def flush(self) -> list[str]:
        """At the end of input: the remaining events, a last unterminated line, and an event
        it left undispatched.

        The spec discards an event without its blank line; we keep a final complete
        payload (typically ``[DONE]``) because a proxy may drop the last blank line.
        """
        events = list(self.events())
        if self._pos < len(self._buffer):
            line = bytes(self._buffer[self._pos :])
            self._buffer.clear()
            self._pos = 0
            payload = self._line(line)
            if payload is not None:
                events.append(payload)
        if self._has_data:
            events.append("\n".join(self._data))
            self._data = []
            self._has_data = False
        return events

    def _next_line(self) -> bytes | None:
        buffer, pos = self._buffer, self._pos
        lf = buffer.find(b"\n", pos)
        if self._seen_cr:
            cr = buffer.find(b"\r", pos, lf if lf >= 0 else len(buffer))
            if cr >= 0:
                if cr + 1 == len(buffer):
                    self._pending_cr = True
                    self._pos = cr + 1
                else:
                    self._pos = cr + 2 if buffer[cr + 1] == 0x0A else cr + 1
                return bytes(buffer[pos:cr])
        if lf < 0:
            return None
        self._pos = lf + 1
        return bytes(buffer[pos:lf])

    def _line(self, raw: bytes) -> str | None:
        """Interpret one line; the payload when it completes an event."""
        if not raw:
            if self._has_data:
                payload = "\n".join(self._data)
                self._data = []
                self._has_data = False
                return payload
            return None
        if raw[:6] == b"data: ":  # nearly every line: skip the general field parsing
            self._data.append(raw[6:].decode("utf-8", errors="replace"))
            self._has_data = True
            return None
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            return None
        field, colon, value = line.partition(":")
        if not colon:
            # Bare "[DONE]" line, as some Workers AI paths send it: an event of its own.
            return DONE if line == DONE else None
        if value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._has_data = True
        return None
