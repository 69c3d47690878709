"""The fault scripts, pure: what each fault makes the writer do (the live behaviour is covered in
test_faults_live.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.emulator.faults import (
    MALFORMED,
    Abort,
    Fault,
    FaultInvalid,
    Forever,
    Pause,
    Script,
    Send,
    parse_fault,
    plan,
)
from proxy.emulator.reply import Part, Reply
from proxy.usage.base import Usage

USAGE = Usage(input_tokens=7, output_tokens=3, source="provider")
SSE_PARTS = (Part(b"data: {\"start\":1}\n\n"), Part(b"data: {\"t\":\"a\"}\n\n", 1),
             Part(b"data: {\"t\":\"bc\"}\n\n", 2),
             Part(b"data: {\"usage\":{\"in\":7,\"out\":3}}\n\n", reports=USAGE),
             Part(b"data: [DONE]\n\n"))
STREAM = Reply(200, (("Content-Type", "text/event-stream"),), SSE_PARTS, stream=True, usage=USAGE)
BODY = json.dumps({"id": "x", "choices": [{"text": "abc"}], "usage": {"in": 7, "out": 3}}).encode()
JSON = Reply(200, (("Content-Type", "application/json"),), (Part(BODY, 3, USAGE),), usage=USAGE)


def sent(script: Script) -> bytes:
    return b"".join(s.part.data * s.part.repeat for s in script.body if isinstance(s, Send))


@pytest.mark.parametrize(("value", "fault"), [
    ("reset-before-headers", Fault("reset-before-headers")),
    (" Reset-Mid-Stream ", Fault("reset-mid-stream")),
    ("stall-before-headers=1.5", Fault("stall-before-headers", seconds=1.5)),
    ("stall-mid-stream=0", Fault("stall-mid-stream", seconds=0.0)),
    ("status=503", Fault("status", status=503)),
    ("status=429,empty", Fault("status", status=429, empty=True)),
    ("truncated-json", Fault("truncated-json")),
    ("malformed-sse", Fault("malformed-sse")),
    ("endless-line", Fault("endless-line")),
    ("huge=1048576", Fault("huge", size=1048576)),
    ("never-ends", Fault("never-ends")),
    ("slow-drip=5", Fault("slow-drip", seconds=0.005)),
    ("slow-drip=5,1", Fault("slow-drip", seconds=0.005, drip_bytes=1)),
])
def test_parse(value: str, fault: Fault) -> None:
    assert parse_fault(value) == fault


def test_no_header_no_fault() -> None:
    assert parse_fault(None) is None
    assert parse_fault("  ") is None


@pytest.mark.parametrize("value", [
    "explode", "status=200", "status=abc", "status=500,loud", "stall-mid-stream=-1",
    "stall-before-headers=99999", "huge=0", "huge=99999999999", "slow-drip=x",
    "slow-drip=5,0", "never-ends=3", "reset-mid-stream=now",
])
def test_parse_refuses(value: str) -> None:
    with pytest.raises(FaultInvalid) as info:
        parse_fault(value)
    assert info.value.status == 400


def test_no_fault_sends_everything_paced() -> None:
    script = plan(STREAM, None, delay=0.02)
    assert sent(script) == b"".join(p.data for p in SSE_PARTS)
    assert [type(s) for s in script.body] == [Send, Pause] * 4 + [Send]
    assert all(s.seconds == 0.02 for s in script.body if isinstance(s, Pause))
    assert script.whole
    assert script.content_length is None
    js = plan(JSON, None, delay=0.02)
    assert js.content_length == len(BODY)
    assert [type(s) for s in js.body] == [Send]


def test_reset_before_headers() -> None:
    script = plan(STREAM, Fault("reset-before-headers"))
    assert script.before == (Abort(),)
    assert not script.whole


def test_reset_mid_stream_cuts_between_events_or_inside_json() -> None:
    script = plan(STREAM, Fault("reset-mid-stream"))
    assert isinstance(script.body[-1], Abort)
    assert sent(script) == SSE_PARTS[0].data + SSE_PARTS[1].data
    js = plan(JSON, Fault("reset-mid-stream"))
    assert sent(js) == BODY[: len(BODY) // 2]
    assert js.content_length == len(BODY)
    assert not js.whole


def test_stalls() -> None:
    before = plan(STREAM, Fault("stall-before-headers", seconds=2))
    assert before.before == (Pause(2),)
    assert sent(before) == sent(plan(STREAM, None))
    mid = plan(JSON, Fault("stall-mid-stream", seconds=3))
    assert [type(s) for s in mid.body] == [Send, Pause, Send]
    assert sent(mid) == BODY
    # the tokens and the usage go with the second half, the one that completes the body
    last = mid.body[-1]
    assert isinstance(last, Send)
    assert last.part.reports == USAGE
    assert mid.whole


def test_truncated_json() -> None:
    js = plan(JSON, Fault("truncated-json"))
    assert js.content_length == len(sent(js)) < len(BODY)
    with pytest.raises(ValueError, match=r"\w"):
        json.loads(sent(js))
    stream = plan(STREAM, Fault("truncated-json"))
    events = sent(stream).split(b"\n\n")
    assert b'data: {"usage":{' in sent(stream)
    assert b'"out":3}}' not in sent(stream)
    assert events[-2] == b"data: [DONE]"
    assert not stream.whole
    assert all(s.part.reports is None for s in stream.body if isinstance(s, Send))


def test_malformed_sse_keeps_every_real_event() -> None:
    script = plan(STREAM, Fault("malformed-sse"))
    body = sent(script)
    assert body.startswith(SSE_PARTS[0].data + b"".join(MALFORMED))
    assert body.endswith(b"".join(p.data for p in SSE_PARTS[1:]))
    assert script.whole


@pytest.mark.parametrize("kind", ["endless-line", "never-ends"])
def test_unending_faults(kind: str) -> None:
    script = plan(JSON, Fault(kind), keepalive=0.5)
    assert isinstance(script.body[-1], Forever)
    assert not script.whole
    assert ("Content-Type", "text/event-stream; charset=utf-8") in script.headers
    assert script.content_length is None
    stream = plan(STREAM, Fault(kind))
    first = stream.body[0]
    assert isinstance(first, Send)
    assert first.part == SSE_PARTS[0]
    forever = stream.body[-1]
    assert isinstance(forever, Forever)
    assert b"\n" not in forever.data if kind == "endless-line" else forever.data.startswith(b":")


@given(st.integers(1, 300_000))
def test_huge_json_is_valid_and_sized(size: int) -> None:
    script = plan(JSON, Fault("huge", size=size))
    body = sent(script)
    assert len(body) == script.content_length
    # exact once the padding field itself fits; never smaller than asked
    padding_field = len(b'"x_emulator_padding":"",')
    assert len(body) == size if size >= len(BODY) + padding_field else len(body) >= size
    assert json.loads(body)["usage"] == {"in": 7, "out": 3}


def test_huge_empty_object_stays_valid() -> None:
    empty = Reply(200, (), (Part(b"{}"),))
    assert json.loads(sent(plan(empty, Fault("huge", size=5000))))["x_emulator_padding"]


@given(st.integers(1, 300_000))
def test_huge_stream_pads_with_comments_before_the_last_event(size: int) -> None:
    body = sent(plan(STREAM, Fault("huge", size=size)))
    original = b"".join(p.data for p in SSE_PARTS)
    last = SSE_PARTS[-1].data
    assert len(body) == max(size, len(original))
    assert body.startswith(original[:-len(last)])
    assert body.endswith(last)
    pad = body[len(original) - len(last):-len(last)]
    # comment lines (or one blank line for a single byte): nothing a reader turns into an event
    assert all(line.startswith(b":") or not line for line in pad.split(b"\n"))
    assert all(len(line) <= 1024 for line in body.split(b"\n"))


@given(st.integers(1, 50))
def test_slow_drip_sends_the_same_bytes_in_small_pieces(piece: int) -> None:
    script = plan(STREAM, Fault("slow-drip", seconds=0.001, drip_bytes=piece))
    sends = [s.part for s in script.body if isinstance(s, Send)]
    assert sent(script) == b"".join(p.data for p in SSE_PARTS)
    assert all(len(p.data) <= piece for p in sends)
    assert sum(p.output_tokens for p in sends) == 3
    assert [p.reports for p in sends if p.reports] == [USAGE]
