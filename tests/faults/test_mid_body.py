"""Upstream failures after the response began, and bodies that are broken, odd or enormous.

An SSE stream that breaks ends with exactly one error event in the caller's shape, then a clean
end; any other body is cut so the client sees it incomplete. Either way the request is recorded
once, marked partial, with the usage the delivered bytes stated (the gateway's ``seen.reported``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.config import Limits as SidecarLimits
from proxy.emulator.faults import MALFORMED
from proxy.emulator.writer import Limits
from proxy.usage.base import Usage

from .harness import CHAT, CUSTOMER, MESSAGES, RESPONSES, Reply, body_for, call, fault_stack, only, who

pytestmark = pytest.mark.timeout(90)

COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def usage_of(u: Usage) -> dict[str, Any]:
    return {k: getattr(u, k) for k in COUNTS}


def recorded_usage(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: rec[k] for k in COUNTS}


def error_events(path: str, reply: Reply) -> list[dict[str, Any]]:
    """The error events in a streamed body, in the caller's shape."""
    found = []
    for name, data in reply.events():
        if data == b"[DONE]":
            continue
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        if path.startswith("/anthropic"):
            if name == "error" and doc.get("type") == "error":
                found.append(doc["error"])
        elif isinstance(doc, dict) and "error" in doc and name is None:
            found.append(doc["error"])
    return found


def assert_one_error_event_last(path: str, reply: Reply, code: str) -> None:
    assert reply.status == 200
    assert not reply.cut, "the stream must end cleanly after the error event"
    errors = error_events(path, reply)
    assert [e["code"] for e in errors] == [code]
    name, data = reply.events()[-1]
    assert json.loads(data).get("error", {}).get("code") == code  # and it is the last event
    if path.startswith("/anthropic"):
        assert name == "error"


@pytest.mark.parametrize("path", [CHAT, MESSAGES, RESPONSES])
async def test_reset_mid_stream_ends_with_one_error_event(tmp_path: Path, client_kind: str,
                                                          path: str) -> None:
    async with fault_stack(tmp_path, client_kind) as s:
        reply = await call(s.side.url, path, stream=True, fault="reset-mid-stream")
        assert_one_error_event_last(path, reply, "gateway_unreachable")
        seen = await s.gw.last.finished()
        await s.side.settled()
        assert s.side.sample("lava_sidecar_upstream_errors_total", reason="reset") == 1
        assert (await call(s.side.url, path, stream=True)).status == 200
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["customer"], rec["outcome"], rec["upstream_error"], rec["partial"]) == \
        (CUSTOMER, "upstream_error", "reset", True)
    assert rec["lava_request_id"] == seen.request_id
    assert recorded_usage(rec) == usage_of(seen.reported)


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_stall_mid_stream_times_out_with_one_error_event(tmp_path: Path, client_kind: str,
                                                               path: str) -> None:
    async with fault_stack(tmp_path, client_kind, gateway={"idle_timeout": 0.4}) as s:
        # The gateway resumes after 2 s (to a connection the sidecar has dropped), then settles.
        reply = await call(s.side.url, path, stream=True, fault="stall-mid-stream=2")
        assert_one_error_event_last(path, reply, "gateway_timeout")
        await s.side.settled()
        assert s.side.sample("lava_sidecar_upstream_errors_total", reason="timeout_idle") == 1
        seen = await s.gw.last.finished()
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["outcome"], rec["upstream_error"], rec["partial"]) == ("timeout", "timeout_idle", True)
    assert recorded_usage(rec) == usage_of(seen.reported)


@pytest.mark.parametrize("fault", ["reset-mid-stream", "stall-mid-stream=30"])
@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_json_body_broken_midway_is_cut(tmp_path: Path, client_kind: str, path: str,
                                              fault: str) -> None:
    """A JSON answer cannot carry an error event: the client must see an incomplete body."""
    async with fault_stack(tmp_path, client_kind, gateway={"idle_timeout": 0.4}) as s:
        reply = await call(s.side.url, path, fault=fault)
        assert reply.status == 200
        assert reply.cut
        assert len(reply.body) < int(reply.headers["Content-Length"])
        await s.side.settled()
        assert (await call(s.side.url, path)).status == 200
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert rec["partial"] is True
    assert rec["customer"] == CUSTOMER
    assert rec["outcome"] == ("upstream_error" if fault.startswith("reset") else "timeout")
    assert rec["source"] == "missing"  # half a JSON document states no usage


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_truncated_json_is_relayed_and_never_crashes_the_reader(
        tmp_path: Path, client_kind: str, path: str, stream: bool) -> None:
    async with fault_stack(tmp_path, client_kind) as s:
        reply = await call(s.side.url, path, stream=stream, fault="truncated-json")
        seen = await s.gw.last.finished()
        assert reply.status == 200
        assert not reply.cut
        await s.side.settled()
        assert s.side.sample("lava_sidecar_extractor_errors_total", api=rec_api(path)) == 0
    if not stream:
        with pytest.raises(json.JSONDecodeError, match=r"Unterminated|Expecting|Invalid"):
            json.loads(reply.body)  # what the provider sent, unrepaired
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert rec["extractor_error"] is False
    assert rec["outcome"] == "ok"
    assert recorded_usage(rec) == usage_of(seen.reported)


