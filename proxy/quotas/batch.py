"""One ``BATCH`` script call, built and read back: pure, no I/O (``scripts.BATCH`` is its other half).

A batch lists every distinct set of checks once (a *group*: its keys in ``KEYS``, its limits in
one string the policy built once), then one short string per operation in arrival order, so a
burst of one customer costs one group however many requests it holds. The command is packed to
RESP here, in one pass: redis-py's general packer costs ~0.7 µs per argument against ~0.15 µs for
this one (measured: docs/quotas.md#cost). The reply is one string of numbers, read in one piece.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from .policy import Checks, Refusal, Settlement

#: Operations per script call: a script blocks Redis while it runs; 256 admissions take ~1 ms.
MAX_OPS: Final = 256


class BackendDown(Exception):
    """The store could not decide an admission: the gate applies ``on_backend_error``."""


@dataclass(slots=True, eq=False)
class Admission:
    """One request waiting for its verdict; ``future`` gets a ``Verdict`` or an exception."""

    checks: Checks
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

    __slots__ = ("_group_ix", "admissions", "groups", "keys", "ops", "settlements")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.groups: list[str] = []
        self.ops: list[str] = []
        self.admissions: list[Admission] = []
        self.settlements: list[Settlement] = []
        # Policy hands out one tuple per (customer, meter): its identity names the group.
        self._group_ix: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.ops)

    def _group(self, checks: Checks) -> int:
        g = self._group_ix.get(id(checks))
        if g is None:
            # The group's keys go in a row: a key two groups share (the customer's own limits
            # under two meters) is listed twice, and the script keeps its state by name.
            self.groups.append(f"{len(self.keys) + 1} {checks.spec}")
            self.keys.extend(checks.keys)
            g = self._group_ix[id(checks)] = len(self.groups)
        return g

    def admit(self, a: Admission) -> None:
        self.ops.append(f"a {self._group(a.checks)} {a.lease or '-'} {a.tokens} {a.micro_usd}")
        self.admissions.append(a)

    def settle(self, s: Settlement) -> None:
        self.ops.append(f"s {self._group(s.checks)} {s.lease or '-'} {int(s.admitted_ms)} {s.tokens} "
                        f"{s.tokens_reserved} {s.micro_usd} {s.micro_usd_reserved}")
        self.settlements.append(s)

    def command(self, sha: str, now: str, lease_ttl_ms: int) -> bytes:
        return pack("EVALSHA", sha, str(len(self.keys)), *self.keys, now, str(lease_ttl_ms),
                    str(len(self.groups)), *self.groups, *self.ops)

    def verdicts(self, reply: object) -> list[Verdict]:
        """The script's reply (``"now r1 w1 r2 w2 ..."``), one ``Verdict`` per admission in order;
        ValueError if malformed."""
        if not isinstance(reply, bytes | str):
            raise ValueError("unexpected BATCH reply")
        numbers = [int(x) for x in reply.split()]
        if len(numbers) != 1 + 2 * len(self.admissions):
            raise ValueError("unexpected BATCH reply")
        now = numbers[0]
        out = []
        for i, a in enumerate(self.admissions):
            position = numbers[1 + 2 * i]
            out.append(Verdict(Refusal(a.checks[position - 1], numbers[2 + 2 * i]) if position else None,
                               now))
        return out


def pack(*args: str) -> bytes:
    """One command in RESP (an array of bulk strings). Built as text and encoded once: every
    argument here is ASCII (ids and slugs are, by their alphabets), so character counts are byte
    counts; anything else takes the slow path."""
    body = "".join([f"${len(a)}\r\n{a}\r\n" for a in args])
    if body.isascii():
        return f"*{len(args)}\r\n{body}".encode()
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)
