"""The OpenAI mock through the official SDK (async and sync), and its raw bytes against the
recorded real traffic in tests/data/recorded."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import yaml
from openai import OpenAI

from proxy.emulator.server import RunningGateway, running_gateway
from tests.emulator.gateway_helpers import (
    KEY,
    OPENAI,
    answer_words,
    openai_client,
    rule_tokens,
    sse_events,
    sse_json,
    token,
    words,
)

RECORDED = Path(__file__).parent.parent / "data" / "recorded"
PROMPT = "Say hello in five words."


def recorded_body(name: str) -> bytes:
    doc = yaml.safe_load((RECORDED / name).read_text())
    return str(doc["interactions"][0]["response"]["body"]).encode()


async def raw_post(gw: RunningGateway, path: str, doc: dict[str, Any]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s, s.post(
            gw.forward_url(OPENAI + path), json=doc,
            headers={"Authorization": "Bearer " + token()}) as r:
        return r.status, await r.read()


async def test_chat_json_async() -> None:
    async with running_gateway(KEY) as gw, openai_client(gw) as client:
        r = await client.chat.completions.create(
            model="gpt-5-nano", messages=[{"role": "user", "content": PROMPT}])
        assert answer_words(r.choices[0].message.content or "") == words(16)
        assert r.choices[0].finish_reason == "stop"
        assert r.usage is not None
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (
            rule_tokens(PROMPT, messages=1), 16)
        seen = await gw.last.finished()
        assert seen.usage.input_tokens == r.usage.prompt_tokens
        assert seen.usage.output_tokens == r.usage.completion_tokens
        assert seen.usage.response_id == r.id
        assert seen.served is not None
        assert seen.served.status == "completed"
        assert seen.served.model == "gpt-5-nano"


async def test_chat_json_sync_client_with_a_limit() -> None:
    async with running_gateway(KEY) as gw:
        def call() -> Any:
            with OpenAI(base_url=gw.sdk_base_url(OPENAI), api_key=token(),
                        max_retries=0) as client:
                return client.chat.completions.create(
                    model="gpt-5-mini", max_completion_tokens=5,
                    messages=[{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": [{"type": "text", "text": PROMPT}]}])
        r = await asyncio.to_thread(call)
        assert r.choices[0].finish_reason == "length"
        assert answer_words(r.choices[0].message.content) == words(5)
        assert r.usage.prompt_tokens == rule_tokens("Be brief.", PROMPT, messages=2)


async def test_chat_stream_helper_sync_client() -> None:
    async with running_gateway(KEY) as gw:
        def call() -> Any:
            with OpenAI(base_url=gw.sdk_base_url(OPENAI), api_key=token(),
                        max_retries=0) as client, client.chat.completions.stream(
                    model="gpt-5-nano", messages=[{"role": "user", "content": PROMPT}],
                    stream_options={"include_usage": True}) as stream:
                for _ in stream:
                    pass
                return stream.get_final_completion()
        final = await asyncio.to_thread(call)
        assert answer_words(final.choices[0].message.content or "") == words(16)
        assert final.usage is not None
        assert final.usage.completion_tokens == 16


async def test_chat_stream_reports_usage_only_when_asked() -> None:
    async with running_gateway(KEY) as gw, openai_client(gw) as client:
        plain = await client.chat.completions.create(
            model="gpt-5-nano", messages=[{"role": "user", "content": PROMPT}], stream=True)
        chunks = [c async for c in plain]
        assert all(c.usage is None for c in chunks)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert answer_words(text) == words(16)
        assert (await gw.last.finished()).usage.output_tokens == 16

        asked = await client.chat.completions.create(
            model="gpt-5-nano", messages=[{"role": "user", "content": PROMPT}], stream=True,
            stream_options={"include_usage": True})
        chunks = [c async for c in asked]
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens == 16
        assert all(c.usage is None for c in chunks[:-1])


async def test_chat_stream_bytes_match_the_real_api() -> None:
    real = sse_events(recorded_body("envoy-ai-gateway/openai/chat-streaming-detailed-usage.yaml"))
    real_plain = sse_events(recorded_body("envoy-ai-gateway/openai/chat-streaming.yaml"))
    async with running_gateway(KEY) as gw:
        for doc, recorded in (
                ({"stream_options": {"include_usage": True}}, real), ({}, real_plain)):
            status, body = await raw_post(gw, "/chat/completions", {
                "model": "gpt-5-nano", "messages": [{"role": "user", "content": PROMPT}],
                "stream": True, **doc})
            ours = sse_events(body)
            assert status == 200
            assert ours[-1] == (None, "[DONE]") == recorded[-1]
            mine = [json.loads(d) for _, d in ours[:-1]]
            theirs = [json.loads(d) for _, d in recorded[:-1]]
            # Same keys chunk by chunk kind (the real ones add an "obfuscation" field).
            for a, b in ((mine[0], theirs[0]), (mine[-1], theirs[-1]), (mine[-2], theirs[-2])):
                assert set(a) == set(b) - {"obfuscation"}
                assert a["choices"] == [] if b["choices"] == [] else a["choices"][0].keys() == \
                    b["choices"][0].keys()
            assert mine[0]["choices"][0]["delta"] == theirs[0]["choices"][0]["delta"] | {
                "content": ""}
            assert ("usage" in mine[1]) == ("usage" in theirs[1])


async def test_legacy_completions() -> None:
    prompt = "def fib(n):"
    real = sse_json(recorded_body("envoy-ai-gateway/openai/completion-streaming-usage.yaml"))
    async with running_gateway(KEY) as gw, openai_client(gw) as client:
        r = await client.completions.create(model="babbage-002", prompt=prompt, max_tokens=3)
        assert r.choices[0].finish_reason == "length"
        assert r.usage is not None
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (rule_tokens(prompt), 3)
        status, body = await raw_post(gw, "/completions", {
            "model": "babbage-002", "prompt": prompt, "stream": True,
            "stream_options": {"include_usage": True}})
        mine = sse_json(body)
        assert status == 200
        assert body.endswith(b"data: [DONE]\n\n")
        assert [set(c) for c in (mine[0], mine[-1])] == [set(c) for c in (real[0], real[-1])]
        assert mine[-1]["usage"]["completion_tokens"] == 16
        assert mine[-1]["choices"] == []
        assert all(c["usage"] is None for c in mine[:-1])


async def test_embeddings_float_and_base64_agree() -> None:
    async with running_gateway(KEY) as gw, openai_client(gw) as client:
        texts = ["How do I reset my password?", "ok"]
        as_b64 = await client.embeddings.create(model="text-embedding-3-small", input=texts)
        floats = await client.embeddings.create(model="text-embedding-3-small", input=texts,
                                                encoding_format="float", dimensions=8)
        assert [len(d.embedding) for d in as_b64.data] == [16, 16]
        assert [len(d.embedding) for d in floats.data] == [8, 8]
        for a, b in zip(as_b64.data, floats.data, strict=True):
            assert a.embedding[:8] == pytest.approx(b.embedding, abs=1e-6)
        assert as_b64.usage.prompt_tokens == rule_tokens(texts[0]) + rule_tokens(texts[1])
        status, body = await raw_post(gw, "/embeddings", {
            "model": "text-embedding-3-small", "input": [[1, 2, 3]], "encoding_format": "base64"})
        doc = json.loads(body)
        vector = struct.unpack("<16f", base64.b64decode(doc["data"][0]["embedding"]))
        assert status == 200
        assert doc["usage"]["prompt_tokens"] == 3
        assert len(vector) == 16


async def test_responses_json_and_stream_helper() -> None:
    real = [e for e, _ in sse_events(recorded_body(
        "genai/openairesponses/gpt-5.6-luna_thinking/GenStream-Text.yaml"))]
    async with running_gateway(KEY) as gw, openai_client(gw) as client:
        r = await client.responses.create(model="gpt-5-nano", input=PROMPT,
                                          instructions="Be nice.", max_output_tokens=4)
        assert r.status == "incomplete"
        assert answer_words(r.output_text) == words(4)
        assert r.usage is not None
        assert r.usage.input_tokens == rule_tokens("Be nice.", PROMPT)
        async with client.responses.stream(
                model="gpt-5-nano",
                input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
        ) as stream:
            deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            final = await stream.get_final_response()
        assert "".join(deltas) == final.output_text
        assert answer_words(final.output_text) == \
            words(16)
        assert final.usage is not None
        assert final.status == "completed"
        assert final.usage.input_tokens == rule_tokens(PROMPT, messages=1)
        _status, body = await raw_post(gw, "/responses", {
            "model": "gpt-5-nano", "input": "hi", "stream": True})
        mine = [e for e, _ in sse_events(body)]

        def collapse(names: list[str | None]) -> list[str | None]:
            return [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
        assert collapse(mine) == collapse(real)


async def test_models() -> None:
    async with running_gateway(KEY) as gw, openai_client(gw) as client:
        listed = [m.id async for m in client.models.list()]
        assert "gpt-5-nano" in listed
        assert (await client.models.retrieve("gpt-5-nano")).id == "gpt-5-nano"
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("gpt-nonexistent")
        assert gw.last.url == OPENAI + "/models/gpt-nonexistent"


async def test_audio() -> None:
    audio = b"\x01\x02" * 48_000  # 96 000 bytes: 3 s at 32 000 bytes per second
    async with running_gateway(KEY) as gw, openai_client(gw) as client:
        whisper = await client.audio.transcriptions.create(model="whisper-1",
                                                           file=("a.wav", audio))
        assert whisper.usage is not None
        assert whisper.usage.type == "duration"
        assert whisper.usage.seconds == 3
        assert (await gw.last.finished()).usage.audio_seconds == 3
        tokens = await client.audio.transcriptions.create(model="gpt-4o-transcribe",
                                                          file=("a.wav", audio))
        assert tokens.usage is not None
        assert tokens.usage.type == "tokens"
        assert tokens.usage.input_tokens == 30
        text = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio),
                                                        response_format="text")
        assert isinstance(text, str)
        assert answer_words(text) == words(16)
        # The SDK deprecates translations; the endpoint is still served, so call it raw.
        form = aiohttp.FormData()
        form.add_field("model", "whisper-1")
        form.add_field("file", audio, filename="a.wav", content_type="audio/wav")
        async with aiohttp.ClientSession() as s, s.post(
                gw.forward_url(OPENAI + "/audio/translations"), data=form,
                headers={"Authorization": "Bearer " + token()}) as r:
            translated = await r.json()
        assert answer_words(translated["text"]) == words(16)
        assert "usage" not in translated
        assert (await gw.last.finished()).usage.audio_seconds == 3
        speech = await client.audio.speech.create(model="tts-1", voice="alloy", input="Hello!",
                                                  response_format="wav")
        data = speech.content
        assert data[:4] == b"RIFF"
        assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
        assert (await gw.last.finished()).usage.input_characters == 6


async def test_bad_requests_are_provider_shaped() -> None:
    async with running_gateway(KEY) as gw, openai_client(gw) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="gpt-5-nano", messages=[])
        assert "messages" in str(info.value)
        seen = await gw.last.finished()
        assert seen.status == 400
        assert seen.served is not None
        assert seen.served.status == "error"
        assert seen.served.usage.total_tokens is None
        status, body = await raw_post(gw, "/images/generations", {"model": "x"})
        assert status == 404
        assert json.loads(body)["error"]["code"] == "invalid_url"
