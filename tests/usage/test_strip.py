"""The usage-chunk stripper: the client sees the stream it asked for, every other byte intact."""

from __future__ import annotations

import json
import random

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from openai import AsyncOpenAI

from proxy.usage import UsageChunkStripper
from proxy.usage.openai import OpenAIStreamExtractor

from .recorded import Recording, random_splits, recordings, splits


def asked_for_usage(rec: Recording) -> bool:
    options = json.loads(rec.request_body).get("stream_options") or {}
    return options.get("include_usage") is True


# OpenAI's own streams (OpenRouter's, also asked, put usage on a content chunk: nothing to strip)
ASKED = [r for r in recordings() if r.is_sse and "openai" in r.name and asked_for_usage(r)]
NOT_ASKED = [r for r in recordings() if r.name in (
    "envoy-ai-gateway/openai/chat-streaming", "envoy-ai-gateway/openai/completion-streaming")]


def chunks(body: bytes) -> list[object]:
    return [json.loads(line[6:]) for line in body.split(b"\n")
            if line.startswith(b"data: {")]


def strip(pieces: list[bytes]) -> tuple[bytes, UsageChunkStripper]:
    s = UsageChunkStripper()
    out = b"".join(s.feed(p) for p in pieces) + s.flush()
    return out, s


def reference_strip(body: bytes) -> bytes:
    """Plain string surgery on LF-only recordings: drop the choices-[] block, drop the nulls."""
    blocks = body.split(b"\n\n")
    kept = []
    for block in blocks[:-1]:
        data = json.loads(block[6:]) if block.startswith(b"data: {") else None
        if isinstance(data, dict) and data.get("choices") == [] and data.get("usage"):
            continue
        kept.append(block.replace(b',"usage":null', b"") + b"\n\n")
    return b"".join(kept) + blocks[-1]


def test_the_evidence_for_removing_usage_null() -> None:
    """With include_usage every chunk has "usage" (null but the last); without, none has it."""
    assert len(ASKED) >= 5
    assert len(NOT_ASKED) == 2
    for rec in NOT_ASKED:
        assert all("usage" not in c for c in chunks(rec.body)), rec.name   # type: ignore[operator]
    for rec in ASKED:
        cs = chunks(rec.body)
        assert all(isinstance(c, dict) and "usage" in c for c in cs), rec.name
        assert [c["usage"] is not None for c in cs] == [False] * (len(cs) - 1) + [True]  # type: ignore[index]
        assert cs[-1]["choices"] == []  # type: ignore[index]
        assert rec.body.rstrip().endswith(b"data: [DONE]")


@pytest.mark.parametrize("rec", ASKED, ids=str)
def test_recorded_streams_are_stripped_exactly(rec: Recording) -> None:
    want = reference_strip(rec.body)
    assert want != rec.body
    for how, pieces in splits(rec.body, seed=11):
        out, s = strip(pieces)
        assert out == want, how
        assert s.removed_chunks == 1
    # what the client reads is every original chunk but the usage one, minus the usage member
    originals = [c for c in chunks(rec.body) if c["choices"] != []]  # type: ignore[index]
    assert chunks(want) == [{k: v for k, v in c.items() if k != "usage"}   # type: ignore[attr-defined]
                            for c in originals]


@pytest.mark.parametrize("rec", NOT_ASKED, ids=str)
def test_streams_without_usage_pass_unchanged(rec: Recording) -> None:
    for how, pieces in splits(rec.body, seed=5):
        assert strip(pieces)[0] == rec.body, how


def test_complete_events_are_never_held_back() -> None:
    s = UsageChunkStripper()
    event = b'data: {"id":"1","choices":[{"index":0}],"usage":null,"obfuscation":"ab"}\n\n'
    assert s.feed(event) == b'data: {"id":"1","choices":[{"index":0}],"obfuscation":"ab"}\n\n'
    assert s.feed(b'data: {"id":"1","cho') == b""                 # incomplete: held
    assert s.feed(b'ices":[{"index":1}]}\n\n: ping\n\n') == (
        b'data: {"id":"1","choices":[{"index":1}]}\n\n: ping\n\n')
    assert s.feed(b"\n") == b"\n"                                   # a stray blank line
    assert s.feed(b"data: [DONE]\n\n") == b"data: [DONE]\n\n"
    assert s.flush() == b""


