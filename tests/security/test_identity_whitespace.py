"""Optional whitespace around identity header values, on a real ``lava-sidecar serve`` (issue 24):
SP and HTAB before and after a customer id, a meter slug or a mapped API key are not part of the
value (RFC 9110 §5.5), whichever side they are on; the request is billed to the value without
them, and Lava gets that value in the forward token. What stays invalid once they are stripped
(an inner space, a no-break space, nothing at all) is a 400 in the caller's shape, OpenAI's and
Anthropic's. Written on a raw socket: HTTP clients strip or refuse such values themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proxy.emulator.server import running_gateway

from ..conftest import TEST_SECRET
from ..faults.harness import CHAT, MESSAGES, body_for
from ..faults.process import SidecarProcess, eventually, sidecar_process
from .rawhttp import exchange, request_head

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

KEY_ENV = "APP_KEY_FOR_TEST"
PADDED = [" cus_ws", "cus_ws ", "\tcus_ws", "cus_ws\t", " \t cus_ws \t "]


async def post(sp: SidecarProcess, path: str, headers: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
    body = body_for(path, stream=False)
    reply = await exchange(sp.url, request_head("POST", path, [("Content-Type", "application/json"),
                                                                *headers], body=body), body)
    return reply.status, json.loads(reply.body)


async def test_whitespace_around_identity_values_is_stripped_on_both_sides(tmp_path: Path) -> None:
    identity = {"api_keys": [{"key": {"env": KEY_ENV}, "customer": "cus_key", "meter": "chat-tokens"}]}
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, identity=identity, pricing={"from_lava": False},
                            env={KEY_ENV: "sk-app-key"}) as sp:
        sent = 0
        for path in (CHAT, MESSAGES):
            for padded in PADDED:
                status, _ = await post(sp, path, [("X-Lava-Customer-Id", padded),
                                                  ("X-Lava-Meter", padded.replace("cus_ws", "chat-tokens"))])
                assert status == 200, padded
                sent += 1
            # Mapped local keys, bearer and x-api-key, padded both sides.
            for header, value in (("Authorization", " Bearer sk-app-key \t"), ("x-api-key", "\tsk-app-key ")):
                status, _ = await post(sp, path, [(header, value)])
                assert status == 200, (header, value)
                sent += 1
            # The same id twice, once padded: one payer, not two.
            status, _ = await post(sp, path, [("X-Lava-Customer-Id", "cus_ws"),
                                              ("X-Lava-Customer-Id", "cus_ws\t"),
                                              ("X-Lava-Meter", "chat-tokens")])
            assert status == 200
            sent += 1

        async def all_recorded() -> bool:
            return len(sp.records()) == sent

        await eventually(all_recorded, 10)
    billed = sorted({(r["customer"], r["meter"]) for r in sp.records()})
    assert billed == [("cus_key", "chat-tokens"), ("cus_ws", "chat-tokens")]
    assert all(r["status"] == 200 for r in sp.records())
    tokens = {(s.token.customer_id, s.token.meter_slug) for s in gw.seen if s.token is not None}
    assert tokens == {("cus_key", "chat-tokens"), ("cus_ws", "chat-tokens")}
    assert len(gw.seen) == sent


@pytest.mark.parametrize(("header", "value", "code"), [
    ("X-Lava-Customer-Id", " cus ws ", "customer_id_invalid"),
    # A no-break space is whitespace to str.strip(), not to HTTP (VT and the like the parser refuses).
    ("X-Lava-Customer-Id", "cus_ws\u00a0", "customer_id_invalid"),
    ("X-Lava-Customer-Id", " \t ", "customer_id_invalid"),  # nothing left: present, and empty
    ("X-Lava-Meter", "\tchat tokens ", "meter_slug_invalid"),
])
async def test_what_stays_invalid_is_a_400_in_both_shapes(
        tmp_path: Path, header: str, value: str, code: str) -> None:
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, pricing={"from_lava": False}) as sp:
        headers = [("X-Lava-Customer-Id", "cus_ws"), ("X-Lava-Meter", "chat-tokens")]
        headers = [(k, value if k == header else v) for k, v in headers]
        status, openai = await post(sp, CHAT, headers)
        assert status == 400
        assert openai["error"]["code"] == code
        assert header in openai["error"]["message"]
        status, anthropic = await post(sp, MESSAGES, headers)
        assert status == 400
        assert anthropic["type"] == "error"
        assert anthropic["error"]["type"] == "invalid_request_error"
        assert anthropic["error"]["code"] == code
        assert header in anthropic["error"]["message"]

        async def both_recorded() -> bool:
            return len(sp.records()) == 2

        await eventually(both_recorded, 10)
    assert [r["error_code"] for r in sp.records()] == [code, code]
    assert gw.seen == []
