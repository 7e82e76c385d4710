"""Framing: exact wire layout, any chunking, and lengths refused before anything is buffered."""

from __future__ import annotations

import struct
import time
import tracemalloc

import pytest

from sync.errors import FrameTooLarge, LocalProtocolError, RemoteProtocolError
from sync.framing import MAX_FRAME, Frame, FrameDecoder, FrameKind, encode_frame

SAMPLES = [
    Frame(FrameKind.HELLO, b'{"protocol":2}'),
    Frame(FrameKind.DOC_SYNC, bytes(range(256)) * 3),
    Frame(FrameKind.PING, b""),
    Frame(FrameKind.DOCS, b"\x00" * 70_000),
    Frame(FrameKind.BYE, "bye ✓".encode()),
    Frame(200, b"unknown kinds are the session's business"),
]
WIRE = b"".join(encode_frame(f.kind, f.payload) for f in SAMPLES)


def test_wire_layout_is_length_then_type_then_payload() -> None:
    assert encode_frame(FrameKind.DOC_SYNC, b"abc") == b"\x00\x00\x00\x04\x12abc"
    assert encode_frame(FrameKind.PING, b"") == b"\x00\x00\x00\x01\x04"
    assert MAX_FRAME == 64 * 1024 * 1024


def test_one_registry_holds_every_frame_type_and_never_reuses_a_retired_one() -> None:
    assert {k.name: k.value for k in FrameKind} == {
        "HELLO": 1,
        "PING": 4,
        "BYE": 5,
        "PRESENT": 6,
        "PRESENT_OK": 7,
        "PAIR_START": 8,
        "PAIR_REPLY": 9,
        "PAIR_CONFIRM": 10,
        "PAIR_DONE": 11,
        "INFO": 12,
        "INFO_OK": 13,
        "INTRODUCE": 14,
        "MANIFEST": 15,
        "WANT": 16,
        "DOCS": 17,
        "DOC_SYNC": 18,
        "HELD": 19,
    }
    assert 2 not in set(FrameKind) and 3 not in set(FrameKind)  # protocol 1's SNAPSHOT, SYNC
    from sync import pairing, tls

    assert (tls.PRESENT, tls.PRESENT_OK, tls.INFO, tls.INFO_OK) == (6, 7, 12, 13)
    assert (pairing.PAIR_START, pairing.PAIR_CONFIRM) == (8, 10)


def test_many_frames_in_one_feed() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(WIRE) == SAMPLES
    assert decoder.buffered == 0
    assert sum(f.wire_size for f in SAMPLES) == len(WIRE)


def test_byte_by_byte_feeding_gives_the_same_frames() -> None:
    decoder = FrameDecoder()
    frames: list[Frame] = []
    for i in range(len(WIRE)):
        frames += decoder.feed(WIRE[i : i + 1])
    assert frames == SAMPLES
    assert decoder.buffered == 0


@pytest.mark.parametrize("size", [2, 3, 5, 4096, 65_537])
def test_any_chunk_size_gives_the_same_frames(size: int) -> None:
    decoder = FrameDecoder()
    frames: list[Frame] = []
    for i in range(0, len(WIRE), size):
        frames += decoder.feed(memoryview(WIRE)[i : i + size])
    assert frames == SAMPLES


def test_partial_frame_is_reported_as_buffered() -> None:
    decoder = FrameDecoder()
    wire = encode_frame(FrameKind.DOC_SYNC, b"x" * 10)
    assert decoder.feed(wire[:7]) == []
    assert decoder.buffered == 7
    assert decoder.feed(wire[7:]) == [Frame(FrameKind.DOC_SYNC, b"x" * 10)]


@pytest.mark.parametrize(
    "length",
    [2**31 - 1, 2**32 - 1, 0x80000000, 0xFFFFFFFE, MAX_FRAME + 1],
    ids=["2^31-1", "all-ones (-1 as int32)", "2^31 (negative as int32)", "-2", "limit+1"],
)
def test_oversize_length_is_refused_from_the_header_alone(length: int) -> None:
    decoder = FrameDecoder()
    tracemalloc.start()
    try:
        with pytest.raises(FrameTooLarge, match="limit is 67,108,864 bytes"):
            decoder.feed(struct.pack(">I", length))  # not even the type byte yet
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"feeding a 4-byte header allocated {peak} bytes"
    assert decoder.buffered == 0
    assert issubclass(FrameTooLarge, RemoteProtocolError)