@pytest.mark.parametrize("end", [b"\r\n", b"\r", b"\n"])
def test_any_line_ending(end: bytes) -> None:
    usage = b'data: {"id":"1","choices":[],"usage":{"prompt_tokens":1}}'
    body = (b'data: {"id":"1","choices":[{"index":0}],"usage":null}' + end + end
            + usage + end + end + b"data: [DONE]" + end + end)
    want = b'data: {"id":"1","choices":[{"index":0}]}' + end + end + b"data: [DONE]" + end + end
    for how, pieces in splits(body, seed=2):
        assert strip(pieces)[0] == want, how


@pytest.mark.parametrize("event", [
    # usage on a content chunk (DeepSeek, Mistral…): the content must reach the client
    b'data: {"choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"prompt_tokens":3}}\n\n',
    # "usage":null somewhere nested: not the member the opt-in adds
    b'data: {"choices":[{"delta":{"x":1,"usage":null}}],"id":"1"}\n\n',
    b'data: {"choices":[{"delta":{"x":1}}],"id":"1","meta":{"a":1,"usage":null}}\n\n',
    # a usage-only chunk is only one if it parses
    b'data: {"choices":[],"usage":{"prompt_tokens":3}\n\n',
    b'id: 7\ndata: {"choices":[{"index":0}],"usage":null}\n\n',
])
def test_what_is_not_touched(event: bytes) -> None:
    assert strip([event])[0] == event


def test_an_event_over_the_bound_switches_to_passthrough() -> None:
    s = UsageChunkStripper(max_event_bytes=100)
    big = b'data: {"choices":[],"usage":{"p":1},"pad":"' + b"x" * 200
    out = s.feed(big) + s.feed(b'"}\n\ndata: {"choices":[],"usage":{"p":1}}\n\n') + s.flush()
    assert out == big + b'"}\n\ndata: {"choices":[],"usage":{"p":1}}\n\n'


def test_unterminated_last_event_is_judged_at_flush() -> None:
    assert strip([b'data: {"id":"1","choices":[],"usage":{"prompt_tokens":1}}\n'])[0] == b""
    assert strip([b"data: [DONE]\r"])[0] == b"data: [DONE]\r"


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ASKED), st.randoms(use_true_random=False))
def test_split_invariance(rec: Recording, rng: random.Random) -> None:
    pieces = random_splits(rec.body, rng, rng.choice([1, 2, 30, 700]))
    assert strip(pieces)[0] == strip([rec.body])[0]


async def test_the_openai_sdk_sees_no_usage_chunk() -> None:
    """A client that did not ask for usage, reading the stripped recorded stream."""
    rec = next(r for r in ASKED if r.name.endswith("gpt-5.6-luna_thinking/GenStream-Text"))

    async def chat(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        stripper = UsageChunkStripper()
        for piece in random_splits(rec.body, random.Random(3), 40):
            await resp.write(stripper.feed(piece))
        await resp.write(stripper.flush())
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    async with TestServer(app, host="127.0.0.1") as server:
        client = AsyncOpenAI(base_url=str(server.make_url("/v1")), api_key="sk-dummy")
        stream = await client.chat.completions.create(
            model="gpt-5.6-luna", stream=True, messages=[{"role": "user", "content": "hi"}])
        received = [c async for c in stream]
        await client.close()
    assert received
    assert all(c.choices and c.usage is None for c in received)
    text = "".join(c.choices[0].delta.content or "" for c in received)
    assert text == "".join(c["choices"][0]["delta"].get("content") or ""  # type: ignore[index]
                           for c in chunks(rec.body) if c["choices"])  # type: ignore[index]


def _events(body: bytes) -> list[bytes]:
    """The body as the provider writes it: one read per event (each on the stripper's fast path)."""
    return [block + b"\n\n" for block in body.split(b"\n\n")[:-1]]


@pytest.mark.parametrize("rec", ASKED, ids=lambda r: r.name)
def test_one_event_per_read_strips_as_the_reference(rec: Recording) -> None:
    out, s = strip(_events(rec.body))
    assert out == reference_strip(rec.body)
    assert s.removed_nulls > 0


_HEADS = [b'data: {"id":"1","choices":[{"index":0}]', b'data: {"choices":[{"delta":{"x":1}}]',
          b'data: {"a":{"x":1', b'data: {', b'id: 7\ndata: {"a":1', b'data:{"a":"\\"usage\\":null"',
          b'data: {"x_groq":{"usage":{"prompt_tokens":4}},"choices":[{"index":0}]',
          b'data: {"a":1}\ndata: {"b":2', b'data: {"a":1}\rdata: {"b":2']
_TAILS = [b"}", b',"obfuscation":"Xy1"}', b"}}", b',"x":{}}', b"} ", b'}\r', b',"usage":{"p":1}}',
          b',"usage":null}', b"", b',"b":[1]}']


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_HEADS), st.sampled_from([b',"usage":null', b'"usage":null', b',"usage": null',
                                                 b',"usage":{"p":1}', b""]),
       st.sampled_from(_TAILS), st.integers(min_value=1, max_value=60))
