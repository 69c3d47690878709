"""Stream pacing: the ``x-emulator-pace`` header and the gateway-wide default; a paced stream's
first chunk reaches the client while the gateway is still sending."""

from __future__ import annotations

import pytest

from proxy.emulator.pacing import PaceInvalid, parse_pace
from proxy.emulator.providers import Pacing
from proxy.emulator.server import running_gateway
from tests.emulator.gateway_helpers import KEY, answer_words, openai_client, words

MESSAGES = [{"role": "user", "content": "Count."}]


def test_parse() -> None:
    base = Pacing()
    assert parse_pace(None, base) is base
    assert parse_pace("chunks=64,delay-ms=20,tokens=64", base) == Pacing(64, 0.02, 64)
    assert parse_pace(" tokens=3 ", Pacing(2, 0.5, 16)) == Pacing(2, 0.5, 3)


@pytest.mark.parametrize("value", ["chunks=0", "tokens=x", "delay-ms=-1", "speed=3", "chunks"])
def test_parse_refuses(value: str) -> None:
    with pytest.raises(PaceInvalid) as info:
        parse_pace(value, Pacing())
    assert info.value.status == 400


async def test_chunk_count_from_the_header_and_the_default() -> None:
    async with running_gateway(KEY, pacing=Pacing(chunks=4)) as gw, \
            openai_client(gw) as client:
        stream = await client.chat.completions.create(model="gpt-5-nano", messages=MESSAGES,
                                                      stream=True)
        deltas = [c.choices[0].delta.content async for c in stream
                  if c.choices and c.choices[0].delta.content]
        assert len(deltas) == 4
        assert answer_words("".join(deltas)) == words(16)
        stream = await client.chat.completions.create(
            model="gpt-5-nano", messages=MESSAGES, stream=True,
            extra_headers={"x-emulator-pace": "chunks=64,tokens=64"})
        deltas = [c.choices[0].delta.content async for c in stream
                  if c.choices and c.choices[0].delta.content]
        assert len(deltas) == 64
        assert answer_words("".join(deltas)) == words(64)


async def test_first_chunk_arrives_while_the_rest_is_still_coming() -> None:
    async with running_gateway(KEY) as gw, openai_client(gw) as client:
        stream = await client.chat.completions.create(
            model="gpt-5-nano", messages=MESSAGES, stream=True,
            extra_headers={"x-emulator-pace": "chunks=2,delay-ms=1500"})
        first = await anext(aiter(stream))
        assert first.choices[0].delta.role == "assistant"
        seen = gw.last
        assert not seen.done.is_set()  # the gateway is still between chunks
        await stream.close()  # the client leaves mid-stream
        await seen.finished()
    assert seen.served is not None
    assert seen.served.status == "error"
    assert not seen.complete
    out = seen.served.usage.output_tokens
    assert out is not None
    assert out < 16
