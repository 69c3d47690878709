"""One ``BATCH`` script call, built and read back: pure, no I/O (``scripts.BATCH`` is its other half).

A batch lists every key once (``KEYS``), every distinct set of checks once (a *group*), then one
short string per operation in arrival order, so a burst of one customer costs one key list and
one group however many requests it holds. The command is packed to RESP here, in one pass:
redis-py's general packer costs ~0.7 µs per argument against ~0.25 µs for this one (measured:
docs/quotas.md#cost).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from .policy import Check, Refusal, Settlement

#: Operations per script call: a script blocks Redis while it runs; 256 admissions take ~1 ms.
MAX_OPS: Final = 256


class BackendDown(Exception):
    """The store could not decide an admission: the gate applies ``on_backend_error``."""


@dataclass(slots=True, eq=False)
class Admission:
    """One request waiting for its verdict; ``future`` gets a ``Verdict`` or an exception."""

    checks: tuple[Check, ...]
    lease: str  # "" when no concurrency limit applies
    tokens: int  # reserved
    micro_usd: int  # reserved
    future: asyncio.Future[Verdict]


@dataclass(frozen=True, slots=True)
class Verdict:
    refusal: Refusal | None
    #: Redis' clock at the admission (ms): where the reservation went, for its settlement.
    now_ms: int


class Batch:
    """Admissions and settlements for one script call (all in one hash slot on a cluster)."""

    __slots__ = ("_group_ix", "_key_ix", "admissions", "groups", "keys", "ops", "settlements")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.groups: list[str] = []
        self.ops: list[str] = []
        self.admissions: list[Admission] = []
        self.settlements: list[Settlement] = []
        self._key_ix: dict[str, int] = {}
        # Policy hands out one tuple per (customer, meter): its identity names the group.
        self._group_ix: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.ops)

    def _group(self, checks: tuple[Check, ...]) -> int:
        g = self._group_ix.get(id(checks))
        if g is None:
            parts = []
            for c in checks:
                k = self._key_ix.get(c.key)
                if k is None:
                    self.keys.append(c.key)
                    k = self._key_ix[c.key] = len(self.keys)
                parts.append(f"{c.kind}{k}:{c.limit}:{c.window_ms}")
            self.groups.append(" ".join(parts))
            g = self._group_ix[id(checks)] = len(self.groups)
        return g

    def admit(self, a: Admission) -> None:
        self.ops.append(f"a {self._group(a.checks)} {a.lease or '-'} {a.tokens} {a.micro_usd}")
        self.admissions.append(a)

    def settle(self, s: Settlement) -> None:
        self.ops.append(f"s {self._group(s.checks)} {s.lease or '-'} {int(s.admitted_ms)} {s.tokens} "
                        f"{s.tokens_reserved} {s.micro_usd} {s.micro_usd_reserved}")
        self.settlements.append(s)

    def command(self, sha: bytes, now: str, lease_ttl_ms: int) -> bytes:
        return pack(b"EVALSHA", sha, str(len(self.keys)), *self.keys, now, str(lease_ttl_ms),
                    str(len(self.groups)), *self.groups, *self.ops)

    def verdicts(self, reply: object) -> list[Verdict]:
        """The script's reply, one ``Verdict`` per admission in order; ValueError if malformed."""
        if not isinstance(reply, list) or len(reply) != 1 + 2 * len(self.admissions):
            raise ValueError("unexpected BATCH reply")
        now = int(reply[0])
        out = []
        for i, a in enumerate(self.admissions):
            position, wait = int(reply[1 + 2 * i]), int(reply[2 + 2 * i])
            out.append(Verdict(Refusal(a.checks[position - 1], wait) if position else None, now))
        return out


def pack(*args: bytes | str) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)
