"""Request inspection and the include_usage opt-in: only where it belongs, never flipping a choice."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from openai import AsyncOpenAI

from proxy.usage import Api, RequestFacts, inspect

OPT_IN = b'"stream_options":{"include_usage":true},'
JSON = "application/json"


def test_inserts_after_the_brace_keeping_every_other_byte() -> None:
    body = b' {"model": "gpt-x", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    facts, out = inspect(Api.CHAT, body, JSON, inject_stream_usage=True)
    assert out == b' {' + OPT_IN + body[2:]
    assert facts == RequestFacts(api=Api.CHAT, model="gpt-x", stream=True, usage_injected=True)


def test_existing_stream_options_are_reserialised() -> None:
    body = json.dumps({"model": "m", "stream": True, "stream_options": {"foo": 1},
                       "messages": [{"role": "user", "content": "héllo"}]}).encode()
    facts, out = inspect(Api.COMPLETIONS, body, JSON, inject_stream_usage=True)
    assert json.loads(out)["stream_options"] == {"foo": 1, "include_usage": True}
    assert "héllo".encode() in out
    assert facts.usage_injected


def test_explicit_false_is_overridden_upstream_but_not_for_the_client() -> None:
    body = json.dumps({"model": "m", "stream": True,
                       "stream_options": {"include_usage": False}}).encode()
    facts, out = inspect(Api.CHAT, body, JSON, inject_stream_usage=True)
    assert json.loads(out)["stream_options"]["include_usage"] is True
    assert facts.usage_injected
    assert not facts.client_wants_usage   # so the stripper removes the chunk again


def test_client_who_asked_gets_it_untouched() -> None:
    body = json.dumps({"model": "m", "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    facts, out = inspect(Api.CHAT, body, JSON, inject_stream_usage=True)
    assert out is body
    assert facts == RequestFacts(api=Api.CHAT, model="m", stream=True, client_wants_usage=True)


@pytest.mark.parametrize(("api", "body", "inject"), [
    (Api.RESPONSES, {"model": "m", "stream": True, "input": "hi"}, True),
    (Api.MESSAGES, {"model": "m", "stream": True}, True),
    (Api.CHAT, {"model": "m", "stream": False}, True),
    (Api.CHAT, {"model": "m"}, True),
    (Api.CHAT, {"model": "m", "stream": True}, False),
    (Api.CHAT, {"model": "m", "stream": "yes"}, True),
])
def test_never_injected_elsewhere(api: Api, body: dict[str, Any], inject: bool) -> None:
    raw = json.dumps(body).encode()
    facts, out = inspect(api, raw, JSON, inject_stream_usage=inject)
    assert out is raw
    assert not facts.usage_injected
    assert facts.model == "m"


@pytest.mark.parametrize(("body", "ctype"), [
    (b"{not json", JSON), (b"[1, 2]", JSON), (b"", JSON), (b"\xff\xfe", None),
    (b'{"model": "m", "stream": true}', "text/plain"), (b"[" * 50_000, JSON),
])
def test_unreadable_bodies_are_relayed_as_they_are(body: bytes, ctype: str | None) -> None:
    facts, out = inspect(Api.CHAT, body, ctype, inject_stream_usage=True)
    assert out is body
    assert facts == RequestFacts(api=Api.CHAT)


def test_speech_characters_are_code_points() -> None:
    body = json.dumps({"model": "tts-1", "input": "héllo 👋", "voice": "alloy"}).encode()
    facts, _ = inspect(Api.AUDIO_SPEECH, body, JSON, inject_stream_usage=True)
    assert facts.input_characters == 7
    assert facts.model == "tts-1"


def test_large_prompt_uses_the_partial_read() -> None:
    doc = {"messages": [{"role": "user", "content": "word " * 5000}], "model": "gpt-x",
           "stream": True}
    body = json.dumps(doc).encode()
    facts, out = inspect(Api.CHAT, body, JSON, inject_stream_usage=True)
    assert facts.model == "gpt-x"
    assert facts.usage_injected
    assert json.loads(out) == doc | {"stream_options": {"include_usage": True}}


def multipart(fields: list[tuple[str, bytes]], boundary: str = "b0undary") -> bytes:
    out = b""
    for name, value in fields:
        extra = '; filename="a.mp3"' if name == "file" else ""
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{extra}\r\n"
                "\r\n").encode() + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_multipart_model_and_stream() -> None:
    audio = b"ID3\x00" + b'name="model"\r\n\r\nfake' + bytes(range(256))
    body = multipart([("file", audio), ("model", b"whisper-1"), ("stream", b"true")])
    facts, out = inspect(Api.AUDIO_TRANSCRIPTION, body, 'multipart/form-data; boundary="b0undary"',
                         inject_stream_usage=True)
    assert out is body
    assert facts == RequestFacts(api=Api.AUDIO_TRANSCRIPTION, model="whisper-1", stream=True)
    no_boundary, _ = inspect(Api.AUDIO_TRANSCRIPTION, body, "multipart/form-data",
                             inject_stream_usage=False)
    assert no_boundary == RequestFacts(api=Api.AUDIO_TRANSCRIPTION)


_other = st.dictionaries(st.sampled_from(["messages", "temperature", "n", "user", "prompt"]),
                         st.none() | st.integers() | st.text(max_size=20)
                         | st.lists(st.text(max_size=5), max_size=3), max_size=4)
_options = st.sampled_from([None, "absent", {}, {"include_usage": False},
                            {"include_usage": True}, {"other": 1}])


@settings(max_examples=300, deadline=None)
@given(_other, st.sampled_from([True, False, None, 1]), _options,
       st.sampled_from([Api.CHAT, Api.COMPLETIONS, Api.RESPONSES, Api.EMBEDDINGS]),
       st.sampled_from([None, 2]), st.booleans())
def test_injection_properties(other: dict[str, Any], stream: object, options: object, api: Api,
                              indent: int | None, inject: bool) -> None:
    doc: dict[str, Any] = {"model": "m", **other}
    if stream is not None:
        doc["stream"] = stream
    if options != "absent":
        doc["stream_options"] = options
    body = json.dumps(doc, indent=indent).encode()
    facts, out = inspect(api, body, JSON, inject_stream_usage=inject)
    asked = isinstance(options, dict) and options.get("include_usage") is True
    should = inject and api in (Api.CHAT, Api.COMPLETIONS) and stream is True and not asked
    assert facts.usage_injected == should
    assert facts.client_wants_usage == (asked and api in (Api.CHAT, Api.COMPLETIONS))
    assert facts.stream == (stream is True)
    if not should:
        assert out is body
        return
    sent = json.loads(out)
    assert sent.pop("stream_options") == {**(options if isinstance(options, dict) else {}),
                                          "include_usage": True}
    assert sent == {k: v for k, v in doc.items() if k != "stream_options"}
    if options == "absent":
        assert out.replace(OPT_IN, b"", 1) == body   # every client byte kept


async def test_what_the_openai_sdk_sends_is_injected_correctly() -> None:
    """The real SDK's bytes, captured by a real server, go through inspect."""
    seen: list[bytes] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        seen.append(await request.read())
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'data: {"id":"c","object":"chat.completion.chunk","created":1,'
                         b'"model":"m","choices":[]}\n\ndata: [DONE]\n\n')
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    async with TestServer(app, host="127.0.0.1") as server:
        client = AsyncOpenAI(base_url=str(server.make_url("/v1")), api_key="sk-dummy")
        stream = await client.chat.completions.create(
            model="gpt-x", stream=True, messages=[{"role": "user", "content": "hi"}])
        async for _ in stream:
            pass
        await client.close()
    facts, out = inspect(Api.CHAT, seen[0], JSON, inject_stream_usage=True)
    assert facts == RequestFacts(api=Api.CHAT, model="gpt-x", stream=True, usage_injected=True)
    assert json.loads(out) == json.loads(seen[0]) | {"stream_options": {"include_usage": True}}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Api)), st.binary(max_size=300) | st.sampled_from([
    b'{"stream": true, "stream_options": 5}', b'{"stream": true}', b' \xef\xbb\xbf{"stream":true}',
    b'{"model": ["x"], "input": 7, "stream": true}']),
       st.sampled_from([JSON, None, "multipart/form-data; boundary=x", "text/plain", "a/b+json"]))
def test_never_raises(api: Api, body: bytes, ctype: str | None) -> None:
    facts, out = inspect(api, body, ctype, inject_stream_usage=True)
    assert facts.api is api
    if facts.usage_injected:
        assert json.loads(out)["stream_options"]["include_usage"] is True
    else:
        assert out is body
