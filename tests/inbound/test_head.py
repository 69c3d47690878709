"""``head.build_head`` and friends (pure): the framing chosen for each kind of response, the
headers added (Date, Transfer-Encoding, Connection) and the caller's header bytes kept exactly."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime

import httptools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.errors import HeadTooLarge, Shape, refusal
from proxy.inbound import head as h

pytestmark = pytest.mark.timeout(30)

TOKEN = st.text(alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                min_size=1, max_size=20)
# Field values: any latin-1 character but controls (tab excepted), no surrounding whitespace.
VALUE = st.text(alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",),
                                       include_characters="\t"),
                max_size=40).map(lambda v: v.strip(" \t"))
FRAMING_HEADERS = {"content-length", "transfer-encoding", "connection", "date"}


def lines(head: bytes) -> list[bytes]:
    assert head.endswith(b"\r\n\r\n")
    assert head.count(b"\r\n\r\n") == 1
    return head[:-4].split(b"\r\n")


def header_values(head: bytes, name: bytes) -> list[bytes]:
    return [line.split(b": ", 1)[1] for line in lines(head)[1:]
            if line.split(b":", 1)[0].lower() == name.lower()]


#: What the server's ``HttpDate`` would give (build_head takes it; it never reads the clock).
DATE = h.HttpDate()()


def build(status: int = 200, headers: list[tuple[str, str]] | None = None, *, method: str = "GET",
          http11: bool = True, keep_alive: bool = True) -> tuple[bytes, int, bool]:
    return h.build_head(status, "Reason", headers or [], method=method, http11=http11,
                        keep_alive=keep_alive, date=DATE)


def test_length_given_is_kept_and_no_chunking_added() -> None:
    head, framing, keep = build(headers=[("content-LENGTH", "5")])
    assert framing == h.LENGTH
    assert keep
    assert header_values(head, b"Content-Length") == [b"5"]
    assert header_values(head, b"Transfer-Encoding") == []
    assert header_values(head, b"Connection") == []


def test_http11_without_length_is_chunked() -> None:
    head, framing, keep = build(headers=[("Content-Type", "text/event-stream")])
    assert framing == h.CHUNKED
    assert keep
    assert header_values(head, b"Transfer-Encoding") == [b"chunked"]
    assert header_values(head, b"Content-Length") == []


def test_http10_without_length_ends_by_closing() -> None:
    head, framing, keep = build(http11=False, keep_alive=True)
    assert framing == h.CLOSE
    assert not keep
    assert header_values(head, b"Connection") == [b"close"]
    assert header_values(head, b"Transfer-Encoding") == []


def test_http10_keep_alive_with_length_says_so() -> None:
    head, framing, keep = build(headers=[("Content-Length", "0")], http11=False, keep_alive=True)
    assert framing == h.LENGTH
    assert keep
    assert header_values(head, b"Connection") == [b"keep-alive"]


@pytest.mark.parametrize("http11", [True, False])
def test_not_keep_alive_says_close(http11: bool) -> None:
    head, framing, keep = build(headers=[("Content-Length", "2")], http11=http11, keep_alive=False)
    assert framing == h.LENGTH
    assert not keep
    assert header_values(head, b"Connection") == [b"close"]


@pytest.mark.parametrize(("method", "status"), [
    ("HEAD", 200), ("HEAD", 404), ("GET", 100), ("GET", 103), ("GET", 204), ("POST", 304)])
@pytest.mark.parametrize("length", [None, "17"])
def test_bodiless_responses_have_no_framing(method: str, status: int, length: str | None) -> None:
    headers = [("Content-Length", length)] if length is not None else []
    head, framing, keep = build(status, headers, method=method)
    assert framing == h.NONE
    assert keep
    assert header_values(head, b"Transfer-Encoding") == []
    # A HEAD's Content-Length describes the GET's body: it stays as the caller wrote it.
    assert header_values(head, b"Content-Length") == ([length.encode()] if length else [])


@pytest.mark.parametrize("http11", [True, False])
def test_head_request_on_http10_keeps_the_connection(http11: bool) -> None:
    _, framing, keep = build(method="HEAD", http11=http11, keep_alive=True)
    assert framing == h.NONE
    assert keep


def test_date_added_when_absent() -> None:
    head, _, _ = build(headers=[("Content-Length", "0")])
    (date,) = header_values(head, b"Date")
    parsed = parsedate_to_datetime(date.decode("ascii"))
    assert parsed.utcoffset() is not None
    assert parsed.utcoffset().total_seconds() == 0
    assert date.endswith(b" GMT")


def test_date_is_formatted_once_a_second() -> None:
    date = h.HttpDate()
    first = date()
    assert date() is first  # the same second: the cached bytes, not a new string
    assert parsedate_to_datetime(first.decode("ascii")).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_date_given_is_kept_alone() -> None:
    given_date = "Tue, 01 Jan 2030 00:00:00 GMT"
    head, _, _ = build(headers=[("date", given_date), ("Content-Length", "0")])
    assert header_values(head, b"Date") == [given_date.encode()]
    assert b"date: " + given_date.encode() + b"\r\n" in head


def test_status_line_and_header_bytes_exact() -> None:
    head, _, _ = h.build_head(404, "Not Found", [
        ("X-Caf\xe9", "na\xefve \xff\x80 value"), ("x-lower", "v"), ("Content-Length", "0"),
        ("Date", "D")], method="GET", http11=True, keep_alive=True, date=DATE)
    assert head == (b"HTTP/1.1 404 Not Found\r\nX-Caf\xe9: na\xefve \xff\x80 value\r\nx-lower: v\r\n"
                    b"Content-Length: 0\r\nDate: D\r\n\r\n")


def test_surrogate_escaped_bytes_come_back_as_the_bytes() -> None:
    # A value decoded with surrogateescape (raw bytes that were not latin-1 text) is not lost.
    value = b"\xe2\x82\xac".decode("utf-8") + b"\xff".decode("utf-8", "surrogateescape")
    head, _, _ = build(headers=[("X-V", value), ("Date", "D"), ("Content-Length", "0")])
    assert header_values(head, b"X-V") == [value.encode("utf-8", "surrogateescape")]


def test_empty_reason_is_filled_in() -> None:
    head, _, _ = h.build_head(299, "", [("Date", "D"), ("Content-Length", "0")], method="GET",
                              http11=True, keep_alive=True, date=DATE)
    assert lines(head)[0] == b"HTTP/1.1 299 Unknown"


def test_chunk_framing() -> None:
    assert h.chunk(b"abc") == b"3\r\nabc\r\n"
    assert h.chunk(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert h.LAST_CHUNK == b"0\r\n\r\n"


@pytest.mark.parametrize("shape", ["openai", "anthropic"])
def test_error_response_is_complete_and_closes(shape: Shape) -> None:
    err = HeadTooLarge("Too big.")
    headers, body = refusal(shape, err)
    data = h.refusal_response(err.status, headers, body, DATE)
    head, _, body = data.partition(b"\r\n\r\n")
    head += b"\r\n\r\n"
    assert lines(head)[0] == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert header_values(head, b"Content-Length") == [str(len(body)).encode()]
    assert header_values(head, b"Connection") == [b"close"]
    assert header_values(head, b"x-lava-sidecar-error") == [b"request_header_too_large"]
    doc = json.loads(body)
    assert doc["error"]["code"] == "request_header_too_large"
    assert doc["error"]["message"] == "Too big."
    assert ("type" in doc) == (shape == "anthropic")


class _Parsed:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.complete = True


@given(status=st.integers(200, 599), reason=st.text(alphabet="abcdefghij XYZ", max_size=20),
       headers=st.lists(st.tuples(TOKEN, VALUE), max_size=12),
       method=st.sampled_from(["GET", "HEAD", "POST"]), http11=st.booleans(),
       keep_alive=st.booleans())
def test_any_head_parses_back_to_what_was_given(status: int, reason: str,
                                                headers: list[tuple[str, str]], method: str,
                                                http11: bool, keep_alive: bool) -> None:
    headers = [(n, v) for n, v in headers if n.lower() not in FRAMING_HEADERS]
    head, framing, keep = h.build_head(status, reason, headers, method=method, http11=http11,
                                       keep_alive=keep_alive, date=DATE)
    parsed = _Parsed()
    parser = httptools.HttpResponseParser(parsed)
    parser.feed_data(head)
    assert parsed.complete
    assert parser.get_status_code() == status
    given_bytes = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    assert parsed.headers[:len(headers)] == given_bytes
    added = {n.lower(): v for n, v in parsed.headers[len(headers):]}
    assert set(added) <= {b"date", b"transfer-encoding", b"connection"}
    assert (added.get(b"transfer-encoding") == b"chunked") == (framing == h.CHUNKED)
    assert (added.get(b"connection") == b"close") == (not keep)
    if method == "HEAD" or status in (204, 304):
        assert framing == h.NONE
    else:
        assert framing == (h.CHUNKED if http11 else h.CLOSE)
    assert keep == (keep_alive and framing != h.CLOSE)
