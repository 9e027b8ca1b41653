"""PCM helpers: whole samples out of chunks cut anywhere."""
from __future__ import annotations

from streaming.audio import WholeSamples


def test_whole_samples_hold_an_odd_byte_until_the_next_chunk() -> None:
    samples = WholeSamples()

    assert samples.take(b"\x01\x02\x03") == b"\x01\x02"
    assert samples.take(b"") == b"" and samples.pending == b"\x03"
    assert samples.take(b"\x04") == b"\x03\x04"
    assert samples.take(b"\x05") == b"" and samples.pending == b"\x05"
    assert samples.take(b"\x06\x07\x08") == b"\x05\x06\x07\x08"


def test_whole_samples_join_back_exactly_what_came_in() -> None:
    data = bytes(range(256)) * 3
    samples = WholeSamples()
    pieces, start = [], 0
    for size in (1, 7, 2, 33, 4, 100, 1, 1, 500):  # odd and even cuts anywhere
        pieces.append(samples.take(data[start : start + size]))
        start += size
    pieces.append(samples.take(data[start:]))

    assert all(len(piece) % 2 == 0 for piece in pieces)
    assert b"".join(pieces) == data and samples.pending == b""
