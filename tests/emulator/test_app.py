"""The gateway app: health, JSON errors, request ids, and the seam the accounts side plugs into."""

from __future__ import annotations

import re

import aiohttp
from aiohttp import web

from proxy.emulator.local import local_gateway
from proxy.emulator.server import running_gateway, running_local_gateway
from proxy.secret import Secret
from tests.emulator.gateway_helpers import KEY, OPENAI, token

RID = re.compile(r"req_[0-9A-HJKMNP-TV-Z]{26}")


async def test_health_and_json_errors() -> None:
    async with running_gateway(KEY) as gw, aiohttp.ClientSession() as s:
        async with s.get(gw.url + "/healthz") as r:
            assert r.status == 200
            assert await r.json() == {"status": "ok"}
        async with s.delete(gw.url + "/healthz") as r:
            body = await r.json()
            assert r.status == 405
            assert body["error"]["code"] == "method_not_allowed"
            assert RID.fullmatch(r.headers["x-lava-request-id"])
    assert gw.state.session is None  # no passthrough: no client session


async def test_extra_routes_plug_in() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "accounts"})

    def extra(app: web.Application) -> None:
        app.router.add_get("/v1/hello", hello)

    async with running_gateway(KEY, extra_routes=extra) as gw, aiohttp.ClientSession() as s:
        async with s.get(gw.url + "/v1/hello") as r:
            assert await r.json() == {"hello": "accounts"}
            assert RID.fullmatch(r.headers["x-lava-request-id"])
        async with s.post(gw.forward_url(OPENAI + "/chat/completions"),
                          json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
                          headers={"Authorization": "Bearer " + token()}) as r:
            assert r.status == 200


async def test_local_gateway_plugs_into_running_gateway() -> None:
    local = local_gateway(Secret(KEY))
    async with running_gateway(KEY, accounts=local.state.accounts,
                               extra_routes=local.extra_routes) as gw, \
            aiohttp.ClientSession(headers={"Authorization": "Bearer " + KEY}) as s:
        async with s.get(f"{gw.url}/v1/meters") as r:
            assert r.status == 200
        async with s.get(f"{gw.url}/v1/meters", headers={"Authorization": "Bearer x"}) as r:
            assert r.status == 401


async def test_the_full_local_lava_records_what_it_forwarded() -> None:
    async with running_local_gateway(KEY) as gw, \
            aiohttp.ClientSession(headers={"Authorization": "Bearer " + KEY}) as s:
        async with s.post(gw.forward_url(OPENAI + "/chat/completions"),
                          json={"model": "gpt-5-nano", "max_tokens": 4,
                                "messages": [{"role": "user", "content": "hi"}]}) as r:
            rid = r.headers["x-lava-request-id"]
        await gw.last.finished()
        async with s.get(f"{gw.url}/v1/requests/{rid}") as r:
            record = await r.json()
    assert record["request_id"] == rid
    assert record["model_usage"]["output_tokens"] == 4
    assert record["endpoint"] == f"POST {OPENAI}/chat/completions"
