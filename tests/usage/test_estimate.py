"""The opt-in guess: prompt characters / 4, labelled estimated, never over a provider count."""

from __future__ import annotations

import json

from proxy.usage import Api, RequestFacts, Usage, estimate

CHAT = RequestFacts(api=Api.CHAT, model="gpt-x")


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_counts_prompt_text_only() -> None:
    doc = {"model": "gpt-x-long-model-name", "messages": [
        {"role": "system", "content": "a" * 10},
        {"role": "user", "content": [
            {"type": "text", "text": "b" * 7},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 5000}}]},
    ]}
    got = estimate(CHAT, body(doc), Usage(model="gpt-x-2", response_id="r"))
    assert got == Usage(input_tokens=5, model="gpt-x-2", response_id="r", source="estimated")


def test_responses_and_anthropic_shapes() -> None:
    responses = {"model": "m", "instructions": "x" * 4, "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "y" * 4}]}]}
    got = estimate(RequestFacts(api=Api.RESPONSES, model="m"), body(responses), Usage())
    assert (got.input_tokens, got.model, got.source) == (2, "m", "estimated")
    anthropic = {"model": "c", "system": "s" * 3, "messages": [{"role": "user", "content": "hi"}]}
    got = estimate(RequestFacts(api=Api.MESSAGES), body(anthropic), Usage())
    assert got.input_tokens == 2


def test_gemini_shape_counts_parts_text_not_inline_data() -> None:
    doc = {"systemInstruction": {"parts": [{"text": "s" * 4}]}, "contents": [
        {"role": "user", "parts": [{"text": "t" * 8},
                                   {"inlineData": {"mimeType": "image/png", "data": "A" * 5000}}]}]}
    facts = RequestFacts(api=Api.GENERATE_CONTENT, model="gemini-2.5-flash", stream=True)
    got = estimate(facts, body(doc), Usage())
    assert got == Usage(input_tokens=3, model="gemini-2.5-flash", source="estimated")


def test_provider_counts_are_never_replaced() -> None:
    usage = Usage(input_tokens=3, source="provider")
    assert estimate(CHAT, body({"messages": [{"content": "x" * 400}]}), usage) is usage


def test_nothing_to_guess_from() -> None:
    missing = Usage(model="m")
    assert estimate(CHAT, b"not json", missing) is missing
    assert estimate(CHAT, body({"messages": []}), missing) is missing
    speech = RequestFacts(api=Api.AUDIO_SPEECH)
    assert estimate(speech, body({"input": "hello"}), missing) is missing


def nested(depth: int) -> bytes:
    return b'{"messages":' + b'{"content":[' * depth + b'"xxxxxxxx"' + b"]}" * depth + b"}"


def test_deep_bodies_are_bounded() -> None:
    assert estimate(CHAT, nested(10), Usage()).input_tokens == 2
    assert estimate(CHAT, nested(40), Usage()) == Usage()      # past the walk's depth bound
    assert estimate(CHAT, nested(5000), Usage()) == Usage()    # past the parser's: not a crash
