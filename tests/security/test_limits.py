"""Bounded input: bodies over ``limits.max_body_bytes`` get a 413 in the caller's shape however they
are framed; oversized or too many headers are refused before any handler runs; request bodies
that are not valid JSON go to the provider exactly as sent and never break the sidecar."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import aiohttp
import pytest

from proxy.config import Limits

from ..faults.harness import CHAT, CUSTOMER, MESSAGES, call, fault_stack, only, who
from .rawhttp import exchange, request_head

pytestmark = pytest.mark.timeout(60)

LIMIT = 4096


def limits(**kw: int) -> Limits:
    return dataclasses.replace(Limits(), max_body_bytes=LIMIT, **kw)


def big_body(size: int) -> bytes:
    return json.dumps({"model": "gpt-4o-mini",
                       "messages": [{"role": "user", "content": "x" * size}]}).encode()


@pytest.mark.parametrize(("path", "shape"), [(CHAT, "openai"), (MESSAGES, "anthropic")])
async def test_declared_oversized_body_is_413(tmp_path: Path, path: str, shape: str) -> None:
    async with fault_stack(tmp_path, "aiohttp", limits=limits()) as s:
        reply = await call(s.side.url, path, body=big_body(LIMIT))
        assert reply.status == 413
        err = reply.json()["error"]
        assert err["code"] == "request_too_large"
        assert str(LIMIT) in err["message"]
        assert err["type"] == ("request_too_large" if shape == "anthropic" else "invalid_request_error")
        assert s.gw.seen == []
        assert (await call(s.side.url, path)).status == 200
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["outcome"], rec["error_code"], rec["customer"]) == ("rejected", "request_too_large", CUSTOMER)


async def test_chunked_oversized_json_body_is_413(tmp_path: Path) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        body = big_body(LIMIT)
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]

    async with fault_stack(tmp_path, "aiohttp", limits=limits()) as s, aiohttp.ClientSession() as http, \
            http.post(s.side.url + CHAT, data=chunks(),
                      headers={**who(), "Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "request_too_large"
        assert s.gw.seen == []


async def test_streamed_upload_over_the_limit_is_413(tmp_path: Path, client_kind: str) -> None:
    """A non-JSON upload streams through as it arrives; over the limit it is stopped and answered
    413, whichever client carries it, and the sidecar goes on serving."""
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(LIMIT // 512 + 4):
            yield b"\0" * 512

    async with fault_stack(tmp_path, client_kind, limits=limits()) as s:
        async with aiohttp.ClientSession() as http, \
                http.post(s.side.url + "/v1/audio/transcriptions", data=chunks(),
                          headers={**who(), "Content-Type": "application/octet-stream"}) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "request_too_large"
            rid = resp.headers["x-lava-sidecar-request-id"]
        await s.side.settled()
        assert (await call(s.side.url, CHAT)).status == 200
    rec = only(s.side.records(), request_id=rid)
    assert (rec["outcome"], rec["error_code"], rec["status"]) == ("rejected", "request_too_large", 413)


async def test_oversized_header_is_refused(tmp_path: Path) -> None:
    async with fault_stack(tmp_path, "aiohttp", limits=limits(max_header_bytes=2048)) as s:
        head = request_head("POST", CHAT, [*who().items(), ("X-Big", "a" * 4096)], body=b"{}")
        reply = await exchange(s.side.url, head, b"{}")
        assert 400 <= reply.status < 500
        assert s.gw.seen == []
        assert (await call(s.side.url, CHAT)).status == 200


async def test_too_many_headers_are_refused(tmp_path: Path) -> None:
    async with fault_stack(tmp_path, "aiohttp", limits=limits(max_headers=20)) as s:
        many = [(f"X-H{i}", "v") for i in range(50)]
        reply = await exchange(s.side.url, request_head("POST", CHAT, [*who().items(), *many], body=b"{}"),
                               b"{}")
        assert 400 <= reply.status < 500
        assert s.gw.seen == []
        assert (await call(s.side.url, CHAT)).status == 200


NOT_JSON = [
    b'{"model": "gpt-4o-mini", "messages": [',       # cut short
    b"model=gpt-4o-mini",                             # not JSON at all
    b'[{"model": "gpt-4o-mini"}]',                    # JSON, not an object
    b"[" * 50_000 + b"]" * 50_000,                    # nested past any recursion limit
    b'{"model": "\xff\xfe", "stream": true}',         # invalid UTF-8
    b'{"model": "m", "stream": true, "stream": false}',  # duplicate keys
    b'{"model": NaN, "max_tokens": 1e999}',           # non-standard numbers
    b"\xef\xbb\xbf" + b'{"model": "gpt-4o-mini", "stream": true}',  # a BOM
    b"",
]


@pytest.mark.parametrize("body", NOT_JSON, ids=range(len(NOT_JSON)))
@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_invalid_json_is_relayed_as_sent(tmp_path: Path, path: str, body: bytes) -> None:
    async with fault_stack(tmp_path, "aiohttp") as s:
        reply = await call(s.side.url, path, body=body)
        seen = await s.gw.last.finished()
        await s.side.settled()
        assert (await call(s.side.url, path)).status == 200
    # Whatever the provider makes of it, it gets it byte for byte (the BOM'd stream is the one body
    # the sidecar may rewrite, to ask for usage, and only on the OpenAI chat route).
    if not (body.startswith(b"\xef\xbb\xbf") and path == CHAT):
        assert seen.body == body
    assert reply.status == seen.status
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert rec["extractor_error"] is False
    assert rec["customer"] == CUSTOMER
