"""The request head and origin parsing, byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.gateway import UpstreamError
from proxy.gateway.lean.request import CHUNKED, Targets, parse_origin, request_head
from proxy.http1 import chunk as chunk_frame


def test_head_keeps_order_case_and_repeats() -> None:
    headers = [(b"Content-Type", b"application/json"), (b"x-Custom", b"1"), (b"X-CUSTOM", b"2"),
               (b"anthropic-version", b"2023-06-01")]
    _, line = Targets().line("POST", "http://lava:8443/v1/forward?u=a%2Fb")
    head = request_head(line, headers, 12)
    assert head == (b"POST /v1/forward?u=a%2Fb HTTP/1.1\r\nHost: lava:8443\r\n"
                    b"Content-Type: application/json\r\nx-Custom: 1\r\nX-CUSTOM: 2\r\n"
                    b"anthropic-version: 2023-06-01\r\nContent-Length: 12\r\n\r\n")


def test_framing_and_host_belong_to_the_client() -> None:
    headers = [(b"host", b"evil"), (b"Content-Length", b"999"), (b"TRANSFER-ENCODING", b"gzip"), (b"A", b"b")]
    targets = Targets()
    assert request_head(targets.line("POST", "http://h/")[1], headers, CHUNKED) == (
        b"POST / HTTP/1.1\r\nHost: h\r\nA: b\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert request_head(targets.line("GET", "http://h")[1], headers, None) == (
        b"GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n")


@pytest.mark.parametrize("bad", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_cr_or_lf_anywhere_is_refused(bad: str) -> None:
    for headers in [(b"X", bad.encode())], [(bad.encode(), b"v")]:
        with pytest.raises(UpstreamError) as err:
            request_head(b"GET / HTTP/1.1\r\nHost: h\r\n", headers, None)
        assert err.value.reason == "protocol"
    with pytest.raises(UpstreamError) as err:
        Targets().line(bad, "http://h/")
    assert err.value.reason == "protocol"


@pytest.mark.parametrize("target", ["/a\r\nX: 1", "/a b", "/\x00", "/ü"])
def test_a_url_is_percent_encoded_never_split(target: str) -> None:
    _, line = Targets().line("GET", "http://h" + target)
    assert line.count(b"\r\n") == 2
    assert line.startswith(b"GET /")
    assert line.endswith(b" HTTP/1.1\r\nHost: h\r\n")
    assert b" " not in line.split(b" HTTP/1.1")[0][4:]


@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True),
                          st.binary(max_size=40).filter(lambda v: b"\r" not in v and b"\n" not in v)),
                max_size=12),
       st.integers(min_value=0, max_value=10**9))
def test_every_safe_header_is_one_line(headers: list[tuple[str, bytes]], length: int) -> None:
    head = request_head(b"POST /p HTTP/1.1\r\nHost: h\r\n", [(k.encode(), v) for k, v in headers], length)
    lines = head.split(b"\r\n")
    kept = [(k, v) for k, v in headers if k.lower() not in {"host", "content-length", "transfer-encoding"}]
    assert lines[2:2 + len(kept)] == [k.encode() + b": " + v for k, v in kept]
    assert lines[-3:] == [f"Content-Length: {length}".encode(), b"", b""]


def test_targets() -> None:
    targets = Targets()
    o, line = targets.line("POST", "https://api.lava.so/v1/forward?u=x#frag")
    assert (o.key, o.host, o.port, o.tls, o.host_header, line) == (
        "https://api.lava.so", "api.lava.so", 443, True, "api.lava.so",
        b"POST /v1/forward?u=x HTTP/1.1\r\nHost: api.lava.so\r\n")
    assert targets.line("GET", "https://api.lava.so/v1/other")[0] is o
    o, line = targets.line("GET", "http://[::1]:8080?q=1")
    assert (o.host, o.port, line) == ("::1", 8080, b"GET /?q=1 HTTP/1.1\r\nHost: [::1]:8080\r\n")
    assert targets.line("GET", "HTTP://Lava:80")[0].key == "http://lava"
    assert targets.line("GET", "http://h/a b/ü")[1].startswith(b"GET /a%20b/%C3%BC HTTP/1.1")


@pytest.mark.parametrize("url", ["ftp://h/", "http://user:pw@h/", "http:///x", "http://h:99999/"])
def test_unusable_urls(url: str) -> None:
    with pytest.raises(UpstreamError):
        parse_origin(url)


def test_chunk_frame() -> None:
    assert chunk_frame(b"a" * 26) == b"1a\r\n" + b"a" * 26 + b"\r\n"
