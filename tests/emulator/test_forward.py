"""``/v1/forward`` as Lava specifies it: credentials, ``u`` shapes, metadata, request ids,
admission before the provider, settlement after — seen from a real HTTP client."""

from __future__ import annotations

import base64
import json
import logging
import re
from decimal import Decimal
from urllib.parse import quote

import aiohttp
import pytest

from proxy.emulator.contracts import Denial, Served, Settled
from proxy.emulator.permissive import PermissiveAccounts
from proxy.emulator.server import RunningGateway, running_gateway
from proxy.secret import Secret
from proxy.tokens import DecodedToken
from tests.emulator.gateway_helpers import KEY, OPENAI, token

CHAT = OPENAI + "/chat/completions"
BODY = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}]}
RID = re.compile(r"req_[0-9A-HJKMNP-TV-Z]{26}")


def b64(doc: dict[str, object]) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


async def post(url: str, headers: dict[str, str], body: object = BODY,
               method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as s, s.request(method, url, json=body,
                                                       headers=headers) as r:
        return r.status, dict(r.headers), await r.read()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + value}


@pytest.mark.parametrize(("credential", "fmt", "customer"), [
    (KEY, "plain_secret", None),
    (token("cus_9", "tokens"), "current", "cus_9"),
    (b64({"secret_key": KEY, "customer_id": "cus_8", "meter_slug": "m",
          "provider_key": None, "disable_billing": False}), "current", "cus_8"),
    (b64({"secret_key": KEY, "connection_id": "con_7", "meter_slug": "m"}), "connection",
     "con_7"),
    (b64({"secret_key": KEY, "connection_secret": "cs_1", "product_secret": "ps_1"}),
     "secrets_v5", None),
])
@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
async def test_every_token_format_in_either_header(credential: str, fmt: str,
                                                   customer: str | None, header: str) -> None:
    headers = bearer(credential) if header == "authorization" else {"x-api-key": credential}
    async with running_gateway(KEY) as gw:
        status, _, body = await post(gw.forward_url(CHAT), headers)
        seen = await gw.last.finished()
    assert status == 200
    assert json.loads(body)["object"] == "chat.completion"
    assert seen.token is not None
    assert (seen.token.format, seen.token.customer_id) == (fmt, customer)


@pytest.mark.parametrize("query", [
    "u=" + quote(CHAT, safe=""),
    "u=" + CHAT,
    "u=" + quote(OPENAI, safe="") + "/chat/completions",
    "metadata=%7B%22a%22%3A%22b%22%7D&u=" + CHAT,
])
@pytest.mark.parametrize("path", ["/v1/forward", "/v1/forward/"])
async def test_u_shapes(query: str, path: str) -> None:
    async with running_gateway(KEY) as gw:
        status, _, _ = await post(f"{gw.url}{path}?{query}", bearer(token()))
        seen = await gw.last.finished()
    assert status == 200
    assert seen.url == CHAT
    assert seen.source == "mock"


async def test_provider_query_string_reaches_the_provider() -> None:
    url = "https://api.anthropic.com/v1/models?limit=2&after_id=x"
    async with running_gateway(KEY) as gw:
        status, _, _ = await post(gw.forward_url(url), {"x-api-key": token()}, None, "GET")
        seen = await gw.last.finished()
    assert status == 200
    assert seen.url == url
    assert seen.served is not None
    assert seen.served.endpoint == "GET https://api.anthropic.com/v1/models"


async def test_request_id_on_every_response() -> None:
    async with running_gateway(KEY) as gw:
        ok = await post(gw.forward_url(CHAT), bearer(token()))
        refused = await post(gw.forward_url(CHAT), bearer("aks_test_wrong"))
        bad_u = await post(f"{gw.url}/v1/forward?u=nope", bearer(token()))
        missing = await post(f"{gw.url}/v1/nothing-here", bearer(token()))
        ids = [r[1].get("x-lava-request-id", "") for r in (ok, refused, bad_u, missing)]
        assert all(RID.fullmatch(i) for i in ids)
        assert len(set(ids)) == 4
        assert [s.request_id for s in gw.seen] == ids[:3]
        served = gw.seen[0].served
        assert served is not None
        assert served.request_id == ids[0]
        assert missing[0] == 404
        assert json.loads(missing[2])["error"]["code"] == "not_found"


