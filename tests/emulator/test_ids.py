from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.emulator.ids import request_id, suffix, ulid

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _decode(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + CROCKFORD.index(ch)
    return value


def test_spec_extremes() -> None:
    # The ULID spec: the smallest and largest encodable values.
    assert ulid(0, bytes(10)) == "0" * 26
    assert ulid((1 << 48) - 1, b"\xff" * 10) == "7" + "Z" * 25


@given(st.integers(0, (1 << 48) - 1), st.binary(min_size=10, max_size=10))
def test_round_trips_time_and_randomness(millis: int, rand: bytes) -> None:
    value = _decode(ulid(millis, rand))
    assert value >> 80 == millis
    assert value & ((1 << 80) - 1) == int.from_bytes(rand, "big")


@given(st.integers(0, (1 << 48) - 2), st.binary(min_size=10, max_size=10),
       st.binary(min_size=10, max_size=10))
def test_later_sorts_after(millis: int, a: bytes, b: bytes) -> None:
    assert ulid(millis, a) < ulid(millis + 1, b)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="48-bit"):
        ulid(1 << 48, bytes(10))
    with pytest.raises(ValueError, match="10 bytes"):
        ulid(0, bytes(9))


def test_request_id_shape() -> None:
    ids = {request_id() for _ in range(100)}
    assert len(ids) == 100
    for rid in ids:
        assert re.fullmatch(r"req_[0-9A-HJKMNP-TV-Z]{26}", rid)
        assert suffix(rid) == rid[4:]