def rec_api(path: str) -> str:
    return "messages" if path.endswith("/messages") else "chat"


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_malformed_sse_is_relayed_byte_for_byte(tmp_path: Path, client_kind: str, path: str) -> None:
    # The client asks for usage itself on chat, so nothing is stripped: the relay is exact.
    body = json.loads(body_for(path, stream=True))
    if path == CHAT:
        body["stream_options"] = {"include_usage": True}
    async with fault_stack(tmp_path, client_kind) as s:
        reply = await call(s.side.url, path, body=json.dumps(body).encode(), fault="malformed-sse")
        seen = await s.gw.last.finished()
        await s.side.settled()
    for line in MALFORMED:
        assert line in reply.body
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["outcome"], rec["partial"], rec["extractor_error"]) == ("ok", False, False)
    assert rec["source"] == "provider"
    assert recorded_usage(rec) == usage_of(seen.reported)


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_endless_sse_line(tmp_path: Path, client_kind: str, path: str) -> None:
    """A line that never ends: relayed as it comes (memory stays bounded by the SSE reader's line
    limit); when the gateway finally cuts it, the error event still arrives as an event of its own."""
    limits = Limits(seconds=30, bytes=6 << 20)
    async with fault_stack(tmp_path, client_kind, gateway_options={"limits": limits},
                           limits=_limits(max_sse_line_bytes=64 << 10)) as s:
        reply = await call(s.side.url, path, stream=True, fault="endless-line")
        await s.side.settled()
        assert (await call(s.side.url, path, stream=True)).status == 200
    assert len(reply.body) > 6 << 20
    assert_one_error_event_last(path, reply, "gateway_unreachable")
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["outcome"], rec["partial"]) == ("upstream_error", True)


def _limits(**kw: Any) -> SidecarLimits:
    return dataclasses.replace(SidecarLimits(), **kw)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_huge_response_relayed_whole_with_usage(tmp_path: Path, client_kind: str, path: str,
                                                      stream: bool) -> None:
    size = 24 << 20
    async with fault_stack(tmp_path, client_kind) as s, aiohttp.ClientSession() as http:
        headers = {**who(), "Content-Type": "application/json", "x-emulator-fault": f"huge={size}"}
        async with http.post(s.side.url + path, data=body_for(path, stream=stream),
                             headers=headers) as resp:
            got, tail = 0, b""
            async for chunk in resp.content.iter_any():  # counted, not kept
                got += len(chunk)
                tail = (tail + chunk)[-4096:]
            rid = resp.headers["x-lava-sidecar-request-id"]
        seen = await s.gw.last.finished()
        await s.side.settled()
    assert got >= size - (64 << 10)
    # The body's real end arrived (the padding came before it).
    assert tail.rstrip().endswith(b"[DONE]" if path == CHAT and stream else
                                  b'{"type":"message_stop"}' if stream else b"}")
    rec = only(s.side.records(), request_id=rid)
    assert (rec["outcome"], rec["partial"], rec["extractor_error"]) == ("ok", False, False)
    assert recorded_usage(rec) == usage_of(seen.reported)
    assert rec["source"] == "provider"


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_response_that_never_ends_is_cut_by_the_gateway_limit(tmp_path: Path, client_kind: str,
                                                                     path: str) -> None:
    """Keep-alive comments forever: the idle timeout never fires (bytes keep coming), so the stream
    lives until something ends it; here the gateway's own limit resets it."""
    limits = Limits(seconds=1.5, bytes=1 << 30)
    async with fault_stack(tmp_path, client_kind, gateway_options={"limits": limits},
                           gateway={"idle_timeout": 0.5}) as s:
        reply = await call(s.side.url, path, stream=True, fault="never-ends")
        await s.side.settled()
    assert reply.body.count(b": keep-alive") > 5
    assert_one_error_event_last(path, reply, "gateway_unreachable")
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["outcome"], rec["partial"]) == ("upstream_error", True)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
@pytest.mark.parametrize("empty", [False, True])
@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_provider_errors_are_relayed_as_they_are(tmp_path: Path, client_kind: str, path: str,
                                                       status: int, empty: bool) -> None:
    fault = f"status={status}" + (",empty" if empty else "")
    async with fault_stack(tmp_path, client_kind) as s:
        reply = await call(s.side.url, path, stream=True, fault=fault)
        seen = await s.gw.last.finished()
        await s.side.settled()
        assert len(s.gw.seen) == 1  # a provider's answer is an answer: never retried
        assert s.side.sample("lava_sidecar_upstream_errors_total", reason="reset") == 0
    assert reply.status == status
    assert not reply.cut
    assert "x-lava-sidecar-error" not in reply.headers  # not ours: the provider's
    if empty:
        assert reply.body == b""
    else:
        assert reply.json()  # the provider's own JSON error body
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    # Answered whole with an error status: its own outcome, and nothing to bill (issue 23).
    assert (rec["status"], rec["outcome"], rec["partial"]) == (status, "upstream_refused", False)
    assert rec["source"] == "none"
    assert rec["lava_request_id"] == seen.request_id
    assert rec["customer"] == CUSTOMER