def test_a_whole_event_reads_as_the_same_event_in_two_reads(head: bytes, member: bytes, tail: bytes,
                                                              cut: int) -> None:
    # Whole, an event takes the fast path; cut in two, the splitter's: both must forward the same.
    event = head + member + tail + b"\n\n"
    cut = min(cut, len(event) - 1)
    whole, s1 = strip([event, b"data: [DONE]\n\n"])
    parts, s2 = strip([event[:cut], event[cut:], b"data: [DONE]\n\n"])
    assert whole == parts
    assert (s1.removed_nulls, s1.removed_chunks) == (s2.removed_nulls, s2.removed_chunks)


_PROBES = [b'data: {"id":"c1","model":"m1","choices":[{"index":0}],"usage":null}\n\n'] * 3


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_HEADS), st.sampled_from([b',"usage":null', b'"usage":null', b',"usage": null',
                                                 b',"usage":{"p":1}', b""]),
       st.sampled_from(_TAILS), st.integers(min_value=1, max_value=60), st.booleans())
def test_the_quick_test_decides_as_the_general_path(head: bytes, member: bytes, tail: bytes,
                                                    cut: int, reader: bool) -> None:
    # Past the usage reader's first events, a whole event ending in ,"usage":null} is decided by
    # feed's quick test; the same event cut in two goes through the splitter and _event. Both must
    # forward the same bytes, count the same removals and read the same usage.
    event = head + member + tail + b"\n\n"
    cut = min(cut, len(event) - 1)

    def run(pieces: list[bytes]) -> tuple[object, ...]:
        s = UsageChunkStripper(usage=OpenAIStreamExtractor(max_line_bytes=1 << 20) if reader else None)
        out = b"".join(s.feed(p) for p in [*_PROBES, *pieces, b"data: [DONE]\n\n"]) + s.flush()
        return out, s.removed_nulls, s.removed_chunks, s.finish() if reader else None

    assert run([event]) == run([event[:cut], event[cut:]])


def test_the_quick_test_waits_for_the_readers_first_events() -> None:
    # The first events name the response (the usage reader keeps them whole): the quick test,
    # which shows nothing to the reader, applies only after them.
    s = UsageChunkStripper(usage=OpenAIStreamExtractor(max_line_bytes=1 << 20))
    first = b'data: {"id":"r-1","model":"gpt-x","choices":[{"index":0}],"usage":null}\n\n'
    assert s.feed(first) == b'data: {"id":"r-1","model":"gpt-x","choices":[{"index":0}]}\n\n'
    for _ in range(5):
        s.feed(b'data: {"id":"r-1","model":"other","choices":[{"index":0}],"usage":null}\n\n')
    s.feed(b'data: {"id":"r-1","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3}}\n\n')
    usage = s.finish()
    assert (usage.model, usage.response_id) == ("gpt-x", "r-1")
    assert (usage.input_tokens, usage.output_tokens) == (2, 3)
    assert (s.removed_nulls, s.removed_chunks) == (6, 1)