def test_oversize_is_refused_even_when_body_bytes_follow() -> None:
    decoder = FrameDecoder(max_frame=1000)
    with pytest.raises(FrameTooLarge):
        decoder.feed(struct.pack(">IB", 1001, FrameKind.DOC_SYNC) + b"x" * 5000)


def test_zero_length_is_refused() -> None:
    with pytest.raises(FrameTooLarge, match="length 0"):
        FrameDecoder().feed(b"\x00\x00\x00\x00")


def test_error_after_good_frames_in_the_same_stream() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(FrameKind.PING, b"")) == [Frame(FrameKind.PING, b"")]
    with pytest.raises(FrameTooLarge):
        decoder.feed(b"\xff\xff\xff\xff\x03")


def test_a_failed_decoder_stays_failed() -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameTooLarge):
        decoder.feed(b"\x00\x00\x00\x00")
    with pytest.raises(FrameTooLarge):
        decoder.feed(encode_frame(FrameKind.PING, b""))


def test_configurable_limit_is_inclusive() -> None:
    decoder = FrameDecoder(max_frame=11)
    assert decoder.feed(encode_frame(FrameKind.DOC_SYNC, b"x" * 10)) == [
        Frame(FrameKind.DOC_SYNC, b"x" * 10)
    ]
    with pytest.raises(FrameTooLarge, match="12-byte frame; the limit is 11 bytes"):
        decoder.feed(encode_frame(FrameKind.DOC_SYNC, b"x" * 11))


def test_per_kind_limit_is_checked_at_the_type_byte() -> None:
    decoder = FrameDecoder(limits={FrameKind.PING: 8})
    assert decoder.feed(encode_frame(FrameKind.PING, b"12345678"))
    with pytest.raises(FrameTooLarge, match="9-byte PING payload"):
        decoder.feed(struct.pack(">IB", 10, FrameKind.PING))  # header only, body never sent
    assert FrameDecoder(limits={FrameKind.PING: 8}).feed(
        encode_frame(FrameKind.DOC_SYNC, b"123456789")
    )


def test_invalid_decoder_limits_are_our_mistake() -> None:
    with pytest.raises(LocalProtocolError):
        FrameDecoder(max_frame=0)
    with pytest.raises(LocalProtocolError):
        FrameDecoder(max_frame=2**32)


def test_encode_refuses_what_the_peer_would_refuse() -> None:
    with pytest.raises(LocalProtocolError, match="does not fit in one byte"):
        encode_frame(256, b"")
    with pytest.raises(LocalProtocolError, match="exceeds the 10-byte limit"):
        encode_frame(FrameKind.DOC_SYNC, b"x" * 10, max_frame=10)


def test_buffer_stays_bounded_over_a_long_stream() -> None:
    decoder = FrameDecoder()
    frame = encode_frame(FrameKind.DOC_SYNC, b"y" * 300)
    stream = frame * 20_000  # 6 MB of small frames
    largest, count = 0, 0
    for i in range(0, len(stream), 997):
        count += len(decoder.feed(stream[i : i + 997]))
        largest = max(largest, len(decoder._buffer))
    assert count == 20_000
    assert largest <= 256 * 1024, largest


def test_large_frame_fed_in_small_chunks_is_linear() -> None:
    payload = bytes(8 * 1024 * 1024)
    wire = encode_frame(FrameKind.DOCS, payload)
    decoder = FrameDecoder()
    started = time.perf_counter()
    frames: list[Frame] = []
    for i in range(0, len(wire), 1024):
        frames += decoder.feed(wire[i : i + 1024])
    elapsed = time.perf_counter() - started
    assert frames == [Frame(FrameKind.DOCS, payload)]
    assert elapsed < 2.0, f"8 MiB in 1 KiB chunks took {elapsed:.2f} s (quadratic copying?)"
