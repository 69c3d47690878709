"""Header fields as bytes (``http1.Headers``, ``http1.field``): lookups without case, repeats, and
exact bytes both ways."""

from __future__ import annotations

import httptools
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, MultiMapping

from proxy.http1 import Field, Headers, field

TOKEN = st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,24}", fullmatch=True)
#: What llhttp takes in a value: visible ASCII, spaces inside, and obs-text (bytes >= 0x80).
VALUE = st.lists(st.integers(0x20, 0xFF).filter(lambda b: b != 0x7F), max_size=40).map(
    lambda v: bytes(v).strip(b" "))


class _Parsed:
    """What the inbound server records for a request head: (lower-case name, name, value)."""

    def __init__(self) -> None:
        self.fields: list[Field] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name.lower(), name, value))


def parse(head: bytes) -> Headers:
    parsed = _Parsed()
    httptools.HttpRequestParser(parsed).feed_data(head)
    return Headers(parsed.fields)


def test_lookups_ignore_case_and_decode_only_what_is_read() -> None:
    h = parse(b"POST /v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"X-Lava-Customer-Id: cus_1\r\nX-Note: caf\xc3\xa9 \xff\r\nContent-Length: 0\r\n\r\n")
    assert h.value(b"content-type") == b"application/json"
    assert h.value(b"Content-Type") is None  # the bytes API takes lower-case names
    assert h.get("CONTENT-TYPE") == h["content-type"] == "application/json"
    assert h.get("x-lava-customer-id") == "cus_1"
    # Every byte kept: a value that is not UTF-8 decodes with surrogateescape and encodes back.
    note = h["x-note"]
    assert note.encode("utf-8", "surrogateescape") == b"caf\xc3\xa9 \xff"
    assert h.get("x-absent") is None
    assert h.get("x-absent", "d") == "d"
    assert "x-note" in h
    assert "X-NOTE" in h
    assert "x-absent" not in h
    with pytest.raises(KeyError):
        h["x-absent"]
    assert list(h) == ["Host", "Content-Type", "X-Lava-Customer-Id", "X-Note", "Content-Length"]
    assert len(h) == 5
    assert isinstance(h, MultiMapping)  # identity reads repeats through getall


def test_repeated_names_answer_first_and_all_as_a_multidict_does() -> None:
    head = (b"GET / HTTP/1.1\r\nX-Lava-Meter: a\r\nx-lava-meter: b\r\nX-Other: 1\r\n"
            b"X-LAVA-METER: c\r\n\r\n")
    h = parse(head)
    ci = CIMultiDict([(n.decode(), v.decode()) for _, n, v in h.fields])
    for name in ("x-lava-meter", "X-Other", "x-none"):
        assert h.get(name) == ci.get(name)
        assert h.getall(name, []) == ci.getall(name, [])
    assert h.value(b"x-lava-meter") == b"a"
    assert h.getone("X-Lava-Meter") == "a"
    with pytest.raises(KeyError):
        h.getall("x-none")
    with pytest.raises(KeyError):
        h.getone("x-none")


def test_a_response_decodes_latin1() -> None:
    h = Headers([(b"x-a", b"X-A", b"caf\xe9")], latin1=True)
    assert h["x-a"] == "café"


def test_repr_never_shows_values() -> None:
    h = Headers([field("Authorization", "Bearer sk-secret")])
    assert "sk-secret" not in repr(h)


@given(st.lists(st.tuples(TOKEN, VALUE), max_size=12), TOKEN)
def test_any_head_looks_up_as_cimultidict_does(pairs: list[tuple[str, bytes]], probe: str) -> None:
    head = b"GET / HTTP/1.1\r\n" + b"".join(n.encode() + b": " + v + b"\r\n" for n, v in pairs) + b"\r\n"
    h = parse(head)
    ci = CIMultiDict([(n, v.decode("utf-8", "surrogateescape")) for n, v in pairs])
    for name in [probe, *(n for n, _ in pairs)]:
        assert h.get(name) == ci.get(name)
        assert h.getall(name, []) == ci.getall(name, [])
        assert (name in h) == (name in ci)


def test_field_from_text_keeps_wire_bytes_and_never_fails() -> None:
    # A value decoded from the wire with surrogateescape goes back as its exact bytes.
    wire = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
    assert field("X-A", wire) == (b"x-a", b"X-A", b"caf\xe9 \xff")
    # A lone surrogate that did not come from the wire is sent as its code units.
    assert field("x-a", "\ud800")[2] == b"\xed\xa0\x80"
    assert field("Traceparent", "00-ab-cd-01") == (b"traceparent", b"Traceparent", b"00-ab-cd-01")