@pytest.mark.parametrize("headers", [
    {}, bearer("aks_test_wrong"), bearer("garbage!"), {"x-api-key": "aks_live_nope"},
    bearer(b64({"secret_key": "aks_live_other", "customer_id": "c", "meter_slug": "m"})),
])
async def test_401_for_bad_or_unknown_credentials(headers: dict[str, str]) -> None:
    async with running_gateway(KEY) as gw:
        status, _, body = await post(gw.forward_url(CHAT), headers)
        seen = await gw.last.finished()
    error = json.loads(body)["error"]
    assert status == 401
    assert error["code"] == "invalid_api_key"
    assert error["message"]
    assert seen.refused == "invalid_api_key"
    assert seen.served is None
    assert seen.source == ""
    for value in headers.values():
        assert value.removeprefix("Bearer ")[:12] not in body.decode()


async def test_metadata_header_or_query_is_recorded_and_settled() -> None:
    meta = {"user_id": "u_1", "feature": "chat"}
    async with running_gateway(KEY) as gw:
        await post(gw.forward_url(CHAT), {**bearer(token()), "x-lava-metadata": json.dumps(meta)})
        await post(gw.forward_url(CHAT) + "&metadata=" + quote(json.dumps(meta)),
                   bearer(token()))
        for seen in gw.seen:
            await seen.finished()
            assert seen.metadata == meta
            assert seen.served is not None
            assert seen.served.metadata == meta


@pytest.mark.parametrize("meta", ['{"bad-key":"v"}', "[1]", '{"k":""}', "not json"])
async def test_bad_metadata_is_a_400(meta: str) -> None:
    async with running_gateway(KEY) as gw:
        status, _, body = await post(gw.forward_url(CHAT),
                                     {**bearer(token()), "x-lava-metadata": meta})
        seen = await gw.last.finished()
    assert status == 400
    assert json.loads(body)["error"]["code"] == "metadata_invalid"
    assert seen.served is None


async def test_bad_u_is_a_400_after_authentication() -> None:
    async with running_gateway(KEY) as gw:
        unauth = await post(f"{gw.url}/v1/forward", {})
        bad = await post(f"{gw.url}/v1/forward?u=ftp://x", bearer(token()))
    assert unauth[0] == 401
    assert bad[0] == 400
    assert json.loads(bad[2])["error"]["code"] == "forward_target_invalid"


class Refusing(PermissiveAccounts):
    def admit(self, token: DecodedToken) -> Denial | None:
        if token.customer_id == "broke":
            return Denial(402, "insufficient_balance", "Insufficient balance.")
        return None


async def test_admit_refuses_before_the_provider_is_called() -> None:
    accounts = Refusing(Secret(KEY))
    async with running_gateway(KEY, accounts=accounts) as gw:
        status, _, body = await post(gw.forward_url(CHAT), bearer(token("broke", "tokens")))
        seen = await gw.last.finished()
        assert status == 402
        assert json.loads(body)["error"] == {"message": "Insufficient balance.",
                                             "type": "invalid_request_error", "param": None,
                                             "code": "insufficient_balance"}
        assert seen.source == ""
        assert seen.served is None
        assert not accounts.served
        await post(gw.forward_url(CHAT), bearer(token("rich", "tokens")))
        await gw.last.finished()
    assert [s.request_id for s in accounts.served] == [gw.seen[-1].request_id]


class Recording(PermissiveAccounts):
    def settle(self, token: DecodedToken, served: Served) -> Settled:
        super().settle(token, served)
        return Settled(served.request_id, Decimal("0.01"), Decimal("0.02"))


