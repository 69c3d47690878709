"""The soak's requests: a deterministic mix of customers, APIs, streaming and not, with gateway faults
and client disconnects at a steady rate. Pure: a seed and a count in, a list of ``Job`` out."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Final, Literal

#: Named by header; the last one by a local API key the sidecar maps to it.
CUSTOMERS: Final = ("cus_soak_a", "cus_soak_b", "cus_soak_c", "cus_soak_d", "cus_soak_e",
                    "cus_soak_f", "cus_soak_keyed")
LOCAL_KEY: Final = "sk-soak-local-key-for-keyed"
METER: Final = "chat-tokens"
PATHS: Final = ("/v1/chat/completions", "/anthropic/v1/messages", "/v1/responses",
                "/openai/v1/chat/completions", "/v1/embeddings")
#: Each ends the same way every time: what the gateway delivered before the fault is exactly what
#: the sidecar read (docs/failure-behaviour.md, "Soak").
#: Seconds a stall fault lasts: past the sidecar's timeouts (soak.run.STALL_LIMIT).
STALL: Final = 1.6
FAULTS: Final = ("reset-before-headers", "reset-mid-stream", "status=500", "status=429,empty",
                 "truncated-json", "malformed-sse", f"stall-mid-stream={STALL}",
                 f"stall-before-headers={STALL}", "status=503")
#: Slow enough that the sidecar has closed its upstream before the next chunk would be written.
LEAVE_PACE: Final = "chunks=20,delay-ms=100"
Leave = Literal["", "before", "mid"]


@dataclass(frozen=True, slots=True)
class Job:
    n: int
    customer: str
    path: str
    stream: bool
    fault: str | None
    leave: Leave

    @property
    def keyed(self) -> bool:
        return self.customer == CUSTOMERS[-1]

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "x-soak-id": str(self.n)}
        if self.keyed:
            h["Authorization"] = f"Bearer {LOCAL_KEY}"
        else:
            h["X-Lava-Customer-Id"] = self.customer
            h["X-Lava-Meter"] = METER
        if self.fault is not None:
            h["x-emulator-fault"] = self.fault
        if self.leave == "mid":
            h["x-emulator-pace"] = LEAVE_PACE
        return h

    def body(self) -> bytes:
        text = f"soak request {self.n}"
        doc: dict[str, object]
        if self.path.endswith("/messages"):
            doc = {"model": "claude-haiku-4-5", "max_tokens": 64,
                   "messages": [{"role": "user", "content": text}]}
        elif self.path.endswith("/responses"):
            doc = {"model": "gpt-5-nano", "input": text}
        elif self.path.endswith("/embeddings"):
            return json.dumps({"model": "text-embedding-3-small", "input": [text]}).encode()
        else:
            doc = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
        if self.stream:
            doc["stream"] = True
        return json.dumps(doc).encode()


def plan(count: int, *, start: int = 0, seed: int = 0, fault_every: int = 10,
         leave_every: int = 50) -> list[Job]:
    """``count`` jobs numbered from ``start``; every ``fault_every``-th carries the next fault in
    turn, every ``leave_every``-th has its client leave (alternately before the response and
    mid-stream)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    jobs = []
    faults = leaves = 0
    for n in range(start, start + count):
        path = rng.choice(PATHS)
        stream = path != "/v1/embeddings" and rng.random() < 0.6
        fault: str | None = None
        leave: Leave = ""
        if leave_every and n % leave_every == leave_every - 1:
            leave = "before" if leaves % 2 == 0 else "mid"
            leaves += 1
            if leave == "before":
                fault = f"stall-before-headers={STALL}"
            else:
                path, stream = rng.choice(PATHS[:4]), True
        elif fault_every and n % fault_every == fault_every // 2:
            fault = FAULTS[faults % len(FAULTS)]
            faults += 1
        jobs.append(Job(n, rng.choice(CUSTOMERS), path, stream, fault, leave))
    return jobs
