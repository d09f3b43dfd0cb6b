"""The SSE decoder: bytes in, data payloads out, for any split of the input."""

from __future__ import annotations

import pytest

from cf_mistral import SSEDecoder, StreamInterruptedError
from cf_mistral._sse import MAX_EVENT_BYTES

from .helpers import RECORDINGS


def decode(chunks: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.flush()


def every_split(data: bytes) -> list[list[bytes]]:
    """The input whole, cut once at every position, and byte by byte."""
    splits = [[data], [bytes([b]) for b in data]]
    splits += [[data[:i], data[i:]] for i in range(1, len(data))]
    return splits


STREAM = 'data: {"response":"héllo 👋"}\r\n\r\ndata:{"response":"x"}\n\ndata: [DONE]\n\n'.encode()


@pytest.mark.parametrize("chunks", every_split(STREAM))
def test_same_events_for_any_split_even_inside_crlf_and_utf8(chunks: list[bytes]) -> None:
    assert decode(chunks) == ['{"response":"héllo 👋"}', '{"response":"x"}', "[DONE]"]


@pytest.mark.parametrize(
    ("raw", "events"),
    [
        (b"data: a\n\n", ["a"]),
        (b"data:a\n\n", ["a"]),
        (b"data:  two spaces\n\n", [" two spaces"]),
        (b"data: a\r\n\r\n", ["a"]),
        (b"data: a\r\rdata: b\r\r", ["a", "b"]),
        (b"data: a\ndata: b\n\n", ["a\nb"]),
        (b"[DONE]\n\n", ["[DONE]"]),
        (b"data: [DONE]\n\n", ["[DONE]"]),
        (b"data: x\n\n[DONE]\n", ["x", "[DONE]"]),
        (b": keep-alive comment\n\ndata: a\n\n", ["a"]),
        (b"event: message\nid: 7\nretry: 100\ndata: a\n\n", ["a"]),
        (b"data\n\n", []),
        (b"data:\n\n", [""]),
        (b"\n\n\n", []),
        (b"unknown line\n\n", []),
        ("data: a\u2028b\n\n".encode(), ["a\u2028b"]),
        (b"data: \xff\xfe\n\n", ["\ufffd\ufffd"]),
    ],
)
def test_line_and_field_rules(raw: bytes, events: list[str]) -> None:
    assert decode([raw]) == events
    assert decode([bytes([b]) for b in raw]) == events


def test_last_event_without_its_blank_line_is_kept_at_flush() -> None:
    assert decode([b"data: a\n\ndata: [DONE]"]) == ["a", "[DONE]"]
    assert decode([b"data: a\n\ndata: [DONE]\n"]) == ["a", "[DONE]"]


def test_feed_returns_events_as_soon_as_they_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == ["a"]
    assert decoder.feed(b"") == []
    assert decoder.flush() == []


def test_cr_at_the_end_of_a_chunk_then_lf_is_one_line_break() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == ["a"]
    assert decoder.feed(b"\ndata: b\n\n") == ["b"]


def test_unbounded_line_raises_instead_of_growing_forever() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"x" * MAX_EVENT_BYTES) == []
    with pytest.raises(StreamInterruptedError, match="exceeded"):
        decoder.feed(b"x")


@pytest.mark.parametrize("name", sorted(p.name for p in RECORDINGS.glob("*.sse")))
@pytest.mark.parametrize("size", [1, 2, 7, 64, None])
def test_recorded_streams_decode_identically_at_every_chunk_size(
    name: str, size: int | None
) -> None:
    raw = (RECORDINGS / name).read_bytes()
    expected = [line[len("data: ") :] for line in raw.decode().splitlines() if line]
    chunks = [raw] if size is None else [raw[i : i + size] for i in range(0, len(raw), size)]
    assert decode(chunks) == expected


def test_events_are_decoded_one_at_a_time_as_they_are_pulled() -> None:
    # A loopback read can hold a whole reply; the first event must not wait for the last.
    decoder = SSEDecoder()
    decoder.receive(b'data: {"response":"a"}\n\ndata: {"response":"b"}\n\ndata: [DONE]\n\n')
    assert decoder.next_event() == '{"response":"a"}'
    assert decoder.next_event() == '{"response":"b"}'
    decoder.receive(b"data: late\n\n")  # arrives before the rest was pulled: order is kept
    assert list(decoder.events()) == ["[DONE]", "late"]
    assert decoder.next_event() is None


def test_a_crlf_split_after_a_pulled_line_is_one_line_end() -> None:
    decoder = SSEDecoder()
    decoder.receive(b"data: x\r")
    assert decoder.next_event() is None
    decoder.receive(b"\n\r\n")
    assert decoder.next_event() == "x"
