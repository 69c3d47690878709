"""Secret hygiene: a full mixed workload (successes, streams, every kind of failure, bad input,
disconnects) through a real ``lava-sidecar serve`` with debug logging and the access log on; then
every log line, error body, response header, /metrics page, /usage answer and usage-log line is
searched for the merchant key, the bring-your-own provider key, the app's mapped local key, the
app's Google API key (sent to /gemini as ``x-goog-api-key`` and as ``?key=``), and any forward
token. None may appear; the Google key is not in any request that reached Lava either. Tracing is
on, exporting to a loopback OTLP collector: every span it received is searched too, and the
collector's own API key may appear only in its request headers.

The gateway also serves the local Lava's real management API, so the sidecar's price catalog
lists meters with the merchant key all along: successfully, then failing (the key revoked: 401,
logged), then again successfully; that path's log lines are searched too."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from proxy.billing import AsyncLavaClient
from proxy.emulator.accounts import LocalAccounts, Tier
from proxy.emulator.accounts.catalog import create_meter
from proxy.emulator.rest import mount
from proxy.emulator.server import RunningGateway, running_gateway
from proxy.emulator.store import MemoryStore
from proxy.secret import Secret
from proxy.tokens import Billing, mint

from ..conftest import TEST_SECRET
from ..faults.harness import CHAT, MESSAGES, RESPONSES, body_for, who
from ..faults.process import SidecarProcess, eventually, sidecar_process
from ..tracing.collector import running_collector

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

BYOK = "sk-ant-byok-0123456789abcdefSECRET"
LOCAL_KEY = "sk-local-team-a-3141592653"
#: Every forward token is base64 of '{"secret_key":"...': this prefix is in all of them.
TOKEN_PREFIX = "eyJzZWNyZXRfa2V5Ijoi"
COLLECTOR_KEY = "otlp-vendor-key-2718281828"
GOOGLE_KEY = "AIzaSyD-the-apps-google-key-1618033988SECRET"
GEMINI = "/gemini/v1beta/models/gemini-2.5-flash:"
GEMINI_BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}).encode()

FAULTS = [None, "reset-before-headers", "reset-mid-stream", "stall-before-headers=5",
          "stall-mid-stream=5", "status=500", "status=401", "status=429,empty", "truncated-json",
          "malformed-sse"]


async def workload(sp: SidecarProcess) -> list[str]:
    """Everything the clients got back (bodies and header values), as text."""
    seen: list[str] = []

    async def send(path: str, *, stream: bool = False, headers: dict[str, str] | None = None,
                   body: bytes | None = None, leave_early: bool = False) -> None:
        hdrs = {"Content-Type": "application/json", **(headers if headers is not None else who())}
        try:
            async with aiohttp.ClientSession() as http, \
                    http.post(sp.url + path, data=body if body is not None else body_for(path, stream=stream),
                              headers=hdrs) as resp:
                seen.extend(f"{k}: {v}" for k, v in resp.headers.items())
                if leave_early:
                    seen.append((await resp.content.readany()).decode("utf-8", "replace"))
                    return
                seen.append((await resp.read()).decode("utf-8", "replace"))
        except aiohttp.ClientError as exc:  # a cut body is part of the workload
            seen.append(repr(exc))

    jobs = []
    for fault in FAULTS:
        for path in (CHAT, MESSAGES, RESPONSES):
            for stream in (False, True):
                extra = {"x-emulator-fault": fault} if fault else {}
                jobs.append(send(path, stream=stream, headers={**who(), **extra}))
    jobs += [
        send(CHAT, headers={"Authorization": f"Bearer {LOCAL_KEY}"}),
        send(MESSAGES, stream=True, headers={"x-api-key": LOCAL_KEY}),
        send(CHAT, headers={}),                                                  # no customer: 401
        send(CHAT, headers={"X-Lava-Customer-Id": "bad id!", "X-Lava-Meter": "m"}),
        send(CHAT, headers={**who(), "X-Lava-Metadata": "{not json"}),
        send(CHAT, headers={**who(), "X-Lava-Metadata": json.dumps({"k": TEST_SECRET[:4]})}),
        send("/nowhere/v1/x"),
        send(CHAT, body=b"x" * 5000),                                            # over the limit
        send("/v1/embeddings", body=json.dumps({"model": "text-embedding-3-small", "input": "a"}).encode()),
        send(MESSAGES, stream=True, headers={**who("cus_leaver")}, leave_early=True),
        send(CHAT, headers={**who(), "Authorization": f"Bearer {TEST_SECRET}"}),  # the key, misused
        send(GEMINI + "generateContent", body=GEMINI_BODY, headers={"x-goog-api-key": LOCAL_KEY}),
        send(GEMINI + "generateContent", body=GEMINI_BODY, headers={"x-goog-api-key": GOOGLE_KEY}),
        send(f"/gemini/v1beta/nowhere?key={GOOGLE_KEY}", body=b"{}", headers={**who()}),
        send(f"/gemini/../v1beta?key={GOOGLE_KEY}", body=b"{}", headers={**who()}),
    ]
    for fault in (None, "reset-mid-stream", "status=500", "malformed-sse"):
        extra = {"x-emulator-fault": fault} if fault else {}
        jobs += [send(GEMINI + "generateContent", body=GEMINI_BODY,
                      headers={**who(), "x-goog-api-key": GOOGLE_KEY, **extra}),
                 send(GEMINI + f"streamGenerateContent?alt=sse&key={GOOGLE_KEY}", body=GEMINI_BODY,
                      headers={**who(), **extra})]
    await asyncio.gather(*jobs)
    async with aiohttp.ClientSession() as http:
        for path in ("/metrics", "/usage", "/usage?customer=cus_alpha", "/usage?customer=bad%20id",
                     "/readyz", "/healthz"):
            async with http.get(sp.admin_url + path) as resp:
                seen.append(await resp.text())
    return seen


async def revoke_and_restore(gw: RunningGateway, accounts: LocalAccounts, sp: SidecarProcess) -> None:
    """The price catalog's listings with the merchant key: fine, refused (401), fine again."""
    def logged(text: str) -> bool:
        return any(text in line for line in sp.stderr)

    await eventually(lambda: asyncio.sleep(0, logged("meters listed from Lava")), within=10)
    async with AsyncLavaClient(base_url=gw.url, secret_key=TEST_SECRET) as lava:
        ops = await lava.secret_keys.create(name="ops")
    assert ops.secret_key is not None
    async with AsyncLavaClient(base_url=gw.url, secret_key=ops.secret_key) as admin:
        keys = (await admin.secret_keys.list()).data
        for k in keys:
            if k.secret_key_id != ops.secret_key_id:
                await admin.secret_keys.delete(k.secret_key_id)
    await eventually(lambda: asyncio.sleep(0, logged("listing meters from Lava failed")), within=10)
    accounts.add_secret_key(Secret(TEST_SECRET), merchant_id=accounts.add_secret_key(ops.secret_key))
    await eventually(lambda: asyncio.sleep(0, logged("listed from Lava again")), within=10)


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_no_secret_anywhere(tmp_path: Path, client_kind: str, log_format: str) -> None:
    accounts = LocalAccounts(MemoryStore())
    merchant = accounts.add_secret_key(Secret(TEST_SECRET))
    create_meter(accounts.scope(merchant), name="Chat", rate_type="fixed", tier_type="tokens_1m",
                 tiers=[Tier(Decimal(0), Decimal("3.00"))], meter_slug="chat-tokens")
    async with running_gateway(TEST_SECRET, extra_routes=mount(accounts)) as gw, running_collector() as col, \
            sidecar_process(
                tmp_path, gw.url, client=client_kind,
                env={"LOCAL_KEY_A": LOCAL_KEY, "BYOK_ANTHROPIC": BYOK,
                     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": col.url,
                     "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={COLLECTOR_KEY}"},
                gateway={"first_byte_timeout_seconds": 1, "idle_timeout_seconds": 1},
                identity={"api_keys": [{"key": {"env": "LOCAL_KEY_A"}, "customer": "cus_key_a",
                                        "meter": "chat-tokens"}]},
                providers={"anthropic": {"provider_key": {"env": "BYOK_ANTHROPIC"}}},
                limits={"max_body_bytes": 4096}, pricing={"refresh_seconds": 0.2},
                logging={"level": "debug", "format": log_format, "access_log": True}) as sp:
        answers = await workload(sp)
        await revoke_and_restore(gw, accounts, sp)
        answers += await workload(sp)
        sp.terminate()
        assert await sp.exit_code(within=30) == 0
        tokens = set()
        for s in gw.seen:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await s.finished(within=10)
            auth = s.header("authorization")
            if auth:
                tokens.add(auth.removeprefix("Bearer "))
    # The workload reached Lava with real tokens (BYOK ones included), so there was something to leak.
    assert len(gw.seen) > 40
    tokens |= {mint(Secret(TEST_SECRET), Billing(c, "chat-tokens", p))
               for c in ("cus_alpha", "cus_key_a", "cus_leaver") for p in (None, Secret(BYOK))}
    needles = {TEST_SECRET, BYOK, LOCAL_KEY, TOKEN_PREFIX, COLLECTOR_KEY, GOOGLE_KEY, *tokens}
    to_lava = "\n".join(f"{s.url} {s.headers} {s.body!r}" for s in gw.seen)
    assert "gemini-2.5-flash:streamGenerateContent?alt=sse" in to_lava  # Gemini traffic got there
    assert GOOGLE_KEY not in to_lava
    haystacks = {
        "stderr": "\n".join(sp.stderr),
        "client answers": "\n".join(answers),
        "usage log": sp.usage_log.read_text(),
        "exported spans": b"".join(col.bodies).decode("latin-1"),
    }
    # A span per request reached the collector (flushed at SIGTERM), so there was something to leak.
    assert len(col.spans) > 40
    assert {h.get("x-api-key") for h in col.requests} == {COLLECTOR_KEY}
    assert len(sp.stderr) > 50  # debug logging and the access log were really on
    assert sp.records()
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"a secret ({needle[:12]}...) appears in the {where}"