async def test_settle_after_serving_with_what_was_served() -> None:
    accounts = Recording(Secret(KEY))
    async with running_gateway(KEY, accounts=accounts) as gw:
        await post(gw.forward_url(CHAT), bearer(token()), {**BODY, "max_tokens": 3})
        seen = await gw.last.finished()
    (served,) = accounts.served
    assert served == seen.served
    assert seen.settled is not None
    assert seen.settled.charge == Decimal("0.02")
    assert served.endpoint == "POST " + CHAT
    assert served.provider == "openai"
    assert served.status == "completed"
    assert served.model == "gpt-5-nano"
    assert served.usage.output_tokens == 3
    assert served.response_id
    assert served.timestamp > 0


async def test_settle_failure_does_not_break_the_response(
        caplog: pytest.LogCaptureFixture) -> None:
    class Broken(PermissiveAccounts):
        def settle(self, token: DecodedToken, served: Served) -> Settled:
            raise RuntimeError("database is gone")

    async with running_gateway(KEY, accounts=Broken(Secret(KEY))) as gw:
        status, _, _ = await post(gw.forward_url(CHAT), bearer(token()))
        seen = await gw.last.finished()
    assert status == 200
    assert seen.served is not None
    assert seen.settled is None
    assert "settle failed" in caplog.text


async def test_everything_received_is_recorded() -> None:
    payload = json.dumps(BODY).encode()
    async with running_gateway(KEY) as gw, aiohttp.ClientSession() as s:
        async with s.post(gw.forward_url(CHAT), data=payload,
                          headers={**bearer(token()), "OpenAI-Beta": "assistants=v2",
                                   "Content-Type": "application/json"}) as r:
            assert r.status == 200
        seen = await gw.last.finished()
    assert seen.body == payload
    assert seen.json() == BODY
    assert seen.method == "POST"
    assert seen.header("openai-beta") == "assistants=v2"
    assert seen.header("authorization") == "Bearer " + token()
    # the token and its key stay out of the record's repr
    assert KEY not in repr(seen)
    assert token() not in repr(seen)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_forwarded(method: str) -> None:
    async with running_gateway(KEY) as gw:
        status, _, body = await post(gw.forward_url(OPENAI + "/files/f_1"), bearer(token()),
                                     None, method)
        seen = await gw.last.finished()
    # Lava passes them on; the mock provider has no such endpoint and says so, OpenAI-style.
    assert status == 404
    assert json.loads(body)["error"]["type"] == "not_found_error"
    assert seen.method == method
    assert seen.served is not None


async def test_seen_is_bounded() -> None:
    async with running_gateway(KEY, seen_limit=2) as gw:
        for _ in range(4):
            await post(gw.forward_url(CHAT), bearer(token()))
        assert len(gw.seen) == 2


async def test_logs_never_hold_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_gateway(KEY) as gw:
        await post(gw.forward_url(CHAT), bearer(token()))
        await post(gw.forward_url(CHAT), bearer("aks_test_wrong_key"))
        await gw.last.finished()
    assert "forward req_" in caplog.text
    for secret in (KEY, token(), "aks_test_wrong_key"):
        assert secret not in caplog.text


async def test_body_limit_is_a_json_413() -> None:
    async with running_gateway(KEY, max_body_bytes=1024) as gw:
        status, _, body = await post(gw.forward_url(CHAT), bearer(token()),
                                     {"model": "x", "pad": "x" * 4096})
    assert status == 413
    assert json.loads(body)["error"]["code"] == "request_entity_too_large"


def test_sdk_base_url_shape() -> None:
    gw = RunningGateway("http://127.0.0.1:1", None, None)  # type: ignore[arg-type]
    assert gw.sdk_base_url(OPENAI) == "http://127.0.0.1:1/v1/forward?u=https://api.openai.com/v1/"
    assert gw.forward_url(CHAT) == ("http://127.0.0.1:1/v1/forward?u="
                                    "https%3A%2F%2Fapi.openai.com%2Fv1%2Fchat%2Fcompletions")
