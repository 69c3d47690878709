"""The sidecar in-process in front of any gateway URL (the local Lava, or a raw server a test runs),
with the outbound client and short timeouts a fault test needs; and helpers that read back what it
recorded (usage log lines, metric samples) and what a client received."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from proxy import config as c
from proxy.emulator.server import RunningGateway, running_gateway
from proxy.lifecycle import Sidecar as RunningSidecar
from proxy.lifecycle import running_sidecar as embedded_sidecar
from proxy.metering import Recorder
from proxy.pipeline import Runtime
from proxy.prices import PricingSettings

from ..conftest import TEST_SECRET
from ..records import written_lines
from ..stack import stack_settings

#: Short enough that a fault test finishes in seconds, long enough that a loaded CI box never trips
#: one by accident (the emulator answers in milliseconds).
FAST_GATEWAY: dict[str, Any] = {"connect_timeout": 1.0, "first_byte_timeout": 3.0,
                                "idle_timeout": 1.5, "connect_retries": 2}

CHAT = "/v1/chat/completions"
OPENAI_CHAT = "/openai/v1/chat/completions"
MESSAGES = "/anthropic/v1/messages"
RESPONSES = "/v1/responses"
CUSTOMER = "cus_alpha"
METER = "chat-tokens"


def who(customer: str = CUSTOMER, meter: str = METER) -> dict[str, str]:
    return {"X-Lava-Customer-Id": customer, "X-Lava-Meter": meter}


def body_for(path: str, *, stream: bool, text: str = "hello") -> bytes:
    """A small valid request body for ``path`` (chat, messages or responses)."""
    doc: dict[str, Any]
    if path.endswith("/messages"):
        doc = {"model": "claude-haiku-4-5", "max_tokens": 64,
               "messages": [{"role": "user", "content": text}]}
    elif path.endswith("/responses"):
        doc = {"model": "gpt-5-nano", "input": text}
    else:
        doc = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    if stream:
        doc["stream"] = True
    return json.dumps(doc).encode()


@dataclass(slots=True)
class Sidecar:
    settings: c.Settings
    running: RunningSidecar
    url: str
    admin_url: str
    registry: CollectorRegistry
    usage_log: Path
    #: Async callables run before the sidecar stops (SDK clients a test opened).
    closers: list[Callable[[], Awaitable[None]]] = dataclasses.field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return self.running.runtime

    @property
    def recorder(self) -> Recorder:
        return self.running.recorder

    def sample(self, name: str, **labels: str) -> float:
        """A metric sample (0.0 when the series does not exist yet)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def records(self) -> list[dict[str, Any]]:
        """The usage log's lines, as written so far (call ``settled()`` first, or after close)."""
        return written_lines(self.usage_log)

    async def settled(self, within: float = 10.0) -> None:
        """Wait until no request is in flight and every recorded line is durable in the file."""
        rec = self.recorder
        async with asyncio.timeout(within):
            while True:
                pending = rec.ledger.pending if rec.ledger is not None else 0
                if self.runtime.inflight.requests == 0 and pending == 0:
                    return
                await asyncio.sleep(0.01)


def fault_settings(gateway_url: str, tmp: Path, client: str, gateway: dict[str, Any] | None = None,
                   **replace: Any) -> c.Settings:
    # These gateways speak only the forward path, and some count every request and connection:
    # no price listing unless a test asks (tests/prices covers it against the local Lava).
    replace.setdefault("pricing", PricingSettings(from_lava=False))
    settings = stack_settings(gateway_url, tmp, **replace)
    gw = dataclasses.replace(settings.gateway, client=client, **{**FAST_GATEWAY, **(gateway or {})})
    return dataclasses.replace(settings, gateway=gw)


@asynccontextmanager
async def running_sidecar(tmp: Path, gateway_url: str, *, client: str = "aiohttp",
                          gateway: dict[str, Any] | None = None,
                          **replace: Any) -> AsyncIterator[Sidecar]:
    """The proxy and admin listeners on ephemeral loopback ports, through ``proxy.lifecycle``: the
    same low-level listener ``lava-sidecar serve`` uses (handler cancellation on, grace for shutdown)."""
    settings = fault_settings(gateway_url, tmp, client, gateway, **replace)
    async with embedded_sidecar(settings) as sc:
        log_path = Path(settings.usage_log.path or tmp / "usage.jsonl")
        side = Sidecar(settings, sc, sc.url, sc.admin_url, sc.registry, log_path)
        try:
            yield side
        finally:
            for close in side.closers:
                await close()


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for a condition a test cannot await directly (bounded; not a timing assertion)."""
    async with asyncio.timeout(within):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


@dataclass(slots=True)
class Pair:
    gw: RunningGateway
    side: Sidecar


@asynccontextmanager
async def fault_stack(tmp: Path, client: str, *, gateway_options: dict[str, Any] | None = None,
                      gateway: dict[str, Any] | None = None, **replace: Any) -> AsyncIterator[Pair]:
    """The local Lava gateway (faults by ``x-emulator-fault``) and the sidecar in front of it."""
    async with running_gateway(TEST_SECRET, **(gateway_options or {})) as gw, \
            running_sidecar(tmp, gw.url, client=client, gateway=gateway, **replace) as side:
        yield Pair(gw, side)


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    #: The body ended before its framing said it would (the connection was cut).
    cut: bool

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[tuple[str | None, bytes]]:
        """The SSE events of a streamed body: (event name, joined data) pairs."""
        out: list[tuple[str | None, bytes]] = []
        for block in self.body.replace(b"\r\n", b"\n").split(b"\n\n"):
            name, data = None, []
            for line in block.split(b"\n"):
                if line.startswith(b"event:"):
                    name = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    data.append(line[5:].lstrip())
            if data:
                out.append((name, b"\n".join(data)))
        return out


async def call(url: str, path: str, *, stream: bool = False, fault: str | None = None,
               body: bytes | None = None, headers: dict[str, str] | None = None,
               method: str = "POST") -> Reply:
    """One request with a fresh connection; the body is read to its end or to the cut."""
    hdrs = {"Content-Type": "application/json", **who(), **(headers or {})}
    if fault is not None:
        hdrs["x-emulator-fault"] = fault
    data = body if body is not None else body_for(path, stream=stream)
    async with aiohttp.ClientSession() as http, \
            http.request(method, url + path, data=data, headers=hdrs) as resp:
        return await read_reply(resp)


async def read_reply(resp: aiohttp.ClientResponse, chunks: list[bytes] | None = None) -> Reply:
    """Read the rest of a response (after ``chunks`` already read); ``cut`` if its body broke off."""
    chunks = chunks if chunks is not None else []
    cut = False
    try:
        async for chunk in resp.content.iter_any():
            chunks.append(chunk)
    except aiohttp.ClientPayloadError:
        cut = True
    return Reply(resp.status, dict(resp.headers), b"".join(chunks), cut)


def only(records: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    """The one record matching ``match``; fails when there are none or several."""
    found = [r for r in records if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected exactly one record matching {match}, got {len(found)}: {found}"
    return found[0]
