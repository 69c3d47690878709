"""Recorded provider traffic served byte for byte through the gateway (tests/data/recorded)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
import yaml

import proxy.usage
from proxy.emulator.cassettes import cassette_reply, load_cassettes, match
from proxy.emulator.server import RunningGateway, running_gateway
from proxy.errors import ConfigError
from tests.emulator.gateway_helpers import KEY, OPENAI, token

RECORDED = Path(__file__).parent.parent / "data" / "recorded"
ENVOY = RECORDED / "envoy-ai-gateway" / "openai"
CHAT = OPENAI + "/chat/completions"


def recorded(path: Path) -> dict[str, object]:
    doc = yaml.safe_load(path.read_text())
    inter: dict[str, object] = doc["interactions"][0]
    return inter


def test_every_recording_loads() -> None:
    files = sorted(RECORDED.rglob("*.yaml"))
    loaded = load_cassettes([RECORDED])
    assert len(loaded) >= len(files) > 50
    assert {c.method for c in loaded} <= {"GET", "POST", "PATCH", "DELETE"}  # Gemini cachedContents
    assert all(c.url.startswith("https://") for c in loaded)


def test_a_broken_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("interactions: [{request: {}}]")
    (tmp_path / "worse.yaml").write_text(": : :")
    with pytest.raises(ConfigError) as info:
        load_cassettes([tmp_path])
    assert len(info.value.problems) == 2


def test_matching_prefers_the_named_then_the_same_body() -> None:
    loaded = load_cassettes([ENVOY])
    basic, streaming = (c for c in loaded if c.name in ("chat-basic", "chat-streaming"))
    assert match(loaded, "POST", CHAT, basic.request_body, {}) == basic
    assert match(loaded, "POST", CHAT, streaming.request_body, {}) == streaming
    named = match(loaded, "POST", CHAT, b"{}", {"x-emulator-cassette": "chat-streaming"})
    assert named == streaming
    assert match(loaded, "POST", CHAT, b"{}", {"x-emulator-cassette": "nope"}) is None
    assert match(loaded, "GET", CHAT, b"", {}) is None
    assert match(loaded, "POST", CHAT, b"{}", {}) is not None  # first loaded for that URL


def test_chunks_are_random_but_seeded() -> None:
    (cassette,) = load_cassettes([ENVOY / "chat-streaming.yaml"])
    a = cassette_reply(cassette, seed=1, max_chunk=64)
    again = cassette_reply(cassette, seed=1, max_chunk=64)
    b = cassette_reply(cassette, seed=2, max_chunk=64)
    assert [p.data for p in a.parts] == [p.data for p in again.parts]
    assert [len(p.data) for p in a.parts] != [len(p.data) for p in b.parts]
    assert b"".join(p.data for p in a.parts) == b"".join(p.data for p in b.parts) == \
        cassette.body
    assert all(1 <= len(p.data) <= 64 for p in a.parts)


async def serve(gw: RunningGateway, path: Path) -> tuple[int, dict[str, str], bytes]:
    inter = recorded(path)
    request = inter["request"]
    assert isinstance(request, dict)
    async with aiohttp.ClientSession() as s, s.request(
            request["method"], gw.forward_url(request["url"]),
            data=str(request.get("body") or "").encode(),
            headers={"Authorization": "Bearer " + token(),
                     "Content-Type": "application/json"}) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()


@pytest.mark.parametrize("name", [
    "envoy-ai-gateway/openai/chat-streaming-detailed-usage.yaml",
    "envoy-ai-gateway/openai/chat-basic.yaml",
    "envoy-ai-gateway/openai/chat-bad-request.yaml",
    "genai/anthropic/claude-opus-5_thinking/GenStream-Text.yaml",
    "genai/openairesponses/gpt-5.6-luna_thinking/GenStream-Text.yaml",
])
async def test_served_byte_for_byte(name: str) -> None:
    path = RECORDED / name
    response = recorded(path)["response"]
    assert isinstance(response, dict)
    async with running_gateway(KEY, cassettes=load_cassettes([path]), cassette_max_chunk=7) as gw:
        status, got_headers, body = await serve(gw, path)
        seen = await gw.last.finished()
    assert status == response["code"]
    assert body == str(response["body"]).encode()
    recorded_headers = {k.lower(): v[0] for k, v in response["headers"].items()}
    for name in ("content-type", "x-request-id", "request-id"):  # as recorded, where recorded
        if name in recorded_headers:
            assert got_headers[name] == recorded_headers[name]
    assert seen.source == "cassette"
    assert seen.complete
    assert got_headers["x-lava-request-id"] == seen.request_id


async def test_cassette_usage_comes_from_the_sidecar_extractor() -> None:
    path = ENVOY / "chat-streaming-detailed-usage.yaml"
    async with running_gateway(KEY, cassettes=load_cassettes([path])) as gw:
        await serve(gw, path)
        seen = await gw.last.finished()
    assert seen.served is not None
    if hasattr(proxy.usage, "make_extractor"):
        usage = seen.served.usage
        assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) == (12, 100, 100)
    else:  # the extractor has not landed yet: cassette usage stays missing, never guessed
        assert seen.served.usage.source == "missing"


async def test_faults_apply_to_recordings_too() -> None:
    path = ENVOY / "chat-streaming.yaml"
    body = str(recorded(path)["response"]["body"]).encode()  # type: ignore[index]
    async with running_gateway(KEY, cassettes=load_cassettes([path])) as gw, \
            aiohttp.ClientSession() as s:
        got = bytearray()

        async def read() -> None:
            async with s.post(gw.forward_url(CHAT), data=b"{}",
                              headers={"Authorization": "Bearer " + token(),
                                       "x-emulator-fault": "reset-mid-stream"}) as r:
                async for chunk in r.content.iter_any():
                    got.extend(chunk)

        with pytest.raises(aiohttp.ClientPayloadError):
            await read()
        seen = await gw.last.finished()
    assert 0 < len(got) < len(body)
    assert body.startswith(bytes(got))
    assert not seen.complete
    assert seen.served is not None
    assert seen.served.status == "error"
    assert json.loads(seen.body) == {}
