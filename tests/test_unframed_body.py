"""A body sent without Content-Length or Transfer-Encoding (issue 12), through a real sidecar on raw
sockets: the request is served with an empty body, its record says ``ok``, and the bytes that follow
(an invalid next request) get a 400 in the caller's shape after its answer, then the close."""

from __future__ import annotations

from pathlib import Path

import pytest

from .inbound.wire import at_eof, connect, read_reply, send
from .stack import running_stack

BODY = b'{"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}'


@pytest.mark.parametrize(("path", "shape"), [
    ("/anthropic/v1/messages", "anthropic"), ("/v1/chat/completions", "openai")])
async def test_unframed_body_is_an_empty_request_answered_before_the_400(tmp_path: Path, path: str,
                                                                         shape: str) -> None:
    head = (f"POST {path} HTTP/1.1\r\nHost: sidecar\r\nContent-Type: application/json\r\n"
            "X-Lava-Customer-Id: cus_alpha\r\nX-Lava-Meter: chat-tokens\r\n"
            "anthropic-version: 2023-06-01\r\n\r\n").encode()
    async with running_stack(tmp_path) as stack:
        async with connect(int(stack.url.rsplit(":", 1)[1])) as (reader, writer):
            await send(writer, head + BODY)
            first = await read_reply(reader)
            refusal = await read_reply(reader)
            assert await at_eof(reader)
        (seen,) = stack.gateway.seen
        await seen.finished()
        assert seen.body == b""  # served as what it is on the wire: a request without a body
        await stack.running.shutdown()  # flushes the usage log
        (line,) = stack.log_lines()
    assert first.status == seen.status  # Lava's own answer to an empty body, relayed whole
    assert first.get("x-lava-sidecar-request-id") == line["request_id"]
    # Lava refused the empty body (its 400, relayed whole): upstream_refused, not ok (issue 23).
    assert first.status == 400
    assert (line["outcome"], line["status"], line["partial"]) == ("upstream_refused", 400, False)
    assert (refusal.status, refusal.all("Connection")) == (400, ["close"])
    assert refusal.get("x-lava-sidecar-error") == "invalid_http"
    doc = refusal.json()
    error = doc["error"]
    assert isinstance(error, dict)
    assert (error["code"], error["type"]) == ("invalid_http", "invalid_request_error")
    assert doc.get("type") == ("error" if shape == "anthropic" else None)
