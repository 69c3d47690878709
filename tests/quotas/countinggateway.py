"""A fake Lava gateway on loopback that counts what reaches it: how many requests, per customer
(from the forward token), and the most in flight at once. It answers OpenAI chat completions in
the exact wire format (JSON, or SSE with the usage chunk the sidecar asks for), optionally after
``delay`` seconds, so a quota test can check the one number that matters: what Lava would bill."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from proxy.tokens import decode

from ..loopback import serving

PROMPT_TOKENS = 10
COMPLETION_TOKENS = 5


@dataclass
class CountingGateway:
    url: str = ""
    delay: float = 0.0
    served: int = 0
    by_customer: Counter[str] = field(default_factory=Counter)
    inflight: int = 0
    max_inflight: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def forward(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = decode(auth.removeprefix("Bearer "))
        self.served += 1
        self.by_customer[token.customer_id or "-"] += 1
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            body = await request.json()
            if self.delay:
                await asyncio.sleep(self.delay)
            rid = f"req_{next(self._ids):06d}"
            usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                     "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
            model = body.get("model", "gpt-4o-mini")
            if not body.get("stream"):
                return web.json_response({
                    "id": f"chatcmpl-{rid}", "object": "chat.completion", "created": 1,
                    "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": "ok"}}],
                    "usage": usage}, headers={"x-lava-request-id": rid})
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "x-lava-request-id": rid})
            await resp.prepare(request)
            base = {"id": f"chatcmpl-{rid}", "object": "chat.completion.chunk", "created": 1,
                    "model": model}
            chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                  "content": "ok"}}]},
                      {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
            if (body.get("stream_options") or {}).get("include_usage"):
                chunks.append({**base, "choices": [], "usage": usage})
            for chunk in chunks:
                await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        finally:
            self.inflight -= 1


@asynccontextmanager
async def counting_gateway(delay: float = 0.0) -> AsyncIterator[CountingGateway]:
    gw = CountingGateway(delay=delay)
    app = web.Application()
    app.router.add_post("/v1/forward", gw.forward)
    async with serving(app) as url:
        gw.url = url
        yield gw
