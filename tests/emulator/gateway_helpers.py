"""Shared by the forward-path tests: the merchant key, tokens, SDK clients pointed at a running
gateway, the documented usage rule (re-stated here, not imported, so tests check the code), and an
SSE splitter for raw bodies."""

from __future__ import annotations

import json
import math
from typing import Any

from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from proxy.emulator.server import RunningGateway
from proxy.secret import Secret
from proxy.tokens import Billing, mint

KEY = "aks_test_forwardpath0123456789ab"
OPENAI = "https://api.openai.com/v1"
ANTHROPIC = "https://api.anthropic.com"
WORDS = ("Hello", "from", "the", "local", "Lava", "gateway", ".", "This", "answer", "is",
         "deterministic", ",", "one", "token", "per", "word")


def token(customer: str | None = "cus_1", meter: str | None = "tokens") -> str:
    return mint(Secret(KEY), Billing(customer, meter))


def openai_client(gw: RunningGateway, root: str = OPENAI) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=gw.sdk_base_url(root), api_key=token(), max_retries=0)


def anthropic_client(gw: RunningGateway) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=gw.sdk_base_url(ANTHROPIC), api_key=token(), max_retries=0)


def rule_tokens(*texts: str, messages: int = 0) -> int:
    """The emulator's documented prompt rule: ceil(chars / 4) of all text + 3 per message."""
    return max(1, math.ceil(sum(len(t) for t in texts) / 4) + 3 * messages)


def words(n: int) -> list[str]:
    """The first ``n`` answer tokens, as words (punctuation tokens included)."""
    return [WORDS[i % len(WORDS)] for i in range(n)]


def answer_words(text: str) -> list[str]:
    return text.replace(".", " .").replace(",", " ,").split()


def sse_events(body: bytes) -> list[tuple[str | None, str]]:
    """(event, data) per SSE event; enough for bodies the tests produce (LF line ends)."""
    out = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((event, "\n".join(data)))
    return out


def sse_json(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(d) for _, d in sse_events(body) if d and d != "[DONE]"]
